//! Overlays: a blend image (`blend=` an image, after the adjustments) and a watermark (`mark=`,
//! drawn last, on the framed image). The overlay's bytes are an original like any other —
//! fetched through the mounts, its header checked against the same [`Limits`] before a pixel is
//! decoded — scaled to its box (`*-w`, `*-h`, `*-fit`, `mark-scale`, `blend-size=inherit`),
//! turned (`mark-rot`), then drawn by the W3C compositing formulas at its place (`*-align`,
//! `*-pad`, `*-x`, `*-y`; `mark-tile=grid` repeats it) with its opacity (`*-alpha`).
//!
//! The scaled overlay is kept (bounded by bytes, keyed by the overlay's SHA-256 and its box),
//! so a watermark costs one decode per size, not one per render.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::vips::{self, Image, Pages, ThumbnailOptions};
use super::{classify, colour, load, stylize, Limits};
use crate::encoding::format::Input;
use crate::error::Error;
use crate::request::params::{Align, BlendMode, LayerFit, Overlay};

/// An overlay image's bytes and their SHA-256.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The image file.
    pub bytes: Bytes,
    /// SHA-256 of `bytes`: names its scaled copies, and enters the variant store's location.
    pub digest: [u8; 32],
    /// A stand-in: the overlay's own URL asks for a learned result still on its way, so a
    /// variant drawing it is provisional too.
    pub provisional: bool,
}

/// The overlay images one render draws, fetched before it starts.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The `blend` image.
    pub blend: Option<Layer>,
    /// The `mark` image.
    pub mark: Option<Layer>,
}

impl Layers {
    /// Whether either overlay is a stand-in for a learned result on its way.
    pub fn provisional(&self) -> bool {
        [&self.blend, &self.mark]
            .into_iter()
            .flatten()
            .any(|l| l.provisional)
    }
}

/// A scaled overlay: straight RGBA, `width` × `height`.
struct Scaled {
    pixels: Vec<u8>,
    width: u32,
    height: u32,
}

/// Bytes of scaled overlays kept.
const SCALED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Scaled overlays, by overlay digest and box.
fn scaled_cache() -> &'static moka::sync::Cache<String, Arc<Scaled>> {
    static CACHE: OnceLock<moka::sync::Cache<String, Arc<Scaled>>> = OnceLock::new();
    CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(SCALED_CACHE_BYTES)
            .weigher(|k: &String, v: &Arc<Scaled>| {
                u32::try_from(k.len() + v.pixels.len()).unwrap_or(u32::MAX)
            })
            .build()
    })
}

/// Draw `layer` over `image` as `spec` says; nothing to do without both.
pub fn apply<'a>(
    image: Image<'a>,
    spec: Option<&Overlay>,
    layer: Option<&Layer>,
    limits: &Limits,
) -> Result<Image<'a>, Error> {
    let (Some(spec), Some(layer)) = (spec, layer) else {
        return Ok(image);
    };
    let image = colour::apply(image, true)?;
    let (bw, bh) = (image.width(), image.height());
    let scaled = scaled(spec, layer, (bw, bh), limits)?;
    let bands = image.bands() as usize;
    let mut pixels = image.pixels().map_err(classify)?;
    let opacity = f64::from(spec.alpha) / 100.0;
    for (x, y) in places(spec, (bw, bh), (scaled.width, scaled.height)) {
        composite(
            &mut pixels,
            (bw as usize, bh as usize, bands),
            &scaled.pixels,
            (scaled.width as usize, scaled.height as usize),
            (x, y),
            spec.mode,
            opacity,
        );
    }
    image.with_pixels(&pixels).map_err(classify)
}

