//! Pixel arithmetic for the adjustments libvips has no single operation for: tone curves
//! (`exp`, `high`, `shad`, `invert`), `vib`, `sepia`, `duotone`, `blend` (a colour, by the W3C
//! blend modes), `htn` and `px`. Pure functions on
//! interleaved 8-bit pixels, so each formula is unit-tested here; [`super::filters`] runs them on
//! the scaled image. Alpha is never touched.

use crate::request::BlendMode;

/// sRGB-encoded 0–1 to linear light.
pub fn to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light 0–1 to sRGB-encoded.
pub fn to_srgb(v: f64) -> f64 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

fn byte(v: f64) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// One tone curve for every colour band, or `None` when it is the identity:
///
/// - `exp` (−100…100): exposure, ×2^(exp/100) in linear light (±1 stop);
/// - `high` (−100…0): the upper half of the range compressed towards mid-grey, white reaching
///   75% at −100;
/// - `shad` (0…100): the lower half lifted towards mid-grey, black reaching 25% at 100;
/// - `invert`: v → 255 − v, last.
pub fn tone_curve(exp: i8, high: i8, shad: i8, invert: bool) -> Option<[u8; 256]> {
    if exp == 0 && high == 0 && shad == 0 && !invert {
        return None;
    }
    let gain = 2f64.powf(f64::from(exp) / 100.0);
    let mut lut = [0u8; 256];
    for (i, out) in lut.iter_mut().enumerate() {
        let mut v = i as f64 / 255.0;
        if exp != 0 {
            v = to_srgb((to_linear(v) * gain).min(1.0));
        }
        if high != 0 && v > 0.5 {
            v = 0.5 + (v - 0.5) * (1.0 + f64::from(high) / 200.0);
        }
        if shad != 0 && v < 0.5 {
            v = 0.5 - (0.5 - v) * (1.0 - f64::from(shad) / 200.0);
        }
        let b = byte(v);
        *out = if invert { 255 - b } else { b };
    }
    Some(lut)
}

/// Map the first `colour` of every `bands` bytes through `lut`.
pub fn apply_curve(pixels: &mut [u8], bands: usize, colour: usize, lut: &[u8; 256]) {
    for px in pixels.chunks_exact_mut(bands) {
        for v in &mut px[..colour] {
            *v = lut[usize::from(*v)];
        }
    }
}

/// Rec. 709 luma of an sRGB pixel, 0–255.
fn luma(px: &[u8]) -> f64 {
    0.2126 * f64::from(px[0]) + 0.7152 * f64::from(px[1]) + 0.0722 * f64::from(px[2])
}

