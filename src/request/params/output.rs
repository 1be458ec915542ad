//! Output: `fm`, `q`, `auto`, `lossless`, `dl`, `chromasub`, `colorquant`, `dpi`. Read by
//! [`crate::transform::encode`] (and `auto=enhance` by [`crate::transform::enhance`]); encoder
//! settings only, so safe per animation frame and from a decode-once master.

use super::names::{Name, Raw};
use super::Params;
use crate::error::Error;
use crate::format::Format;

/// Which output format the URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// No `fm`: keep the source's format (JPEG/PNG for formats we cannot write).
    Source,
    /// `fm=auto` or `auto=format`: the best format the client's `Accept` allows.
    Auto,
    /// An explicit format.
    Fixed(Format),
}

/// Chroma subsampling of JPEG and AVIF output (`chromasub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chroma {
    /// The encoder's choice: 4:2:0 below quality 90, 4:4:4 from 90 (libvips's `auto`).
    #[default]
    Auto,
    /// `chromasub=420`: colour at half resolution both ways.
    Half,
    /// `chromasub=444` (and `422`, which libvips's encoders cannot write: served as 4:4:4, never
    /// less colour detail than asked for).
    Full,
}

/// Formats imgix offers that Refract does not write, named in the 400.
const NOT_OFFERED: &[&str] = &["jp2", "jxl", "mp4", "webm", "json", "blurhash"];

/// Read the output family into `p`.
pub(super) fn parse(raw: &Raw<'_>, p: &mut Params) -> Result<(), Error> {
    let (mut auto_format, mut compress) = (false, false);
    for token in raw.get(Name::Auto).unwrap_or("").split(',') {
        match token.trim() {
            "format" => auto_format = true,
            "compress" => compress = true,
            "enhance" => p.enhance = true,
            // imgix names with nothing to do here.
            "redeye" | "true" | "" => {}
            other => {
                return Err(Error::bad_param(
                    "auto",
                    format!("'{other}' is not one of format, compress, enhance"),
                ))
            }
        }
    }
    p.compress = compress;
    p.varies.save_data = compress;
    let fm = raw.get(Name::Fm);
    p.format = match fm {
        Some("auto") => FormatChoice::Auto,
        Some("png8") => FormatChoice::Fixed(Format::Png),
        Some(v) if NOT_OFFERED.contains(&v) => {
            return Err(Error::bad_param(
                "fm",
                format!(
                    "'{v}' is an imgix format Refract does not offer; use auto, jpg, pjpg, \
                     png, png8, webp, avif or gif"
                ),
            ))
        }
        Some(v) => FormatChoice::Fixed(Format::from_param(v).ok_or_else(|| {
            Error::bad_param(
                "fm",
                format!("'{v}' is not one of auto, jpg, pjpg, png, png8, webp, avif, gif"),
            )
        })?),
        // imgix: an explicit fm wins over auto=format.
        None if auto_format => FormatChoice::Auto,
        None => FormatChoice::Source,
    };
    p.quality = raw.integer(Name::Q, 1, 100)?.map(|q| q as u8);
    // imgix: q with PNG output, or fm=png8, quantises to a palette.
    p.palette =
        fm == Some("png8") || (p.format == FormatChoice::Fixed(Format::Png) && p.quality.is_some());
    p.lossless = raw.switch(Name::Lossless)?;
    p.download = raw.get(Name::Dl).map(|name| {
        name.chars()
            .take(128)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    });
    p.chroma = match raw.get(Name::Chromasub) {
        None => Chroma::Auto,
        Some("420") => Chroma::Half,
        Some("422" | "444") => Chroma::Full,
        Some(v) => {
            return Err(Error::bad_param(
                "chromasub",
                format!("'{v}' is not one of 420, 422, 444"),
            ))
        }
    };
    p.dpi = raw.integer(Name::Dpi, 1, 10_000)?;
    p.colours = raw.integer(Name::Colorquant, 2, 256)?.map(|n| n as u16);
    Ok(())
}
