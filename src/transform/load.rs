//! Step 0: open the original's header — no pixels decoded — learn its size, orientation, alpha
//! and format, and refuse it if it breaks a limit. Everything here runs before any decode.

use super::plan::Size;
use super::vips::{self, Image};
use super::Limits;
use crate::encoding::format::{Format, Input};
use crate::error::Error;

/// What the header says about an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    /// Size after EXIF orientation is applied (what the viewer sees).
    pub size: Size,
    /// Whether it has an alpha channel.
    pub has_alpha: bool,
    /// Its format, as the output format when the URL names none.
    pub format: Format,
    /// What it is coded as.
    pub input: Input,
    /// Size as stored, before any orientation.
    pub raw: Size,
    /// Its EXIF orientation (1–8; 1 when absent).
    pub orientation: u8,
    /// Frames (pages): more than 1 for an animation.
    pub frames: u32,
    /// Stored as CMYK (made sRGB while it is decoded).
    pub cmyk: bool,
    /// Carries an ICC profile (converted to sRGB while it is decoded).
    pub icc: bool,
}

/// Read the header of `bytes` and check it against `limits`.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<SourceInfo, Error> {
    if bytes.is_empty() {
        return Err(Error::UnsupportedFormat);
    }
    // libvips opens the header with the loader that claims the bytes (blocked loaders never
    // do). Only when that fails is the loader search asked on its own: the bytes' signature
    // tells an unknown or blocked format from a broken file, without reading an error message
    // (and without searching twice for the common, good original).
    let header = Image::header(bytes).map_err(|e| {
        if vips::loader_for(bytes).is_none() {
            return Error::UnsupportedFormat;
        }
        tracing::debug!(error = %e, "original's header does not read");
        Error::Undecodable(e.to_string())
    })?;
    let loader = header.loader().unwrap_or_default();
    let compression = header.get_string(c"heif-compression");
    let input =
        Input::of_loader(&loader, compression.as_deref()).ok_or(Error::UnsupportedFormat)?;
    // HEIC is decoded by the system's libheif (see `vips::heic_to_tiff`): refused when the
    // operator turned it off or the host has no libheif.
    if !limits.inputs.contains(input) || (input == Input::Heic && vips::heic_decoder().is_err()) {
        return Err(Error::UnsupportedFormat);
    }
    // Opened at one page: height is one frame's. Animations count every frame. HEIC: the
    // primary image only, at the upright size libheif reads from the container (libvips's
    // header gives the stored size, before HEIF's own rotation).
    let (width, height, frames, heic_alpha) = if input == Input::Heic {
        let (w, h, alpha) =
            vips::heic_header(bytes).map_err(|e| heic_error(e, limits.max_pixels))?;
        (w, h, 1, Some(alpha))
    } else {
        (header.width(), header.height(), header.pages(), None)
    };
    if frames > limits.max_frames {
        return Err(Error::TooManyFrames {
            frames,
            limit: limits.max_frames,
        });
    }
    let pixels = u64::from(width) * u64::from(height) * u64::from(frames);
    if pixels > limits.max_pixels {
        return Err(Error::TooManyPixels {
            pixels,
            limit: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(Error::Undecodable("zero-sized image".into()));
    }
    // EXIF orientations 5–8 turn the image a quarter: width and height swap. (HEIC: HEIF's
    // boxes are the orientation, applied by libheif; EXIF repeats them and is not applied.)
    let orientation = match heic_alpha {
        Some(_) => 1,
        None => header.orientation().clamp(1, 8),
    };
    let raw = Size::new(width, height);
    let size = oriented(raw, orientation);
    let has_alpha = heic_alpha.unwrap_or_else(|| header.has_alpha());
    Ok(SourceInfo {
        size,
        has_alpha,
        format: Format::of_input(input, has_alpha),
        input,
        raw,
        orientation,
        frames,
        cmyk: header.interpretation() == vips::Interpretation::Cmyk,
        icc: header.has_field(c"icc-profile-data"),
    })
}

/// The size a viewer sees for an image stored at `raw` under EXIF `orientation`.
pub fn oriented(raw: Size, orientation: u8) -> Size {
    if orientation >= 5 {
        Size::new(raw.height, raw.width)
    } else {
        raw
    }
}

/// A HEIC failure as the request's error.
pub(super) fn heic_error(e: vips::HeicError, max_pixels: u64) -> Error {
    match e {
        vips::HeicError::Unavailable(_) => Error::UnsupportedFormat,
        vips::HeicError::TooManyPixels(pixels) => Error::TooManyPixels {
            pixels,
            limit: max_pixels,
        },
        vips::HeicError::Undecodable(detail) => Error::Undecodable(detail),
    }
}
