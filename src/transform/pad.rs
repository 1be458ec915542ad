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
    let rgb = [f64::from(fill.r), f64::from(fill.g), f64::from(fill.b)];
    let image = if fill.a < 255 && !image.has_alpha() {
        image.add_alpha().map_err(classify)?
    } else {
        image
    };
    let background: Vec<f64> = if image.has_alpha() {
        rgb.iter().copied().chain([f64::from(fill.a)]).collect()
    } else {
        rgb.to_vec()
    };
    image
        .embed(
            canvas.left,
            canvas.top,
            canvas.size.width,
            canvas.size.height,
            &background,
        )
        .map_err(classify)
}
