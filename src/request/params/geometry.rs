//! Geometry before and after the resize: `orient`, `flip`, `rect`, `trim`, `rot`, `pad`,
//! `frame`. Read by [`crate::transform::region`], [`crate::transform::orient`],
//! [`crate::transform::rotate`], [`crate::transform::pad`] and the pipeline's frame choice. Not
//! all of it works frame by frame or from a master: [`super::Params::per_frame`] and
//! [`super::Params::from_master`] say which.

use std::fmt::Write as _;

use super::names::{Name, Raw};
use super::values::{colour, integer, Rgba};
use super::{ParamLimits, Params};
use crate::error::Error;

/// Pixels on each side of the image (`pad`, `pad-*`; border widths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sides {
    /// Top.
    pub top: u32,
    /// Right.
    pub right: u32,
    /// Bottom.
    pub bottom: u32,
    /// Left.
    pub left: u32,
}

impl Sides {
    /// The same on every side.
    pub const fn all(n: u32) -> Sides {
        Sides {
            top: n,
            right: n,
            bottom: n,
            left: n,
        }
    }

    /// Whether any side is non-zero.
    pub fn any(&self) -> bool {
        *self != Sides::default()
    }

    /// Left plus right.
    pub fn horizontal(&self) -> u32 {
        self.left + self.right
    }

    /// Top plus bottom.
    pub fn vertical(&self) -> u32 {
        self.top + self.bottom
    }

    /// Side by side.
    pub fn plus(&self, other: &Sides) -> Sides {
        Sides {
            top: self.top + other.top,
            right: self.right + other.right,
            bottom: self.bottom + other.bottom,
            left: self.left + other.left,
        }
    }

    fn key(&self, name: &str, s: &mut String) {
        if self.any() {
            let _ = write!(
                s,
                "&{name}={},{},{},{}",
                self.top, self.right, self.bottom, self.left
            );
        }
    }
}

/// Corner radii in pixels, clockwise from the top left (`border-radius`, `corner-radius`).
pub type Radii = [u32; 4];

/// `border=width,colour` with the per-side widths and corner radii.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Border {
    /// Width on each side.
    pub widths: Sides,
    /// Colour.
    pub colour: Rgba,
    /// Outer corner radii: outside them the result is transparent.
    pub outer: Radii,
    /// Inner corner radii: the image's corners inside them show the border colour.
    pub inner: Radii,
}

/// `mask`: the shape the image is cut to (outside: transparent, or `mask-bg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// The largest ellipse inside the image.
    Ellipse,
    /// Rounded corners of these radii.
    Corners(Radii),
}

/// `transparency=grid`: transparent parts shown over a checkerboard (the result is opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Square size in device pixels (`grid-size` × `dpr`).
    pub size: u32,
    /// The two colours (`grid-colors`).
    pub colours: (Rgba, Rgba),
}

/// `trim`: cut a flat border from the original first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// `trim=auto`: rows and columns are cut from each edge inwards while their mean
    /// difference from the top-left pixel's colour is at most `mean` (`trim-md`) and their
    /// standard deviation at most `spread` (`trim-sd`).
    Auto {
        /// Mean difference that still counts as border.
        mean: u8,
        /// Standard deviation that still counts as border.
        spread: u8,
    },
    /// `trim=color`: the border is `colour` (`trim-color`; the top-left pixel's when absent),
    /// within `tolerance` (`trim-tol`).
    Colour {
        /// The border colour.
        colour: Option<Rgba>,
        /// Difference that still counts as border.
        tolerance: u8,
    },
}

/// imgix's default `trim-md`.
const DEFAULT_TRIM_MD: u8 = 11;

/// imgix's default `trim-sd`.
const DEFAULT_TRIM_SD: u8 = 10;

/// A rectangle of the original, in pixels (`rect=x,y,w,h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (≥ 1).
    pub w: u32,
    /// Height (≥ 1).
    pub h: u32,
}

/// Mirroring (`flip=h`, `v`, `hv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flip {
    /// Left–right.
    pub horizontal: bool,
    /// Top–bottom.
    pub vertical: bool,
}

