//! Size, fit and crop: `w`, `h` (pixels, or a share of the original), `dpr`, `ch`, `fit`,
//! `crop`, `fp-x`, `fp-y`, `ar`, `min-w`, `min-h`, `max-w`, `max-h`, `fill-color`. Read by
//! [`crate::transform::plan`], which resolves the parts that depend on the original's size
//! ([`Sizing::resolve`]). Pure geometry: safe per animation frame and from a decode-once master.

use std::fmt::Write as _;

use super::names::{Name, Raw};
use super::values::{integer, number, Rgba};
use super::{ParamLimits, Params};
use crate::error::Error;

/// How the image is fitted to the requested box (imgix `fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Fit inside the box, keep aspect ratio; may enlarge. imgix's default. CSS `contain`.
    Clip,
    /// Cover the box and crop the overflow. CSS `cover`.
    Crop,
    /// Fit inside the box and pad to exactly the box with `fill-color`.
    Fill,
    /// As `Fill`, but never enlarge the image.
    FillMax,
    /// As `Clip`, but never enlarge. CSS `inside`.
    Max,
    /// As `Crop`, but never enlarge: crops to the box's aspect ratio at most the original size.
    Min,
    /// Stretch to exactly the box, ignoring aspect ratio.
    Scale,
    /// As `Fill`, the frame filled by extending the image's edge pixels outwards (imgix's
    /// "affine clamp").
    Clamp,
}

/// `fit=facearea`: the output is the region around the faces (or the one `faceindex` picks),
/// `facepad` times its box (imgix's ratio: 1.0 is the face box), widened to the box's aspect
/// ratio. No face found
/// (or no face of that index): the URL's fallback fit (`fit=facearea,fill`; `crop` when none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceArea {
    /// `facepad`: the area as a multiple of the face box (imgix's ratio; default 1.0, the box
    /// itself; values below 1 read as 1).
    pub pad: f64,
    /// `faceindex`: the face, 1-based, left to right; all faces when absent.
    pub index: Option<u32>,
}

impl FaceArea {
    /// Its cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        let _ = write!(s, "&facearea={:.3}", self.pad);
        if let Some(i) = self.index {
            let _ = write!(s, ",{i}");
        }
    }
}

impl Fit {
    fn parse(value: &str) -> Option<Fit> {
        Some(match value {
            "clip" | "contain" => Fit::Clip,
            "crop" | "cover" => Fit::Crop,
            "fill" => Fit::Fill,
            "fillmax" => Fit::FillMax,
            "max" | "inside" => Fit::Max,
            "min" => Fit::Min,
            "scale" => Fit::Scale,
            "clamp" => Fit::Clamp,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Fit::Clip => "clip",
            Fit::Crop => "crop",
            Fit::Fill => "fill",
            Fit::FillMax => "fillmax",
            Fit::Max => "max",
            Fit::Min => "min",
            Fit::Scale => "scale",
            Fit::Clamp => "clamp",
        }
    }

    /// Whether this fit crops (and so reads `crop=`).
    pub fn crops(self) -> bool {
        matches!(self, Fit::Crop | Fit::Min)
    }

    /// Whether this fit pads (and so reads `fill-color`).
    pub fn pads(self) -> bool {
        matches!(self, Fit::Fill | Fit::FillMax | Fit::Clamp)
    }
}

/// What fills the frame around the image with `fit=fill`/`fillmax` (imgix `fill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// `fill-color` (the default).
    Solid,
    /// A blurred copy of the image itself, scaled to cover the frame (opaque).
    Blur,
    /// The image's edge pixels extended outwards (`fit=clamp`; `fill` is not read).
    Edges,
}

/// Where along one axis a crop window sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Align {
    /// Top or left.
    Start,
    /// Centre.
    Center,
    /// Bottom or right.
    End,
}

