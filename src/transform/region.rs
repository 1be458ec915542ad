//! Step 0b: `rect=x,y,w,h` and `trim` cut the original before it is scaled (`trim=auto` by
//! imgix's walk in from the edges, [`border`]; `trim=color` by libvips's `find_trim`). Both need the
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
    match params.trim {
        None => {}
        Some(Trim::Auto { mean, spread }) => {
            let image_px = image.materialize().map_err(classify)?;
            let bands = image_px.bands() as usize;
            let colour = bands - usize::from(image_px.has_alpha());
            let (w, h) = (image_px.width() as usize, image_px.height() as usize);
            let px = image_px.pixels().map_err(classify)?;
            let (left, top, width, height) =
                border(&px, w, h, bands, colour, f64::from(mean), f64::from(spread));
            image = if width > 0 && height > 0 {
                image_px
                    .extract_area(left as u32, top as u32, width as u32, height as u32)
                    .map_err(classify)?
            } else {
                image_px
            };
        }
        // libvips's find_trim smooths with a 3×3 median first: a smaller image has no border
        // to find (and the median refuses it).
        Some(Trim::Colour { .. }) if image.width() < 3 || image.height() < 3 => {}
        Some(Trim::Colour { colour, tolerance }) => {
            let bg = match colour {
                Some(colour) => super::pad::background(&image, colour),
                // imgix: without trim-color, the top-left pixel's.
                None => {
                    image = image.materialize().map_err(classify)?;
                    let corner = image
                        .extract_area(0, 0, 1, 1)
                        .and_then(|c| c.pixels())
                        .map_err(classify)?;
                    corner.iter().map(|v| f64::from(*v)).collect()
                }
            };
            let (left, top, width, height) = image
                .find_trim(f64::from(tolerance), Some(&bg))
                .map_err(classify)?;
            // An image that is all border has nothing to keep: leave it whole.
            if width > 0 && height > 0 {
                image = image
                    .extract_area(left, top, width, height)
                    .map_err(classify)?;
            }
        }
    }
    if params.trim.is_some() && params.trim_pad > 0 {
        let n = params.trim_pad;
        let image_with_alpha = if params.fill_color.a < 255 && !image.has_alpha() {
            image.add_alpha().map_err(classify)?
        } else {
            image
        };
        let background = super::pad::background(&image_with_alpha, params.fill_color);
        let (w, h) = (image_with_alpha.width(), image_with_alpha.height());
        image = image_with_alpha
            .embed(n, n, w + 2 * n, h + 2 * n, &background)
            .map_err(classify)?;
    }
    Ok(image)
}

/// imgix's `trim=auto`: from each edge inwards, a row (or column) is border while its pixels'
/// mean difference from the top-left pixel's colour is at most `mean` and the standard
/// deviation of those differences at most `spread`. The kept `(left, top, width, height)`;
/// zero width or height when everything is border.
pub fn border(
    px: &[u8],
    w: usize,
    h: usize,
    bands: usize,
    colour: usize,
    mean: f64,
    spread: f64,
) -> (usize, usize, usize, usize) {
    let background = &px[..colour];
    let diff = |x: usize, y: usize| -> f64 {
        let p = &px[(y * w + x) * bands..][..colour];
        p.iter()
            .zip(background)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / colour as f64
    };
    // Whether the line of pixels `points` is border.
    let flat = |points: &mut dyn Iterator<Item = (usize, usize)>| -> bool {
        let (mut n, mut sum, mut sq) = (0.0, 0.0, 0.0);
        for (x, y) in points {
            let d = diff(x, y);
            n += 1.0;
            sum += d;
            sq += d * d;
        }
        if n == 0.0 {
            return true;
        }
        let m = sum / n;
        let sd = (sq / n - m * m).max(0.0).sqrt();
        m <= mean && sd <= spread
    };
    let mut top = 0;
    while top < h && flat(&mut (0..w).map(|x| (x, top))) {
        top += 1;
    }
    if top == h {
        return (0, 0, 0, 0);
    }
    let mut bottom = h;
    while bottom > top && flat(&mut (0..w).map(|x| (x, bottom - 1))) {
        bottom -= 1;
    }
    let mut left = 0;
    while left < w && flat(&mut (top..bottom).map(|y| (left, y))) {
        left += 1;
    }
    let mut right = w;
    while right > left && flat(&mut (top..bottom).map(|y| (right - 1, y))) {
        right -= 1;
    }
    (left, top, right - left, bottom - top)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_walks_in_while_rows_are_flat_and_near_the_corner_colour() {
        // 6×4 grey: a one-pixel frame of 100, a 4×2 block of 200 inside.
        let (w, h) = (6, 4);
        let mut px = vec![100u8; w * h];
        for y in 1..3 {
            for x in 1..5 {
                px[y * w + x] = 200;
            }
        }
        assert_eq!(border(&px, w, h, 1, 1, 11.0, 10.0), (1, 1, 4, 2));
        // A noisy top row (100/110 alternating: differences from the corner of 0 and 10, mean
        // 5, spread 5) still trims at the defaults, but not with trim-md below 5…
        let mut noisy = px.clone();
        for (x, v) in noisy[..w].iter_mut().enumerate() {
            *v = if x % 2 == 0 { 100 } else { 110 };
        }
        assert_eq!(border(&noisy, w, h, 1, 1, 11.0, 10.0), (1, 1, 4, 2));
        assert_eq!(border(&noisy, w, h, 1, 1, 4.0, 10.0).1, 0, "top row kept");
        // …and a spread above trim-sd keeps it too.
        assert_eq!(border(&noisy, w, h, 1, 1, 11.0, 4.0).1, 0);
        // All border: nothing to keep.
        assert_eq!(border(&[7u8; 12], 4, 3, 1, 1, 11.0, 10.0), (0, 0, 0, 0));
    }
}