/// The overlay's box against a `base`-sized image: its scaled size, and for `fit=crop` and
/// `clamp` the box it is then cut or extended to. Each side at most twice the image's.
fn boxes(spec: &Overlay, natural: (u32, u32), base: (u32, u32)) -> ((u32, u32), (u32, u32)) {
    let (nw, nh) = (f64::from(natural.0.max(1)), f64::from(natural.1.max(1)));
    let (w, h, fit) = if spec.inherit {
        (Some(base.0), Some(base.1), LayerFit::Crop)
    } else {
        (
            spec.width.map(|l| l.of(base.0)),
            spec.height.map(|l| l.of(base.1)),
            spec.fit,
        )
    };
    let cap = |v: u32, side: u32| v.min(side.saturating_mul(2)).max(1);
    let (w, h) = (w.map(|v| cap(v, base.0)), h.map(|v| cap(v, base.1)));
    let size = |scale: f64| {
        (
            ((nw * scale).round() as u32).max(1),
            ((nh * scale).round() as u32).max(1),
        )
    };
    let fits = |w: Option<u32>, h: Option<u32>| match (w, h) {
        (Some(w), Some(h)) => (f64::from(w) / nw).min(f64::from(h) / nh),
        (Some(w), None) => f64::from(w) / nw,
        (None, Some(h)) => f64::from(h) / nh,
        (None, None) => 1.0,
    };
    let fit_scale = fits(w, h);
    match (fit, w, h) {
        (LayerFit::Crop, Some(w), Some(h)) => {
            let cover = (f64::from(w) / nw).max(f64::from(h) / nh);
            let s = size(cover);
            (s, (w.min(s.0), h.min(s.1)))
        }
        (LayerFit::Scale, Some(w), Some(h)) => ((w, h), (w, h)),
        (LayerFit::Clamp, Some(w), Some(h)) => (size(fit_scale), (w, h)),
        (LayerFit::Max, _, _) => {
            let s = size(fit_scale.min(1.0));
            (s, s)
        }
        _ => {
            let s = size(fit_scale);
            // Never more than twice the image, whatever the overlay's own size.
            let shrink = (f64::from(base.0) * 2.0 / f64::from(s.0))
                .min(f64::from(base.1) * 2.0 / f64::from(s.1))
                .min(1.0);
            let s = if shrink < 1.0 {
                size(fit_scale * shrink)
            } else {
                s
            };
            (s, s)
        }
    }
}

/// The overlay scaled (and cut, extended, turned) for a `base`-sized image, from the cache or
/// made now.
fn scaled(
    spec: &Overlay,
    layer: &Layer,
    base: (u32, u32),
    limits: &Limits,
) -> Result<Arc<Scaled>, Error> {
    // The overlay's own size follows from its bytes (the digest), so the key needs no header
    // read: a cached overlay costs a lookup.
    let key = format!(
        "{}:{}x{}:{:?}:{:?}:{:?}:{:?}:{}:{:.2}",
        crate::encoding::digest::hex(&layer.digest),
        base.0,
        base.1,
        spec.width,
        spec.height,
        spec.fit,
        spec.crop,
        spec.inherit,
        spec.rotation
    );
    let cache = scaled_cache();
    if let Some(s) = cache.get(&key) {
        return Ok(s);
    }
    let info = load::inspect(&layer.bytes, limits)?;
    let (resize, frame) = boxes(spec, (info.size.width, info.size.height), base);
    let heic;
    let bytes: &[u8] = if info.input == Input::Heic {
        heic = vips::heic_to_tiff(&layer.bytes, limits.max_pixels)
            .map_err(|e| load::heic_error(e, limits.max_pixels))?;
        &heic
    } else {
        &layer.bytes
    };
    let image = Image::thumbnail(
        bytes,
        ThumbnailOptions {
            width: resize.0,
            height: resize.1,
            crop: None,
            no_rotate: false,
            pages: Pages::First,
            to_srgb: info.icc,
        },
    )
    .map_err(classify)?;
    let mut image = colour::apply(image, true)?;
    if !image.has_alpha() {
        image = image.add_alpha().map_err(classify)?;
    }
    if frame.0 < resize.0 || frame.1 < resize.1 {
        let x = offset(spec.crop.0, resize.0, frame.0);
        let y = offset(spec.crop.1, resize.1, frame.1);
        image = image
            .extract_area(x, y, frame.0, frame.1)
            .map_err(classify)?;
    }
    let (w, h) = (image.width(), image.height());
    let mut pixels = image.pixels().map_err(classify)?;
    let (mut width, mut height) = (w, h);
    if frame.0 > w || frame.1 > h {
        pixels = clamp_extend(&pixels, (w as usize, h as usize), frame);
        (width, height) = frame;
    }
    if spec.rotation != 0.0 {
        let turned = Image::from_pixels(&pixels, width, height, 4)
            .and_then(|i| i.rotate(spec.rotation, &[0.0, 0.0, 0.0, 0.0]))
            .map_err(classify)?;
        (width, height) = (turned.width(), turned.height());
        pixels = turned.pixels().map_err(classify)?;
    }
    let scaled = Arc::new(Scaled {
        pixels,
        width,
        height,
    });
    cache.insert(key, scaled.clone());
    Ok(scaled)
}

