//! Step 0b: `rect=x,y,w,h` and `trim` cut the original before it is scaled. Both need the
//! full-size pixels (a rectangle in original coordinates; a border found by looking at them), so
//! this path decodes without shrink-on-load — the pixel limits checked from the header still
//! bound it. Nothing to do without either parameter: [`super::resize`] takes the fast path.

use super::classify;
use super::orient;
use super::plan::{Plan, Window};
use super::vips::Image;
use crate::error::Error;
use crate::request::{Params, Trim};

/// Whether the request cuts the original first.
pub fn needed(params: &Params) -> bool {
    params.rect.is_some() || params.trim.is_some()
}

/// Decode `bytes` upright (by `orient`, or the EXIF orientation), then cut the rectangle and/or
/// the flat border.
pub fn load<'a>(bytes: &'a [u8], params: &Params) -> Result<Image<'a>, Error> {
    let image = Image::load_random(bytes).map_err(classify)?;
    let mut image = match params.orient {
        Some(o) => orient::turn(image, o)?,
        None => image.autorot().map_err(classify)?,
    };
    if let Some(r) = params.rect {
        let (w, h) = (image.width(), image.height());
        if r.x >= w || r.y >= h {
            return Err(Error::bad_param(
                "rect",
                format!("starts outside the {w}x{h} image"),
            ));
        }
        let (rw, rh) = (r.w.min(w - r.x), r.h.min(h - r.y));
        image = image.extract_area(r.x, r.y, rw, rh).map_err(classify)?;
    }
    if let Some(trim) = params.trim {
        let (threshold, background) = match trim {
            Trim::Auto { threshold } => (threshold, None),
            Trim::Colour { colour, tolerance } => {
                let rgb = [colour.r, colour.g, colour.b].map(f64::from);
                let mut bg = if image.bands() - u32::from(image.has_alpha()) >= 3 {
                    rgb.to_vec()
                } else {
                    vec![0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]]
                };
                if image.has_alpha() {
                    bg.push(f64::from(colour.a));
                }
                (tolerance, Some(bg))
            }
        };
        let (left, top, width, height) = image
            .find_trim(f64::from(threshold), background.as_deref())
            .map_err(classify)?;
        // An image that is all border has nothing to keep: leave it whole.
        if width > 0 && height > 0 {
            image = image
                .extract_area(left, top, width, height)
                .map_err(classify)?;
        }
    }
    Ok(image)
}

/// Scale the cut image as the plan says (a saliency window becomes a centred one here).
pub fn scale<'a>(image: Image<'a>, plan: &Plan) -> Result<Image<'a>, Error> {
    let scaled = image
        .thumbnail_image(plan.resize.width, plan.resize.height)
        .map_err(classify)?;
    match plan.window {
        Some(Window::Smart { size, .. }) => {
            let left = scaled.width().saturating_sub(size.width) / 2;
            let top = scaled.height().saturating_sub(size.height) / 2;
            scaled
                .extract_area(left, top, size.width, size.height)
                .map_err(classify)
        }
        _ => Ok(scaled),
    }
}
