//! The learned operations' pixels: computing a foreground mask or an upscaled image from an
//! original (blocking, CPU-heavy: [`mask_of`], [`upscale_of`]), deciding what an upscale needs
//! ([`upscale_plan`]), and the pipeline steps that use a mask ([`remove_background`],
//! [`subject`]).
//!
//! Not here: whether a model runs now or later, and where its result is kept
//! (`render::learned`); running the models ([`super::models`]).

use std::sync::Arc;

use bytes::Bytes;

use super::load::{self, SourceInfo};
use super::models::{foreground, upscale, Models};
use super::plan::{self, Size};
use super::vips::{Image, Pages, SaveOptions, ThumbnailOptions};
use super::{classify, Limits};
use crate::encoding::format::{Format, Input};
use crate::error::Error;
use crate::request::{Params, Rgba};

pub use super::models::foreground::Mask;

/// A learned result computed once per original, and reused by every size and format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The foreground mask (`bg-remove`, `crop=auto`).
    Mask,
    /// The original upscaled `factor` (2 or 4) times (`upscale`).
    Upscale {
        /// 2 or 4.
        factor: u32,
    },
}

impl Op {
    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::Mask => "mask",
            Op::Upscale { .. } => "upscale",
        }
    }

    /// The model that computes it.
    pub fn role(self) -> super::models::Role {
        match self {
            Op::Mask => super::models::Role::Foreground,
            Op::Upscale { .. } => super::models::Role::Upscale,
        }
    }
}

/// What the learned models contributed to one render.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The original's foreground mask (`bg-remove`, `crop=auto`).
    pub mask: Option<Arc<Mask>>,
}

/// The bytes libvips reads for `bytes`: the original's own, or its HEIC decoded to TIFF.
fn readable(bytes: &Bytes, limits: &Limits) -> Result<(Bytes, SourceInfo), Error> {
    let source = load::inspect(bytes, limits)?;
    if source.input == Input::Heic {
        let tiff = super::vips::heic_to_tiff(bytes, limits.max_pixels)
            .map_err(|e| load::heic_error(e, limits.max_pixels))?;
        return Ok((tiff, source));
    }
    Ok((bytes.clone(), source))
}

/// The foreground mask of the original `bytes` (upright, as the viewer sees it): scaled to the
/// model's square with shrink-on-load, transparency flattened onto white, then the model.
pub fn mask_of(models: &Models, bytes: &Bytes, limits: &Limits) -> Result<Mask, Error> {
    let side = foreground::side(models)
        .ok_or_else(|| Error::ModelFailed("no foreground model is loaded".into()))?;
    let rgb = scaled(bytes, limits, Size::new(side, side), |small, _| rgb8(small))?;
    foreground::mask(models, &rgb)
}

