//! Step 3c: `rot`, turning the image within its own frame for straightening: rotate about the
//! centre, keep the original width and height, fill the uncovered corners with `bg`. Nothing to
//! do when `rot` is 0.

use super::classify;
use super::pad::background;
use super::vips::Image;
use crate::error::Error;
use crate::request::Rgba;

/// Rotate `image` by `degrees` clockwise inside its frame.
pub fn apply<'a>(image: Image<'a>, degrees: f64, fill: Rgba) -> Result<Image<'a>, Error> {
    if degrees == 0.0 {
        return Ok(image);
    }
    let (w, h) = (image.width(), image.height());
    // Rotation reads its input out of order; the decode upstream is sequential.
    let image = image.materialize().map_err(classify)?;
    let image = if fill.a < 255 && !image.has_alpha() {
        image.add_alpha().map_err(classify)?
    } else {
        image
    };
    let fill_values = background(&image, fill);
    let turned = image.rotate(degrees, &fill_values).map_err(classify)?;
    // Near a quarter turn the turned image can be narrower (or shorter) than the frame: centre
    // it on a canvas at least the frame's size first.
    let (cw, ch) = (turned.width().max(w), turned.height().max(h));
    let turned = turned
        .embed(
            (cw - turned.width()) / 2,
            (ch - turned.height()) / 2,
            cw,
            ch,
            &fill_values,
        )
        .map_err(classify)?;
    turned
        .extract_area((cw - w) / 2, (ch - h) / 2, w, h)
        .map_err(classify)
}
