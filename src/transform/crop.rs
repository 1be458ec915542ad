//! Step 3: keep the plan's fixed window (gravity, focal point) of the scaled image. Nothing to do
//! without a window, or for a saliency window, which [`super::resize`] already cut.

use super::classify;
use super::plan::{Plan, Window};
use super::vips::Image;
use crate::error::Error;

/// Cut the plan's window out of `image` — out of every frame, for an animation.
pub fn apply<'a>(image: Image<'a>, plan: &Plan) -> Result<Image<'a>, Error> {
    let Some(Window::At { left, top, size }) = plan.window else {
        return Ok(image);
    };
    let Some((frame_height, frames)) = image.frames() else {
        return image
            .extract_area(left, top, size.width, size.height)
            .map_err(classify);
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
