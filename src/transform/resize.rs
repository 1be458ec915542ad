//! Step 1: decode and scale in one libvips `thumbnail` call — shrink-on-load (JPEG, WebP and
//! HEIF decode at a fraction of full size), EXIF auto-rotation, embedded ICC profile imported and
//! sRGB exported — to exactly the size the plan asks for. A saliency crop (entropy, attention)
//! also happens here: finding the interesting window needs the whole scaled image, which only
//! thumbnail can look at before the sequential decode moves on.

use super::classify;
use super::plan::{Plan, Window};
use super::vips::{Image, Interesting, ThumbnailOptions};
use crate::error::Error;

/// Decode `bytes` at `plan.resize` (or straight to a smart window).
pub fn apply<'a>(bytes: &'a [u8], plan: &Plan) -> Result<Image<'a>, Error> {
    let opts = match plan.window {
        Some(Window::Smart { size, attention }) => ThumbnailOptions {
            width: size.width,
            height: size.height,
            crop: Some(if attention {
                Interesting::Attention
            } else {
                Interesting::Entropy
            }),
        },
        _ => ThumbnailOptions {
            width: plan.resize.width,
            height: plan.resize.height,
            crop: None,
        },
    };
    Image::thumbnail(bytes, opts).map_err(classify)
}

/// Whether `bytes` decode at all (at a tiny size, so shrink-on-load keeps this cheap). Used to
/// tell a broken original from a failure of ours when a render fails without saying why.
pub fn decodes(bytes: &[u8]) -> bool {
    let probe = ThumbnailOptions {
        width: 16,
        height: 16,
        crop: None,
    };
    Image::thumbnail(bytes, probe)
        .and_then(|img| img.pixels())
        .is_ok()
}
