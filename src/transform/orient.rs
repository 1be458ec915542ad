//! Step 1b: the URL's own orientation (`orient`, replacing the EXIF one, which
//! [`super::resize`] then ignored) and mirroring (`flip`). Nothing to do without either: EXIF
//! orientation is applied by `thumbnail` itself.

use super::classify;
use super::vips::Image;
use crate::error::Error;
use crate::request::params::Flip;

/// Turn `image` (decoded as stored) by EXIF `orientation`, then mirror it as `flip` asks.
pub fn apply<'a>(
    image: Image<'a>,
    orientation: Option<u8>,
    flip: Flip,
) -> Result<Image<'a>, Error> {
    let mut image = match orientation {
        // A turn (3–8) reads the image out of order, and the decode in front of it is
        // sequential (a JPEG's rows come once, top to bottom): the turn gets the pixels in
        // memory — the scaled image, small next to the original. Without this: a 500, "out of
        // order read". (`region` decodes for random access and turns without a copy.)
        Some(o) if o >= 3 => turn(image.materialize().map_err(classify)?, o)?,
        Some(o) => turn(image, o)?,
        None => image,
    };
    if flip.horizontal {
        image = image.flip(true).map_err(classify)?;
    }
    if flip.vertical {
        // Bottom rows first: out of the order a sequential decode gives them in.
        image = image.materialize().map_err(classify)?;
        image = image.flip(false).map_err(classify)?;
    }
    Ok(image)
}

/// Turn `image`, as stored, the way EXIF orientation `o` says: 2 mirror, 3 half turn, 4 mirror
/// top-bottom, 5 transpose, 6 quarter turn clockwise, 7 transverse, 8 quarter turn
/// anticlockwise (as libvips's autorot does).
pub fn turn(image: Image<'_>, o: u8) -> Result<Image<'_>, Error> {
    let (quarter_turns, mirror) = match o {
        2 => (0, true),
        3 => (2, false),
        4 => (2, true),
        5 => (1, true),
        6 => (1, false),
        7 => (3, true),
        8 => (3, false),
        _ => (0, false),
    };
    let mut image = image;
    if quarter_turns > 0 {
        image = image.rot(quarter_turns).map_err(classify)?;
    }
    if mirror {
        image = image.flip(true).map_err(classify)?;
    }
    Ok(image)
}
