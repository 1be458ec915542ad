//! Overlay parameters: `mark*` (a watermark image) and `blend` given an image, with the
//! `blend-*` placement. The overlay image is an original like any other, fetched through the
//! mounts — or, when its URL carries imgix parameters of its own (or is `/~text`), rendered
//! through this origin first (`Renderer::layers`); `transform::overlay` draws it.

use std::fmt::Write as _;

use super::adjust::BlendMode;
use super::names::{Name, Raw};
use super::size::{anchors, dimension, Align, Dimension};
use super::{ParamLimits, Params};
use crate::error::Error;

/// Longest overlay reference accepted (a path or an absolute URL).
const MAX_SOURCE_BYTES: usize = 2048;

/// How an overlay meets its `w`×`h` box (imgix's `mark-fit`, `blend-fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerFit {
    /// Inside the box, aspect kept (the default).
    Clip,
    /// Cover the box, the overflow cut by the crop anchor.
    Crop,
    /// As `Clip`, never enlarged.
    Max,
    /// Stretched to the box.
    Scale,
    /// As `Clip`, the rest of the box filled by repeating the edge pixels.
    Clamp,
}

impl LayerFit {
    fn name(self) -> &'static str {
        match self {
            LayerFit::Clip => "clip",
            LayerFit::Crop => "crop",
            LayerFit::Max => "max",
            LayerFit::Scale => "scale",
            LayerFit::Clamp => "clamp",
        }
    }
}

/// A length of the overlay: device pixels, or a share of the base image's side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// Device pixels (× `dpr`).
    Pixels(u32),
    /// A share (0–1) of the base image's width or height.
    Share(f64),
}

impl Length {
    /// The length against a base side of `side` pixels.
    pub fn of(self, side: u32) -> u32 {
        match self {
            Length::Pixels(n) => n,
            Length::Share(s) => ((f64::from(side) * s).round() as u32).max(1),
        }
    }

    fn key(self) -> String {
        match self {
            Length::Pixels(n) => n.to_string(),
            Length::Share(s) => format!("{s:.4}"),
        }
    }
}

/// An image drawn over the rendered image: a watermark (`mark`) or a blend image (`blend`).
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Where it comes from: a path in this origin's URL space (`/brand/logo.png`) or an absolute
    /// `http(s)` URL that a mount serves (see `Mounts::overlay_key`).
    pub source: String,
    /// Width of its box.
    pub width: Option<Length>,
    /// Height of its box.
    pub height: Option<Length>,
    /// How it meets its box.
    pub fit: LayerFit,
    /// What `fit=crop` keeps (horizontal, vertical).
    pub crop: (Align, Align),
    /// Where it sits (horizontal, vertical) when `x`/`y` are not given.
    pub align: (Align, Align),
    /// Gap from the edges it is aligned to, device pixels.
    pub pad: u32,
    /// Left edge, device pixels (replaces the horizontal alignment).
    pub x: Option<i32>,
    /// Top edge, device pixels (replaces the vertical alignment).
    pub y: Option<i32>,
    /// Opacity, 0–100.
    pub alpha: u8,
    /// How it combines with the image (`normal` for watermarks).
    pub mode: BlendMode,
    /// `mark-tile=grid`: repeated over the whole image.
    pub tile: bool,
    /// `blend-size=inherit`: sized and cropped as the base image.
    pub inherit: bool,
    /// `mark-rot`: turned this many degrees clockwise.
    pub rotation: f64,
}

impl Overlay {
    /// Its cache-key text (the overlay's content enters the variant store's location).
    pub(super) fn key(&self, name: &str, s: &mut String) {
        let Overlay {
            source,
            width,
            height,
            fit,
            crop,
            align,
            pad,
            x,
            y,
            alpha,
            mode,
            tile,
            inherit,
            rotation,
        } = self;
        let length = |l: &Option<Length>| l.map_or(String::new(), Length::key);
        let _ = write!(
            s,
            "&{name}={source:?}:{}x{}:{}:{}{}:{}{}:{pad}:{}:{}:{alpha}:{}:{}{}:{rotation:.2}",
            length(width),
            length(height),
            fit.name(),
            super::size::align_char(crop.0),
            super::size::align_char(crop.1),
            super::size::align_char(align.0),
            super::size::align_char(align.1),
            x.map_or(String::new(), |v| v.to_string()),
            y.map_or(String::new(), |v| v.to_string()),
            mode.name(),
            if *tile { "t" } else { "" },
            if *inherit { "i" } else { "" },
        );
    }
}

