//! Step 3b: adjustments and stylize filters, in imgix's names and ranges, on the 8-bit sRGB
//! image, in this order: `blur` (Gaussian, σ = blur / 10 px), `sharp` (unsharp mask), `usm`
//! (unsharp mask of radius `usmrad`; negative softens), `nr` (a 3×3 median mixed in by strength)
//! and `nrs` (sharpening after it), `hue` and `sat` (rotation and chroma scale in LCh, one pass;
//! `sat=-100` is exact greyscale), `bri` and `con` (one linear map: contrast about mid-grey,
//! then a brightness offset), `gam` (midtone gamma), `mono` (greyscale tinted with a colour),
//! then the per-pixel formulas of [`super::stylize`]: `exp`, `high`, `shad`, `vib`, `sepia`,
//! `duotone`, `invert`, `blend` (a colour), `htn`, `px`. Alpha is never touched. Nothing to do
//! when no filter is set.

use super::vips::{Image, Interpretation};
use super::{classify, stylize};
use crate::error::Error;
use crate::request::params::Filters;

/// Apply `filters` to `image` (8-bit sRGB or greyscale, with or without alpha).
pub fn apply<'a>(image: Image<'a>, filters: &Filters) -> Result<Image<'a>, Error> {
    if !filters.any() {
        return Ok(image);
    }
    let e = classify;
    let mut img = image;
    let alpha = u32::from(img.has_alpha());
    let colour = img.bands() - alpha;
    // One factor per colour band, and 1/0 for alpha, for `linear`.
    let per_band = |colour_value: f64, alpha_value: f64| -> Vec<f64> {
        let mut v = vec![colour_value; colour as usize];
        v.extend(std::iter::repeat_n(alpha_value, alpha as usize));
        v
    };
    if filters.blur > 0 {
        img = img.gaussblur(f64::from(filters.blur) / 10.0).map_err(e)?;
    }
    if filters.sharp > 0 {
        img = img
            .sharpen(1.0, f64::from(filters.sharp) / 25.0)
            .map_err(e)?;
    }
    if filters.usm != 0 && filters.usm_radius_tenths > 0 {
        let radius = f64::from(filters.usm_radius_tenths) / 10.0;
        img = if filters.usm > 0 {
            img.sharpen(radius.max(0.5), f64::from(filters.usm) / 25.0)
        } else {
            img.gaussblur(radius * f64::from(-filters.usm) / 100.0)
        }
        .map_err(e)?;
    }
    if filters.nr > 0 {
        // Read twice (the median and the mix): computed once, as the source is sequential.
        let base = img.materialize().map_err(e)?;
        let median = base.median(3).and_then(|m| m.pixels()).map_err(e)?;
        let mut pixels = base.pixels().map_err(e)?;
        let bands = base.bands() as usize;
        stylize::mix(
            &mut pixels,
            &median,
            bands,
            colour as usize,
            f64::from(filters.nr) / 100.0,
        );
        img = base.with_pixels(&pixels).map_err(e)?;
    }
    if filters.nrs > 0 {
        img = img.sharpen(1.0, f64::from(filters.nrs) / 25.0).map_err(e)?;
    }
    if filters.sat == -100 && colour >= 3 {
        img = grey_as_srgb(&img)?;
    } else if (filters.hue != 0 || filters.sat != 0) && colour >= 3 {
        // Hue rotation and chroma scale in one LCh pass (they act on different bands).
        let chroma = 1.0 + f64::from(filters.sat) / 100.0;
        let mut a = vec![1.0, chroma, 1.0];
        let mut b = vec![0.0, 0.0, f64::from(filters.hue)];
        a.extend(std::iter::repeat_n(1.0, alpha as usize));
        b.extend(std::iter::repeat_n(0.0, alpha as usize));
        img = img
            .colourspace(Interpretation::LCH)
            .and_then(|lch| lch.linear(&a, &b))
            .and_then(|lch| lch.colourspace(Interpretation::Srgb))
            .and_then(|rgb| rgb.to_uchar())
            .map_err(e)?;
    }
    if filters.bri != 0 || filters.con != 0 {
        let factor = 1.0 + f64::from(filters.con) / 100.0;
        let offset = 128.0 * (1.0 - factor) + f64::from(filters.bri) * 2.55;
        img = img
            .linear(&per_band(factor, 1.0), &per_band(offset, 0.0))
            .and_then(|i| i.to_uchar())
            .map_err(e)?;
    }
    if filters.gam != 0 {
        let exponent = 2f64.powf(f64::from(filters.gam) / 100.0);
        img = if alpha == 1 {
            let rgb = img.extract_bands(0, colour).map_err(e)?;
            let a = img.extract_bands(colour, 1).map_err(e)?;
            rgb.gamma(exponent)
                .and_then(|g| g.to_uchar())
                .and_then(|g| g.bandjoin(&a))
                .map_err(e)?
        } else {
            img.gamma(exponent).and_then(|g| g.to_uchar()).map_err(e)?
        };
    }
    if let Some(tint) = filters.mono {
        let grey = if colour >= 3 {
            grey_as_srgb(&img)?
        } else {
            img.colourspace(Interpretation::Srgb).map_err(e)?
        };
        let mut a = vec![
            f64::from(tint.r) / 255.0,
            f64::from(tint.g) / 255.0,
            f64::from(tint.b) / 255.0,
        ];
        a.extend(std::iter::repeat_n(1.0, alpha as usize));
        let b = vec![0.0; a.len()];
        img = grey.linear(&a, &b).and_then(|i| i.to_uchar()).map_err(e)?;
    }
    pixel_formulas(img, filters)
}

