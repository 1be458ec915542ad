//! Step 3b: enhancements and filters, in imgix's names and ranges, on the 8-bit sRGB image:
//! `blur` (Gaussian, σ = blur / 10 px), `sharp` (unsharp mask), `sat` (chroma in LCh; −100 is
//! exact greyscale), `bri` and `con` (one linear map: contrast about mid-grey, then a brightness
//! offset), `gam` (midtone gamma), `mono` (greyscale tinted with a colour). Alpha is never
//! touched. Nothing to do when no filter is set.

use super::classify;
use super::vips::{Image, Interpretation};
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
    if filters.sat == -100 && colour >= 3 {
        img = grey_as_srgb(&img)?;
    } else if filters.sat != 0 && colour >= 3 {
        let chroma = 1.0 + f64::from(filters.sat) / 100.0;
        let mut a = vec![1.0, chroma, 1.0];
        a.extend(std::iter::repeat_n(1.0, alpha as usize));
        let b = vec![0.0; a.len()];
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
    Ok(img)
}

/// Luminance only, as three equal sRGB bands (alpha kept).
fn grey_as_srgb<'a>(img: &Image<'a>) -> Result<Image<'a>, Error> {
    img.colourspace(Interpretation::BW)
        .and_then(|g| g.colourspace(Interpretation::Srgb))
        .and_then(|g| g.to_uchar())
        .map_err(classify)
}
