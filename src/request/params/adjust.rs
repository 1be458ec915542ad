//! Adjustments and stylize: `blur`, `sharp`, `sat`, `bri`, `con`, `gam`, `exp`, `high`, `shad`,
//! `hue`, `vib`, `usm`/`usmrad`, `nr`/`nrs`, `invert`, `sepia`, `px`, `htn`, `mono`,
//! `duotone`/`duotone-alpha`, in imgix's ranges. Read by [`crate::transform::filters`] on the scaled 8-bit image. Pixel
//! operations: safe from a decode-once master; per animation frame except `px` and `htn`, whose
//! cells would straddle frames (see [`Filters::per_frame`]).

use std::fmt::Write as _;

use super::names::{Name, Raw};
use super::values::{colour, Rgba};
use crate::error::Error;

/// Colour and detail adjustments. All zero/`None`/`false` means untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filters {
    /// Gaussian blur, 0–2000 (σ = value / 10 pixels).
    pub blur: u16,
    /// Sharpen strength, 0–100.
    pub sharp: u8,
    /// Saturation, −100 (greyscale) … 100.
    pub sat: i8,
    /// Brightness, −100 … 100.
    pub bri: i8,
    /// Contrast, −100 … 100.
    pub con: i8,
    /// Gamma, −100 (darker midtones) … 100 (lighter).
    pub gam: i8,
    /// Exposure, −100 … 100: ±1 stop, in linear light.
    pub exp: i8,
    /// Highlights, −100 … 0: pulls the bright tones down.
    pub high: i8,
    /// Shadows, 0 … 100: lifts the dark tones.
    pub shad: i8,
    /// Hue rotation in degrees, 0–359 (`hue=-90` is kept as 270).
    pub hue: u16,
    /// Vibrance, −100 … 100: saturation weighted towards the less saturated colours.
    pub vib: i8,
    /// Unsharp mask amount, −100 … 100 (negative softens).
    pub usm: i8,
    /// Unsharp mask radius in tenths of a pixel (`usmrad`, 0–500 px; imgix's default 2.5).
    pub usm_radius_tenths: u16,
    /// Noise reduction strength, 0–100 (a 3×3 median mixed in; negative values do nothing).
    pub nr: u8,
    /// Sharpening after noise reduction, 0–100.
    pub nrs: u8,
    /// Halftone, 0–100: dots in cells of 2–20 px.
    pub htn: u8,
    /// Invert the colours.
    pub invert: bool,
    /// Sepia strength, 0–100.
    pub sepia: u8,
    /// Pixellate: square blocks of this many pixels, 0–100.
    pub px: u8,
    /// Monochrome in this tint (`mono`/`monochrome`, hex colour); its alpha is the strength.
    pub mono: Option<Rgba>,
    /// Duotone: lightness mapped from the first colour (shadows) to the second (highlights).
    pub duotone: Option<(Rgba, Rgba)>,
    /// Strength of the duotone, 0–100 (imgix's default 100).
    pub duotone_alpha: u8,
    /// A colour blended over the image.
    pub blend: Option<Blend>,
}

/// How a `blend` colour combines with the image (imgix's `blend-mode`; the W3C compositing
/// formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlendMode {
    /// The colour itself.
    Normal,
    /// Product.
    Multiply,
    /// Inverse product of inverses.
    Screen,
    /// Multiply or screen by the image's tone (imgix's default).
    Overlay,
    /// The darker of the two.
    Darken,
    /// The lighter of the two.
    Lighten,
    /// Colour dodge.
    Dodge,
    /// Colour burn.
    Burn,
    /// Multiply or screen by the colour's tone.
    HardLight,
    /// A softer hard light.
    SoftLight,
    /// Absolute difference.
    Difference,
    /// A softer difference.
    Exclusion,
    /// The colour's hue, the image's saturation and luminosity.
    Hue,
    /// The colour's saturation.
    Saturation,
    /// The colour's hue and saturation.
    Color,
    /// The colour's luminosity.
    Luminosity,
}