/// Which part of the image a crop keeps (imgix `crop`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crop {
    /// Anchored by edges: `top`, `bottom`, `left`, `right`, `center`, or pairs like `top,left`.
    Gravity {
        /// Horizontal anchor.
        x: Align,
        /// Vertical anchor.
        y: Align,
    },
    /// Centred on a focal point (`crop=focalpoint&fp-x=…&fp-y=…`), fractions of width/height,
    /// zoomed in `zoom` times (`fp-z`, 1–100).
    FocalPoint {
        /// 0 (left) – 1 (right).
        x: f64,
        /// 0 (top) – 1 (bottom).
        y: f64,
        /// 1 (the box covered as without it) – 100.
        zoom: f64,
    },
    /// The window with the most entropy.
    Entropy,
    /// libvips attention (imgix `edges`).
    Attention,
    /// Centred on the faces found in the original (`crop=faces`); libvips attention when there
    /// are none.
    Faces,
    /// The subject (`crop=auto`): centred on the faces if there are any, else on the learned
    /// foreground mask's subject; else anchored by the edges the URL also named (`x`, `y`).
    Auto {
        /// Horizontal anchor when no subject is found.
        x: Align,
        /// Vertical anchor when no subject is found.
        y: Align,
    },
}

impl Crop {
    /// Centre crop, the default.
    pub const CENTER: Crop = Crop::Gravity {
        x: Align::Center,
        y: Align::Center,
    };
}

/// Request headers a response may depend on besides `Accept`: the client hints the URL opted
/// into with `ch=`, and `Save-Data` when it has `auto=compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Varies {
    /// `Sec-CH-DPR` (`ch=dpr`, and no `dpr` in the URL).
    pub dpr: bool,
    /// `Sec-CH-Width` (`ch=width`, and no `w` in the URL).
    pub width: bool,
    /// `Save-Data` (`auto=compress`).
    pub save_data: bool,
}

impl Varies {
    /// Header names for `Vary`, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [
            (self.dpr, "Sec-CH-DPR"),
            (self.width, "Sec-CH-Width"),
            (self.save_data, "Save-Data"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

/// What the client's request headers say about it: client hints (used only when the URL opts in
/// with `ch=`) and `Save-Data` (used only with `auto=compress`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hints {
    /// `Sec-CH-DPR`: the device pixel ratio.
    pub dpr: Option<f64>,
    /// `Sec-CH-Width`: the image's layout width in device pixels (from `sizes`).
    pub width: Option<u32>,
    /// `Save-Data: on`.
    pub save_data: bool,
}

impl Hints {
    /// Read the hints from header values (`None` when absent); malformed values are ignored,
    /// as browsers expect of hints.
    pub fn from_values(dpr: Option<&str>, width: Option<&str>, save_data: Option<&str>) -> Hints {
        Hints {
            dpr: dpr
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d > 0.0),
            width: width
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|w| *w > 0),
            save_data: save_data.is_some_and(|v| v.trim().eq_ignore_ascii_case("on")),
        }
    }
}

/// Scale CSS pixels by `dpr`; if the result exceeds `max`, shrink both sides by the same factor
/// so the requested aspect ratio survives.
fn device_pixels(w: Option<u32>, h: Option<u32>, dpr: f64, max: u32) -> (Option<u32>, Option<u32>) {
    let scale = |v: u32| (f64::from(v) * dpr).round().max(1.0);
    let (sw, sh) = (w.map(scale), h.map(scale));
    let largest = sw.unwrap_or(0.0).max(sh.unwrap_or(0.0));
    let shrink = if largest > f64::from(max) {
        f64::from(max) / largest
    } else {
        1.0
    };
    let fin = |v: f64| ((v * shrink).round().max(1.0) as u32).min(max);
    (sw.map(fin), sh.map(fin))
}

/// A place as `top`, `middle`, `bottom` with `left`, `center`, `right` (any order,
/// comma-separated; an axis not named is centred): the overlays' and text's `*-align`,
/// `blend-crop`. `default` when the parameter is absent.
pub(super) fn anchors(
    name: Name,
    value: Option<&str>,
    default: (Align, Align),
) -> Result<(Align, Align), Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    let (mut x, mut y) = (Align::Center, Align::Center);
    for token in value.split(',') {
        match token.trim() {
            "top" => y = Align::Start,
            "middle" => y = Align::Center,
            "bottom" => y = Align::End,
            "left" => x = Align::Start,
            "center" | "centre" => x = Align::Center,
            "right" => x = Align::End,
            other => {
                return Err(Error::bad_param(
                    name.as_str(),
                    format!("'{other}' is not one of top, middle, bottom, left, center, right"),
                ))
            }
        }
    }
    Ok((x, y))
}

