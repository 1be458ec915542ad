//! The query string: imgix parameter names parsed once into typed, validated values.
//!
//! One table ([`names`]) lists every parameter Refract implements with its aliases; each family
//! module owns its parameters' grammar, defaults and key text: [`size`] (size, fit, crop),
//! [`output`] (format, quality, encoder), [`adjust`] (adjustments and stylize), [`geometry`]
//! (orientation, rectangles, rotation, padding, frames).
//!
//! Names imgix does not define (`ixlib=`, `utm_*`) are ignored and never reach the cache key;
//! one imgix defines that Refract does not implement is `400 unsupported_param`.
//!
//! Values, as imgix treats them: a value outside a parameter's grammar (`fit=default`,
//! `crop=false`, `w=abc`) is ignored — the parameter keeps its default, the rest renders, and the
//! name is kept in [`Params::ignored`] for the response header, the metric and the access log.
//! A value imgix would act on ([`imgix::honours`]: `fill=gen`, `fm=jp2`, an overlay URL) stays
//! a 400, since ignoring it would serve a different image. `auto` given twice combines
//! (`auto=format&auto=compress`, as imgix documents); any other parameter given twice takes its
//! last value (URL builders append overrides) and names the parameter as ignored. With
//! [`ParamLimits::strict`] (`--strict-params`) every bad value and every repeat is a
//! `400 bad_param` with a one-line reason.

pub mod adjust;
pub mod geometry;
pub mod names;
pub mod output;
pub mod overlay;
pub mod size;
pub mod text;
pub mod values;

use std::fmt::Write as _;

use super::imgix;
use crate::error::Error;

pub use adjust::{Blend, BlendMode, Filters};
pub use geometry::{Border, Flip, Grid, Mask, Radii, Rect, Sides, Trim};
pub use names::Name;
pub use output::{Chroma, Describe, FormatChoice, Learned, Profile};
pub use overlay::{LayerFit, Length, Overlay, Overlays};
pub use size::{Align, Crop, FaceArea, Fill, Fit, Hints, Sizing, Varies};
pub use text::{Text, TextClip};
pub use values::Rgba;

use names::Raw;

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct ParamLimits {
    /// Largest output width or height in pixels, after `dpr`.
    pub max_dimension: u32,
    /// Refuse (400) values imgix would ignore, and parameters given twice, instead of ignoring
    /// them (`--strict-params`).
    pub strict: bool,
}

