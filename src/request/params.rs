//! The query string: imgix parameter names parsed once into typed, validated values.
//!
//! Unknown parameters are ignored (imgix clients add `ixlib=` and friends) and never reach the
//! cache key. A known parameter with a bad value is a 400 with a one-line reason. A parameter
//! given twice is refused: which copy wins would be a guess, and guesses split the cache.

use std::fmt::Write as _;

use super::imgix;
use crate::error::Error;
use crate::format::Format;

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
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Fit::Clip => "clip",
            Fit::Crop => "crop",
            Fit::Fill => "fill",
            Fit::FillMax => "fillmax",
            Fit::Max => "max",
            Fit::Min => "min",
            Fit::Scale => "scale",
        }
    }

    /// Whether this fit crops (and so reads `crop=`).
    pub fn crops(self) -> bool {
        matches!(self, Fit::Crop | Fit::Min)
    }

    /// Whether this fit pads (and so reads `fill-color`).
    pub fn pads(self) -> bool {
        matches!(self, Fit::Fill | Fit::FillMax)
    }
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
    /// Centred on a focal point (`crop=focalpoint&fp-x=…&fp-y=…`), fractions of width/height.
    FocalPoint {
        /// 0 (left) – 1 (right).
        x: f64,
        /// 0 (top) – 1 (bottom).
        y: f64,
    },
    /// The window with the most entropy.
    Entropy,
    /// libvips attention (imgix `edges`; also stands in for `faces`).
    Attention,
}

impl Crop {
    /// Centre crop, the default.
    pub const CENTER: Crop = Crop::Gravity {
        x: Align::Center,
        y: Align::Center,
    };
}

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
    fn parse(value: &str) -> Option<Rgba> {
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

    const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
        Rgba { r, g, b, a: 255 }
    }

    fn hex(self) -> String {
        format!("{:02x}{:02x}{:02x}{:02x}", self.a, self.r, self.g, self.b)
    }
}

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct ParamLimits {
    /// Largest output width or height in pixels, after `dpr`.
    pub max_dimension: u32,
}

/// The validated transformation a URL asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Target width in device pixels (`w` × `dpr`, capped), if given.
    pub width: Option<u32>,
    /// Target height in device pixels (`h` × `dpr`, capped), if given.
    pub height: Option<u32>,
    /// How to fit the box.
    pub fit: Fit,
    /// What a cropping fit keeps.
    pub crop: Crop,
    /// Requested output format.
    pub format: FormatChoice,
    /// Encoder quality 1–100; `None` uses the format's default.
    pub quality: Option<u8>,
    /// Padding colour for `fit=fill`, and the background that alpha is flattened onto.
    pub fill_color: Rgba,
    /// The `dpr` asked for, or sent as a client hint (already folded into `width`/`height`;
    /// kept for analytics and for the DPR-aware default quality).
    pub dpr: f64,
    /// `auto=compress`: lower default quality (imgix sets q=45 of its 75).
    pub compress: bool,
    /// The client sent `Save-Data: on` and the URL has `auto=compress`: lower still.
    pub save_data: bool,
    /// Request headers the rendering depends on (beyond `Accept`), for `Vary`.
    pub varies: Varies,
    /// Enhancements and filters (`blur`, `sharp`, `sat`, `bri`, `con`, `gam`, `mono`).
    pub filters: Filters,
    /// `orient`: an EXIF orientation (1–8) that replaces the original's own.
    pub orient: Option<u8>,
    /// `flip`: mirror left–right, top–bottom.
    pub flip: Flip,
    /// `lossless=1`: lossless WebP or AVIF.
    pub lossless: bool,
    /// `rect=x,y,w,h`: crop the (oriented) original to this rectangle before anything else.
    pub rect: Option<Rect>,
    /// `trim=auto`: cut away a flat border (the colour of the top-left pixel) first.
    pub trim: bool,
    /// `rot`: turn the image this many degrees clockwise within its frame (corners filled
    /// with `bg`), for straightening.
    pub rot: f64,
    /// `pad`: a border of this many pixels in `bg`; inside the `w`×`h` box when one is given,
    /// added to the image's size otherwise.
    pub pad: u32,
    /// `auto=enhance`: stretch the levels (0.5th–99.5th percentile of lightness to full range).
    pub enhance: bool,
    /// `fm=png8` or `q` with PNG output: palette-quantised PNG.
    pub palette: bool,
    /// `frame=N` (1-based): render that frame of an animation as a still image.
    pub frame: Option<u32>,
    /// `dl`: answer as a download (`Content-Disposition: attachment`) with this file name
    /// (sanitised; empty for no name). Not part of the rendering.
    pub download: Option<String>,
}