/// Read the geometry family into `p`.
pub(super) fn parse(raw: &Raw<'_>, p: &mut Params, limits: ParamLimits) -> Result<(), Error> {
    p.orient = match raw.get(Name::Orient) {
        None => None,
        Some(v) => Some(match v {
            "0" | "1" => 1,
            "2" => 2,
            "3" | "180" => 3,
            "4" => 4,
            "5" => 5,
            "6" | "90" => 6,
            "7" => 7,
            "8" | "270" => 8,
            _ => {
                return Err(Error::bad_param(
                    "orient",
                    format!("'{v}' is not one of 1-8 (EXIF) or 90, 180, 270"),
                ))
            }
        }),
    };
    p.flip = match raw.get(Name::Flip) {
        None => Flip::default(),
        Some("h") => Flip {
            horizontal: true,
            vertical: false,
        },
        Some("v") => Flip {
            horizontal: false,
            vertical: true,
        },
        Some("hv" | "vh") => Flip {
            horizontal: true,
            vertical: true,
        },
        Some(v) => {
            return Err(Error::bad_param(
                "flip",
                format!("'{v}' is not one of h, v, hv"),
            ))
        }
    };
    p.rect = match raw.get(Name::Rect) {
        None => None,
        Some(v) => {
            let parts: Vec<&str> = v.split(',').collect();
            let bad = || Error::bad_param("rect", format!("expected x,y,w,h in pixels, got '{v}'"));
            if parts.len() != 4 {
                return Err(bad());
            }
            let n = |i: usize, min: u32| {
                integer(Name::Rect, parts[i].trim(), min, 65_535).map_err(|_| bad())
            };
            Some(Rect {
                x: n(0, 0)?,
                y: n(1, 0)?,
                w: n(2, 1)?,
                h: n(3, 1)?,
            })
        }
    };
    p.trim = match raw.get(Name::Trim) {
        None => None,
        Some("auto") => Some(Trim::Auto {
            mean: raw
                .integer(Name::TrimMd, 0, 255)?
                .map_or(DEFAULT_TRIM_MD, |v| v as u8),
            spread: raw
                .integer(Name::TrimSd, 0, 255)?
                .map_or(DEFAULT_TRIM_SD, |v| v as u8),
        }),
        Some("color") => Some(Trim::Colour {
            colour: raw.colour(Name::TrimColor)?,
            tolerance: raw.integer(Name::TrimTol, 0, 255)?.unwrap_or(0) as u8,
        }),
        Some(v) => {
            return Err(Error::bad_param(
                "trim",
                format!("'{v}' is not auto or color"),
            ))
        }
    };
    p.trim_pad = match p.trim {
        Some(_) => raw
            .integer(Name::TrimPad, 0, limits.max_dimension / 2)?
            .unwrap_or(0),
        None => 0,
    };
    p.rot = raw.number(Name::Rot, 0.0, 359.99)?.unwrap_or(0.0);
    let side_max = limits.max_dimension / 2;
    let all = raw.integer(Name::Pad, 0, side_max)?.unwrap_or(0);
    let side =
        |name: Name| -> Result<u32, Error> { Ok(raw.integer(name, 0, side_max)?.unwrap_or(all)) };
    p.pad = Sides {
        top: side(Name::PadTop)?,
        right: side(Name::PadRight)?,
        bottom: side(Name::PadBottom)?,
        left: side(Name::PadLeft)?,
    };
    p.border = border(raw, side_max)?;
    p.mask = match raw.get(Name::Mask) {
        None => None,
        Some("ellipse") => Some(Mask::Ellipse),
        Some("corners") => Some(Mask::Corners(
            radii(raw, Name::CornerRadius, side_max)?.unwrap_or([0; 4]),
        )),
        Some(v) => {
            return Err(Error::bad_param(
                "mask",
                format!("'{v}' is not ellipse or corners (mask images are not supported)"),
            ))
        }
    };
    p.grid = match raw.get(Name::Transparency) {
        None => None,
        Some("grid") => {
            let light = Rgba::rgb(0xD0, 0xD7, 0xDD);
            let colours = match raw.get(Name::GridColors) {
                None => (light, Rgba::rgb(255, 255, 255)),
                Some(v) => match v.split_once(',') {
                    Some((a, b)) => (
                        colour(Name::GridColors, a.trim())?,
                        colour(Name::GridColors, b.trim())?,
                    ),
                    None => (
                        colour(Name::GridColors, v.trim())?,
                        Rgba::rgb(255, 255, 255),
                    ),
                },
            };
            let size = raw.integer(Name::GridSize, 1, 1000)?.unwrap_or(4);
            Some(Grid {
                size: ((f64::from(size) * p.dpr).round() as u32).max(1),
                colours,
            })
        }
        Some(v) => {
            return Err(Error::bad_param(
                "transparency",
                format!("'{v}' is not grid"),
            ))
        }
    };
    p.mask_bg = match p.mask {
        Some(_) => raw.colour(Name::MaskBg)?,
        None => None,
    };
    p.frame = raw.integer(Name::Frame, 1, 100_000)?;
    Ok(())
}