/// The validated transformation a URL asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Target width in device pixels (`w` × `dpr`, capped), if given in pixels.
    pub width: Option<u32>,
    /// Target height in device pixels (`h` × `dpr`, capped), if given in pixels.
    pub height: Option<u32>,
    /// What of the size depends on the original: shares, `ar`, `min-*`/`max-*`.
    pub sizing: Sizing,
    /// How to fit the box.
    pub fit: Fit,
    /// What a cropping fit keeps.
    pub crop: Crop,
    /// `fit=facearea`: the region around the faces; `fit` is then the fallback.
    pub face_area: Option<FaceArea>,
    /// Requested output format.
    pub format: FormatChoice,
    /// Encoder quality 1–100; `None` uses the format's default.
    pub quality: Option<u8>,
    /// Padding colour for `fit=fill`, and the background that alpha is flattened onto.
    pub fill_color: Rgba,
    /// `fill`: what fills the frame of `fit=fill` around the image.
    pub fill: Fill,
    /// The `dpr` asked for, or sent as a client hint (already folded into `width`/`height`;
    /// kept for analytics and for the DPR-aware default quality).
    pub dpr: f64,
    /// `auto=compress`: lower default quality (imgix sets q=45 of its 75).
    pub compress: bool,
    /// The client sent `Save-Data: on` and the URL has `auto=compress`: lower still.
    pub save_data: bool,
    /// Request headers the rendering depends on (beyond `Accept`), for `Vary`.
    pub varies: Varies,
    /// Adjustments and stylize filters.
    pub filters: Filters,
    /// `orient`: an EXIF orientation (1–8) that replaces the original's own.
    pub orient: Option<u8>,
    /// `flip`: mirror left–right, top–bottom.
    pub flip: Flip,
    /// `lossless=1`: lossless WebP or AVIF.
    pub lossless: bool,
    /// `hdr=true`: carry an Ultra HDR original's gain map into a JPEG output (imgix's `hdr`;
    /// default false, a plain SDR image).
    pub hdr: bool,
    /// `bg-remove`, `upscale` and their fallbacks.
    pub learned: Learned,
    /// `rect=x,y,w,h`: crop the (oriented) original to this rectangle before anything else.
    pub rect: Option<Rect>,
    /// `trim`: cut away a flat border first.
    pub trim: Option<Trim>,
    /// `trim-pad`: pixels of `bg` around the trimmed original (scaled with it).
    pub trim_pad: u32,
    /// `rot`: turn the image this many degrees clockwise within its frame (corners filled
    /// with `bg`), for straightening.
    pub rot: f64,
    /// `pad`, `pad-*`: space of `bg` around the image; inside the `w`×`h` box when one is
    /// given, added to the image's size otherwise.
    pub pad: Sides,
    /// `border`: a frame around the padded image (inside the box, as `pad`).
    pub border: Option<Border>,
    /// `mask`: cut the image to a shape.
    pub mask: Option<Mask>,
    /// `mask-bg`: the colour outside the mask (transparent when absent).
    pub mask_bg: Option<Rgba>,
    /// `transparency=grid`: transparent parts over a checkerboard.
    pub grid: Option<Grid>,
    /// `auto=enhance`: stretch the levels (0.5th–99.5th percentile of lightness to full range).
    pub enhance: bool,
    /// `fm=png8` or `q` with PNG output: palette-quantised PNG.
    pub palette: bool,
    /// `chromasub`: chroma subsampling of JPEG and AVIF output.
    pub chroma: Chroma,
    /// `dpi`: the resolution written into the file's header (pixels unchanged).
    pub dpi: Option<u32>,
    /// `colorquant`: at most this many colours (2–256).
    pub colours: Option<u16>,
    /// `cs`: the ICC profile written into the file.
    pub profile: Profile,
    /// A description instead of the image (`fm=json`, `palette`, `fm=blurhash`).
    pub describe: Option<Describe>,
    /// `frame=N` (1-based): render that frame of an animation as a still image.
    pub frame: Option<u32>,
    /// `mark` and `blend` images drawn over the image.
    pub overlays: Overlays,
    /// `txt`: a caption drawn over the image, last.
    pub text: Option<Text>,
    /// `dl`: answer as a download (`Content-Disposition: attachment`) with this file name
    /// (sanitised; empty for no name). Not part of the rendering.
    pub download: Option<String>,
    /// Parameters whose value was ignored (unreadable, or overridden by a later copy), by
    /// canonical name in the order they were found: for `X-Refract-Ignored`, never for the
    /// cache key.
    pub ignored: Vec<&'static str>,
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
            sizing: Sizing::default(),
            fit: Fit::Clip,
            crop: Crop::CENTER,
            face_area: None,
            format: FormatChoice::Source,
            quality: None,
            fill_color: Rgba::TRANSPARENT_WHITE,
            fill: Fill::Solid,
            dpr: 1.0,
            compress: false,
            save_data: false,
            varies: Varies::default(),
            filters: Filters::default(),
            orient: None,
            flip: Flip::default(),
            lossless: false,
            hdr: false,
            learned: Learned::default(),
            rect: None,
            trim: None,
            trim_pad: 0,
            rot: 0.0,
            pad: Sides::default(),
            border: None,
            mask: None,
            mask_bg: None,
            grid: None,
            enhance: false,
            palette: false,
            chroma: Chroma::Auto,
            dpi: None,
            colours: None,
            profile: Profile::None,
            describe: None,
            overlays: Overlays::default(),
            text: None,
            frame: None,
            download: None,
            ignored: Vec::new(),
        }
    }
}

/// Record `value` for `name` in `raw`. Given again: a 400 when `strict`; otherwise the last copy
/// wins and the earlier one is named in `ignored`.
fn keep<'a>(
    raw: &mut Raw<'a>,
    name: Name,
    value: &'a str,
    strict: bool,
    ignored: &mut Vec<&'static str>,
) -> Result<(), Error> {
    match raw.get(name) {
        None => {
            raw.replace(name, value);
            Ok(())
        }
        // The same value again changes nothing.
        Some(earlier) if earlier == value => Ok(()),
        Some(_) if strict => Err(Error::bad_param(name.as_str(), "given more than once")),
        Some(_) => {
            raw.replace(name, value);
            note(ignored, name.as_str());
            Ok(())
        }
    }
}

