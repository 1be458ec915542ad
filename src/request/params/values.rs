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
        if v.len() <= 20 && v.bytes().any(|b| !b.is_ascii_hexdigit()) {
            let lower = v.to_ascii_lowercase();
            if lower == "transparent" {
                return Some(Rgba::TRANSPARENT_WHITE);
            }
            if let Ok(i) = KEYWORDS.binary_search_by(|(name, _)| name.cmp(&lower.as_str())) {
                let [_, r, g, b] = KEYWORDS[i].1.to_be_bytes();
                return Some(Rgba::rgb(r, g, b));
            }
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

/// The colour keywords (CSS Color Module Level 4's named colours, which imgix's `bg` and other
/// colour parameters accept), sorted by name: `0xRRGGBB`.
const KEYWORDS: [(&str, u32); 148] = [
    ("aliceblue", 0xf0f8ff),
    ("antiquewhite", 0xfaebd7),
    ("aqua", 0x00ffff),
    ("aquamarine", 0x7fffd4),
    ("azure", 0xf0ffff),
    ("beige", 0xf5f5dc),
    ("bisque", 0xffe4c4),
    ("black", 0x000000),
    ("blanchedalmond", 0xffebcd),
    ("blue", 0x0000ff),
    ("blueviolet", 0x8a2be2),
    ("brown", 0xa52a2a),
    ("burlywood", 0xdeb887),
    ("cadetblue", 0x5f9ea0),
    ("chartreuse", 0x7fff00),
    ("chocolate", 0xd2691e),
    ("coral", 0xff7f50),
    ("cornflowerblue", 0x6495ed),
    ("cornsilk", 0xfff8dc),
    ("crimson", 0xdc143c),
    ("cyan", 0x00ffff),
    ("darkblue", 0x00008b),
    ("darkcyan", 0x008b8b),
    ("darkgoldenrod", 0xb8860b),
    ("darkgray", 0xa9a9a9),
    ("darkgreen", 0x006400),
    ("darkgrey", 0xa9a9a9),
    ("darkkhaki", 0xbdb76b),
    ("darkmagenta", 0x8b008b),
    ("darkolivegreen", 0x556b2f),
    ("darkorange", 0xff8c00),
    ("darkorchid", 0x9932cc),
    ("darkred", 0x8b0000),
    ("darksalmon", 0xe9967a),
    ("darkseagreen", 0x8fbc8f),
    ("darkslateblue", 0x483d8b),
    ("darkslategray", 0x2f4f4f),
    ("darkslategrey", 0x2f4f4f),
    ("darkturquoise", 0x00ced1),
    ("darkviolet", 0x9400d3),
    ("deeppink", 0xff1493),
    ("deepskyblue", 0x00bfff),
    ("dimgray", 0x696969),
    ("dimgrey", 0x696969),
    ("dodgerblue", 0x1e90ff),
    ("firebrick", 0xb22222),
    ("floralwhite", 0xfffaf0),
    ("forestgreen", 0x228b22),
    ("fuchsia", 0xff00ff),
    ("gainsboro", 0xdcdcdc),
    ("ghostwhite", 0xf8f8ff),
    ("gold", 0xffd700),
    ("goldenrod", 0xdaa520),
    ("gray", 0x808080),
    ("green", 0x008000),
    ("greenyellow", 0xadff2f),
    ("grey", 0x808080),
    ("honeydew", 0xf0fff0),
    ("hotpink", 0xff69b4),
    ("indianred", 0xcd5c5c),
    ("indigo", 0x4b0082),
    ("ivory", 0xfffff0),
    ("khaki", 0xf0e68c),
    ("lavender", 0xe6e6fa),
    ("lavenderblush", 0xfff0f5),
    ("lawngreen", 0x7cfc00),
    ("lemonchiffon", 0xfffacd),
    ("lightblue", 0xadd8e6),
    ("lightcoral", 0xf08080),
    ("lightcyan", 0xe0ffff),
    ("lightgoldenrodyellow", 0xfafad2),
    ("lightgray", 0xd3d3d3),
    ("lightgreen", 0x90ee90),
    ("lightgrey", 0xd3d3d3),
    ("lightpink", 0xffb6c1),
    ("lightsalmon", 0xffa07a),
    ("lightseagreen", 0x20b2aa),
    ("lightskyblue", 0x87cefa),
    ("lightslategray", 0x778899),
    ("lightslategrey", 0x778899),
    ("lightsteelblue", 0xb0c4de),
    ("lightyellow", 0xffffe0),
    ("lime", 0x00ff00),
    ("limegreen", 0x32cd32),
    ("linen", 0xfaf0e6),
    ("magenta", 0xff00ff),
    ("maroon", 0x800000),
    ("mediumaquamarine", 0x66cdaa),
    ("mediumblue", 0x0000cd),
    ("mediumorchid", 0xba55d3),
    ("mediumpurple", 0x9370db),
    ("mediumseagreen", 0x3cb371),
    ("mediumslateblue", 0x7b68ee),
    ("mediumspringgreen", 0x00fa9a),
    ("mediumturquoise", 0x48d1cc),
    ("mediumvioletred", 0xc71585),
    ("midnightblue", 0x191970),
    ("mintcream", 0xf5fffa),
    ("mistyrose", 0xffe4e1),
    ("moccasin", 0xffe4b5),
    ("navajowhite", 0xffdead),
    ("navy", 0x000080),
    ("oldlace", 0xfdf5e6),
    ("olive", 0x808000),
    ("olivedrab", 0x6b8e23),
    ("orange", 0xffa500),
    ("orangered", 0xff4500),
    ("orchid", 0xda70d6),
    ("palegoldenrod", 0xeee8aa),
    ("palegreen", 0x98fb98),
    ("paleturquoise", 0xafeeee),
    ("palevioletred", 0xdb7093),
    ("papayawhip", 0xffefd5),
    ("peachpuff", 0xffdab9),
    ("peru", 0xcd853f),
    ("pink", 0xffc0cb),
    ("plum", 0xdda0dd),
    ("powderblue", 0xb0e0e6),
    ("purple", 0x800080),
    ("rebeccapurple", 0x663399),
    ("red", 0xff0000),
    ("rosybrown", 0xbc8f8f),
    ("royalblue", 0x4169e1),
    ("saddlebrown", 0x8b4513),
    ("salmon", 0xfa8072),
    ("sandybrown", 0xf4a460),
    ("seagreen", 0x2e8b57),
    ("seashell", 0xfff5ee),
    ("sienna", 0xa0522d),
    ("silver", 0xc0c0c0),
    ("skyblue", 0x87ceeb),
    ("slateblue", 0x6a5acd),
    ("slategray", 0x708090),
    ("slategrey", 0x708090),
    ("snow", 0xfffafa),
    ("springgreen", 0x00ff7f),
    ("steelblue", 0x4682b4),
    ("tan", 0xd2b48c),
    ("teal", 0x008080),
    ("thistle", 0xd8bfd8),
    ("tomato", 0xff6347),
    ("turquoise", 0x40e0d0),
    ("violet", 0xee82ee),
    ("wheat", 0xf5deb3),
    ("white", 0xffffff),
    ("whitesmoke", 0xf5f5f5),
    ("yellow", 0xffff00),
    ("yellowgreen", 0x9acd32),
];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_colour_keywords_are_colours() {
        assert!(KEYWORDS.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert_eq!(Rgba::parse("grey"), Some(Rgba::rgb(128, 128, 128)));
        assert_eq!(Rgba::parse("Gray"), Rgba::parse("808080"));
        assert_eq!(
            Rgba::parse("rebeccapurple"),
            Some(Rgba::rgb(0x66, 0x33, 0x99))
        );
        assert_eq!(
            Rgba::parse("LightGoldenRodYellow"),
            Some(Rgba::rgb(0xfa, 0xfa, 0xd2))
        );
        assert_eq!(Rgba::parse("transparent"), Some(Rgba::TRANSPARENT_WHITE));
        // Hex stays hex, and what is neither is refused.
        assert_eq!(Rgba::parse("bad"), Some(Rgba::rgb(0xbb, 0xaa, 0xdd)));
        for not in ["greyish", "", "blue1", "notacolour", "#ff"] {
            assert_eq!(Rgba::parse(not), None, "{not}");
        }
    }
}