fn parse_crop(value: &str, fp_x: f64, fp_y: f64, zoom: f64) -> Result<Crop, Error> {
    let (mut x, mut y) = (Align::Center, Align::Center);
    let (mut focal, mut entropy, mut attention, mut faces) = (false, false, false, false);
    let mut auto = false;
    for token in value.split(',') {
        match token.trim() {
            "top" => y = Align::Start,
            "bottom" => y = Align::End,
            "left" => x = Align::Start,
            "right" => x = Align::End,
            "center" | "centre" | "middle" => {}
            "focalpoint" => focal = true,
            "entropy" => entropy = true,
            "edges" | "attention" => attention = true,
            "faces" => faces = true,
            "auto" => auto = true,
            other => {
                return Err(Error::bad_param(
                    "crop",
                    format!(
                        "'{other}' is not one of top, bottom, left, right, center, \
                         focalpoint, faces, auto, entropy, edges"
                    ),
                ))
            }
        }
    }
    // imgix precedence: focal point, then the subject (auto: faces first, then the learned
    // mask), faces, the smart modes, then edge anchors.
    Ok(if focal {
        Crop::FocalPoint {
            x: fp_x,
            y: fp_y,
            zoom,
        }
    } else if auto {
        Crop::Auto { x, y }
    } else if faces {
        Crop::Faces
    } else if entropy {
        Crop::Entropy
    } else if attention {
        Crop::Attention
    } else {
        Crop::Gravity { x, y }
    })
}

pub(super) fn align_char(a: Align) -> char {
    match a {
        Align::Start => 's',
        Align::Center => 'c',
        Align::End => 'e',
    }
}

/// The size rules that need the original's size to resolve: `w`/`h` given as a share of the
/// original, `ar`, and the `min-*`/`max-*` bounds of `fit=crop`. Device pixels (× `dpr`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sizing {
    /// `w` between 0 and 1: that share of the original's width (× `dpr`).
    pub width_share: Option<f64>,
    /// `h` between 0 and 1: that share of the original's height (× `dpr`).
    pub height_share: Option<f64>,
    /// `ar=W:H` as W / H, kept only where the fit reads it (`crop`, `fill`).
    pub aspect: Option<f64>,
    /// `min-w` × `dpr` (`fit=crop` only).
    pub min_width: Option<u32>,
    /// `min-h` × `dpr` (`fit=crop` only).
    pub min_height: Option<u32>,
    /// `max-w` × `dpr` (`fit=crop` only).
    pub max_width: Option<u32>,
    /// `max-h` × `dpr` (`fit=crop` only).
    pub max_height: Option<u32>,
}

impl Sizing {
    /// The sizing part of the cache key: every field, non-defaults only.
    pub(super) fn key(&self, s: &mut String) {
        let Sizing {
            width_share,
            height_share,
            aspect,
            min_width,
            min_height,
            max_width,
            max_height,
        } = *self;
        for (name, value) in [("ws", width_share), ("hs", height_share), ("ar", aspect)] {
            if let Some(v) = value {
                let _ = write!(s, "&{name}={v:.5}");
            }
        }
        for (name, value) in [
            ("min-w", min_width),
            ("min-h", min_height),
            ("max-w", max_width),
            ("max-h", max_height),
        ] {
            if let Some(v) = value {
                let _ = write!(s, "&{name}={v}");
            }
        }
    }

