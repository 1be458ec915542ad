//! Descriptions that answer instead of an image: `fm=json` (the original's metadata, in imgix's
//! field names), `palette=json|css` (the rendered image's main colours) and `fm=blurhash` (a
//! BlurHash of the rendered image). Palettes and hashes are computed from a small render: the
//! pipeline plans a box of at most [`DESCRIBE_BOX`] pixels when the URL gives no size.

use serde_json::{json, Map, Value};

use super::classify;
use super::faces::Face;
use super::load::SourceInfo;
use super::vips::{Image, Interpretation};
use super::{quantise, stylize};
use crate::encoding::format::Input;
use crate::error::Error;

/// The largest side of the render a palette or BlurHash is computed from when the URL names
/// no size.
pub const DESCRIBE_BOX: u32 = 256;

/// Largest side a BlurHash is computed at (the hash keeps 4×3 cosine terms: more pixels add
/// nothing but time).
const BLURHASH_SIDE: u32 = 64;

/// BlurHash components, horizontally and vertically (the reference encoder's usual 4×3).
const BLURHASH_COMPONENTS: (usize, usize) = (4, 3);

fn mime(input: Input) -> &'static str {
    match input {
        Input::Jpeg => "image/jpeg",
        Input::Png => "image/png",
        Input::Webp => "image/webp",
        Input::Gif => "image/gif",
        Input::Avif => "image/avif",
        Input::Heic => "image/heic",
        Input::Tiff => "image/tiff",
    }
}

/// An EXIF value as libvips gives it (`Apple (Apple, ASCII, 6 components, 6 bytes)`,
/// `1/100 (0.01 sec., Rational, 1 components, 8 bytes)`) as JSON: a number where it is one
/// (rationals divided out), the text otherwise.
fn exif_value(text: &str) -> Value {
    let value = text.split_once(" (").map_or(text, |(v, _)| v).trim();
    if let Ok(n) = value.parse::<f64>() {
        return json!(n);
    }
    if let Some((a, b)) = value.split_once('/') {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            if b != 0.0 {
                return json!(a / b);
            }
        }
    }
    json!(value)
}

/// `fm=json`: the original's metadata. `gps`: include the `{GPS}` group (`--json-gps`; off by
/// default, as a location is personal data the uploader may not mean to publish).
/// `faces`: the faces found, written as imgix's `Faces` (bounds in pixels of the upright image).
pub fn metadata(
    bytes: &[u8],
    source: &SourceInfo,
    gps: bool,
    faces: Option<&[Face]>,
) -> Result<String, Error> {
    let mut out = Map::new();
    if let Some(faces) = faces {
        let (w, h) = (f64::from(source.size.width), f64::from(source.size.height));
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let list: Vec<Value> = faces
            .iter()
            .map(|f| {
                json!({"bounds": {
                    "x": round(f.x * w),
                    "y": round(f.y * h),
                    "width": round(f.w * w),
                    "height": round(f.h * h),
                }})
            })
            .collect();
        out.insert("Faces".into(), Value::Array(list));
    }
    out.insert("PixelWidth".into(), json!(source.raw.width));
    out.insert("PixelHeight".into(), json!(source.raw.height));
    out.insert("Orientation".into(), json!(source.orientation));
    out.insert("ContentType".into(), json!(mime(source.input)));
    out.insert("HasAlpha".into(), json!(source.has_alpha));
    // libvips reads the rest from the header (HEIC's container is read elsewhere: its EXIF
    // stays out, and the defaults below stand).
    let header = Image::header(bytes).ok();
    let (model, depth, dpi) = match &header {
        Some(h) => {
            let model = if source.cmyk {
                "CMYK"
            } else if h.bands() - u32::from(h.has_alpha()) < 3 {
                "Gray"
            } else {
                "RGB"
            };
            let (x, y) = h.resolution();
            (model, h.bits_per_sample(), (x * 25.4, y * 25.4))
        }
        None => ("RGB", 8, (72.0, 72.0)),
    };
    out.insert("ColorModel".into(), json!(model));
    out.insert("Depth".into(), json!(depth));
    out.insert("DPIWidth".into(), json!(dpi.0.round()));
    out.insert("DPIHeight".into(), json!(dpi.1.round()));
    if let Some(h) = &header {
        let mut groups: [(&str, &str, Map<String, Value>); 3] = [
            ("exif-ifd0-", "{TIFF}", Map::new()),
            ("exif-ifd2-", "{Exif}", Map::new()),
            ("exif-ifd3-", "{GPS}", Map::new()),
        ];
        for field in h.fields() {
            for (prefix, _, map) in groups.iter_mut() {
                let Some(name) = field.strip_prefix(*prefix) else {
                    continue;
                };
                let Ok(cname) = std::ffi::CString::new(field.as_str()) else {
                    continue;
                };
                if let Some(text) = h.get_string(&cname) {
                    map.insert(name.to_owned(), exif_value(&text));
                }
            }
        }
        for (_, group, map) in groups {
            if !map.is_empty() && (group != "{GPS}" || gps) {
                out.insert(group.into(), Value::Object(map));
            }
        }
    }
    Ok(Value::Object(out).to_string())
}

