//! Step 4: place the image on a canvas of `fill-color`, its own blurred copy or its extended
//! edges (`fit=fill`/`fillmax`, `fill=solid|blur`; `fit=clamp`), and add `pad`/`pad-*`. Nothing to do when the plan
//! has no canvas and there is no padding. A translucent fill colour gives the image an alpha channel, which the
//! flatten step removes again for formats that cannot carry it.

use super::classify;
use super::plan::{Canvas, Plan};
use super::vips::Image;
use crate::error::Error;
use crate::request::{Fill, Rgba, Sides};

/// Pad `image` (8-bit sRGB, with or without alpha) onto the plan's canvas: `fill-color`, or
/// with `fill=blur` a blurred copy of the image scaled to cover the canvas.
pub fn apply<'a>(
    image: Image<'a>,
    plan: &Plan,
    fill: Rgba,
    mode: Fill,
) -> Result<Image<'a>, Error> {
    let Some(canvas) = plan.canvas else {
        return Ok(image);
    };
    if mode == Fill::Blur {
        return blurred(image, canvas, fill);
    }
    if mode == Fill::Edges {
        // The edges are read out of order: from pixels in memory (the image is at its output
        // size here, so this is small).
        return image
            .materialize()
            .and_then(|i| {
                i.embed_edges(
                    canvas.left,
                    canvas.top,
                    canvas.size.width,
                    canvas.size.height,
                )
            })
            .map_err(classify);
    }
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

/// `pad`, `pad-*`: space of `fill` on each side (the plan already left room for it inside a
/// requested box). Nothing to do without padding.
pub fn sides<'a>(image: Image<'a>, pad: Sides, fill: Rgba) -> Result<Image<'a>, Error> {
    if !pad.any() {
        return Ok(image);
    }
    let image = if fill.a < 255 && !image.has_alpha() {
        image.add_alpha().map_err(classify)?
    } else {
        image
    };
    let (w, h) = (
        image.width() + pad.horizontal(),
        image.height() + pad.vertical(),
    );
    let background = background(&image, fill);
    image
        .embed(pad.left, pad.top, w, h, &background)
        .map_err(classify)
}

/// Blur (σ) as a share of the canvas's larger side: enough that the copy reads as backdrop.
const BLUR_SHARE: f64 = 0.03;

/// `fill=blur`: the image over a blurred copy of itself that covers the canvas (opaque: the
/// copy's own transparency is flattened onto `fill`).
fn blurred<'a>(image: Image<'a>, canvas: Canvas, fill: Rgba) -> Result<Image<'a>, Error> {
    let e = classify;
    // Read twice (backdrop and front): computed once into memory, as the source is sequential.
    let image = image.materialize().map_err(e)?;
    let (w, h) = (image.width(), image.height());
    let (cw, ch) = (canvas.size.width, canvas.size.height);
    let cover = (f64::from(cw) / f64::from(w)).max(f64::from(ch) / f64::from(h));
    let (sw, sh) = (
        ((f64::from(w) * cover).ceil() as u32).max(cw),
        ((f64::from(h) * cover).ceil() as u32).max(ch),
    );
    let mut backdrop = image
        .thumbnail_image(sw, sh)
        .and_then(|b| b.extract_area((sw - cw) / 2, (sh - ch) / 2, cw, ch))
        .and_then(|b| b.gaussblur((f64::from(cw.max(ch)) * BLUR_SHARE).max(1.0)))
        .map_err(e)?;
    if backdrop.has_alpha() {
        let rgb = [fill.r, fill.g, fill.b].map(f64::from);
        backdrop = backdrop.flatten(&rgb).map_err(e)?;
    }
    let backdrop = backdrop.to_uchar().and_then(|b| b.add_alpha()).map_err(e)?;
    let image = if image.has_alpha() {
        image
    } else {
        image.add_alpha().map_err(e)?
    };
    let mut out = backdrop.pixels().map_err(e)?;
    let front = image.pixels().map_err(e)?;
    for y in 0..h {
        for x in 0..w {
            let s = ((y * w + x) * 4) as usize;
            let d = (((y + canvas.top) * cw + x + canvas.left) * 4) as usize;
            let src = [front[s], front[s + 1], front[s + 2], front[s + 3]].map(f64::from);
            super::shape::over(&mut out[d..d + 4], src);
        }
    }
    // Opaque: drop the alpha band again.
    backdrop
        .with_pixels(&out)
        .and_then(|i| i.extract_bands(0, 3))
        .map_err(e)
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
