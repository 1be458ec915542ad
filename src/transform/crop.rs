//! Step 3: keep the plan's fixed window (gravity, focal point) of the scaled image. Nothing to do
//! without a window, or for a saliency window, which [`super::resize`] already cut.

use super::classify;
use super::plan::{Plan, Window};
use super::vips::Image;
use crate::error::Error;

/// Cut the plan's window out of `image` — out of every frame, for an animation. An attached
/// HDR gain map is cut to the same window, at its own scale.
pub fn apply<'a>(image: Image<'a>, plan: &Plan) -> Result<Image<'a>, Error> {
    let Some(Window::At { left, top, size }) = plan.window else {
        return Ok(image);
    };
    let Some((frame_height, frames)) = image.frames() else {
        let cut = image
            .extract_area(left, top, size.width, size.height)
            .map_err(classify)?;
        return match image.gain_map() {
            Some(map) => {
                let sx = f64::from(map.width()) / f64::from(image.width());
                let sy = f64::from(map.height()) / f64::from(image.height());
                let scaled = |v: u32, s: f64| (f64::from(v) * s).round() as u32;
                let (mx, my) = (scaled(left, sx), scaled(top, sy));
                let mw = scaled(size.width, sx).clamp(1, map.width() - mx.min(map.width() - 1));
                let mh = scaled(size.height, sy).clamp(1, map.height() - my.min(map.height() - 1));
                let map = map
                    .extract_area(mx.min(map.width() - 1), my.min(map.height() - 1), mw, mh)
                    .map_err(classify)?;
                cut.with_gain_map(&map).map_err(classify)
            }
            None => Ok(cut),
        };
    };
    let cut = (0..frames)
        .map(|i| image.extract_area(left, top + i * frame_height, size.width, size.height))
        .collect::<Result<Vec<_>, _>>()
        .map_err(classify)?;
    let mut stacked = Image::stack(&cut).map_err(classify)?;
    stacked.set_int(
        c"page-height",
        i32::try_from(size.height).unwrap_or(i32::MAX),
    );
    Ok(stacked)
}