/// An 8-bit sRGB copy of `image`, at most `side` pixels on its longer side, as RGB pixels.
fn small_rgb(image: &Image<'_>, side: u32) -> Result<(Vec<u8>, usize, usize), Error> {
    let e = classify;
    let (w, h) = (image.width(), image.height());
    let scale = (f64::from(side) / f64::from(w.max(h))).min(1.0);
    let (sw, sh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let mut small = image.thumbnail_image(sw, sh).map_err(e)?;
    if small.has_alpha() {
        small = small.flatten(&[255.0, 255.0, 255.0]).map_err(e)?;
    }
    if small.bands() < 3 || small.interpretation() != Interpretation::Srgb {
        small = small.colourspace(Interpretation::Srgb).map_err(e)?;
    }
    let small = small
        .to_uchar()
        .and_then(|s| s.extract_bands(0, 3))
        .map_err(e)?;
    let (sw, sh) = (small.width() as usize, small.height() as usize);
    Ok((small.pixels().map_err(e)?, sw, sh))
}

const BASE83: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

fn base83(value: u32, length: u32, out: &mut String) {
    for i in 1..=length {
        let digit = (value / 83u32.pow(length - i)) % 83;
        out.push(BASE83[digit as usize] as char);
    }
}

fn srgb_to_linear(v: u8) -> f64 {
    stylize::to_linear(f64::from(v) / 255.0)
}

/// Linear light to an sRGB byte, rounded as the reference encoder does.
fn linear_to_srgb(v: f64) -> u32 {
    (stylize::to_srgb(v.clamp(0.0, 1.0)) * 255.0 + 0.5) as u32
}

/// The BlurHash (4×3 components) of RGB `pixels`, `w`×`h`, as the reference encoder makes it.
pub fn blurhash_of(pixels: &[u8], w: usize, h: usize) -> String {
    let (cx, cy) = BLURHASH_COMPONENTS;
    let linear: Vec<[f64; 3]> = pixels
        .chunks_exact(3)
        .map(|p| {
            [
                srgb_to_linear(p[0]),
                srgb_to_linear(p[1]),
                srgb_to_linear(p[2]),
            ]
        })
        .collect();
    let mut factors = Vec::with_capacity(cx * cy);
    for j in 0..cy {
        for i in 0..cx {
            let norm = if i == 0 && j == 0 { 1.0 } else { 2.0 };
            let mut sum = [0.0; 3];
            for y in 0..h {
                let by = (std::f64::consts::PI * j as f64 * y as f64 / h as f64).cos();
                for x in 0..w {
                    let basis = by * (std::f64::consts::PI * i as f64 * x as f64 / w as f64).cos();
                    let p = linear[y * w + x];
                    for c in 0..3 {
                        sum[c] += basis * p[c];
                    }
                }
            }
            let scale = norm / (w * h) as f64;
            factors.push(sum.map(|s| s * scale));
        }
    }
    let mut hash = String::with_capacity(4 + 2 * cx * cy);
    base83(((cx - 1) + (cy - 1) * 9) as u32, 1, &mut hash);
    let ac = &factors[1..];
    let max_value = if ac.is_empty() {
        base83(0, 1, &mut hash);
        1.0
    } else {
        let actual = ac
            .iter()
            .flat_map(|f| f.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let quantised = ((actual * 166.0 - 0.5).floor()).clamp(0.0, 82.0) as u32;
        base83(quantised, 1, &mut hash);
        (f64::from(quantised) + 1.0) / 166.0
    };
    let dc = factors[0];
    base83(
        (linear_to_srgb(dc[0]) << 16) + (linear_to_srgb(dc[1]) << 8) + linear_to_srgb(dc[2]),
        4,
        &mut hash,
    );
    for f in ac {
        let q = |v: f64| {
            let signed = (v / max_value).signum() * (v / max_value).abs().sqrt();
            (signed * 9.0 + 9.5).floor().clamp(0.0, 18.0) as u32
        };
        base83(q(f[0]) * 19 * 19 + q(f[1]) * 19 + q(f[2]), 2, &mut hash);
    }
    hash
}

/// `fm=blurhash`: the rendered image's BlurHash.
pub fn blurhash(image: &Image<'_>) -> Result<String, Error> {
    let (px, w, h) = small_rgb(image, BLURHASH_SIDE)?;
    Ok(blurhash_of(&px, w, h))
}

/// One palette colour as imgix writes it: channels 0–1 and `#rrggbb`.
fn colour_json(c: [u8; 3]) -> Value {
    json!({
        "red": f64::from(c[0]) / 255.0,
        "green": f64::from(c[1]) / 255.0,
        "blue": f64::from(c[2]) / 255.0,
        "hex": hex(c),
    })
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Hue-free HSL saturation and lightness of a colour, 0–1.
fn saturation_lightness(c: [u8; 3]) -> (f64, f64) {
    let max = f64::from(*c.iter().max().unwrap_or(&0)) / 255.0;
    let min = f64::from(*c.iter().min().unwrap_or(&0)) / 255.0;
    let l = (max + min) / 2.0;
    let s = if max == min {
        0.0
    } else {
        (max - min) / (1.0 - (2.0 * l - 1.0).abs())
    };
    (s, l)
}

/// Whether a saturation and lightness fit a dominant-colour class.
type Fits = fn(f64, f64) -> bool;

/// imgix's dominant-colour classes: vibrant or muted, each plain, light or dark.
fn dominant(palette: &[([u8; 3], usize)]) -> Vec<(&'static str, [u8; 3])> {
    let classes: [(&str, Fits); 6] = [
        ("vibrant", |s, l| s >= 0.35 && (0.3..=0.7).contains(&l)),
        ("vibrant_light", |s, l| s >= 0.35 && l > 0.55),
        ("vibrant_dark", |s, l| s >= 0.35 && l < 0.45),
        ("muted", |s, l| s < 0.4 && (0.3..=0.7).contains(&l)),
        ("muted_light", |s, l| s < 0.4 && l > 0.55),
        ("muted_dark", |s, l| s < 0.4 && l < 0.45),
    ];
    classes
        .iter()
        .filter_map(|(name, fits)| {
            palette
                .iter()
                .filter(|(c, _)| {
                    let (s, l) = saturation_lightness(*c);
                    fits(s, l)
                })
                .max_by_key(|(_, n)| *n)
                .map(|(c, _)| (*name, *c))
        })
        .collect()
}

/// `palette=json|css`: the rendered image's `colours` main colours, most common first.
pub fn palette(image: &Image<'_>, colours: u8, css: bool, prefix: &str) -> Result<String, Error> {
    let (px, ..) = small_rgb(image, DESCRIBE_BOX)?;
    let rgb: Vec<[u8; 3]> = px.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    let mut main = quantise::palette_counted(&rgb, usize::from(colours));
    main.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if colours == 0 {
        main.clear();
    }
    let candidates = quantise::palette_counted(&rgb, 16);
    let dominant = dominant(&candidates);
    if css {
        let mut out = String::new();
        for (i, (c, _)) in main.iter().enumerate() {
            let (n, h) = (i + 1, hex(*c));
            out.push_str(&format!(
                ".{prefix}-fg-{n} {{ color:{h} !important; }}\n\
                 .{prefix}-bg-{n} {{ background-color:{h} !important; }}\n"
            ));
        }
        for (name, c) in &dominant {
            let (name, h) = (name.replace('_', "-"), hex(*c));
            out.push_str(&format!(
                ".{prefix}-fg-{name} {{ color:{h} !important; }}\n\
                 .{prefix}-bg-{name} {{ background-color:{h} !important; }}\n"
            ));
        }
        return Ok(out);
    }
    let luminance = rgb
        .iter()
        .map(|c| {
            (0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])) / 255.0
        })
        .sum::<f64>()
        / rgb.len().max(1) as f64;
    let dominant: Map<String, Value> = dominant
        .into_iter()
        .map(|(name, c)| (name.to_owned(), colour_json(c)))
        .collect();
    Ok(json!({
        "colors": main.iter().map(|(c, _)| colour_json(*c)).collect::<Vec<_>>(),
        "average_luminance": luminance,
        "dominant_colors": dominant,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base83_and_a_flat_image_hash_as_the_reference_encoder_does() {
        let mut s = String::new();
        base83(0, 1, &mut s);
        base83(82, 1, &mut s);
        base83(83 * 83 + 1, 3, &mut s);
        assert_eq!(s, "0~101");
        // A flat colour: the DC term is the colour itself. (The reference basis samples
        // cos(πix/w) at x = 0…w−1, so even a flat image has small AC terms.)
        let px = [200u8, 100, 50].repeat(16);
        let hash = blurhash_of(&px, 4, 4);
        assert_eq!(hash.len(), 28);
        assert_eq!(&hash[..1], "L", "4×3 components: (4-1) + (3-1)·9 = 21");
        let mut dc = String::new();
        base83((200 << 16) + (100 << 8) + 50, 4, &mut dc);
        assert_eq!(&hash[2..6], dc);
    }

    #[test]
    fn exif_values_become_numbers_where_they_are() {
        assert_eq!(
            exif_value("Apple (Apple, ASCII, 6 components, 6 bytes)"),
            json!("Apple")
        );
        assert_eq!(
            exif_value("1/100 (0.01 sec., Rational, 1 components, 8 bytes)"),
            json!(0.01)
        );
        assert_eq!(
            exif_value("72 (72, Short, 1 components, 2 bytes)"),
            json!(72.0)
        );
    }
}