    /// The box (`w`, `h` in device pixels) for an original of `source` size (upright), as imgix
    /// resolves it:
    ///
    /// - a share becomes pixels of the original (× `dpr`);
    /// - `ar` with `fit=crop`/`fill`: with one side given, the other follows the ratio; with
    ///   none, the original is cropped (`crop`: the largest box of that ratio inside it) or
    ///   padded (`fill`: the smallest box of that ratio around it) at its own size; with both
    ///   sides given `ar` is ignored;
    /// - `min-*`/`max-*` with `fit=crop`: a missing side follows the original's aspect ratio,
    ///   then each side is held within its bounds.
    pub fn resolve(
        &self,
        source: (u32, u32),
        width: Option<u32>,
        height: Option<u32>,
        fit: Fit,
        dpr: f64,
        max: u32,
    ) -> (Option<u32>, Option<u32>) {
        let (sw, sh) = (f64::from(source.0.max(1)), f64::from(source.1.max(1)));
        let px = |v: f64| (v.round().max(1.0) as u32).min(max);
        let mut w = width.or(self.width_share.map(|s| px(s * sw * dpr)));
        let mut h = height.or(self.height_share.map(|s| px(s * sh * dpr)));
        if let Some(ratio) = self.aspect {
            match (w, h) {
                (Some(_), Some(_)) => {}
                (Some(width), None) => h = Some(px(f64::from(width) / ratio)),
                (None, Some(height)) => w = Some(px(f64::from(height) * ratio)),
                (None, None) => {
                    let wider = sw / sh > ratio;
                    let (bw, bh) = match (fit, wider) {
                        (Fit::Crop, true) | (Fit::Fill, false) => (sh * ratio, sh),
                        _ => (sw, sw / ratio),
                    };
                    (w, h) = (Some(px(bw)), Some(px(bh)));
                }
            }
        }
        let bounded = [
            self.min_width,
            self.min_height,
            self.max_width,
            self.max_height,
        ]
        .iter()
        .any(Option::is_some);
        if fit == Fit::Crop && bounded {
            let (width, height) = match (w, h) {
                (Some(w), Some(h)) => (w, h),
                (Some(w), None) => (w, px(f64::from(w) * sh / sw)),
                (None, Some(h)) => (px(f64::from(h) * sw / sh), h),
                (None, None) => (source.0.min(max), source.1.min(max)),
            };
            let clamp = |v: u32, lo: Option<u32>, hi: Option<u32>| {
                let v = lo.map_or(v, |lo| v.max(lo));
                hi.map_or(v, |hi| v.min(hi))
            };
            w = Some(clamp(width, self.min_width, self.max_width));
            h = Some(clamp(height, self.min_height, self.max_height));
        }
        (w, h)
    }
}

/// A `w`/`h` value: whole pixels (`1`–`max`), or a share of the original (`0`–`1`, with a
/// decimal point).
pub(super) enum Dimension {
    /// Whole pixels.
    Pixels(u32),
    /// A share (0–1).
    Share(f64),
}

pub(super) fn dimension(name: Name, value: &str, max: u32) -> Result<Dimension, Error> {
    if value.contains('.') {
        let share = number(name, value, 0.0, 1.0).map_err(|_| {
            Error::bad_param(
                name.as_str(),
                format!(
                    "expected whole pixels from 1 to {max} or a share of the original \
                     above 0 and at most 1, got '{value}'"
                ),
            )
        })?;
        if share > 0.0 {
            return Ok(Dimension::Share(share));
        }
    }
    // Past the operator's cap: a limit, refused even where unreadable values are ignored.
    if value.parse::<u64>().is_ok_and(|v| v > u64::from(max)) {
        return Err(Error::OverLimit {
            param: name.as_str(),
            reason: format!("expected whole pixels from 1 to {max}, got '{value}'"),
        });
    }
    integer(name, value, 1, max).map(Dimension::Pixels)
}

/// `ar=W:H` (each a positive number) as W / H.
fn aspect(value: &str) -> Result<f64, Error> {
    let bad = || {
        Error::bad_param(
            "ar",
            format!("expected W:H with positive numbers (as 16:9), got '{value}'"),
        )
    };
    let (w, h) = value.split_once(':').ok_or_else(bad)?;
    let side = |v: &str| {
        number(Name::Ar, v, 0.0, 100_000.0)
            .ok()
            .filter(|n| *n > 0.0)
    };
    let ratio = side(w).ok_or_else(bad)? / side(h).ok_or_else(bad)?;
    if !(1e-3..=1e3).contains(&ratio) {
        return Err(Error::bad_param(
            "ar",
            format!("'{value}' is a ratio beyond 1000:1"),
        ));
    }
    Ok(ratio)
}