/// Run `f` on the original `bytes` scaled to exactly `size` (upright, sRGB, shrink-on-load),
/// with what its header says.
fn scaled<T>(
    bytes: &Bytes,
    limits: &Limits,
    size: Size,
    f: impl FnOnce(&Image<'_>, &SourceInfo) -> Result<T, Error>,
) -> Result<T, Error> {
    let (bytes, source) = readable(bytes, limits)?;
    let small = Image::thumbnail(
        &bytes,
        ThumbnailOptions {
            width: size.width,
            height: size.height,
            crop: None,
            no_rotate: false,
            pages: Pages::First,
            to_srgb: source.icc,
        },
    )
    .map_err(classify);
    // Pixels decode lazily: a broken original fails here or inside `f`. Only blame ourselves
    // if it decodes on its own (as the pipeline does).
    small
        .and_then(|small| f(&small, &source))
        .map_err(|e| match e {
            Error::Internal(detail) if !super::resize::decodes(&bytes) => {
                Error::Undecodable(detail)
            }
            other => other,
        })
}

/// A mask as a greyscale PNG (how the variant store keeps it).
pub fn encode_mask(mask: &Mask) -> Result<Bytes, Error> {
    Image::from_pixels(&mask.pixels, mask.side, mask.side, 1)
        .and_then(|i| i.save(SaveOptions::Png { compression: 6 }))
        .map_err(classify)
}

/// A mask read back from [`encode_mask`]'s PNG.
pub fn decode_mask(png: &[u8]) -> Result<Mask, Error> {
    let image = Image::load_random(png).map_err(classify)?;
    if image.bands() != 1 || image.width() != image.height() || !image.is_uchar() {
        return Err(Error::Internal(
            "a stored mask is not a square grey image".into(),
        ));
    }
    Ok(Mask {
        side: image.width(),
        pixels: image.pixels().map_err(classify)?,
    })
}

/// 8-bit RGB pixels of `image`, alpha flattened onto white.
fn rgb8(image: &Image<'_>) -> Result<Vec<u8>, Error> {
    let grey = image.bands() < 3;
    let image = image.to_srgb8(false).map_err(classify)?;
    let image = if image.has_alpha() || image.bands() > 3 {
        image
            .flatten(&[255.0, 255.0, 255.0])
            .and_then(|i| i.to_uchar())
            .map_err(classify)?
    } else {
        image
    };
    let image = if grey && image.bands() < 3 {
        image.to_srgb8(false).map_err(classify)?
    } else {
        image
    };
    image
        .extract_bands(0, 3)
        .map_err(classify)?
        .pixels()
        .map_err(classify)
}

/// A mask as a one-band image the size of `image`, cut to `region` (fractions left, top,
/// right, bottom of the original) first.
fn mask_image(
    mask: &Mask,
    width: u32,
    height: u32,
    region: Option<(f64, f64, f64, f64)>,
) -> Result<Image<'static>, Error> {
    let full = Image::from_pixels(&mask.pixels, mask.side, mask.side, 1).map_err(classify)?;
    let cut = match region {
        None => full,
        Some((l, t, r, b)) => {
            let s = f64::from(mask.side);
            let (x0, y0) = ((l * s).floor() as u32, (t * s).floor() as u32);
            let x1 = ((r * s).ceil() as u32).clamp(x0 + 1, mask.side);
            let y1 = ((b * s).ceil() as u32).clamp(y0 + 1, mask.side);
            full.extract_area(
                x0.min(mask.side - 1),
                y0.min(mask.side - 1),
                x1 - x0,
                y1 - y0,
            )
            .map_err(classify)?
        }
    };
    cut.thumbnail_image(width, height).map_err(classify)
}

/// `bg-remove`: `image` (the whole upright original at some scale, or its `region`) with the
/// mask as its transparency — combined with any it already has. 8-bit output.
pub fn remove_background<'a>(
    image: Image<'a>,
    mask: &Mask,
    region: Option<(f64, f64, f64, f64)>,
) -> Result<Image<'a>, Error> {
    let image = if image.is_uchar() {
        image
    } else {
        image.to_srgb8(image.bands() < 3).map_err(classify)?
    };
    let (w, h) = (image.width(), image.height());
    let alpha = mask_image(mask, w, h, region)?;
    if !image.has_alpha() {
        return image.bandjoin(&alpha).map_err(classify);
    }
    // Both: the product of the two, computed here — which reads the pixels twice (the alpha,
    // then the colour), so the decode is kept in memory first (output-sized: after the resize).
    let image = image.materialize().map_err(classify)?;
    let bands = image.bands();
    let own = image.extract_bands(bands - 1, 1).map_err(classify)?;
    let (a, m) = (
        own.pixels().map_err(classify)?,
        alpha.pixels().map_err(classify)?,
    );
    let product: Vec<u8> = a
        .iter()
        .zip(&m)
        .map(|(&a, &m)| ((u32::from(a) * u32::from(m) + 127) / 255) as u8)
        .collect();
    let combined = Image::from_pixels(&product, w, h, 1).map_err(classify)?;
    let colour = image.extract_bands(0, bands - 1).map_err(classify)?;
    colour.bandjoin(&combined).map_err(classify)
}

/// `bg-remove` with `bg`: the cut-out subject over the colour (imgix's "replace the background
/// with a colour"). An opaque colour gives an opaque image; a translucent one, the subject
/// over it ("over" compositing). 8-bit input, as [`remove_background`] leaves it.
pub fn over_colour<'a>(image: Image<'a>, bg: Rgba) -> Result<Image<'a>, Error> {
    if !image.has_alpha() || bg.a == 0 {
        return Ok(image);
    }
    let grey = image.bands() <= 2;
    let colour = if grey {
        vec![0.2126 * f64::from(bg.r) + 0.7152 * f64::from(bg.g) + 0.0722 * f64::from(bg.b)]
    } else {
        vec![f64::from(bg.r), f64::from(bg.g), f64::from(bg.b)]
    };
    if bg.a == 255 {
        return image
            .flatten(&colour)
            .and_then(|i| i.to_uchar())
            .map_err(classify);
    }
    let bands = image.bands() as usize;
    let mut px = image.pixels().map_err(classify)?;
    let ba = f64::from(bg.a) / 255.0;
    for p in px.chunks_exact_mut(bands) {
        let a = f64::from(p[bands - 1]) / 255.0;
        let out_a = a + ba * (1.0 - a);
        if out_a > 0.0 {
            for (c, &bgc) in p[..bands - 1].iter_mut().zip(&colour) {
                *c = ((f64::from(*c) * a + bgc * ba * (1.0 - a)) / out_a).round() as u8;
            }
        }
        p[bands - 1] = (out_a * 255.0).round() as u8;
    }
    image.with_pixels(&px).map_err(classify)
}

