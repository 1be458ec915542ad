//! Text parameters (`txt*`): a caption drawn over the image by `transform::text`.

use std::fmt::Write as _;

use super::names::{Name, Raw};
use super::size::{anchors, Align};
use super::values::Rgba;
use super::{ParamLimits, Params};
use crate::error::Error;

/// Longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1024;

/// Largest font size, in device pixels.
pub const MAX_TEXT_SIZE: u32 = 1000;

/// Style words `txt-font` may name after the family (imgix: `Avenir Next,Bold`).
const STYLES: &[&str] = &[
    "thin",
    "ultralight",
    "light",
    "book",
    "regular",
    "medium",
    "semibold",
    "demibold",
    "bold",
    "ultrabold",
    "heavy",
    "black",
    "italic",
    "oblique",
    "condensed",
    "expanded",
];

/// What happens to one line of text wider than its room (`txt-clip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextClip {
    /// Cut its end (imgix's default).
    End,
    /// Cut its start.
    Start,
    /// Cut both ends, keeping the middle.
    Middle,
    /// Shorten it and end it with `…`.
    Ellipsis,
}

/// A caption (`txt` and its `txt-*` parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The text (plain, not markup).
    pub text: String,
    /// Pango family list and style (`Helvetica, Bold`): families the origin lacks fall back by
    /// its fontconfig rules (Helvetica and Arial to Liberation Sans, anything else to DejaVu
    /// Sans).
    pub font: String,
    /// Font size, device pixels.
    pub size: u32,
    /// Colour.
    pub colour: Rgba,
    /// Place (horizontal, vertical); also the alignment of wrapped lines.
    pub align: (Align, Align),
    /// Gap from the edges it is aligned to, device pixels.
    pub pad: u32,
    /// Drop shadow, 0–10.
    pub shadow: u8,
    /// Wrap width, device pixels (`None`: one line per line break).
    pub width: Option<u32>,
    /// What an overlong line loses.
    pub clip: TextClip,
    /// `txt-fit=max`: shrink an overlong line to fit rather than clip it.
    pub shrink: bool,
    /// Outline width, device pixels (0: none).
    pub line: u32,
    /// Outline colour.
    pub line_colour: Rgba,
    /// Extra space between lines, device pixels.
    pub lead: u32,
    /// Extra space between letters, device pixels (may be negative).
    pub track: i32,
}

impl Text {
    /// Its cache-key text.
    pub(super) fn key(&self, s: &mut String) {
        let Text {
            text,
            font,
            size,
            colour,
            align,
            pad,
            shadow,
            width,
            clip,
            shrink,
            line,
            line_colour,
            lead,
            track,
        } = self;
        let _ = write!(
            s,
            "&txt={text:?}:{font:?}:{size}:{}:{}{}:{pad}:{shadow}:{}:{clip:?}:{shrink}:{line}:{}:{lead}:{track}",
            colour.hex(),
            super::size::align_char(align.0),
            super::size::align_char(align.1),
            width.map_or(String::new(), |w| w.to_string()),
            line_colour.hex(),
        );
    }
}

/// `txt-font`: a family, then style words, comma-separated (`Avenir Next,Bold`,
/// `sans-serif,bold,italic`); a Pango font description without the size.
fn font(value: Option<&str>) -> Result<String, Error> {
    let Some(value) = value else {
        return Ok("Helvetica,".into());
    };
    let mut parts = value.split(',').map(str::trim);
    let family = parts.next().unwrap_or_default();
    let plain = |c: char| c.is_alphanumeric() || c == ' ' || c == '-';
    if family.is_empty() || family.len() > 64 || !family.chars().all(plain) {
        return Err(Error::bad_param(
            "txt-font",
            "expected a family name (letters, digits, spaces, '-') then style words",
        ));
    }
    let mut styles = Vec::new();
    for style in parts.filter(|p| !p.is_empty()) {
        let lower = style.to_ascii_lowercase();
        // imgix writes some weights as two words (`Demi Bold`).
        let joined: String = lower.split_whitespace().collect();
        let word = if joined == "demi" {
            "demibold".into()
        } else {
            joined
        };
        if !STYLES.contains(&word.as_str()) {
            return Err(Error::bad_param(
                "txt-font",
                format!("'{style}' is not a style (one of {})", STYLES.join(", ")),
            ));
        }
        styles.push(word);
    }
    Ok(if styles.is_empty() {
        format!("{family},")
    } else {
        format!("{family}, {}", styles.join(" "))
    })
}

