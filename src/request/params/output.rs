//! Output: `fm`, `q`, `auto`, `lossless`, `dl`, `chromasub`, `colorquant`, `cs`, `dpi`, and the
//! descriptions that answer instead of an image: `fm=json`, `fm=blurhash`, `palette` with
//! `colors` and `prefix`. Read by
//! [`crate::transform::encode`] (and `auto=enhance` by [`crate::transform::enhance`]); encoder
//! settings only, so safe per animation frame and from a decode-once master.

use super::names::{Name, Raw};
use super::values::switch;
use super::Params;
use crate::encoding::format::Format;
use crate::error::Error;

/// The learned operations asked for (imgix's `bg-remove`, `upscale`) and what to do when one
/// cannot be done: the plain image (`*-fallback=true`, imgix's default) or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// `bg-remove=true`: the subject kept, the background transparent.
    pub bg_remove: bool,
    /// `bg-remove-fallback` (default true).
    pub bg_remove_fallback: bool,
    /// `upscale=true`: learned super-resolution where the output is larger than the original.
    pub upscale: bool,
    /// `upscale-fallback` (default true).
    pub upscale_fallback: bool,
}

impl Default for Learned {
    fn default() -> Learned {
        Learned {
            bg_remove: false,
            bg_remove_fallback: true,
            upscale: false,
            upscale_fallback: true,
        }
    }
}

impl Learned {
    /// Key text. A fallback turned off is part of it: the same URL with the fallback on may
    /// have cached the plain image where this one answers an error.
    pub fn key(&self, s: &mut String) {
        if self.bg_remove {
            s.push_str("&bg-remove=1");
            if !self.bg_remove_fallback {
                s.push_str("&bgrf=0");
            }
        }
        if self.upscale {
            s.push_str("&upscale=1");
            if !self.upscale_fallback {
                s.push_str("&upf=0");
            }
        }
    }
}

/// Which output format the URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// No `fm`: keep the source's format (JPEG/PNG for formats we cannot write).
    Source,
    /// `fm=auto` or `auto=format`: the best format the client's `Accept` allows; PNG or JPEG
    /// (by transparency) for a client that takes neither AVIF nor WebP.
    Auto,
    /// `auto=format` with `fm`: AVIF or WebP as `Accept` allows, else `fm` (imgix: `fm` is the
    /// fallback for browsers that take neither).
    AutoOr(Format),
    /// `auto=format,compress` with `fm`: AVIF or WebP as `Accept` allows, else as
    /// [`FormatChoice::StillFamily`].
    AutoOrStill(Format),
    /// `auto=compress` without `fm`: PNG for an image with transparency, JPEG otherwise.
    Family,
    /// `auto=compress` with `fm`: on a still, PNG or JPEG by transparency (imgix: compress
    /// overrides `fm` on non-animated images); an animation keeps `fm`.
    StillFamily(Format),
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

/// The ICC profile written into the output (`cs`). Pixels are sRGB whichever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// None (`cs=strip`, and `cs=origin`, imgix's default): untagged sRGB, which is what an
    /// untagged image means on the web.
    #[default]
    None,
    /// `cs=srgb`: libvips's sRGB profile embedded.
    Srgb,
    /// `cs=tinysrgb`: a compact sRGB profile (gamma-2.2 curve) embedded.
    TinySrgb,
}

/// Formats imgix offers that Refract does not write, named in the 400.
const NOT_OFFERED: &[&str] = &["jp2", "jxl", "mp4", "webm"];

/// A description of the image instead of the image (`fm=json`, `palette=`, `fm=blurhash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Describe {
    /// `fm=json`: the original's size, resolution, colour model, depth, orientation, type and
    /// EXIF/TIFF (and, with `--json-gps`, GPS) fields, as imgix writes them.
    Metadata {
        /// `faces=1`: with the faces found (imgix's `Faces`).
        faces: bool,
    },
    /// `palette=json|css`: the rendered image's main colours.
    Palette {
        /// CSS classes rather than JSON.
        css: bool,
        /// How many colours (`colors`, 0–16, imgix's default 6).
        colours: u8,
        /// Class-name prefix (`prefix`, imgix's default `image`).
        prefix: String,
    },
    /// `fm=blurhash`: the rendered image as a BlurHash string.
    BlurHash,
}