/// Read the size family into `p`.
pub(super) fn parse(
    raw: &Raw<'_>,
    p: &mut Params,
    limits: ParamLimits,
    hints: Hints,
) -> Result<(), Error> {
    let max = limits.max_dimension;
    let w = raw
        .get(Name::W)
        .map(|v| dimension(Name::W, v, max))
        .transpose()?;
    let h = raw
        .get(Name::H)
        .map(|v| dimension(Name::H, v, max))
        .transpose()?;
    let (mut ch_dpr, mut ch_width) = (false, false);
    for token in raw.get(Name::Ch).unwrap_or("").split(',') {
        match token.trim().to_ascii_lowercase().as_str() {
            "dpr" => ch_dpr = true,
            "width" => ch_width = true,
            // imgix also names Save-Data here; it is read with auto=compress regardless.
            "save-data" | "savedata" | "" => {}
            other => {
                return Err(Error::bad_param(
                    "ch",
                    format!("'{other}' is not one of dpr, width, save-data"),
                ))
            }
        }
    }
    // A value in the URL wins over the hint; the response varies on a hint only when the
    // URL left the decision to it.
    p.varies.dpr = ch_dpr && raw.get(Name::Dpr).is_none();
    p.varies.width = ch_width && w.is_none();
    p.dpr = match (raw.get(Name::Dpr), hints.dpr) {
        (Some(v), _) => number(Name::Dpr, v, 1.0, 5.0)?,
        (None, Some(hint)) if p.varies.dpr => hint.clamp(1.0, 5.0),
        _ => 1.0,
    };
    let pixels = |d: &Option<Dimension>| match d {
        Some(Dimension::Pixels(n)) => Some(*n),
        _ => None,
    };
    let share = |d: &Option<Dimension>| match d {
        Some(Dimension::Share(s)) => Some(*s),
        _ => None,
    };
    (p.width, p.height) = device_pixels(pixels(&w), pixels(&h), p.dpr, max);
    if let (true, Some(hint)) = (p.varies.width, hints.width) {
        // Sec-CH-Width is already in device pixels.
        p.width = Some(hint.min(max));
    }

    // `fit=facearea[,fallback]`: the fallback (default crop) is the fit when no face is found.
    let fit = raw.get(Name::Fit);
    let (face_area, fit) = match fit.map(|v| v.split_once(',').unwrap_or((v, ""))) {
        Some(("facearea", fallback)) => (true, Some(fallback).filter(|f| !f.is_empty())),
        _ => (false, fit),
    };
    p.fit = match fit {
        None if face_area => Fit::Crop,
        None => Fit::Clip,
        Some(v) => Fit::parse(v).ok_or_else(|| {
            Error::bad_param(
                "fit",
                format!("'{v}' is not one of clip, crop, facearea, fill, fillmax, max, min, scale"),
            )
        })?,
    };
    p.face_area = if face_area {
        Some(FaceArea {
            pad: raw.number(Name::Facepad, 0.0, 20.0)?.unwrap_or(1.0),
            index: raw.integer(Name::Faceindex, 1, 1000)?,
        })
    } else {
        None
    };
    let fp_x = raw.number(Name::FpX, 0.0, 1.0)?;
    let fp_y = raw.number(Name::FpY, 0.0, 1.0)?;
    p.crop = match raw.get(Name::Crop) {
        None => Crop::CENTER,
        Some(v) => parse_crop(
            v,
            fp_x.unwrap_or(0.5),
            fp_y.unwrap_or(0.5),
            raw.number(Name::FpZ, 1.0, 100.0)?.unwrap_or(1.0),
        )?,
    };
    p.fill = match raw.get(Name::Fill) {
        None | Some("solid") => Fill::Solid,
        Some("blur") => Fill::Blur,
        Some(v) => {
            return Err(Error::bad_param(
                "fill",
                format!("'{v}' is not solid or blur"),
            ))
        }
    };
    if !p.fit.pads() {
        p.fill = Fill::Solid;
    }
    if p.fit == Fit::Clamp {
        p.fill = Fill::Edges;
    }
    p.fill_color = raw
        .colour(Name::FillColor)?
        .unwrap_or(Rgba::TRANSPARENT_WHITE);

    let aspect = raw.get(Name::Ar).map(aspect).transpose()?;
    let bound = |name: Name| -> Result<Option<u32>, Error> {
        Ok(raw
            .integer(name, 1, max)?
            .map(|v| ((f64::from(v) * p.dpr).round() as u32).clamp(1, max)))
    };
    let crops = p.fit == Fit::Crop;
    p.sizing = Sizing {
        width_share: share(&w),
        height_share: share(&h),
        aspect: aspect.filter(|_| matches!(p.fit, Fit::Crop | Fit::Fill)),
        min_width: bound(Name::MinW)?.filter(|_| crops),
        min_height: bound(Name::MinH)?.filter(|_| crops),
        max_width: bound(Name::MaxW)?.filter(|_| crops),
        max_height: bound(Name::MaxH)?.filter(|_| crops),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Sizing = Sizing {
        width_share: None,
        height_share: None,
        aspect: None,
        min_width: None,
        min_height: None,
        max_width: None,
        max_height: None,
    };

    #[test]
    fn aspect_ratio_fills_in_the_missing_sides_as_imgix_documents() {
        let ar = |r: f64| Sizing {
            aspect: Some(r),
            ..S
        };
        // imgix's example: a 900×270 original, ar=9:1&fit=crop → 900×100.
        assert_eq!(
            ar(9.0).resolve((900, 270), None, None, Fit::Crop, 1.0, 8192),
            (Some(900), Some(100))
        );
        // w=280&ar=2:1&fit=crop → 280×140.
        assert_eq!(
            ar(2.0).resolve((900, 270), Some(280), None, Fit::Crop, 1.0, 8192),
            (Some(280), Some(140))
        );
        assert_eq!(
            ar(16.0 / 9.0).resolve((900, 270), None, Some(90), Fit::Crop, 1.0, 8192),
            (Some(160), Some(90))
        );
        // Both sides given: ar is ignored.
        assert_eq!(
            ar(2.0).resolve((900, 270), Some(10), Some(10), Fit::Crop, 1.0, 8192),
            (Some(10), Some(10))
        );
        // fill with no size: the smallest frame of that ratio around the original.
        assert_eq!(
            ar(1.0).resolve((900, 270), None, None, Fit::Fill, 1.0, 8192),
            (Some(900), Some(900))
        );
        assert_eq!(
            ar(1.0).resolve((900, 270), None, None, Fit::Crop, 1.0, 8192),
            (Some(270), Some(270))
        );
    }

    #[test]
    fn shares_and_bounds_resolve_against_the_original() {
        let half = Sizing {
            width_share: Some(0.25),
            ..S
        };
        assert_eq!(
            half.resolve((800, 600), None, None, Fit::Clip, 2.0, 8192),
            (Some(400), None)
        );
        let bounded = Sizing {
            min_width: Some(300),
            max_width: Some(500),
            ..S
        };
        // h=100 on a 4:1 panorama would be 400 wide: within bounds.
        assert_eq!(
            bounded.resolve((4000, 1000), None, Some(100), Fit::Crop, 1.0, 8192),
            (Some(400), Some(100))
        );
        // On a 10:1 one it would be 1000: held to 500.
        assert_eq!(
            bounded.resolve((10000, 1000), None, Some(100), Fit::Crop, 1.0, 8192),
            (Some(500), Some(100))
        );
        // A tall one would be 10: raised to 300.
        assert_eq!(
            bounded.resolve((100, 1000), None, Some(100), Fit::Crop, 1.0, 8192),
            (Some(300), Some(100))
        );
    }
}
