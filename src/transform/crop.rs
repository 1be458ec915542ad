//! Step 3: keep the plan's fixed window (gravity, focal point) of the scaled image. Nothing to do
//! without a window, or for a saliency window, which [`super::resize`] already cut.

use super::classify;
use super::plan::{Plan, Window};
use super::vips::Image;
use crate::error::Error;

/// Cut the plan's window out of `image`.
pub fn apply<'a>(image: Image<'a>, plan: &Plan) -> Result<Image<'a>, Error> {
    let Some(Window::At { left, top, size }) = plan.window else {
        return Ok(image);
    };
    image
        .extract_area(left, top, size.width, size.height)
        .map_err(classify)
}