impl BlendMode {
    const NAMES: [(&'static str, BlendMode); 16] = [
        ("normal", BlendMode::Normal),
        ("multiply", BlendMode::Multiply),
        ("screen", BlendMode::Screen),
        ("overlay", BlendMode::Overlay),
        ("darken", BlendMode::Darken),
        ("lighten", BlendMode::Lighten),
        ("dodge", BlendMode::Dodge),
        ("burn", BlendMode::Burn),
        ("hardlight", BlendMode::HardLight),
        ("softlight", BlendMode::SoftLight),
        ("difference", BlendMode::Difference),
        ("exclusion", BlendMode::Exclusion),
        ("hue", BlendMode::Hue),
        ("saturation", BlendMode::Saturation),
        ("color", BlendMode::Color),
        ("luminosity", BlendMode::Luminosity),
    ];

    /// imgix's name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("normal", |(n, _)| n)
    }
}

/// `blend=colour` with `blend-mode` and `blend-alpha`, over the whole image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blend {
    /// The colour (its own alpha multiplies `alpha`).
    pub colour: Rgba,
    /// How it combines.
    pub mode: BlendMode,
    /// Strength, 0–100 (imgix's default 100).
    pub alpha: u8,
}

/// imgix's default `nr` and `nrs`.
const DEFAULT_NOISE: i32 = 20;

/// imgix's default `usmrad`, in tenths.
const DEFAULT_USM_RADIUS_TENTHS: u16 = 25;

impl Filters {
    /// Whether any filter is set.
    pub fn any(&self) -> bool {
        *self != Filters::default()
    }

    /// Whether every filter set works frame by frame on an animation's stacked frames
    /// (pixellation's blocks would cross frame boundaries; blurs and sharpening bleed only a
    /// few pixels, as they do at every edge).
    pub fn per_frame(&self) -> bool {
        self.px == 0 && self.htn == 0
    }

    /// The filters' part of the cache key: every field, non-defaults only.
    pub(super) fn key(&self, s: &mut String) {
        let Filters {
            blur,
            sharp,
            sat,
            bri,
            con,
            gam,
            exp,
            high,
            shad,
            hue,
            vib,
            usm,
            usm_radius_tenths,
            nr,
            nrs,
            htn,
            invert,
            sepia,
            px,
            mono,
            duotone,
            duotone_alpha,
            blend,
        } = *self;
        for (name, value) in [
            ("blur", i32::from(blur)),
            ("sharp", i32::from(sharp)),
            ("sat", i32::from(sat)),
            ("bri", i32::from(bri)),
            ("con", i32::from(con)),
            ("gam", i32::from(gam)),
            ("exp", i32::from(exp)),
            ("high", i32::from(high)),
            ("shad", i32::from(shad)),
            ("hue", i32::from(hue)),
            ("vib", i32::from(vib)),
            ("usm", i32::from(usm)),
            ("sepia", i32::from(sepia)),
            ("px", i32::from(px)),
            ("nr", i32::from(nr)),
            ("nrs", i32::from(nrs)),
            ("htn", i32::from(htn)),
        ] {
            if value != 0 {
                let _ = write!(s, "&{name}={value}");
            }
        }
        if usm != 0 {
            let _ = write!(s, "&usmrad={usm_radius_tenths}");
        }
        if invert {
            s.push_str("&invert");
        }
        if let Some(tint) = mono {
            let _ = write!(s, "&mono={}", tint.hex());
        }
        if let Some(b) = blend {
            let _ = write!(s, "&blend={}:{}:{}", b.colour.hex(), b.mode.name(), b.alpha);
        }
        if let Some((dark, light)) = duotone {
            let _ = write!(
                s,
                "&duotone={},{}&da={duotone_alpha}",
                dark.hex(),
                light.hex()
            );
        }
    }
}