/// Colour and detail adjustments, in imgix's ranges. All zero/`None` means untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filters {
    /// Gaussian blur, 0–2000 (σ = value / 10 pixels).
    pub blur: u16,
    /// Unsharp mask strength, 0–100.
    pub sharp: u8,
    /// Saturation, −100 (greyscale) … 100.
    pub sat: i8,
    /// Brightness, −100 … 100.
    pub bri: i8,
    /// Contrast, −100 … 100.
    pub con: i8,
    /// Gamma, −100 (darker midtones) … 100 (lighter).
    pub gam: i8,
    /// Monochrome in this tint (`mono`/`monochrome`, hex colour); its alpha is the strength.
    pub mono: Option<Rgba>,
}

impl Filters {
    /// Whether any filter is set.
    pub fn any(&self) -> bool {
        *self != Filters::default()
    }
}

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

/// imgix's variable-quality table (its JavaScript client: q 75, 50, 35, 23, 20 at DPR 1–5) as
/// factors of the DPR-1 default: denser screens hide compression artefacts.
const DPR_QUALITY: [f64; 5] = [1.0, 50.0 / 75.0, 35.0 / 75.0, 23.0 / 75.0, 20.0 / 75.0];

/// `auto=compress`: imgix's q=45 against its default of 75.
const COMPRESS_QUALITY: f64 = 45.0 / 75.0;

/// `Save-Data: on` on top of `auto=compress`.
const SAVE_DATA_QUALITY: f64 = 0.8;

/// The lowest default quality the factors may reach.
const MIN_DEFAULT_QUALITY: f64 = 15.0;

impl Default for Params {
    fn default() -> Self {
        Params {
            width: None,
            height: None,
            fit: Fit::Clip,
            crop: Crop::CENTER,
            format: FormatChoice::Source,
            quality: None,
            fill_color: Rgba::TRANSPARENT_WHITE,
            dpr: 1.0,
            compress: false,
            save_data: false,
            varies: Varies::default(),
            filters: Filters::default(),
            orient: None,
            flip: Flip::default(),
            lossless: false,
            rect: None,
            trim: false,
            rot: 0.0,
            pad: 0,
            enhance: false,
            palette: false,
            frame: None,
            download: None,
        }
    }
}

/// Raw values of the parameters we know, before validation.
#[derive(Default)]
struct Raw<'q> {
    w: Option<&'q str>,
    h: Option<&'q str>,
    dpr: Option<&'q str>,
    fm: Option<&'q str>,
    q: Option<&'q str>,
    fit: Option<&'q str>,
    crop: Option<&'q str>,
    fp_x: Option<&'q str>,
    fp_y: Option<&'q str>,
    fill_color: Option<&'q str>,
    auto: Option<&'q str>,
    ch: Option<&'q str>,
    blur: Option<&'q str>,
    sharp: Option<&'q str>,
    sat: Option<&'q str>,
    bri: Option<&'q str>,
    con: Option<&'q str>,
    gam: Option<&'q str>,
    mono: Option<&'q str>,
    orient: Option<&'q str>,
    flip: Option<&'q str>,
    lossless: Option<&'q str>,
    dl: Option<&'q str>,
    rect: Option<&'q str>,
    trim: Option<&'q str>,
    rot: Option<&'q str>,
    pad: Option<&'q str>,
    frame: Option<&'q str>,
}

