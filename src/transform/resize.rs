//! Step 1: decode and scale in one libvips `thumbnail` call — shrink-on-load (JPEG, WebP and
//! HEIF decode at a fraction of full size), EXIF auto-rotation, embedded ICC profile imported and
//! sRGB exported — to exactly the size the plan asks for. A saliency crop (entropy, attention)
//! also happens here: finding the interesting window needs the whole scaled image, which only
//! thumbnail can look at before the sequential decode moves on.

use super::classify;
use super::plan::{Plan, Window};
use super::vips::{Image, Interesting, Pages, ThumbnailOptions};
use crate::error::Error;

/// Decode `bytes` at `plan.resize` (or straight to a smart window). With `orient` (the URL's
/// own orientation), the EXIF one is ignored and the image comes out as stored — sized so that
/// [`super::orient`] turning it gives the planned size.
///
/// `pages` says which frames: for an animation, every frame is scaled to the planned size.
pub fn apply<'a>(
    bytes: &'a [u8],
    plan: &Plan,
    orient: Option<u8>,
    pages: Pages,
    icc: bool,
) -> Result<Image<'a>, Error> {
    Image::thumbnail(bytes, options(plan, orient, pages, icc)).map_err(classify)
}

/// As [`apply`], for an original already open — an Ultra HDR JPEG with its gain map, which
/// libvips's thumbnail scales (and turns, and saliency-crops) along with the pixels.
pub fn apply_open<'a>(image: &Image<'a>, plan: &Plan, icc: bool) -> Result<Image<'a>, Error> {
    image
        .thumbnail_of(options(plan, None, Pages::First, icc))
        .map_err(classify)
}

fn options(plan: &Plan, orient: Option<u8>, pages: Pages, icc: bool) -> ThumbnailOptions {
    let (size, crop) = match plan.window {
        Some(Window::Smart { size, attention }) => (
            size,
            Some(if attention {
                Interesting::Attention
            } else {
                Interesting::Entropy
            }),
        ),
        _ => (plan.resize, None),
    };
    let turned = orient.is_some_and(|o| o >= 5);
    ThumbnailOptions {
        width: if turned { size.height } else { size.width },
        height: if turned { size.width } else { size.height },
        crop,
        no_rotate: orient.is_some(),
        pages,
        to_srgb: icc,
    }
}

/// Whether `bytes` decode at all (at a tiny size, so shrink-on-load keeps this cheap). Used to
/// tell a broken original from a failure of ours when a render fails without saying why.
pub fn decodes(bytes: &[u8]) -> bool {
    let probe = ThumbnailOptions {
        width: 16,
        height: 16,
        crop: None,
        no_rotate: false,
        pages: Pages::First,
        to_srgb: false,
    };
    Image::thumbnail(bytes, probe)
        .and_then(|img| img.pixels())
        .is_ok()
}