/// `N` or `top-left,top-right,bottom-right,bottom-left`.
fn radii(raw: &Raw<'_>, name: Name, max: u32) -> Result<Option<Radii>, Error> {
    let Some(v) = raw.get(name) else {
        return Ok(None);
    };
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let n = |p: &str| integer(name, p, 0, max);
    Ok(Some(match parts.as_slice() {
        [one] => [n(one)?; 4],
        [a, b, c, d] => [n(a)?, n(b)?, n(c)?, n(d)?],
        _ => {
            return Err(Error::bad_param(
                name.as_str(),
                format!("expected one radius or four (clockwise from top left), got '{v}'"),
            ))
        }
    }))
}

/// `border=width,colour`, `border-top` … `border-left`, `border-radius`, `border-radius-inner`.
fn border(raw: &Raw<'_>, max: u32) -> Result<Option<Border>, Error> {
    let Some(v) = raw.get(Name::Border) else {
        return Ok(None);
    };
    let (width, c) = v.split_once(',').ok_or_else(|| {
        Error::bad_param(
            "border",
            format!("expected width,colour (as 10,FF0000), got '{v}'"),
        )
    })?;
    let all = integer(Name::Border, width.trim(), 0, max)?;
    let side = |name: Name| -> Result<u32, Error> { Ok(raw.integer(name, 0, max)?.unwrap_or(all)) };
    Ok(Some(Border {
        widths: Sides {
            top: side(Name::BorderTop)?,
            right: side(Name::BorderRight)?,
            bottom: side(Name::BorderBottom)?,
            left: side(Name::BorderLeft)?,
        },
        colour: colour(Name::Border, c.trim())?,
        outer: radii(raw, Name::BorderRadius, max)?.unwrap_or([0; 4]),
        inner: radii(raw, Name::BorderRadiusInner, max)?.unwrap_or([0; 4]),
    }))
}

impl Border {
    /// Cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        let Border {
            widths,
            colour,
            outer,
            inner,
        } = self;
        widths.key("border", s);
        let _ = write!(s, "&bc={}&br={:?}&bri={:?}", colour.hex(), outer, inner);
    }
}

impl Sides {
    /// Cache-key text for padding.
    pub(super) fn pad_key(&self, s: &mut String) {
        self.key("pad", s);
    }
}

impl Mask {
    /// Cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        match self {
            Mask::Ellipse => s.push_str("&mask=ellipse"),
            Mask::Corners(r) => {
                let _ = write!(s, "&mask=corners:{r:?}");
            }
        }
    }
}

impl Trim {
    /// Cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        match self {
            Trim::Auto { mean, spread } => {
                let _ = write!(s, "&trim=auto:{mean}:{spread}");
            }
            Trim::Colour { colour, tolerance } => {
                let c = colour.map_or_else(|| "corner".to_owned(), |c| c.hex());
                let _ = write!(s, "&trim=color:{c}:{tolerance}");
            }
        }
    }
}

impl Grid {
    /// Cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        let _ = write!(
            s,
            "&grid={}:{}:{}",
            self.size,
            self.colours.0.hex(),
            self.colours.1.hex()
        );
    }
}