/// Read the adjustment family.
pub(super) fn parse(raw: &Raw<'_>) -> Result<Filters, Error> {
    let signed = |name: Name, min: i32, max: i32| -> Result<i8, Error> {
        Ok(raw.signed(name, min, max)?.unwrap_or(0) as i8)
    };
    let duotone = match raw.get(Name::Duotone) {
        None => None,
        Some(v) => {
            let (dark, light) = v.split_once(',').ok_or_else(|| {
                Error::bad_param(
                    "duotone",
                    format!("expected two colours, shadows then highlights, got '{v}'"),
                )
            })?;
            Some((
                colour(Name::Duotone, dark.trim())?,
                colour(Name::Duotone, light.trim())?,
            ))
        }
    };
    let usm = signed(Name::Usm, -100, 100)?;
    // Noise reduction runs when either is given; the other takes imgix's default, 20.
    let (nr, nrs) = (
        raw.signed(Name::Nr, -100, 100)?,
        raw.signed(Name::Nrs, -100, 100)?,
    );
    let noise = if nr.is_some() || nrs.is_some() {
        let positive = |v: Option<i32>| v.unwrap_or(DEFAULT_NOISE).max(0) as u8;
        (positive(nr), positive(nrs))
    } else {
        (0, 0)
    };
    Ok(Filters {
        blur: raw.integer(Name::Blur, 0, 2000)?.unwrap_or(0) as u16,
        sharp: raw.integer(Name::Sharp, 0, 100)?.unwrap_or(0) as u8,
        sat: signed(Name::Sat, -100, 100)?,
        bri: signed(Name::Bri, -100, 100)?,
        con: signed(Name::Con, -100, 100)?,
        gam: signed(Name::Gam, -100, 100)?,
        exp: signed(Name::Exp, -100, 100)?,
        high: signed(Name::High, -100, 0)?,
        shad: signed(Name::Shad, 0, 100)?,
        hue: raw
            .signed(Name::Hue, -359, 359)?
            .map_or(0, |h| h.rem_euclid(360) as u16),
        vib: signed(Name::Vib, -100, 100)?,
        usm,
        usm_radius_tenths: match raw.number(Name::Usmrad, 0.0, 500.0)? {
            Some(r) if usm != 0 => (r * 10.0).round() as u16,
            _ if usm != 0 => DEFAULT_USM_RADIUS_TENTHS,
            _ => 0,
        },
        nr: noise.0,
        nrs: noise.1,
        htn: raw.integer(Name::Htn, 0, 100)?.unwrap_or(0) as u8,
        invert: raw.switch(Name::Invert)?,
        sepia: raw.integer(Name::Sepia, 0, 100)?.unwrap_or(0) as u8,
        px: raw.integer(Name::Px, 0, 100)?.unwrap_or(0) as u8,
        mono: raw.colour(Name::Mono)?,
        duotone_alpha: match duotone {
            Some(_) => raw.integer(Name::DuotoneAlpha, 0, 100)?.unwrap_or(100) as u8,
            None => 0,
        },
        duotone,
        blend: blend(raw)?,
    })
}

/// `blend` or `blend-color` given a colour, with `blend-mode` and `blend-alpha`. (`blend` given
/// an image is an overlay: see the `overlay` family.)
fn blend(raw: &Raw<'_>) -> Result<Option<Blend>, Error> {
    let colour = match (raw.get(Name::BlendColor), raw.get(Name::Blend)) {
        (Some(c), _) => colour(Name::BlendColor, c)?,
        (None, Some(v)) => match Rgba::parse(v) {
            Some(c) => c,
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(Blend {
        colour,
        mode: blend_mode(raw)?,
        alpha: raw.integer(Name::BlendAlpha, 0, 100)?.unwrap_or(100) as u8,
    }))
}

/// `blend-mode`, imgix's default `overlay`.
pub(super) fn blend_mode(raw: &Raw<'_>) -> Result<BlendMode, Error> {
    Ok(match raw.get(Name::BlendMode) {
        None => BlendMode::Overlay,
        Some(m) => BlendMode::NAMES
            .iter()
            .find(|(n, _)| *n == m)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                Error::bad_param(
                    "blend-mode",
                    format!(
                        "'{m}' is not one of normal, multiply, screen, overlay, darken, \
                         lighten, dodge, burn, hardlight, softlight, difference, exclusion, \
                         hue, saturation, color, luminosity"
                    ),
                )
            })?,
    })
}