/// The overlays a URL asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overlays {
    /// `blend` with an image, under the watermark.
    pub blend: Option<Overlay>,
    /// `mark`, drawn last.
    pub mark: Option<Overlay>,
}

impl Overlays {
    /// Whether any is asked for.
    pub fn any(&self) -> bool {
        self.blend.is_some() || self.mark.is_some()
    }

    /// Their part of the cache key.
    pub(super) fn key(&self, s: &mut String) {
        if let Some(b) = &self.blend {
            b.key("blendimg", s);
        }
        if let Some(m) = &self.mark {
            m.key("mark", s);
        }
    }
}

/// A reference to an overlay image: a path (a leading `/` added) or an absolute `http(s)` URL,
/// joined to `base` (`mark-base`) when that is given, with any query of its own kept.
fn source(name: Name, value: &str, base: Option<&str>) -> Result<String, Error> {
    let bad = |why: String| Error::bad_param(name.as_str(), why);
    let value = value.trim();
    let joined;
    let value = match base {
        Some(base) => {
            let base = url::Url::parse(base)
                .map_err(|_| Error::bad_param("mark-base", "expected an absolute http(s) URL"))?;
            joined = base
                .join(value)
                .map_err(|e| bad(format!("cannot be joined to mark-base: {e}")))?;
            joined.as_str()
        }
        None => value,
    };
    if value.is_empty() || value.len() > MAX_SOURCE_BYTES {
        return Err(bad(format!(
            "expected a path or an http(s) URL of at most {MAX_SOURCE_BYTES} bytes"
        )));
    }
    // A query is the overlay's own imgix parameters: it is rendered through this origin
    // first (`Renderer::layers`). A fragment means nothing to an image server.
    if value.contains('#') {
        return Err(bad("a '#' fragment in the overlay's URL".into()));
    }
    if let Some((scheme, _)) = value.split_once("://") {
        if scheme != "http" && scheme != "https" {
            return Err(bad(format!(
                "'{scheme}' URLs are not fetched (http, https)"
            )));
        }
        return Ok(value.to_owned());
    }
    if value.contains(':') && !value.contains('/') {
        return Err(bad("expected a path or an http(s) URL".into()));
    }
    Ok(format!("/{}", value.trim_start_matches('/')))
}

fn fit(name: Name, value: Option<&str>, clamp: bool) -> Result<LayerFit, Error> {
    Ok(match value {
        None | Some("clip") => LayerFit::Clip,
        Some("crop") => LayerFit::Crop,
        Some("max") => LayerFit::Max,
        Some("scale") => LayerFit::Scale,
        Some("clamp") if clamp => LayerFit::Clamp,
        Some(v) => {
            return Err(Error::bad_param(
                name.as_str(),
                format!(
                    "'{v}' is not one of clip, crop, max, scale{}",
                    if clamp { ", clamp" } else { "" }
                ),
            ))
        }
    })
}

/// Device pixels from a whole-pixel value.
fn device(v: u32, dpr: f64, max: u32) -> u32 {
    ((f64::from(v) * dpr).round() as u32).min(max)
}

fn length(raw: &Raw<'_>, name: Name, dpr: f64, max: u32) -> Result<Option<Length>, Error> {
    raw.get(name)
        .map(|v| {
            dimension(name, v, max).map(|d| match d {
                Dimension::Pixels(n) => Length::Pixels(device(n, dpr, max)),
                Dimension::Share(s) => Length::Share(s),
            })
        })
        .transpose()
}

fn position(raw: &Raw<'_>, name: Name, dpr: f64, max: u32) -> Result<Option<i32>, Error> {
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    Ok(raw
        .signed(name, -max, max)?
        .map(|v| (f64::from(v) * dpr).round() as i32))
}

