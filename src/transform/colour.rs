//! Step 2: make sure pixels are 8-bit sRGB (or 8-bit greyscale). `thumbnail` has already
//! converted anything with an ICC profile, and CMYK; this catches 16-bit, profile-less exotic
//! spaces and float TIFFs. Nothing to do for the common case of 8-bit sRGB or greyscale.

use super::classify;
use super::vips::{Image, Interpretation};
use crate::error::Error;

/// Convert to 8-bit sRGB/greyscale if needed. `need_colour` forces three colour bands (padding
/// with a coloured canvas needs them).
pub fn apply<'a>(image: Image<'a>, need_colour: bool) -> Result<Image<'a>, Error> {
    let interpretation = image.interpretation();
    let grey = matches!(interpretation, Interpretation::BW | Interpretation::Grey16);
    let fine = image.is_uchar()
        && match interpretation {
            Interpretation::Srgb => true,
            Interpretation::BW => !need_colour,
            _ => false,
        };
    if fine {
        return Ok(image);
    }
    image.to_srgb8(grey && !need_colour).map_err(classify)
}
