//! Step 3a: `auto=enhance`, an automatic levels stretch: the 0.5th and 99.5th percentiles of
//! lightness become black and white, the same map for every colour band (so hues do not shift),
//! alpha untouched. Nothing to do without it, or for an image whose levels are already nearly
//! full-range or nearly flat.

use super::classify;
use super::vips::{Image, Interpretation};
use crate::error::Error;

/// Stretch `image`'s levels (8-bit sRGB or greyscale).
pub fn apply(image: Image<'_>, enhance: bool) -> Result<Image<'_>, Error> {
    if !enhance {
        return Ok(image);
    }
    let e = classify;
    // Percentiles read every pixel before the stretch reads them again.
    let image = image.materialize().map_err(e)?;
    let alpha = u32::from(image.has_alpha());
    let colour = image.bands() - alpha;
    let lightness = image
        .colourspace(Interpretation::BW)
        .and_then(|g| g.extract_bands(0, 1))
        .map_err(e)?;
    let low = f64::from(lightness.percent(0.5).map_err(e)?);
    let high = f64::from(lightness.percent(99.5).map_err(e)?);
    if high - low < 16.0 || (low <= 2.0 && high >= 253.0) {
        return Ok(image);
    }
    let gain = 255.0 / (high - low);
    let mut a = vec![gain; colour as usize];
    let mut b = vec![-low * gain; colour as usize];
    a.extend(std::iter::repeat_n(1.0, alpha as usize));
    b.extend(std::iter::repeat_n(0.0, alpha as usize));
    image.linear(&a, &b).and_then(|i| i.to_uchar()).map_err(e)
}