/// Read the overlay family (after `size`, whose `dpr` it uses).
pub(super) fn parse(raw: &Raw<'_>, p: &mut Params, limits: ParamLimits) -> Result<(), Error> {
    let (dpr, max) = (p.dpr, limits.max_dimension);
    if let Some(v) = raw.get(Name::Mark) {
        let mark_scale = raw.integer(Name::MarkScale, 0, 100)?;
        let mut width = length(raw, Name::MarkW, dpr, max)?;
        let height = length(raw, Name::MarkH, dpr, max)?;
        // mark-scale: the mark's width as a share of the image's, when no size is given.
        if let (None, None, Some(scale)) = (width, height, mark_scale) {
            width = Some(Length::Share((f64::from(scale) / 100.0).max(0.001)));
        }
        let tile = match raw.get(Name::MarkTile) {
            None => false,
            Some("grid") => true,
            Some(v) => return Err(Error::bad_param("mark-tile", format!("'{v}' is not grid"))),
        };
        p.overlays.mark = Some(Overlay {
            source: source(Name::Mark, v, raw.get(Name::MarkBase))?,
            width,
            height,
            fit: fit(Name::MarkFit, raw.get(Name::MarkFit), false)?,
            crop: (Align::Center, Align::Center),
            align: anchors(
                Name::MarkAlign,
                raw.get(Name::MarkAlign),
                (Align::End, Align::End),
            )?,
            // imgix: a 5-pixel gap from the edge by default.
            pad: device(raw.integer(Name::MarkPad, 0, max)?.unwrap_or(5), dpr, max),
            x: position(raw, Name::MarkX, dpr, max)?,
            y: position(raw, Name::MarkY, dpr, max)?,
            alpha: raw.integer(Name::MarkAlpha, 0, 100)?.unwrap_or(100) as u8,
            mode: BlendMode::Normal,
            tile,
            inherit: false,
            rotation: raw.number(Name::MarkRot, 0.0, 359.99)?.unwrap_or(0.0),
        });
    }
    if let Some(v) = raw
        .get(Name::Blend)
        .filter(|v| super::Rgba::parse(v).is_none())
    {
        let inherit = match raw.get(Name::BlendSize) {
            None => false,
            Some("inherit") => true,
            Some(v) => {
                return Err(Error::bad_param(
                    "blend-size",
                    format!("'{v}' is not inherit"),
                ))
            }
        };
        p.overlays.blend = Some(Overlay {
            source: source(Name::Blend, v, None)?,
            width: length(raw, Name::BlendW, dpr, max)?,
            height: length(raw, Name::BlendH, dpr, max)?,
            fit: fit(Name::BlendFit, raw.get(Name::BlendFit), true)?,
            crop: anchors(
                Name::BlendCrop,
                raw.get(Name::BlendCrop),
                (Align::Center, Align::Center),
            )?,
            align: anchors(
                Name::BlendAlign,
                raw.get(Name::BlendAlign),
                (Align::Center, Align::Center),
            )?,
            pad: device(raw.integer(Name::BlendPad, 0, max)?.unwrap_or(0), dpr, max),
            x: position(raw, Name::BlendX, dpr, max)?,
            y: position(raw, Name::BlendY, dpr, max)?,
            alpha: raw.integer(Name::BlendAlpha, 0, 100)?.unwrap_or(100) as u8,
            mode: super::adjust::blend_mode(raw)?,
            tile: false,
            inherit,
            rotation: 0.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_sources_are_paths_or_web_urls() {
        let ok = |v: &str| source(Name::Mark, v, None).unwrap();
        assert_eq!(ok("/brand/logo.png"), "/brand/logo.png");
        assert_eq!(ok("logo.png"), "/logo.png");
        assert_eq!(
            ok("https://cdn.example/logo.png"),
            "https://cdn.example/logo.png"
        );
        assert_eq!(
            source(Name::Mark, "logo.png", Some("https://cdn.example/marks/")).unwrap(),
            "https://cdn.example/marks/logo.png"
        );
        // Its own parameters are kept: the overlay is rendered through the origin with them.
        assert_eq!(ok("logo.png?w=10&sat=-100"), "/logo.png?w=10&sat=-100");
        assert_eq!(ok("/~text?txt=Hi"), "/~text?txt=Hi");
        for bad in [
            "",
            "file:///etc/passwd",
            "logo.png#frag",
            "gopher://x/y",
            "data:x",
        ] {
            assert!(source(Name::Mark, bad, None).is_err(), "{bad}");
        }
    }
}
