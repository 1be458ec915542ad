//! Value grammars shared by the families: whole numbers, signed numbers, decimals, switches and
//! imgix's colours, each with a one-line reason naming the parameter when a value is refused.

use super::names::{Name, Raw};
use crate::error::Error;

/// A colour with alpha, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha (255 opaque).
    pub a: u8,
}

impl Rgba {
    /// imgix's default `fill-color`: transparent white.
    pub const TRANSPARENT_WHITE: Rgba = Rgba {
        r: 255,
        g: 255,
        b: 255,
        a: 0,
    };

    /// imgix colour syntax: a keyword, or hex `RGB`, `ARGB`, `RRGGBB`, `AARRGGBB` (alpha first).
    pub fn parse(value: &str) -> Option<Rgba> {
        let v = value.strip_prefix('#').unwrap_or(value);
        match v.to_ascii_lowercase().as_str() {
            "white" => return Some(Rgba::rgb(255, 255, 255)),
            "black" => return Some(Rgba::rgb(0, 0, 0)),
            "transparent" => return Some(Rgba::TRANSPARENT_WHITE),
            _ => {}
        }
        if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let nib = |i: usize| u8::from_str_radix(&v[i..i + 1], 16).ok().map(|n| n * 17);
        let byte = |i: usize| u8::from_str_radix(&v[i..i + 2], 16).ok();
        Some(match v.len() {
            3 => Rgba::rgb(nib(0)?, nib(1)?, nib(2)?),
            4 => Rgba {
                a: nib(0)?,
                r: nib(1)?,
                g: nib(2)?,
                b: nib(3)?,
            },
            6 => Rgba::rgb(byte(0)?, byte(2)?, byte(4)?),
            8 => Rgba {
                a: byte(0)?,
                r: byte(2)?,
                g: byte(4)?,
                b: byte(6)?,
            },
            _ => return None,
        })
    }

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
        Rgba { r, g, b, a: 255 }
    }

    /// `aarrggbb`, for cache keys.
    pub fn hex(self) -> String {
        format!("{:02x}{:02x}{:02x}{:02x}", self.a, self.r, self.g, self.b)
    }
}

/// A whole number in `min..=max`.
pub fn integer(name: Name, value: &str, min: u32, max: u32) -> Result<u32, Error> {
    let reason = || format!("expected a whole number from {min} to {max}, got '{value}'");
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::bad_param(name.as_str(), reason()));
    }
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_param(name.as_str(), reason())),
    }
}

/// A whole number in `min..=max`, with an optional leading `-`.
pub fn signed(name: Name, value: &str, min: i32, max: i32) -> Result<i32, Error> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, value),
    };
    let n = integer(name, digits, 0, min.unsigned_abs().max(max.unsigned_abs()))
        .ok()
        .map(|n| if negative { -(n as i32) } else { n as i32 })
        .filter(|n| (min..=max).contains(n));
    n.ok_or_else(|| {
        Error::bad_param(
            name.as_str(),
            format!("expected a whole number from {min} to {max}, got '{value}'"),
        )
    })
}

/// A decimal number (digits and one optional `.`, optionally `-` where `min` is negative) in
/// `min..=max`.
pub fn number(name: Name, value: &str, min: f64, max: f64) -> Result<f64, Error> {
    let digits = if min < 0.0 {
        value.strip_prefix('-').unwrap_or(value)
    } else {
        value
    };
    let ok = value.len() <= 16
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match value.parse::<f64>() {
        Ok(n) if ok && n.is_finite() && (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_param(
            name.as_str(),
            format!("expected a number from {min} to {max}, got '{value}'"),
        )),
    }
}

/// imgix's booleans: `1`/`true` or `0`/`false`.
pub fn switch(name: Name, value: &str) -> Result<bool, Error> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(Error::bad_param(
            name.as_str(),
            format!("'{value}' is not 0, 1, true or false"),
        )),
    }
}

/// A colour: a keyword or hex `RGB`, `ARGB`, `RRGGBB`, `AARRGGBB`.
pub fn colour(name: Name, value: &str) -> Result<Rgba, Error> {
    Rgba::parse(value).ok_or_else(|| {
        Error::bad_param(
            name.as_str(),
            format!("'{value}' is not a colour (a keyword, or hex RGB, ARGB, RRGGBB or AARRGGBB)"),
        )
    })
}

impl Raw<'_> {
    /// The value of `name` as a whole number in `min..=max`, if given.
    pub fn integer(&self, name: Name, min: u32, max: u32) -> Result<Option<u32>, Error> {
        self.get(name)
            .map(|v| integer(name, v, min, max))
            .transpose()
    }

    /// The value of `name` as a signed whole number in `min..=max`, if given.
    pub fn signed(&self, name: Name, min: i32, max: i32) -> Result<Option<i32>, Error> {
        self.get(name)
            .map(|v| signed(name, v, min, max))
            .transpose()
    }

    /// The value of `name` as a decimal in `min..=max`, if given.
    pub fn number(&self, name: Name, min: f64, max: f64) -> Result<Option<f64>, Error> {
        self.get(name)
            .map(|v| number(name, v, min, max))
            .transpose()
    }

    /// The value of `name` as a boolean; `false` when absent.
    pub fn switch(&self, name: Name) -> Result<bool, Error> {
        self.get(name).map_or(Ok(false), |v| switch(name, v))
    }

    /// The value of `name` as a colour, if given.
    pub fn colour(&self, name: Name) -> Result<Option<Rgba>, Error> {
        self.get(name).map(|v| colour(name, v)).transpose()
    }
}