/// imgix's default `colors`.
const DEFAULT_COLOURS: u32 = 6;

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
    p.describe = describe(raw)?;
    p.format = match fm {
        _ if matches!(p.describe, Some(Describe::Palette { css: true, .. })) => {
            FormatChoice::Fixed(Format::Css)
        }
        _ if p.describe.is_some() && fm != Some("blurhash") => FormatChoice::Fixed(Format::Json),
        Some("json") => FormatChoice::Fixed(Format::Json),
        Some("blurhash") => FormatChoice::Fixed(Format::BlurHash),
        Some("auto") => FormatChoice::Auto,
        Some("png8") => FormatChoice::Fixed(Format::Png),
        Some(v) if NOT_OFFERED.contains(&v) => {
            return Err(Error::bad_param(
                "fm",
                format!(
                    "'{v}' is an imgix format Refract does not offer; use auto, jpg, pjpg, \
                     png, png8, webp, avif, gif, json or blurhash"
                ),
            ))
        }
        Some(v) => {
            let f = Format::from_param(v).ok_or_else(|| {
                Error::bad_param(
                    "fm",
                    format!(
                        "'{v}' is not one of auto, jpg, pjpg, png, png8, webp, avif, gif, json, \
                         blurhash"
                    ),
                )
            })?;
            // imgix: auto=format negotiates first and fm is the fallback; auto=compress picks
            // PNG or JPEG by transparency over fm on stills.
            match (auto_format, compress) {
                (true, false) => FormatChoice::AutoOr(f),
                (true, true) => FormatChoice::AutoOrStill(f),
                (false, true) => FormatChoice::StillFamily(f),
                (false, false) => FormatChoice::Fixed(f),
            }
        }
        None if auto_format => FormatChoice::Auto,
        None if compress => FormatChoice::Family,
        None => FormatChoice::Source,
    };
    p.quality = raw.integer(Name::Q, 1, 100)?.map(|q| q as u8);
    // imgix: q with PNG output, or fm=png8, quantises to a palette.
    p.palette = fm == Some("png8")
        || (matches!(
            p.format,
            FormatChoice::Fixed(Format::Png) | FormatChoice::AutoOr(Format::Png)
        ) && p.quality.is_some());
    p.lossless = raw.switch(Name::Lossless)?;
    p.hdr = raw.switch(Name::Hdr)?;
    p.learned = Learned {
        bg_remove: raw.switch(Name::BgRemove)?,
        bg_remove_fallback: raw
            .get(Name::BgRemoveFallback)
            .map_or(Ok(true), |v| switch(Name::BgRemoveFallback, v))?,
        upscale: raw.switch(Name::Upscale)?,
        upscale_fallback: raw
            .get(Name::UpscaleFallback)
            .map_or(Ok(true), |v| switch(Name::UpscaleFallback, v))?,
    };
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
    p.profile = match raw.get(Name::Cs) {
        None | Some("origin" | "strip") => Profile::None,
        Some("srgb") => Profile::Srgb,
        Some("tinysrgb") => Profile::TinySrgb,
        Some("adobergb1998") => {
            return Err(Error::bad_param(
                "cs",
                "adobergb1998 is not offered: outputs are sRGB (use srgb, tinysrgb or strip)",
            ))
        }
        Some(v) => {
            return Err(Error::bad_param(
                "cs",
                format!("'{v}' is not one of origin, srgb, tinysrgb, strip"),
            ))
        }
    };
    Ok(())
}

/// `fm=json`, `fm=blurhash`, `palette=json|css` with `colors` and `prefix`; `palette` wins.
fn describe(raw: &Raw<'_>) -> Result<Option<Describe>, Error> {
    let css = match raw.get(Name::Palette) {
        None => {
            return Ok(match raw.get(Name::Fm) {
                Some("json") => Some(Describe::Metadata {
                    faces: raw.switch(Name::Faces)?,
                }),
                Some("blurhash") => Some(Describe::BlurHash),
                _ => None,
            })
        }
        Some("json") => false,
        Some("css") => true,
        Some(v) => {
            return Err(Error::bad_param(
                "palette",
                format!("'{v}' is not json or css"),
            ))
        }
    };
    let prefix = raw.get(Name::Prefix).unwrap_or("image");
    let identifier = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !prefix.starts_with(|c: char| c.is_ascii_digit());
    if !identifier {
        return Err(Error::bad_param(
            "prefix",
            format!("'{prefix}' is not a CSS class name (letters, digits, - and _)"),
        ));
    }
    Ok(Some(Describe::Palette {
        css,
        colours: raw.integer(Name::Colors, 0, 16)?.unwrap_or(DEFAULT_COLOURS) as u8,
        prefix: prefix.to_owned(),
    }))
}
