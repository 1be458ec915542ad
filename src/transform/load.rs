//! Step 0: open the original's header — no pixels decoded — learn its size, orientation, alpha
//! and format, and refuse it if it breaks a limit. Everything here runs before any decode.

use super::plan::Size;
use super::vips::{self, Image};
use super::Limits;
use crate::error::Error;
use crate::format::Format;

/// What the header says about an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    /// Size after EXIF orientation is applied (what the viewer sees).
    pub size: Size,
    /// Whether it has an alpha channel.
    pub has_alpha: bool,
    /// Its format, as the output format when the URL names none.
    pub format: Format,
    /// Size as stored, before any orientation.
    pub raw: Size,
    /// Its EXIF orientation (1–8; 1 when absent).
    pub orientation: u8,
    /// Frames (pages): more than 1 for an animation.
    pub frames: u32,
}

/// Read the header of `bytes` and check it against `limits`.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<SourceInfo, Error> {
    // The format is known by the bytes themselves (each allowed loader's signature check), so
    // an unknown or blocked format is told from a broken file without reading an error message.
    if bytes.is_empty() || vips::loader_for(bytes).is_none() {
        return Err(Error::UnsupportedFormat);
    }
    // A loader claims the bytes: failing to read the header now means they are broken.
    let header = Image::header(bytes).map_err(|e| Error::Undecodable(e.to_string()))?;
    // Opened at one page: height is one frame's. Animations count every frame.
    let (width, height, frames) = (header.width(), header.height(), header.pages());
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
    // EXIF orientations 5–8 turn the image a quarter: width and height swap.
    let orientation = header.orientation().clamp(1, 8);
    let raw = Size::new(width, height);
    let size = oriented(raw, orientation);
    let has_alpha = header.has_alpha();
    let loader = header.loader().unwrap_or_default();
    let compression = header.get_string(c"heif-compression");
    // HEIF holding HEVC (Apple's HEIC) opens, but the prebuilt libvips carries no HEVC decoder
    // (patents): refuse it here instead of failing halfway through the decode.
    if loader.starts_with("heif") && compression.as_deref().is_some_and(|c| c != "av1") {
        return Err(Error::UnsupportedFormat);
    }
    Ok(SourceInfo {
        size,
        has_alpha,
        format: Format::of_source(&loader, compression.as_deref(), has_alpha),
        raw,
        orientation,
        frames,
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