fn clip(value: Option<&str>) -> Result<TextClip, Error> {
    let Some(value) = value else {
        return Ok(TextClip::End);
    };
    let mut clip = TextClip::End;
    for token in value.split(',') {
        clip = match token.trim() {
            "end" => TextClip::End,
            "start" => TextClip::Start,
            "middle" => TextClip::Middle,
            "ellipsis" => TextClip::Ellipsis,
            other => {
                return Err(Error::bad_param(
                    "txt-clip",
                    format!("'{other}' is not one of start, middle, end, ellipsis"),
                ))
            }
        };
    }
    Ok(clip)
}

/// Read the text family (after `size`, whose `dpr` it uses).
pub(super) fn parse(raw: &Raw<'_>, p: &mut Params, limits: ParamLimits) -> Result<(), Error> {
    let Some(text) = raw.get(Name::Txt) else {
        return Ok(());
    };
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(Error::bad_param(
            "txt",
            format!("{chars} characters; at most {MAX_TEXT_CHARS}"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::bad_param(
            "txt",
            "control characters other than line breaks",
        ));
    }
    let dpr = p.dpr;
    let device = |v: u32| ((f64::from(v) * dpr).round() as u32).min(limits.max_dimension);
    let size = raw.integer(Name::TxtSize, 1, MAX_TEXT_SIZE)?.unwrap_or(12);
    p.text = Some(Text {
        text: text.to_owned(),
        font: font(raw.get(Name::TxtFont))?,
        size: device(size).min(MAX_TEXT_SIZE),
        colour: raw.colour(Name::TxtColor)?.unwrap_or(Rgba::rgb(0, 0, 0)),
        align: anchors(
            Name::TxtAlign,
            raw.get(Name::TxtAlign),
            (Align::End, Align::End),
        )?,
        pad: device(
            raw.integer(Name::TxtPad, 0, limits.max_dimension)?
                .unwrap_or(10),
        ),
        shadow: raw.integer(Name::TxtShad, 0, 10)?.unwrap_or(0) as u8,
        width: raw
            .integer(Name::TxtWidth, 1, limits.max_dimension)?
            .map(device),
        clip: clip(raw.get(Name::TxtClip))?,
        shrink: match raw.get(Name::TxtFit) {
            None => false,
            Some("max") => true,
            Some(v) => return Err(Error::bad_param("txt-fit", format!("'{v}' is not max"))),
        },
        line: device(raw.integer(Name::TxtLine, 0, 100)?.unwrap_or(0)),
        line_colour: raw
            .colour(Name::TxtLineColor)?
            .unwrap_or(Rgba::rgb(255, 255, 255)),
        lead: device(raw.integer(Name::TxtLead, 0, MAX_TEXT_SIZE)?.unwrap_or(0)),
        track: raw
            .signed(Name::TxtTrack, -100, 100)?
            .map_or(0, |t| (f64::from(t) * dpr).round() as i32),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_are_a_family_then_styles() {
        assert_eq!(font(None).unwrap(), "Helvetica,");
        assert_eq!(font(Some("Avenir Next,Bold")).unwrap(), "Avenir Next, bold");
        assert_eq!(
            font(Some("sans-serif,bold,italic")).unwrap(),
            "sans-serif, bold italic"
        );
        assert_eq!(
            font(Some("Avenir Next,Demi,Bold")).unwrap(),
            "Avenir Next, demibold bold"
        );
        for bad in ["", "Evil<span>", "DejaVu Sans,sparkly", "a;b"] {
            assert!(font(Some(bad)).is_err(), "{bad}");
        }
    }
}