/// The adjustments computed in Rust ([`stylize`]), in one pass over the pixels.
fn pixel_formulas<'a>(image: Image<'a>, filters: &Filters) -> Result<Image<'a>, Error> {
    let tone = stylize::tone_curve(filters.exp, filters.high, filters.shad, false);
    let invert = stylize::tone_curve(0, 0, 0, filters.invert);
    let needs_rgb = filters.vib != 0
        || filters.sepia > 0
        || filters.duotone.is_some()
        || filters.blend.is_some();
    if tone.is_none() && invert.is_none() && !needs_rgb && filters.px <= 1 && filters.htn == 0 {
        return Ok(image);
    }
    let e = classify;
    let image = if needs_rgb {
        super::colour::apply(image, true)?
    } else {
        image
    };
    let bands = image.bands() as usize;
    let colour = bands - usize::from(image.has_alpha());
    let mut pixels = image.pixels().map_err(e)?;
    if let Some(lut) = &tone {
        stylize::apply_curve(&mut pixels, bands, colour, lut);
    }
    if filters.vib != 0 {
        stylize::vibrance(&mut pixels, bands, filters.vib);
    }
    if filters.sepia > 0 {
        stylize::sepia(&mut pixels, bands, filters.sepia);
    }
    if let Some((dark, light)) = filters.duotone {
        stylize::duotone(
            &mut pixels,
            bands,
            [dark.r, dark.g, dark.b],
            [light.r, light.g, light.b],
            filters.duotone_alpha,
        );
    }
    if let Some(lut) = &invert {
        stylize::apply_curve(&mut pixels, bands, colour, lut);
    }
    if let Some(b) = filters.blend {
        let alpha = f64::from(b.alpha) / 100.0 * f64::from(b.colour.a) / 255.0;
        stylize::blend(
            &mut pixels,
            bands,
            b.mode,
            [b.colour.r, b.colour.g, b.colour.b],
            alpha,
        );
    }
    if filters.htn > 0 {
        stylize::halftone(
            &mut pixels,
            image.width() as usize,
            image.height() as usize,
            bands,
            colour,
            filters.htn,
        );
    }
    if filters.px > 1 {
        stylize::pixellate(
            &mut pixels,
            image.width() as usize,
            image.height() as usize,
            bands,
            usize::from(filters.px),
        );
    }
    image.with_pixels(&pixels).map_err(e)
}

/// Luminance only, as three equal sRGB bands (alpha kept).
fn grey_as_srgb<'a>(img: &Image<'a>) -> Result<Image<'a>, Error> {
    img.colourspace(Interpretation::BW)
        .and_then(|g| g.colourspace(Interpretation::Srgb))
        .and_then(|g| g.to_uchar())
        .map_err(classify)
}
