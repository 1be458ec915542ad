//! Step 4: place the image on a canvas of `fill-color` (`fit=fill`/`fillmax`). Nothing to do when
//! the plan has no canvas. A translucent fill colour gives the image an alpha channel, which the
//! flatten step removes again for formats that cannot carry it.

use super::classify;
use super::plan::Plan;
use super::vips::Image;
use crate::error::Error;
use crate::request::Rgba;

/// Pad `image` (8-bit sRGB, with or without alpha) onto the plan's canvas.
pub fn apply<'a>(image: Image<'a>, plan: &Plan, fill: Rgba) -> Result<Image<'a>, Error> {
    let Some(canvas) = plan.canvas else {
        return Ok(image);
    };
    let image = if fill.a < 255 && !image.has_alpha() {
        image.add_alpha().map_err(classify)?
    } else {
        image
    };
    image
        .embed(
            canvas.left,
            canvas.top,
            canvas.size.width,
            canvas.size.height,
            &background(&image, fill),
        )
        .map_err(classify)
}

/// `pad=N`: an `N`-pixel border of `fill` on every side (the plan already left room for it
/// inside a requested box). Nothing to do when `N` is 0.
pub fn border<'a>(image: Image<'a>, pad: u32, fill: Rgba) -> Result<Image<'a>, Error> {
    if pad == 0 {
        return Ok(image);
    }
    let image = if fill.a < 255 && !image.has_alpha() {
        image.add_alpha().map_err(classify)?
    } else {
        image
    };
    let (w, h) = (image.width() + 2 * pad, image.height() + 2 * pad);
    let background = background(&image, fill);
    image.embed(pad, pad, w, h, &background).map_err(classify)
}

/// `fill` as one value per band of `image`: RGB(A), or the luminance (and alpha) for greyscale.
pub fn background(image: &Image<'_>, fill: Rgba) -> Vec<f64> {
    let (r, g, b) = (f64::from(fill.r), f64::from(fill.g), f64::from(fill.b));
    let mut values = if image.bands() - u32::from(image.has_alpha()) >= 3 {
        vec![r, g, b]
    } else {
        vec![0.2126 * r + 0.7152 * g + 0.0722 * b]
    };
    if image.has_alpha() {
        values.push(f64::from(fill.a));
    }
    values
}