impl Params {
    /// Parse a decoded query: `(name, value)` pairs in URL order.
    pub fn parse<'q>(
        pairs: impl IntoIterator<Item = (&'q str, &'q str)>,
        limits: ParamLimits,
    ) -> Result<Params, Error> {
        Self::parse_with_hints(pairs, limits, Hints::default())
    }

    /// Parse a decoded query, taking the client's hints where the URL opts into them.
    pub fn parse_with_hints<'q>(
        pairs: impl IntoIterator<Item = (&'q str, &'q str)>,
        limits: ParamLimits,
        hints: Hints,
    ) -> Result<Params, Error> {
        let mut raw = Raw::default();
        for (name, value) in pairs {
            let (slot, name): (&mut Option<&str>, &'static str) = match name {
                "w" | "width" => (&mut raw.w, "w"),
                "h" | "height" => (&mut raw.h, "h"),
                "dpr" => (&mut raw.dpr, "dpr"),
                "fm" => (&mut raw.fm, "fm"),
                "q" => (&mut raw.q, "q"),
                "fit" | "f" => (&mut raw.fit, "fit"),
                "crop" => (&mut raw.crop, "crop"),
                "fp-x" => (&mut raw.fp_x, "fp-x"),
                "fp-y" => (&mut raw.fp_y, "fp-y"),
                // imgix's `bg` fills transparency and padding: the same colour as `fill-color`.
                "fill-color" | "fillcolor" | "bg" => (&mut raw.fill_color, "fill-color"),
                "auto" => (&mut raw.auto, "auto"),
                "ch" => (&mut raw.ch, "ch"),
                "blur" => (&mut raw.blur, "blur"),
                "sharp" => (&mut raw.sharp, "sharp"),
                "sat" => (&mut raw.sat, "sat"),
                "bri" => (&mut raw.bri, "bri"),
                "con" => (&mut raw.con, "con"),
                "gam" => (&mut raw.gam, "gam"),
                "mono" | "monochrome" => (&mut raw.mono, "mono"),
                "orient" | "or" => (&mut raw.orient, "orient"),
                "flip" => (&mut raw.flip, "flip"),
                "lossless" => (&mut raw.lossless, "lossless"),
                "dl" => (&mut raw.dl, "dl"),
                "rect" => (&mut raw.rect, "rect"),
                "trim" => (&mut raw.trim, "trim"),
                "rot" => (&mut raw.rot, "rot"),
                "pad" => (&mut raw.pad, "pad"),
                "frame" => (&mut raw.frame, "frame"),
                // Signed URLs: checked before parsing (see `signature`).
                "s" | "expires" => continue,
                other if imgix::defines(other) => {
                    return Err(Error::UnsupportedParam(other.to_owned()))
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(Error::bad_param(name, "given more than once"));
            }
        }
        raw.validate(limits, hints)
    }

    /// The encoder quality for `format`: `q` when given; otherwise the format's default
    /// (`default`) lowered for dense screens (imgix's variable-quality table), `auto=compress`
    /// and `Save-Data`.
    pub fn quality_for(&self, default: u8) -> u8 {
        if let Some(q) = self.quality {
            return q;
        }
        let mut q = f64::from(default) * DPR_QUALITY[self.dpr_tier() - 1];
        if self.compress {
            q *= COMPRESS_QUALITY;
        }
        if self.save_data {
            q *= SAVE_DATA_QUALITY;
        }
        q.round().max(MIN_DEFAULT_QUALITY).min(f64::from(default)) as u8
    }

    /// DPR rounded to the table's rows, 1–5.
    fn dpr_tier(&self) -> usize {
        (self.dpr.round() as usize).clamp(1, DPR_QUALITY.len())
    }

    /// The canonical query for these parameters, without the format: equal for every URL that
    /// renders the same pixels (`w=400&dpr=2` and `w=800` agree; defaults and parameters the fit
    /// ignores are left out). Combined with the key and the negotiated format it is the cache key.
    pub fn canonical(&self) -> String {
        // Room for the common keys without regrowing while they are written.
        let mut s = String::with_capacity(64);
        if let Some(w) = self.width {
            let _ = write!(s, "w={w}&");
        }
        if let Some(h) = self.height {
            let _ = write!(s, "h={h}&");
        }
        let _ = write!(s, "fit={}", self.fit.name());
        if self.fit.crops() {
            match self.crop {
                Crop::Gravity { x, y } => {
                    let _ = write!(s, "&crop={}{}", align_char(x), align_char(y));
                }
                Crop::FocalPoint { x, y } => {
                    let _ = write!(s, "&crop=fp:{x:.4},{y:.4}");
                }
                Crop::Entropy => s.push_str("&crop=entropy"),
                Crop::Attention => s.push_str("&crop=attention"),
            }
        }
        match self.quality {
            Some(q) => {
                let _ = write!(s, "&q={q}");
            }
            // What the default quality depends on: the DPR tier, compress, Save-Data.
            None if self.dpr_tier() > 1 || self.compress => {
                let _ = write!(
                    s,
                    "&qt={}{}{}",
                    self.dpr_tier(),
                    if self.compress { "c" } else { "" },
                    if self.save_data { "s" } else { "" }
                );
            }
            None => {}
        }
        let _ = write!(s, "&bg={}", self.fill_color.hex());
        let f = &self.filters;
        for (name, value) in [
            ("blur", i32::from(f.blur)),
            ("sharp", i32::from(f.sharp)),
            ("sat", i32::from(f.sat)),
            ("bri", i32::from(f.bri)),
            ("con", i32::from(f.con)),
            ("gam", i32::from(f.gam)),
        ] {
            if value != 0 {
                let _ = write!(s, "&{name}={value}");
            }
        }
        if let Some(tint) = f.mono {
            let _ = write!(s, "&mono={}", tint.hex());
        }
        if let Some(o) = self.orient {
            let _ = write!(s, "&or={o}");
        }
        if self.flip.horizontal || self.flip.vertical {
            let _ = write!(
                s,
                "&flip={}{}",
                if self.flip.horizontal { "h" } else { "" },
                if self.flip.vertical { "v" } else { "" }
            );
        }
        if self.lossless {
            s.push_str("&lossless=1");
        }
        if let Some(r) = self.rect {
            let _ = write!(s, "&rect={},{},{},{}", r.x, r.y, r.w, r.h);
        }
        if self.trim {
            s.push_str("&trim=auto");
        }
        if self.rot != 0.0 {
            let _ = write!(s, "&rot={:.2}", self.rot);
        }
        if self.pad > 0 {
            let _ = write!(s, "&pad={}", self.pad);
        }
        if self.enhance {
            s.push_str("&enhance");
        }
        if self.palette {
            s.push_str("&png8");
        }
        if let Some(f) = self.frame {
            let _ = write!(s, "&frame={f}");
        }
        s
    }
}