/// Name `param` as ignored, once however many of its values were.
fn note(ignored: &mut Vec<&'static str>, param: &'static str) {
    if !ignored.contains(&param) {
        ignored.push(param);
    }
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
        // `…64` variants: Base64 (URL-safe) of the value, decoded here first, then read as the
        // parameter itself.
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let mut ignored: Vec<&'static str> = Vec::new();
        let mut decoded: Vec<(Name, String)> = Vec::new();
        for (name, value) in &pairs {
            let Some(plain) = name.strip_suffix("64").and_then(Name::lookup) else {
                continue;
            };
            match crate::encoding::digest::base64_decode(value)
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(text) => decoded.push((plain, text)),
                // Not Base64 at all: nothing imgix could read either.
                None if limits.strict => {
                    return Err(Error::bad_param(
                        plain.as_str(),
                        "the 64 variant is not Base64 of UTF-8 text",
                    ))
                }
                None => note(&mut ignored, plain.as_str()),
            }
        }
        // `auto` reiterated combines into one list (made after the loop, only when it happens).
        let combined_auto: String;
        let mut auto_again = false;
        let mut raw = Raw::default();
        for (name, value) in &decoded {
            keep(&mut raw, *name, value, limits.strict, &mut ignored)?;
        }
        for &(name, value) in &pairs {
            match Name::lookup(name) {
                Some(Name::Auto) if !limits.strict && raw.get(Name::Auto).is_some() => {
                    auto_again = true
                }
                Some(known) => keep(&mut raw, known, value, limits.strict, &mut ignored)?,
                None if name.strip_suffix("64").and_then(Name::lookup).is_some() => {}
                // Signed URLs: checked before parsing (see `signature`).
                None if name == "s" || name == "expires" => {}
                None if imgix::defines(name) => {
                    return Err(Error::UnsupportedParam(name.to_owned()))
                }
                None => {}
            }
        }
        if auto_again {
            let values: Vec<&str> = pairs
                .iter()
                .filter(|(name, _)| Name::lookup(name) == Some(Name::Auto))
                .map(|(_, value)| *value)
                .collect();
            combined_auto = values.join(",");
            raw.replace(Name::Auto, &combined_auto);
        }
        // Read every family; a value imgix would ignore is dropped and the families read again
        // without it (only URLs with such values pay for a second reading).
        loop {
            match Self::families(&raw, limits, hints) {
                Ok(mut p) => {
                    p.ignored = ignored;
                    return Ok(p);
                }
                Err(e) if limits.strict => return Err(e),
                Err(Error::BadParam { param, reason }) => {
                    let given = Name::lookup(param).and_then(|n| Some((n, raw.get(n)?)));
                    let Some((name, value)) = given.filter(|_| !imgix::free_form(param)) else {
                        // Not a value of its own, or free text imgix would honour: refused.
                        return Err(Error::BadParam { param, reason });
                    };
                    if imgix::honours(param, value) {
                        // imgix would act on it: a value Refract does not implement.
                        return Err(Error::UnsupportedParam(format!("{param}={value}")));
                    }
                    raw.clear(name);
                    note(&mut ignored, param);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every family's reading of `raw`.
    fn families(raw: &Raw<'_>, limits: ParamLimits, hints: Hints) -> Result<Params, Error> {
        let mut p = Params::default();
        size::parse(raw, &mut p, limits, hints)?;
        output::parse(raw, &mut p)?;
        p.save_data = p.compress && hints.save_data;
        p.filters = adjust::parse(raw)?;
        geometry::parse(raw, &mut p, limits)?;
        overlay::parse(raw, &mut p, limits)?;
        text::parse(raw, &mut p, limits)?;
        Ok(p)
    }

    /// Whether the steps add transparency to an opaque original (a `mask` without an opaque
    /// `mask-bg`): what `auto=compress` and `fm=auto`'s PNG-or-JPEG choice look at, with the
    /// original's own alpha.
    pub fn adds_alpha(&self) -> bool {
        self.mask.is_some() && self.mask_bg.is_none_or(|c| c.a < 255)
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

    /// Whether everything asked for works frame by frame on an animation's stacked frames.
    /// Every field is named here, so a new parameter cannot be added without deciding. (The
    /// plan can still rule animation out: a padded canvas, a saliency crop.)
    pub fn per_frame(&self) -> bool {
        let Params {
            width: _,
            height: _,
            sizing: _,
            fit: _,
            crop: _,
            face_area,
            format: _,
            quality: _,
            fill_color: _,
            fill,
            dpr: _,
            compress: _,
            save_data: _,
            varies: _,
            filters,
            orient,
            flip,
            lossless: _,
            hdr: _,
            // Animations are neither background-removed nor upscaled (imgix): they stay one.
            learned: _,
            rect,
            trim,
            trim_pad: _,
            rot,
            pad,
            border,
            mask,
            mask_bg: _,
            grid: _,
            enhance: _,
            palette: _,
            chroma: _,
            dpi: _,
            colours: _,
            profile: _,
            describe: _,
            frame: _,
            overlays,
            text,
            download: _,
            ignored: _,
        } = self;
        orient.is_none()
            && text.is_none()
            && face_area.is_none()
            && !overlays.any()
            && !flip.vertical
            && *rot == 0.0
            && !pad.any()
            && border.is_none()
            && mask.is_none()
            && *fill == Fill::Solid
            && rect.is_none()
            && trim.is_none()
            && filters.per_frame()
    }

    /// Whether the rendering may start from a decoded master of the original (upright, at
    /// least the size needed): only the original's own orientation and no cut of the full-size
    /// original. Every field is named here, as in [`Params::per_frame`].
    pub fn from_master(&self) -> bool {
        let Params {
            width: _,
            height: _,
            sizing: _,
            fit: _,
            crop: _,
            face_area,
            format: _,
            quality: _,
            fill_color: _,
            fill: _,
            dpr: _,
            compress: _,
            save_data: _,
            varies: _,
            filters: _,
            orient,
            flip: _,
            lossless: _,
            hdr,
            learned,
            rect,
            trim,
            trim_pad: _,
            rot: _,
            pad: _,
            border: _,
            mask: _,
            mask_bg: _,
            grid: _,
            enhance: _,
            palette: _,
            chroma: _,
            dpi: _,
            colours: _,
            profile: _,
            describe: _,
            frame: _,
            // Drawn after the scaling a master serves.
            overlays: _,
            text: _,
            download: _,
            ignored: _,
        } = self;
        // hdr: a master is decoded without the gain map.
        // upscale: rendered from the upscaled image, not the original's master.
        orient.is_none()
            && rect.is_none()
            && trim.is_none()
            && face_area.is_none()
            && !hdr
            && !learned.upscale
    }

    /// The canonical query for these parameters, without the format: equal for every URL that
    /// renders the same pixels (`w=400&dpr=2` and `w=800` agree; defaults and parameters the fit
    /// ignores are left out). Combined with the key and the negotiated format it is the cache
    /// key. Every field is destructured: a new one that is not written here does not compile.
    pub fn canonical(&self) -> String {
        let Params {
            width,
            height,
            sizing,
            fit,
            crop,
            face_area,
            // The negotiated format follows in the cache key (see `Variant::cache_key`).
            format: _,
            quality,
            fill_color,
            fill,
            // Folded into width/height, and into the quality tier below.
            dpr: _,
            compress,
            save_data,
            // The headers it names are already folded into the values.
            varies: _,
            filters,
            orient,
            flip,
            lossless,
            hdr,
            learned,
            rect,
            trim,
            trim_pad,
            rot,
            pad,
            border,
            mask,
            mask_bg,
            grid,
            enhance,
            palette,
            chroma,
            dpi,
            colours,
            profile,
            describe,
            frame,
            overlays,
            text,
            // Not part of the rendering: a header only.
            download: _,
            ignored: _,
        } = self;
        // Room for the common keys without regrowing while they are written.
        let mut s = String::with_capacity(64);
        if let Some(w) = width {
            let _ = write!(s, "w={w}&");
        }
        if let Some(h) = height {
            let _ = write!(s, "h={h}&");
        }
        let _ = write!(s, "fit={}", fit.name());
        sizing.key(&mut s);
        if let Some(area) = face_area {
            area.key(&mut s);
        }
        if fit.crops() {
            match crop {
                Crop::Gravity { x, y } => {
                    let _ = write!(s, "&crop={}{}", size::align_char(*x), size::align_char(*y));
                }
                Crop::FocalPoint { x, y, zoom } => {
                    let _ = write!(s, "&crop=fp:{x:.4},{y:.4},{zoom:.3}");
                }
                Crop::Entropy => s.push_str("&crop=entropy"),
                Crop::Attention => s.push_str("&crop=attention"),
                Crop::Faces => s.push_str("&crop=faces"),
                Crop::Auto { x, y } => {
                    let _ = write!(
                        s,
                        "&crop=auto{}{}",
                        size::align_char(*x),
                        size::align_char(*y)
                    );
                }
            }
        }
        match quality {
            Some(q) => {
                let _ = write!(s, "&q={q}");
            }
            // What the default quality depends on: the DPR tier, compress, Save-Data.
            None if self.dpr_tier() > 1 || *compress => {
                let _ = write!(
                    s,
                    "&qt={}{}{}",
                    self.dpr_tier(),
                    if *compress { "c" } else { "" },
                    if *save_data { "s" } else { "" }
                );
            }
            None => {}
        }
        let _ = write!(s, "&bg={}", fill_color.hex());
        if *fill == Fill::Blur {
            s.push_str("&fill=blur");
        }
        filters.key(&mut s);
        if let Some(o) = orient {
            let _ = write!(s, "&or={o}");
        }
        if flip.horizontal || flip.vertical {
            let _ = write!(
                s,
                "&flip={}{}",
                if flip.horizontal { "h" } else { "" },
                if flip.vertical { "v" } else { "" }
            );
        }
        if *lossless {
            s.push_str("&lossless=1");
        }
        if *hdr {
            s.push_str("&hdr=true");
        }
        learned.key(&mut s);
        if let Some(r) = rect {
            let _ = write!(s, "&rect={},{},{},{}", r.x, r.y, r.w, r.h);
        }
        if let Some(t) = trim {
            t.key(&mut s);
            if *trim_pad > 0 {
                let _ = write!(s, "&trim-pad={trim_pad}");
            }
        }
        if *rot != 0.0 {
            let _ = write!(s, "&rot={rot:.2}");
        }
        pad.pad_key(&mut s);
        if let Some(b) = border {
            b.key(&mut s);
        }
        if let Some(g) = grid {
            g.key(&mut s);
        }
        if let Some(m) = mask {
            m.key(&mut s);
            if let Some(bg) = mask_bg {
                let _ = write!(s, "&mask-bg={}", bg.hex());
            }
        }
        if *enhance {
            s.push_str("&enhance");
        }
        if *palette {
            s.push_str("&png8");
        }
        match chroma {
            Chroma::Auto => {}
            Chroma::Half => s.push_str("&cs=420"),
            Chroma::Full => s.push_str("&cs=444"),
        }
        if let Some(d) = dpi {
            let _ = write!(s, "&dpi={d}");
        }
        if let Some(n) = colours {
            let _ = write!(s, "&colorquant={n}");
        }
        match profile {
            Profile::None => {}
            Profile::Srgb => s.push_str("&icc=srgb"),
            Profile::TinySrgb => s.push_str("&icc=tinysrgb"),
        }
        match describe {
            None | Some(Describe::Metadata { faces: false }) | Some(Describe::BlurHash) => {}
            Some(Describe::Metadata { faces: true }) => s.push_str("&faces"),
            Some(Describe::Palette {
                css,
                colours,
                prefix,
            }) => {
                let _ = write!(s, "&palette={css}:{colours}:{prefix}");
            }
        }
        if let Some(f) = frame {
            let _ = write!(s, "&frame={f}");
        }
        overlays.key(&mut s);
        if let Some(t) = text {
            t.key(&mut s);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::format::Format;

    /// `--strict-params`: the grammar's own verdicts, as most tests here check them.
    const LIMITS: ParamLimits = ParamLimits {
        max_dimension: 8192,
        strict: true,
    };

    /// The default: values imgix would ignore are ignored.
    const LENIENT: ParamLimits = ParamLimits {
        max_dimension: 8192,
        strict: false,
    };

    fn parse_with(q: &str, limits: ParamLimits) -> Result<Params, Error> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), limits)
    }

    fn parse(q: &str) -> Result<Params, Error> {
        parse_with(q, LIMITS)
    }

    fn lenient(q: &str) -> Params {
        parse_with(q, LENIENT).unwrap_or_else(|e| panic!("{q}: {}", e.public_message()))
    }

    #[test]
    fn values_imgix_ignores_are_ignored_and_named_never_keyed() {
        // Each renders as the URL without the unreadable value, and names it.
        for (q, without, names) in [
            ("w=300&fit=default", "w=300", vec!["fit"]),
            (
                "w=300&crop=false&fit=crop&h=200",
                "w=300&fit=crop&h=200",
                vec!["crop"],
            ),
            (
                "w=300&crop=face&fit=crop&h=200",
                "w=300&fit=crop&h=200",
                vec!["crop"],
            ),
            ("w=300&rot=auto", "w=300", vec!["rot"]),
            ("w=300&monochrome=1", "w=300", vec!["mono"]),
            ("w=300&bri=10.5&con=abc", "w=300", vec!["bri", "con"]),
            ("w=abc&h=120", "h=120", vec!["w"]),
            ("w=300&fm=bmp", "w=300", vec!["fm"]),
            ("w=300&txt64=%%%", "w=300", vec!["txt"]),
        ] {
            let p = lenient(q);
            assert_eq!(p.ignored, names, "{q}");
            assert_eq!(p.canonical(), lenient(without).canonical(), "{q}");
            assert!(parse(q).is_err(), "strict refuses {q}");
        }
        // A clean URL ignores nothing.
        assert!(lenient("w=300&fit=crop&h=200&auto=format,compress")
            .ignored
            .is_empty());
    }

    #[test]
    fn values_imgix_acts_on_stay_refused() {
        for (q, code) in [
            ("w=300&h=200&fit=fill&fill=gen", "unsupported_param"),
            ("fm=jp2", "unsupported_param"),
            ("bg-replace=a+desert", "unsupported_param"),
            ("mask=https://x/m.png", "bad_param"),
            // An operator's limit is not a value imgix cannot read.
            ("w=9000", "bad_param"),
        ] {
            let e = parse_with(q, LENIENT).unwrap_err();
            assert_eq!(e.code(), code, "{q}: {}", e.public_message());
        }
    }

    #[test]
    fn the_learned_operations_parse_and_key() {
        let p = lenient("w=300&h=200&fit=crop&crop=auto,top&background-remove=1&upscale=true");
        assert_eq!(
            p.crop,
            Crop::Auto {
                x: Align::Center,
                y: Align::Start
            }
        );
        assert!(p.learned.bg_remove && p.learned.upscale);
        assert!(p.learned.bg_remove_fallback && p.learned.upscale_fallback);
        let key = p.canonical();
        assert!(
            key.contains("&crop=autocs") && key.contains("&bg-remove=1&upscale=1"),
            "{key}"
        );
        // A fallback turned off is its own variant (it may answer an error where the default
        // answers the plain image).
        let q = lenient("bg-remove=true&bg-remove-fallback=false");
        assert!(!q.learned.bg_remove_fallback);
        assert_ne!(q.canonical(), lenient("bg-remove=true").canonical());
    }

    #[test]
    fn repeats_auto_combines_others_take_the_last() {
        let p = lenient("auto=format&auto=compress");
        assert_eq!(p.format, FormatChoice::Auto);
        assert!(p.compress && p.ignored.is_empty());
        let p = lenient("w=100&h=50&w=200");
        assert_eq!((p.width, p.ignored.clone()), (Some(200), vec!["w"]));
        // Under another of its names, too; the same value twice changes nothing.
        assert_eq!(lenient("width=100&w=300").width, Some(300));
        assert!(lenient("w=100&w=100").ignored.is_empty());
        assert!(parse("w=1&w=2").is_err() && parse("auto=format&auto=compress").is_err());
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
            ("w=400&fp-debug=1", "fp-debug"),
            ("page=2", "page"),
            ("txt-lig=1", "txt-lig"),
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
            Crop::FocalPoint {
                x: 0.25,
                y: 1.0,
                zoom: 1.0
            }
        );
        assert_eq!(parse("crop=faces,edges").unwrap().crop, Crop::Faces);
        assert_eq!(parse("crop=edges").unwrap().crop, Crop::Attention);
        assert_eq!(parse("crop=entropy,top").unwrap().crop, Crop::Entropy);
    }

    #[test]
    fn formats_and_auto() {
        assert_eq!(parse("fm=auto").unwrap().format, FormatChoice::Auto);
        assert_eq!(parse("auto=format").unwrap().format, FormatChoice::Auto);
        // imgix's precedence: auto=format negotiates and fm is the fallback; auto=compress picks
        // PNG or JPEG by transparency, over fm on stills.
        assert_eq!(
            parse("auto=format,compress&fm=png").unwrap().format,
            FormatChoice::AutoOrStill(Format::Png)
        );
        assert_eq!(
            parse("auto=format&fm=png").unwrap().format,
            FormatChoice::AutoOr(Format::Png)
        );
        assert_eq!(
            parse("auto=compress&fm=webp").unwrap().format,
            FormatChoice::StillFamily(Format::Webp)
        );
        assert_eq!(parse("auto=compress").unwrap().format, FormatChoice::Family);
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