/// Where a part `inner` long starts within `outer` for an anchor.
fn offset(align: Align, outer: u32, inner: u32) -> u32 {
    match align {
        Align::Start => 0,
        Align::Center => (outer - inner) / 2,
        Align::End => outer - inner,
    }
}

/// `fit=clamp`: the RGBA image centred in `frame`, the rest filled by its nearest edge pixels.
fn clamp_extend(pixels: &[u8], (w, h): (usize, usize), frame: (u32, u32)) -> Vec<u8> {
    let (fw, fh) = (frame.0 as usize, frame.1 as usize);
    let (ox, oy) = ((fw.saturating_sub(w)) / 2, (fh.saturating_sub(h)) / 2);
    let mut out = vec![0u8; fw * fh * 4];
    for y in 0..fh {
        let sy = y.saturating_sub(oy).min(h - 1);
        for x in 0..fw {
            let sx = x.saturating_sub(ox).min(w - 1);
            let s = (sy * w + sx) * 4;
            out[(y * fw + x) * 4..][..4].copy_from_slice(&pixels[s..s + 4]);
        }
    }
    out
}

/// The top-left corners the overlay is drawn at: one place, or a grid over the whole image.
fn places(spec: &Overlay, base: (u32, u32), size: (u32, u32)) -> Vec<(i64, i64)> {
    let place = |align: Align, at: Option<i32>, base: u32, size: u32| -> i64 {
        if let Some(at) = at {
            return i64::from(at);
        }
        let (base, size, pad) = (i64::from(base), i64::from(size), i64::from(spec.pad));
        match align {
            Align::Start => pad,
            Align::Center => (base - size) / 2,
            Align::End => base - size - pad,
        }
    };
    let x = place(spec.align.0, spec.x, base.0, size.0);
    let y = place(spec.align.1, spec.y, base.1, size.1);
    if !spec.tile {
        return vec![(x, y)];
    }
    // The grid through (x, y), one pad apart, covering the image.
    let step_x = i64::from(size.0) + i64::from(spec.pad);
    let step_y = i64::from(size.1) + i64::from(spec.pad);
    let mut out = Vec::new();
    let mut ty = y.rem_euclid(step_y) - step_y;
    while ty < i64::from(base.1) {
        let mut tx = x.rem_euclid(step_x) - step_x;
        while tx < i64::from(base.0) {
            out.push((tx, ty));
            tx += step_x;
        }
        ty += step_y;
    }
    out
}