fn align_char(a: Align) -> char {
    match a {
        Align::Start => 's',
        Align::Center => 'c',
        Align::End => 'e',
    }
}

impl Raw<'_> {
    fn validate(self, limits: ParamLimits, hints: Hints) -> Result<Params, Error> {
        let max = limits.max_dimension;
        let w = self.w.map(|v| dimension("w", v, max)).transpose()?;
        let h = self.h.map(|v| dimension("h", v, max)).transpose()?;
        let (mut ch_dpr, mut ch_width) = (false, false);
        for token in self.ch.unwrap_or("").split(',') {
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
        let mut varies = Varies {
            dpr: ch_dpr && self.dpr.is_none(),
            width: ch_width && w.is_none(),
            save_data: false,
        };
        let dpr = match (self.dpr, hints.dpr) {
            (Some(v), _) => number("dpr", v, 1.0, 5.0)?,
            (None, Some(hint)) if varies.dpr => hint.clamp(1.0, 5.0),
            _ => 1.0,
        };
        let (mut width, height) = device_pixels(w, h, dpr, max);
        if let (true, Some(hint)) = (varies.width, hints.width) {
            // Sec-CH-Width is already in device pixels.
            width = Some(hint.min(max));
        }

        let fit = match self.fit {
            None => Fit::Clip,
            Some(v) => Fit::parse(v).ok_or_else(|| {
                Error::bad_param(
                    "fit",
                    format!("'{v}' is not one of clip, crop, fill, fillmax, max, min, scale"),
                )
            })?,
        };

        let fp_x = self.fp_x.map(|v| number("fp-x", v, 0.0, 1.0)).transpose()?;
        let fp_y = self.fp_y.map(|v| number("fp-y", v, 0.0, 1.0)).transpose()?;
        let crop = match self.crop {
            None => Crop::CENTER,
            Some(v) => parse_crop(v, fp_x.unwrap_or(0.5), fp_y.unwrap_or(0.5))?,
        };

        let mut enhance = false;
        let (auto_format, compress) = match self.auto {
            None => (false, false),
            Some(v) => {
                let (mut format, mut compress) = (false, false);
                for token in v.split(',') {
                    match token.trim() {
                        "format" => format = true,
                        "compress" => compress = true,
                        "enhance" => enhance = true,
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
                (format, compress)
            }
        };
        varies.save_data = compress;
        let png8 = self.fm == Some("png8");
        let format = match self.fm {
            Some("auto") => FormatChoice::Auto,
            Some("png8") => FormatChoice::Fixed(Format::Png),
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

        let quality = self
            .q
            .map(|v| integer("q", v, 1, 100).map(|q| q as u8))
            .transpose()?;
        let fill_color = match self.fill_color {
            None => Rgba::TRANSPARENT_WHITE,
            Some(v) => Rgba::parse(v).ok_or_else(|| {
                Error::bad_param(
                    "fill-color",
                    "expected a colour keyword or hex RGB, ARGB, RRGGBB or AARRGGBB",
                )
            })?,
        };

        let signed = |param: &'static str, v: Option<&str>| -> Result<i8, Error> {
            v.map_or(Ok(0), |v| {
                let (negative, digits) = match v.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, v),
                };
                let n = integer(param, digits, 0, 100).map_err(|_| {
                    Error::bad_param(
                        param,
                        format!("expected a whole number from -100 to 100, got '{v}'"),
                    )
                })? as i8;
                Ok(if negative { -n } else { n })
            })
        };
        let filters = Filters {
            blur: self.blur.map_or(Ok(0), |v| integer("blur", v, 0, 2000))? as u16,
            sharp: self.sharp.map_or(Ok(0), |v| integer("sharp", v, 0, 100))? as u8,
            sat: signed("sat", self.sat)?,
            bri: signed("bri", self.bri)?,
            con: signed("con", self.con)?,
            gam: signed("gam", self.gam)?,
            mono: self
                .mono
                .map(|v| {
                    Rgba::parse(v).ok_or_else(|| {
                        Error::bad_param(
                            "mono",
                            "expected a hex colour (RGB, ARGB, RRGGBB, AARRGGBB)",
                        )
                    })
                })
                .transpose()?,
        };
        let orient = match self.orient {
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
        let flip = match self.flip {
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
        let lossless = match self.lossless {
            None | Some("0" | "false") => false,
            Some("1" | "true") => true,
            Some(v) => return Err(Error::bad_param("lossless", format!("'{v}' is not 0 or 1"))),
        };
        let download = self.dl.map(|name| {
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

        let rect = match self.rect {
            None => None,
            Some(v) => {
                let parts: Vec<&str> = v.split(',').collect();
                let bad =
                    || Error::bad_param("rect", format!("expected x,y,w,h in pixels, got '{v}'"));
                if parts.len() != 4 {
                    return Err(bad());
                }
                let n = |i: usize, min: u32| {
                    integer("rect", parts[i].trim(), min, 65_535).map_err(|_| bad())
                };
                Some(Rect {
                    x: n(0, 0)?,
                    y: n(1, 0)?,
                    w: n(2, 1)?,
                    h: n(3, 1)?,
                })
            }
        };
        let trim = match self.trim {
            None => false,
            Some("auto") => true,
            Some(v) => return Err(Error::bad_param("trim", format!("'{v}' is not auto"))),
        };
        let rot = match self.rot {
            None => 0.0,
            Some(v) => number("rot", v, 0.0, 359.99)?,
        };
        let pad = self.pad.map_or(Ok(0), |v| integer("pad", v, 0, max / 2))?;
        // imgix: q with PNG output, or fm=png8, quantises to a palette.
        let palette = png8 || (format == FormatChoice::Fixed(Format::Png) && quality.is_some());

        let frame = self
            .frame
            .map(|v| integer("frame", v, 1, 100_000))
            .transpose()?;

        Ok(Params {
            frame,
            rect,
            trim,
            rot,
            pad,
            enhance,
            palette,
            width,
            height,
            fit,
            crop,
            format,
            quality,
            fill_color,
            dpr,
            compress,
            save_data: compress && hints.save_data,
            varies,
            filters,
            orient,
            flip,
            lossless,
            download,
        })
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

fn parse_crop(value: &str, fp_x: f64, fp_y: f64) -> Result<Crop, Error> {
    let (mut x, mut y) = (Align::Center, Align::Center);
    let (mut focal, mut entropy, mut attention) = (false, false, false);
    for token in value.split(',') {
        match token.trim() {
            "top" => y = Align::Start,
            "bottom" => y = Align::End,
            "left" => x = Align::Start,
            "right" => x = Align::End,
            "center" | "centre" | "middle" => {}
            "focalpoint" => focal = true,
            "entropy" => entropy = true,
            "edges" | "faces" | "attention" => attention = true,
            other => {
                return Err(Error::bad_param(
                    "crop",
                    format!(
                        "'{other}' is not one of top, bottom, left, right, center, \
                         focalpoint, entropy, edges"
                    ),
                ))
            }
        }
    }
    // imgix precedence: focal point, then the smart modes, then edge anchors.
    Ok(if focal {
        Crop::FocalPoint { x: fp_x, y: fp_y }
    } else if entropy {
        Crop::Entropy
    } else if attention {
        Crop::Attention
    } else {
        Crop::Gravity { x, y }
    })
}

fn integer(param: &'static str, value: &str, min: u32, max: u32) -> Result<u32, Error> {
    let reason = || format!("expected a whole number from {min} to {max}, got '{value}'");
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::bad_param(param, reason()));
    }
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_param(param, reason())),
    }
}

fn dimension(param: &'static str, value: &str, max: u32) -> Result<u32, Error> {
    integer(param, value, 1, max)
}

fn number(param: &'static str, value: &str, min: f64, max: f64) -> Result<f64, Error> {
    let ok = value.len() <= 16
        && !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match value.parse::<f64>() {
        Ok(n) if ok && n.is_finite() && (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_param(
            param,
            format!("expected a number from {min} to {max}, got '{value}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParamLimits = ParamLimits {
        max_dimension: 8192,
    };

    fn parse(q: &str) -> Result<Params, Error> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), LIMITS)
    }

    fn reason(q: &str) -> String {
        parse(q).unwrap_err().public_message()
    }

    #[test]
    fn empty_query_is_the_identity() {
        assert_eq!(parse("").unwrap(), Params::default());
    }

    #[test]
    fn dpr_multiplies_the_size_and_lowers_the_default_quality() {
        let a = parse("w=400&dpr=2").unwrap();
        assert_eq!(a.width, Some(800));
        // Same pixels, different default quality: not the same variant.
        assert_ne!(a.canonical(), parse("w=800").unwrap().canonical());
        assert_eq!(a.canonical(), parse("w=400&dpr=2.0").unwrap().canonical());
        // With an explicit q the DPR no longer matters beyond the size.
        assert_eq!(
            parse("w=400&dpr=2&q=70").unwrap().canonical(),
            parse("w=800&q=70").unwrap().canonical()
        );
        assert_eq!(parse("w=333&dpr=1.5").unwrap().width, Some(500));
        // imgix's table (75/50/35/23/20) as factors of our per-format default.
        let q = |query: &str, default: u8| parse(query).unwrap().quality_for(default);
        assert_eq!(q("w=1", 80), 80);
        assert_eq!(q("dpr=2", 75), 50);
        assert_eq!(q("dpr=3", 75), 35);
        assert_eq!(q("dpr=5", 75), 20);
        assert_eq!(q("dpr=2", 80), 53);
        assert_eq!(q("dpr=2&q=90", 80), 90);
        assert_eq!(q("auto=compress", 75), 45);
        assert_eq!(q("auto=compress&dpr=5", 60), 15);
    }

    #[test]
    fn client_hints_apply_only_where_the_url_opts_in() {
        let hints = Hints::from_values(Some("2"), Some("640"), Some("on"));
        let parse_h = |q: &str| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            Params::parse_with_hints(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                LIMITS,
                hints,
            )
            .unwrap()
        };
        // No ch: hints ignored.
        let plain = parse_h("w=300");
        assert_eq!(
            (plain.width, plain.dpr, plain.varies),
            (Some(300), 1.0, Varies::default())
        );
        // ch=dpr: the hint's DPR multiplies w.
        let dpr = parse_h("w=300&ch=dpr");
        assert_eq!((dpr.width, dpr.dpr), (Some(600), 2.0));
        assert_eq!(dpr.varies.names().collect::<Vec<_>>(), ["Sec-CH-DPR"]);
        // ch=width with no w: the hinted width, already in device pixels.
        let width = parse_h("ch=width,dpr");
        assert_eq!(width.width, Some(640));
        assert_eq!(
            width.varies.names().collect::<Vec<_>>(),
            ["Sec-CH-DPR", "Sec-CH-Width"]
        );
        // Values in the URL win, and then the response does not vary on the hint.
        let url_wins = parse_h("w=100&dpr=1&ch=dpr,width");
        assert_eq!(
            (url_wins.width, url_wins.varies),
            (Some(100), Varies::default())
        );
        // Save-Data matters only with auto=compress.
        assert!(!parse_h("w=1").save_data);
        let compress = parse_h("w=1&auto=compress");
        assert!(compress.save_data && compress.varies.save_data);
        assert!(compress.quality_for(80) < parse("w=1&auto=compress").unwrap().quality_for(80));
        assert_ne!(
            compress.canonical(),
            parse("w=1&auto=compress").unwrap().canonical()
        );
        assert!(parse("ch=viewport").is_err());
        assert_eq!(
            Hints::from_values(Some("x"), Some("-3"), Some("off")),
            Hints::default()
        );
    }

    #[test]
    fn dpr_past_the_cap_shrinks_both_sides_keeping_aspect() {
        let p = parse("w=8000&h=4000&dpr=2").unwrap();
        assert_eq!((p.width, p.height), (Some(8192), Some(4096)));
    }

    #[test]
    fn unknown_parameters_are_ignored_and_left_out_of_the_key() {
        let a = parse("w=100&ixlib=js-3.8.0&foo=bar&utm_source=x").unwrap();
        assert_eq!(a.canonical(), parse("w=100").unwrap().canonical());
    }

    #[test]
    fn imgix_parameters_not_implemented_are_refused_by_name() {
        for (query, name) in [
            ("w=400&exp=50", "exp"),
            ("hue=180", "hue"),
            ("w=400&ar=16:9&fit=crop", "ar"),
            ("txt64=SGk", "txt64"),
            ("mark=/logo.png", "mark"),
            ("m=/logo.png", "m"),
            ("palette=json", "palette"),
        ] {
            assert_eq!(
                parse(query),
                Err(Error::UnsupportedParam(name.into())),
                "{query}"
            );
        }
        // imgix's aliases of what is implemented work as their parameters.
        assert_eq!(
            parse("width=300&height=200&f=crop&fillcolor=f00")
                .unwrap()
                .canonical(),
            parse("w=300&h=200&fit=crop&fill-color=f00")
                .unwrap()
                .canonical()
        );
        // Signing parameters belong to the signature check, not to rendering.
        assert!(parse("w=10&s=abc&expires=99").is_ok());
    }

    #[test]
    fn parameter_order_does_not_change_the_key() {
        assert_eq!(
            parse("w=10&h=20&fit=crop").unwrap().canonical(),
            parse("fit=crop&h=20&w=10").unwrap().canonical()
        );
    }

    #[test]
    fn css_aliases_map_to_imgix_fits() {
        assert_eq!(parse("fit=cover").unwrap().fit, Fit::Crop);
        assert_eq!(parse("fit=contain").unwrap().fit, Fit::Clip);
        assert_eq!(parse("fit=inside").unwrap().fit, Fit::Max);
        assert_eq!(parse("fit=fill").unwrap().fit, Fit::Fill);
    }

    #[test]
    fn crop_only_enters_the_key_when_the_fit_crops() {
        assert_eq!(
            parse("w=1&crop=top").unwrap().canonical(),
            parse("w=1").unwrap().canonical()
        );
        assert_ne!(
            parse("w=1&h=1&fit=crop&crop=top").unwrap().canonical(),
            parse("w=1&h=1&fit=crop").unwrap().canonical()
        );
    }

    #[test]
    fn crop_tokens_combine() {
        assert_eq!(
            parse("crop=top,left").unwrap().crop,
            Crop::Gravity {
                x: Align::Start,
                y: Align::Start
            }
        );
        assert_eq!(
            parse("crop=focalpoint&fp-x=0.25&fp-y=1").unwrap().crop,
            Crop::FocalPoint { x: 0.25, y: 1.0 }
        );
        assert_eq!(parse("crop=faces,edges").unwrap().crop, Crop::Attention);
        assert_eq!(parse("crop=entropy,top").unwrap().crop, Crop::Entropy);
    }

    #[test]
    fn formats_and_auto() {
        assert_eq!(parse("fm=auto").unwrap().format, FormatChoice::Auto);
        assert_eq!(parse("auto=format").unwrap().format, FormatChoice::Auto);
        assert_eq!(
            parse("auto=format,compress&fm=png").unwrap().format,
            FormatChoice::Fixed(Format::Png)
        );
        assert_eq!(
            parse("fm=jpeg").unwrap().format,
            FormatChoice::Fixed(Format::JPEG)
        );
        assert_eq!(parse("").unwrap().format, FormatChoice::Source);
    }

    #[test]
    fn colours_follow_imgix_argb_order() {
        assert_eq!(
            parse("fill-color=80ff0000").unwrap().fill_color,
            Rgba {
                a: 0x80,
                r: 255,
                g: 0,
                b: 0
            }
        );
        assert_eq!(
            parse("fill-color=f00").unwrap().fill_color,
            Rgba::rgb(255, 0, 0)
        );
        assert_eq!(
            parse("fill-color=%23336699").unwrap().fill_color,
            Rgba::rgb(0x33, 0x66, 0x99)
        );
    }

    #[test]
    fn bad_values_get_one_line_reasons() {
        assert!(reason("w=0").starts_with("w: expected a whole number from 1 to 8192"));
        assert!(reason("w=8193").contains("8193"));
        assert!(reason("w=-5").starts_with("w:"));
        assert!(reason("w=12px").starts_with("w:"));
        assert!(reason("h=1e3").starts_with("h:"));
        assert!(reason("dpr=6").starts_with("dpr:"));
        assert!(reason("dpr=0.5").starts_with("dpr:"));
        assert!(reason("dpr=NaN").starts_with("dpr:"));
        assert!(reason("q=0").starts_with("q:"));
        assert!(reason("q=101").starts_with("q:"));
        assert!(reason("fm=bmp").starts_with("fm:"));
        assert!(reason("fit=stretch").starts_with("fit:"));
        assert!(reason("crop=diagonal").starts_with("crop:"));
        assert!(reason("fp-x=2").starts_with("fp-x:"));
        assert!(reason("fill-color=zzz").starts_with("fill-color:"));
        assert!(reason("w=1&w=2").contains("more than once"));
        assert!(reason("w=99999999999999999999").starts_with("w:"));
        for q in ["w=1", "w=8192", "q=1", "q=100", "dpr=1", "dpr=5", "fp-x=0"] {
            assert!(parse(q).is_ok(), "{q}");
        }
    }
}