/// `crop=auto` without faces: the centre of the mask's subject (the confident foreground's
/// weight), as fractions of the image. `None`: no subject stands out.
pub fn subject(mask: &Mask) -> Option<(f64, f64)> {
    // A "subject" covering nearly everything is no subject: the anchors decide.
    let (l, t, r, b) = mask.subject()?;
    if (r - l) * (b - t) > 0.95 {
        return None;
    }
    mask.centroid()
}

/// What `upscale=true` needs for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpscalePlan {
    /// The output is not larger than the original: the normal render.
    NotNeeded,
    /// Upscale the original `factor` times (2 or 4) first; `input` is what the model is given
    /// (the original, or the original shrunk to the input cap).
    Upscale {
        /// 2 or 4.
        factor: u32,
        /// The model's input size.
        input: Size,
    },
    /// Needed but not possible: the reason (an animation, or an original past the limits).
    Refused(&'static str),
}

/// imgix's input limits: under 2048×2048 up to 4×, up to 4096×4096 2×, none above.
fn imgix_factor(size: Size) -> u32 {
    match size.width.max(size.height) {
        0..=2047 => 4,
        2048..=4096 => 2,
        _ => 1,
    }
}

/// Decide the upscale for `params` on the original `source`: the scale the output needs (1 when
/// the URL names no size: imgix then upscales by the full factor), the factor (2 or 4) that
/// covers it within imgix's limits and `max_pixels` (the upscaled image's size), the model's
/// input (at most `max_input` pixels: a larger original is shrunk for the model first).
pub fn upscale_plan(
    source: &SourceInfo,
    params: &Params,
    max_dimension: u32,
    max_pixels: u64,
    max_input: u64,
) -> UpscalePlan {
    if source.frames > 1 && params.frame.is_none() {
        return UpscalePlan::Refused("animated originals are not upscaled");
    }
    let seen = match params.rect {
        Some(r) => Size::new(r.w.max(1), r.h.max(1)),
        None => source.size,
    };
    let (width, height) = params.sizing.resolve(
        (seen.width, seen.height),
        params.width,
        params.height,
        params.fit,
        params.dpr,
        max_dimension,
    );
    let needed = if width.is_none() && height.is_none() {
        f64::INFINITY
    } else {
        let mut p = params.clone();
        p.width = width;
        p.height = height;
        match plan::plan(seen, &p, max_dimension) {
            Ok(plan) => f64::from(plan.resize.width) / f64::from(seen.width.max(1)),
            Err(_) => return UpscalePlan::NotNeeded,
        }
    };
    if needed <= 1.0 {
        return UpscalePlan::NotNeeded;
    }
    let full = source.size;
    let mut factor = if needed <= 2.0 { 2 } else { 4 }.min(imgix_factor(full));
    let pixels = |f: u32| u64::from(full.width * f) * u64::from(full.height * f);
    while factor >= 2 && pixels(factor) > max_pixels {
        factor /= 2;
    }
    if factor < 2 {
        return UpscalePlan::Refused("the original is too large to upscale");
    }
    UpscalePlan::Upscale {
        factor,
        input: upscale_input(full, max_input),
    }
}

/// What the upscaler is given for an original of `size` (upright): the original, or the
/// original shrunk to `max_input` pixels. The same for every factor.
pub fn upscale_input(size: Size, max_input: u64) -> Size {
    let original = u64::from(size.width) * u64::from(size.height);
    if original <= max_input {
        return size;
    }
    let s = (max_input as f64 / original as f64).sqrt();
    Size::new(
        ((f64::from(size.width) * s).floor() as u32).max(1),
        ((f64::from(size.height) * s).floor() as u32).max(1),
    )
}