/// Draw `layer` (straight RGBA, `lw`×`lh`) over `base` (`bw`×`bh`, 3 or 4 bands of sRGB) with
/// its top-left at `(x, y)`, combined by `mode` at `opacity` (0–1). The W3C Compositing
/// formulas: the layer's colour is first mixed with the blend result by the base's alpha, then
/// composited source-over.
pub(super) fn composite(
    base: &mut [u8],
    (bw, bh, bands): (usize, usize, usize),
    layer: &[u8],
    (lw, lh): (usize, usize),
    (x, y): (i64, i64),
    mode: BlendMode,
    opacity: f64,
) {
    let first = |at: i64| usize::try_from(-at).unwrap_or(0);
    let last = |at: i64, len: usize, bound: usize| {
        let room = i64::try_from(bound).unwrap_or(i64::MAX) - at;
        usize::try_from(room.clamp(0, len as i64)).unwrap_or(0)
    };
    let unit = |v: u8| f64::from(v) / 255.0;
    for ly in first(y)..last(y, lh, bh) {
        let by = (y + ly as i64) as usize;
        for lx in first(x)..last(x, lw, bw) {
            let bx = (x + lx as i64) as usize;
            let s = &layer[(ly * lw + lx) * 4..][..4];
            let a_s = unit(s[3]) * opacity;
            if a_s <= 0.0 {
                continue;
            }
            let b = &mut base[(by * bw + bx) * bands..][..bands];
            let a_b = if bands == 4 { unit(b[3]) } else { 1.0 };
            let cb = [unit(b[0]), unit(b[1]), unit(b[2])];
            let cs = [unit(s[0]), unit(s[1]), unit(s[2])];
            let mixed = if mode == BlendMode::Normal {
                cs
            } else {
                stylize::blend_mode(mode, cb, cs)
            };
            let a_o = a_s + a_b * (1.0 - a_s);
            for c in 0..3 {
                let cs = (1.0 - a_b) * cs[c] + a_b * mixed[c];
                let co = (a_s * cs + (1.0 - a_s) * a_b * cb[c]) / a_o;
                b[c] = (co * 255.0).round().clamp(0.0, 255.0) as u8;
            }
            if bands == 4 {
                b[3] = (a_o * 255.0).round() as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::params::Length;

    fn mark() -> Overlay {
        Overlay {
            source: "/m.png".into(),
            width: None,
            height: None,
            fit: LayerFit::Clip,
            crop: (Align::Center, Align::Center),
            align: (Align::End, Align::End),
            pad: 5,
            x: None,
            y: None,
            alpha: 100,
            mode: BlendMode::Normal,
            tile: false,
            inherit: false,
            rotation: 0.0,
        }
    }

    #[test]
    fn boxes_follow_the_fit() {
        let mut m = mark();
        // Natural size, capped at twice the image.
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((100, 50), (100, 50)));
        assert_eq!(
            boxes(&m, (4000, 1000), (640, 480)),
            ((1280, 320), (1280, 320))
        );
        m.width = Some(Length::Share(0.25));
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((160, 80), (160, 80)));
        m.height = Some(Length::Pixels(40));
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((80, 40), (80, 40)));
        m.fit = LayerFit::Crop;
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((160, 80), (160, 40)));
        m.fit = LayerFit::Scale;
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((160, 40), (160, 40)));
        m.fit = LayerFit::Max;
        m.width = Some(Length::Pixels(400));
        m.height = None;
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((100, 50), (100, 50)));
        m.inherit = true;
        assert_eq!(boxes(&m, (100, 50), (640, 480)), ((960, 480), (640, 480)));
    }

    #[test]
    fn places_align_pad_and_tile() {
        let mut m = mark();
        assert_eq!(places(&m, (640, 480), (100, 50)), vec![(535, 425)]);
        m.align = (Align::Start, Align::Center);
        assert_eq!(places(&m, (640, 480), (100, 50)), vec![(5, 215)]);
        m.x = Some(-10);
        assert_eq!(places(&m, (640, 480), (100, 50)), vec![(-10, 215)]);
        m.x = None;
        m.tile = true;
        m.pad = 0;
        let grid = places(&m, (200, 100), (100, 50));
        assert!(grid.contains(&(0, 25)) && grid.contains(&(100, -25)));
        // Every pixel of the image is under one tile.
        for (px, py) in [(0, 0), (199, 99), (150, 40)] {
            assert_eq!(
                grid.iter()
                    .filter(|(x, y)| (*x..x + 100).contains(&px) && (*y..y + 50).contains(&py))
                    .count(),
                1
            );
        }
    }

    #[test]
    fn composite_is_source_over_with_opacity_and_modes() {
        // An opaque grey base; a half-transparent red layer at 50% opacity: a quarter red.
        let mut base = vec![100u8; 2 * 2 * 3];
        let layer = [255, 0, 0, 128];
        composite(
            &mut base,
            (2, 2, 3),
            &layer,
            (1, 1),
            (1, 1),
            BlendMode::Normal,
            0.5,
        );
        let a = 128.0 / 255.0 * 0.5;
        let expect = |s: f64, b: f64| ((a * s + (1.0 - a) * b) * 255.0).round() as u8;
        assert_eq!(
            &base[9..12],
            &[
                expect(1.0, 100.0 / 255.0),
                expect(0.0, 100.0 / 255.0),
                expect(0.0, 100.0 / 255.0)
            ]
        );
        assert_eq!(&base[..9], &[100u8; 9], "outside the layer: untouched");
        // Multiply, opaque: the product.
        let mut base = vec![200u8, 100, 50];
        composite(
            &mut base,
            (1, 1, 3),
            &[128, 255, 0, 255],
            (1, 1),
            (0, 0),
            BlendMode::Multiply,
            1.0,
        );
        assert_eq!(base, vec![100, 100, 0]);
        // Over a transparent base: the layer itself.
        let mut base = vec![0u8, 0, 0, 0];
        composite(
            &mut base,
            (1, 1, 4),
            &[10, 20, 30, 255],
            (1, 1),
            (0, 0),
            BlendMode::Screen,
            1.0,
        );
        assert_eq!(base, vec![10, 20, 30, 255]);
        // Off the image: nothing, and no panic.
        let mut base = vec![7u8; 3];
        composite(
            &mut base,
            (1, 1, 3),
            &[0, 0, 0, 255],
            (1, 1),
            (5, -3),
            BlendMode::Normal,
            1.0,
        );
        assert_eq!(base, vec![7, 7, 7]);
    }
}