/// Vibrance (−100…100) on RGB pixels: each channel's distance from the pixel's luma scaled by
/// `1 + vib/100 × (1 − s)`, `s` the pixel's saturation (max − min) / 255 — dull colours move
/// most, saturated ones (and greys, which have no colour to scale) hardly at all.
pub fn vibrance(pixels: &mut [u8], bands: usize, vib: i8) {
    let v = f64::from(vib) / 100.0;
    for px in pixels.chunks_exact_mut(bands) {
        let (max, min) = (px[..3].iter().max(), px[..3].iter().min());
        let s = f64::from(max.copied().unwrap_or(0) - min.copied().unwrap_or(0)) / 255.0;
        let factor = 1.0 + v * (1.0 - s);
        let y = luma(px);
        for c in &mut px[..3] {
            *c = (y + (f64::from(*c) - y) * factor).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Sepia (0…100) on RGB pixels: the classic sepia matrix, mixed with the original by strength.
pub fn sepia(pixels: &mut [u8], bands: usize, strength: u8) {
    const M: [[f64; 3]; 3] = [
        [0.393, 0.769, 0.189],
        [0.349, 0.686, 0.168],
        [0.272, 0.534, 0.131],
    ];
    let t = f64::from(strength) / 100.0;
    for px in pixels.chunks_exact_mut(bands) {
        let rgb = [f64::from(px[0]), f64::from(px[1]), f64::from(px[2])];
        for (c, row) in px[..3].iter_mut().zip(M) {
            let s = row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2];
            *c = (f64::from(*c) * (1.0 - t) + s.min(255.0) * t).round() as u8;
        }
    }
}

/// Duotone on RGB pixels: luma 0→`dark`, 255→`light` (linearly between), mixed with the
/// original by `alpha` (0…100).
pub fn duotone(pixels: &mut [u8], bands: usize, dark: [u8; 3], light: [u8; 3], alpha: u8) {
    let t = f64::from(alpha) / 100.0;
    for px in pixels.chunks_exact_mut(bands) {
        let l = luma(px) / 255.0;
        for (i, c) in px[..3].iter_mut().enumerate() {
            let tone = f64::from(dark[i]) + (f64::from(light[i]) - f64::from(dark[i])) * l;
            *c = (f64::from(*c) * (1.0 - t) + tone * t).round() as u8;
        }
    }
}

/// Pixellate: every `block`×`block` square (clipped at the edges) takes its mean colour, alpha
/// included.
pub fn pixellate(pixels: &mut [u8], width: usize, height: usize, bands: usize, block: usize) {
    if block <= 1 {
        return;
    }
    let stride = width * bands;
    let mut sum = vec![0u32; bands];
    for by in (0..height).step_by(block) {
        for bx in (0..width).step_by(block) {
            let (h, w) = (block.min(height - by), block.min(width - bx));
            sum.iter_mut().for_each(|s| *s = 0);
            for y in by..by + h {
                let row = &pixels[y * stride + bx * bands..y * stride + (bx + w) * bands];
                for px in row.chunks_exact(bands) {
                    for (s, v) in sum.iter_mut().zip(px) {
                        *s += u32::from(*v);
                    }
                }
            }
            let n = (w * h) as u32;
            let mean: Vec<u8> = sum.iter().map(|s| ((s + n / 2) / n) as u8).collect();
            for y in by..by + h {
                let row = &mut pixels[y * stride + bx * bands..y * stride + (bx + w) * bands];
                for px in row.chunks_exact_mut(bands) {
                    px.copy_from_slice(&mean);
                }
            }
        }
    }
}

/// Mix `other` (same layout) into `pixels` by `t` (0–1), colour bands only.
pub fn mix(pixels: &mut [u8], other: &[u8], bands: usize, colour: usize, t: f64) {
    for (px, o) in pixels
        .chunks_exact_mut(bands)
        .zip(other.chunks_exact(bands))
    {
        for (v, w) in px[..colour].iter_mut().zip(&o[..colour]) {
            *v = (f64::from(*v) * (1.0 - t) + f64::from(*w) * t).round() as u8;
        }
    }
}

/// Halftone cell size for `htn` (1–100): 2 to 20 pixels.
pub fn halftone_cell(strength: u8) -> usize {
    2 + (usize::from(strength) * 18 + 50) / 100
}

/// Halftone (1–100), colour band by colour band: each `cell`×`cell` square becomes a round dot
/// of full ink on no ink, the dot's area the cell's mean ink (255 − value) — so a cell keeps its
/// mean colour while showing as dots. Alpha untouched.
pub fn halftone(
    pixels: &mut [u8],
    width: usize,
    height: usize,
    bands: usize,
    colour: usize,
    strength: u8,
) {
    let cell = halftone_cell(strength);
    let stride = width * bands;
    for by in (0..height).step_by(cell) {
        for bx in (0..width).step_by(cell) {
            let (h, w) = (cell.min(height - by), cell.min(width - bx));
            let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
            for band in 0..colour {
                let mut ink = 0.0;
                for y in by..by + h {
                    for x in bx..bx + w {
                        ink += 255.0 - f64::from(pixels[y * stride + x * bands + band]);
                    }
                }
                // Dot radius whose disc covers the cell's share of ink.
                let share = ink / 255.0 / (w * h) as f64;
                let radius = (share * (w * h) as f64 / std::f64::consts::PI).sqrt();
                for y in by..by + h {
                    for x in bx..bx + w {
                        let (dx, dy) = ((x - bx) as f64 + 0.5 - cx, (y - by) as f64 + 0.5 - cy);
                        let covered = (radius - (dx * dx + dy * dy).sqrt() + 0.5).clamp(0.0, 1.0);
                        pixels[y * stride + x * bands + band] =
                            (255.0 * (1.0 - covered)).round() as u8;
                    }
                }
            }
        }
    }
}

/// W3C compositing: the luminosity of an RGB colour (0–1 channels).
fn lum(c: [f64; 3]) -> f64 {
    0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
}

fn clip_colour(c: [f64; 3]) -> [f64; 3] {
    let l = lum(c);
    let n = c.iter().copied().fold(f64::INFINITY, f64::min);
    let x = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    c.map(|v| {
        let mut v = v;
        if n < 0.0 {
            v = l + (v - l) * l / (l - n);
        }
        if x > 1.0 {
            v = l + (v - l) * (1.0 - l) / (x - l);
        }
        v
    })
}

fn set_lum(c: [f64; 3], l: f64) -> [f64; 3] {
    let d = l - lum(c);
    clip_colour(c.map(|v| v + d))
}

fn sat(c: [f64; 3]) -> f64 {
    c.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - c.iter().copied().fold(f64::INFINITY, f64::min)
}

fn set_sat(c: [f64; 3], s: f64) -> [f64; 3] {
    let (max, min) = (
        c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        c.iter().copied().fold(f64::INFINITY, f64::min),
    );
    if max <= min {
        return [0.0; 3];
    }
    c.map(|v| (v - min) * s / (max - min))
}

/// One blend mode's result for backdrop `b` and source `s` (0–1 RGB), by the W3C Compositing
/// and Blending formulas.
pub fn blend_mode(mode: BlendMode, b: [f64; 3], s: [f64; 3]) -> [f64; 3] {
    let each = |f: fn(f64, f64) -> f64| [f(b[0], s[0]), f(b[1], s[1]), f(b[2], s[2])];
    let hard_light = |cb: f64, cs: f64| {
        if cs <= 0.5 {
            cb * 2.0 * cs
        } else {
            let t = 2.0 * cs - 1.0;
            cb + t - cb * t
        }
    };
    match mode {
        BlendMode::Normal => s,
        BlendMode::Multiply => each(|b, s| b * s),
        BlendMode::Screen => each(|b, s| b + s - b * s),
        BlendMode::Overlay => [
            hard_light(s[0], b[0]),
            hard_light(s[1], b[1]),
            hard_light(s[2], b[2]),
        ],
        BlendMode::Darken => each(f64::min),
        BlendMode::Lighten => each(f64::max),
        BlendMode::Dodge => each(|b, s| {
            if b == 0.0 {
                0.0
            } else if s >= 1.0 {
                1.0
            } else {
                (b / (1.0 - s)).min(1.0)
            }
        }),
        BlendMode::Burn => each(|b, s| {
            if b >= 1.0 {
                1.0
            } else if s <= 0.0 {
                0.0
            } else {
                1.0 - ((1.0 - b) / s).min(1.0)
            }
        }),
        BlendMode::HardLight => [
            hard_light(b[0], s[0]),
            hard_light(b[1], s[1]),
            hard_light(b[2], s[2]),
        ],
        BlendMode::SoftLight => each(|b, s| {
            if s <= 0.5 {
                b - (1.0 - 2.0 * s) * b * (1.0 - b)
            } else {
                let d = if b <= 0.25 {
                    ((16.0 * b - 12.0) * b + 4.0) * b
                } else {
                    b.sqrt()
                };
                b + (2.0 * s - 1.0) * (d - b)
            }
        }),
        BlendMode::Difference => each(|b, s| (b - s).abs()),
        BlendMode::Exclusion => each(|b, s| b + s - 2.0 * b * s),
        BlendMode::Hue => set_lum(set_sat(s, sat(b)), lum(b)),
        BlendMode::Saturation => set_lum(set_sat(b, sat(s)), lum(b)),
        BlendMode::Color => set_lum(s, lum(b)),
        BlendMode::Luminosity => set_lum(b, lum(s)),
    }
}

/// `blend`: `colour` (RGB, 0–255) combined with every RGB pixel by `mode`, then mixed in by
/// `alpha` (0–1). Alpha bands untouched.
pub fn blend(pixels: &mut [u8], bands: usize, mode: BlendMode, colour: [u8; 3], alpha: f64) {
    let s = colour.map(|v| f64::from(v) / 255.0);
    for px in pixels.chunks_exact_mut(bands) {
        let b = [px[0], px[1], px[2]].map(|v| f64::from(v) / 255.0);
        let mixed = blend_mode(mode, b, s);
        for i in 0..3 {
            let v = b[i] * (1.0 - alpha) + mixed[i].clamp(0.0, 1.0) * alpha;
            px[i] = (v * 255.0).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_curves_follow_their_formulas() {
        assert!(tone_curve(0, 0, 0, false).is_none());
        let inv = tone_curve(0, 0, 0, true).unwrap();
        assert_eq!((inv[0], inv[255], inv[100]), (255, 0, 155));
        // +100 is one stop: linear light doubles (128: 0.2158 linear → 0.4317 → sRGB 0.6885).
        let up = tone_curve(100, 0, 0, false).unwrap();
        assert_eq!(up[128], 176);
        assert_eq!(up[255], 255);
        let down = tone_curve(-100, 0, 0, false).unwrap();
        assert_eq!(down[255], 188); // linear 0.5 → sRGB 0.7354
        let high = tone_curve(0, -100, 0, false).unwrap();
        assert_eq!((high[255], high[64], high[128]), (191, 64, 128));
        let shad = tone_curve(0, 0, 100, false).unwrap();
        assert_eq!((shad[0], shad[200], shad[127]), (64, 200, 127));
    }

    #[test]
    fn colour_effects_follow_their_formulas() {
        // Vibrance leaves greys alone and moves dull colours more than vivid ones.
        let mut px = [128, 128, 128, 120, 100, 100, 255, 0, 0];
        vibrance(&mut px, 3, 100);
        assert_eq!(&px[..3], &[128, 128, 128]);
        let dull_spread = i32::from(px[3]) - i32::from(px[4]);
        assert!(dull_spread > 20 * 19 / 10, "{px:?}");
        assert_eq!(&px[6..], &[255, 0, 0]);
        // Full sepia of white is the matrix's row sums, clipped.
        let mut white = [255, 255, 255, 7];
        sepia(&mut white, 4, 100);
        assert_eq!(white, [255, 255, 239, 7]);
        // Duotone maps black and white to its two colours.
        let mut bw = [0, 0, 0, 255, 255, 255];
        duotone(&mut bw, 3, [0, 0, 128], [250, 128, 114], 100);
        assert_eq!(bw, [0, 0, 128, 250, 128, 114]);
    }

    #[test]
    fn halftone_cells_keep_about_their_mean_as_dots() {
        // A flat 40% grey (ink 60%) in 10×10 cells (htn=44): each cell is dark in the middle,
        // white at the corner, and about as dark on average as before.
        let cell = halftone_cell(44);
        assert_eq!(cell, 10);
        let mut px = vec![102u8; 20 * 20];
        halftone(&mut px, 20, 20, 1, 1, 44);
        assert_eq!(px[5 * 20 + 5], 0, "dot centre");
        assert_eq!(px[0], 255, "cell corner");
        let mean = px.iter().map(|v| f64::from(*v)).sum::<f64>() / px.len() as f64;
        assert!((mean - 102.0).abs() < 12.0, "{mean}");
    }

    #[test]
    fn blend_modes_follow_the_w3c_formulas_on_known_colours() {
        let b = [0.2, 0.5, 0.8];
        let s = [0.6, 0.4, 0.0];
        let close = |x: [f64; 3], y: [f64; 3]| x.iter().zip(y).all(|(a, b)| (a - b).abs() < 1e-9);
        assert!(close(
            blend_mode(BlendMode::Multiply, b, s),
            [0.12, 0.2, 0.0]
        ));
        assert!(close(blend_mode(BlendMode::Screen, b, s), [0.68, 0.7, 0.8]));
        assert!(close(blend_mode(BlendMode::Darken, b, s), [0.2, 0.4, 0.0]));
        assert!(close(
            blend_mode(BlendMode::Difference, b, s),
            [0.4, 0.1, 0.8]
        ));
        assert!(close(
            blend_mode(BlendMode::Exclusion, b, s),
            [0.56, 0.5, 0.8]
        ));
        // Overlay is hard light with the layers swapped: 2·b·s below mid-grey, screen above.
        assert!(close(
            blend_mode(BlendMode::Overlay, b, s),
            [0.24, 0.4, 1.0 - 2.0 * 0.2 * 1.0]
        ));
        // Colour keeps the backdrop's luminosity.
        let c = blend_mode(BlendMode::Color, b, s);
        assert!((lum(c) - lum(b)).abs() < 1e-9);
        let l = blend_mode(BlendMode::Luminosity, b, s);
        assert!((lum(l) - lum(s)).abs() < 1e-9);
        // Mixed by alpha: half of normal is the average.
        let mut px = [0u8, 100, 200];
        blend(&mut px, 3, BlendMode::Normal, [200, 100, 0], 0.5);
        assert_eq!(px, [100, 100, 100]);
    }

    #[test]
    fn pixellation_averages_blocks_clipped_at_the_edges() {
        // 3×2, one band, blocks of 2: [0 10 | 50] over [20 30 | 70].
        let mut px = [0, 10, 50, 20, 30, 70];
        pixellate(&mut px, 3, 2, 1, 2);
        assert_eq!(px, [15, 15, 60, 15, 15, 60]);
    }
}