/// The original `bytes` upscaled `factor` times (upright, sRGB; the model fed `input`-sized
/// pixels, its output resized to exactly `factor` × the original): JPEG q95 4:4:4, or PNG when
/// the original has transparency (its alpha upscaled by libvips); with its format and size.
pub fn upscale_of(
    models: &Models,
    bytes: &Bytes,
    factor: u32,
    input: Size,
    limits: &Limits,
) -> Result<(Bytes, Format, Size), Error> {
    let k = upscale::factor(models)
        .ok_or_else(|| Error::ModelFailed("no upscale model is loaded".into()))?;
    scaled(bytes, limits, input, |small, source| {
        let rgb = rgb8(small)?;
        let out = upscale::upscale(models, &rgb, input.width, input.height)?;
        let up =
            Image::from_pixels(&out, input.width * k, input.height * k, 3).map_err(classify)?;
        let target = Size::new(source.size.width * factor, source.size.height * factor);
        let up = if (up.width(), up.height()) == (target.width, target.height) {
            up
        } else {
            up.thumbnail_image(target.width, target.height)
                .map_err(classify)?
        };
        let body = if source.has_alpha {
            let alpha = small
                .to_srgb8(false)
                .map_err(classify)?
                .extract_bands(small.bands() - 1, 1)
                .and_then(|a| a.thumbnail_image(target.width, target.height))
                .map_err(classify)?;
            let png = up
                .bandjoin(&alpha)
                .and_then(|i| i.save(SaveOptions::Png { compression: 1 }))
                .map_err(classify)?;
            (png, Format::Png)
        } else {
            let jpeg = up
                .save(SaveOptions::Jpeg {
                    quality: 95,
                    progressive: false,
                    full_chroma: Some(true),
                })
                .map_err(classify)?;
            (jpeg, Format::JPEG)
        };
        Ok((body.0, body.1, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Fit;

    fn source(w: u32, h: u32) -> SourceInfo {
        SourceInfo {
            size: Size::new(w, h),
            has_alpha: false,
            format: crate::encoding::format::Format::JPEG,
            input: Input::Jpeg,
            raw: Size::new(w, h),
            orientation: 1,
            frames: 1,
            cmyk: false,
            icc: false,
        }
    }

    fn params(w: Option<u32>, h: Option<u32>, fit: Fit) -> Params {
        Params {
            width: w,
            height: h,
            fit,
            ..Params::default()
        }
    }

    #[test]
    fn upscale_follows_imgix_limits_and_the_output_cap() {
        let plan = |s: SourceInfo, p: Params| upscale_plan(&s, &p, 8192, 16_000_000, 1_000_000);
        // Smaller output: nothing to do.
        assert_eq!(
            plan(source(800, 600), params(Some(400), None, Fit::Clip)),
            UpscalePlan::NotNeeded
        );
        // 1.5x: the 2x model output, scaled down after.
        assert_eq!(
            plan(source(400, 300), params(Some(600), None, Fit::Clip)),
            UpscalePlan::Upscale {
                factor: 2,
                input: Size::new(400, 300)
            }
        );
        // No size: the full factor.
        assert_eq!(
            plan(source(400, 300), params(None, None, Fit::Clip)),
            UpscalePlan::Upscale {
                factor: 4,
                input: Size::new(400, 300)
            }
        );
        // 2048–4096: at most 2x (and here the 16 MP cap holds it there).
        assert_eq!(
            plan(source(2000, 1500), params(Some(8000), None, Fit::Clip)),
            UpscalePlan::Upscale {
                factor: 2,
                input: Size::new(1154, 866)
            }
        );
        // Past the cap at 2x: refused (imgix's own limit above 4096 too).
        assert!(matches!(
            plan(source(3000, 3000), params(Some(6000), None, Fit::Clip)),
            UpscalePlan::Refused(_)
        ));
        assert!(matches!(
            plan(source(5000, 100), params(Some(9000), None, Fit::Clip)),
            UpscalePlan::Refused(_)
        ));
        // fit=max never enlarges.
        assert_eq!(
            plan(source(400, 300), params(Some(800), None, Fit::Max)),
            UpscalePlan::NotNeeded
        );
        // Animation: refused.
        let mut animated = source(100, 100);
        animated.frames = 3;
        assert!(matches!(
            plan(animated, params(Some(400), None, Fit::Clip)),
            UpscalePlan::Refused(_)
        ));
    }
}
