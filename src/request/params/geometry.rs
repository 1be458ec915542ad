//! Geometry before and after the resize: `orient`, `flip`, `rect`, `trim`, `rot`, `pad`,
//! `frame`. Read by [`crate::transform::region`], [`crate::transform::orient`],
//! [`crate::transform::rotate`], [`crate::transform::pad`] and the pipeline's frame choice. Not
//! all of it works frame by frame or from a master: [`super::Params::per_frame`] and
//! [`super::Params::from_master`] say which.

use super::names::{Name, Raw};
use super::values::integer;
use super::{ParamLimits, Params};
use crate::error::Error;

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
        None => false,
        Some("auto") => true,
        Some(v) => return Err(Error::bad_param("trim", format!("'{v}' is not auto"))),
    };
    p.rot = raw.number(Name::Rot, 0.0, 359.99)?.unwrap_or(0.0);
    p.pad = raw
        .integer(Name::Pad, 0, limits.max_dimension / 2)?
        .unwrap_or(0);
    p.frame = raw.integer(Name::Frame, 1, 100_000)?;
    Ok(())
}
