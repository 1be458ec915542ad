//! Step 5: for formats without alpha (JPEG), composite transparency onto the fill colour's RGB
//! (white by default, as imgix does). Nothing to do when the image is opaque or the format keeps
//! alpha.

use super::classify;
use super::vips::Image;
use crate::encoding::format::Format;
use crate::error::Error;
use crate::request::Rgba;

/// Flatten `image` onto `fill` if `format` cannot carry alpha.
pub fn apply<'a>(image: Image<'a>, format: Format, fill: Rgba) -> Result<Image<'a>, Error> {
    if format.supports_alpha() || !image.has_alpha() {
        return Ok(image);
    }
    let (r, g, b) = (f64::from(fill.r), f64::from(fill.g), f64::from(fill.b));
    let background = if image.bands() <= 2 {
        // Grey + alpha: one background value, the fill's luminance.
        vec![0.2126 * r + 0.7152 * g + 0.0722 * b]
    } else {
        vec![r, g, b]
    };
    image.flatten(&background).map_err(classify)
}
