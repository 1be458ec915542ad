//! The URL grammar: `/{key}?{params}` parsed once into a typed [`ImageRequest`], then resolved
//! against the client's `Accept` into a [`Variant`] — exactly one rendering, whose canonical form
//! is the cache key. Raw strings do not leave this module.

pub mod accept;
pub mod bounds;
pub mod imgix;
pub mod key;
pub mod params;
pub mod presets;
pub mod signature;
pub mod srcset;

use std::borrow::Cow;

pub use accept::AcceptClass;
pub use bounds::Bounds;
pub use key::Key;
pub use params::{
    Align, BlendMode, Border, Crop, Fill, Fit, FormatChoice, Grid, Hints, Mask, ParamLimits,
    Params, Radii, Rgba, Sides, Trim, Varies,
};
pub use presets::Presets;

use crate::encoding::format::Format;
use crate::error::Error;

/// Most `name=value` pairs a query may have (imgix clients send about a dozen).
pub const MAX_QUERY_PAIRS: usize = 64;

/// A parsed image request: which original, and what to do to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRequest {
    /// The original's key.
    pub key: Key,
    /// The transformation.
    pub params: Params,
}

impl ImageRequest {
    /// Parse a raw URL path and query.
    pub fn parse(path: &str, query: Option<&str>, limits: ParamLimits) -> Result<Self, Error> {
        Self::with_key(Key::from_url_path(path)?, query, limits)
    }

    /// Parse the query for an already routed key (see [`crate::source::Mounts::key`]).
    pub fn with_key(key: Key, query: Option<&str>, limits: ParamLimits) -> Result<Self, Error> {
        Self::with_hints(key, query, limits, Hints::default())
    }

    /// As [`ImageRequest::with_key`], with the client's hints (`Sec-CH-DPR`, `Sec-CH-Width`,
    /// `Save-Data`), used where the URL opts into them.
    pub fn with_hints(
        key: Key,
        query: Option<&str>,
        limits: ParamLimits,
        hints: Hints,
    ) -> Result<Self, Error> {
        Self::with_presets(key, query, limits, hints, &Presets::default())
    }

    /// As [`ImageRequest::with_hints`], expanding `?preset=NAME` from `presets`.
    pub fn with_presets(
        key: Key,
        query: Option<&str>,
        limits: ParamLimits,
        hints: Hints,
        presets: &Presets,
    ) -> Result<Self, Error> {
        let pairs: Vec<(Cow<str>, Cow<str>)> =
            form_urlencoded::parse(query.unwrap_or("").as_bytes()).collect();
        if pairs.len() > MAX_QUERY_PAIRS {
            return Err(Error::bad_param(
                "query",
                format!("more than {MAX_QUERY_PAIRS} parameters"),
            ));
        }
        let pairs = presets.expand(pairs)?;
        let params =
            Params::parse_with_hints(pairs.iter().map(|(k, v)| (&**k, &**v)), limits, hints)?;
        Ok(ImageRequest { key, params })
    }

    /// Settle the output format for a client: the one rendering this client gets.
    pub fn variant(&self, accept: AcceptClass) -> Variant {
        let output = match self.params.format {
            FormatChoice::Fixed(f) => Output::Fixed(f),
            FormatChoice::Source => Output::Source,
            FormatChoice::Family => Output::Family,
            FormatChoice::StillFamily(f) => Output::StillFamily(f),
            FormatChoice::Auto | FormatChoice::AutoOr(_) | FormatChoice::AutoOrStill(_) => {
                match accept {
                    AcceptClass::Avif => Output::Negotiated(Format::Avif),
                    AcceptClass::Webp => Output::Negotiated(Format::Webp),
                    AcceptClass::Legacy => match self.params.format {
                        FormatChoice::AutoOr(f) => Output::Fixed(f),
                        FormatChoice::AutoOrStill(f) => Output::StillFamily(f),
                        _ => Output::Family,
                    },
                }
            }
        };
        Variant {
            key: self.key.clone(),
            params: self.params.clone(),
            output,
        }
    }

    /// Whether the response depends on the `Accept` header (and so must say `Vary: Accept`).
    pub fn varies_on_accept(&self) -> bool {
        matches!(
            self.params.format,
            FormatChoice::Auto | FormatChoice::AutoOr(_) | FormatChoice::AutoOrStill(_)
        )
    }
}

/// How the output format is chosen once the source is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// This format.
    Fixed(Format),
    /// This format, chosen by `fm=auto` from `Accept`: an animated original gets animated WebP
    /// where the choice was AVIF (our AVIF encoder writes stills).
    Negotiated(Format),
    /// The source's own format (JPEG or PNG for formats we cannot write).
    Source,
    /// PNG when the image has alpha, JPEG otherwise.
    Family,
    /// As `Family` for a still; this format for an animation.
    StillFamily(Format),
}

impl Output {
    /// Pick the format, given what the source turned out to be (`animated`: several frames,
    /// and no single frame asked for).
    pub fn resolve(self, source_format: Format, has_alpha: bool, animated: bool) -> Format {
        match self {
            Output::Fixed(f) => f,
            Output::Negotiated(Format::Avif) if animated => Format::Webp,
            Output::Negotiated(f) => f,
            Output::Source => source_format,
            Output::Family => Format::family(has_alpha),
            Output::StillFamily(f) if animated => f,
            Output::StillFamily(_) => Format::family(has_alpha),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Output::Fixed(f) => f.name(),
            Output::Negotiated(Format::Avif) => "auto-avif",
            Output::Negotiated(Format::Webp) => "auto-webp",
            Output::Negotiated(f) => f.name(),
            Output::Source => "source",
            Output::Family => "family",
            Output::StillFamily(Format::Webp) => "stillfamily-webp",
            Output::StillFamily(Format::Avif) => "stillfamily-avif",
            Output::StillFamily(Format::Gif) => "stillfamily-gif",
            Output::StillFamily(Format::Png) => "stillfamily-png",
            Output::StillFamily(Format::Jpeg { progressive: true }) => "stillfamily-pjpg",
            Output::StillFamily(_) => "stillfamily-jpg",
        }
    }
}

/// One rendering of one original: what is cached, and what a response carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The original's key.
    pub key: Key,
    /// The transformation.
    pub params: Params,
    /// How the output format is settled.
    pub output: Output,
}

impl Variant {
    /// The cache key: the original's key, the canonical parameters, and the settled format.
    /// Two URLs that render the same bytes share it.
    pub fn cache_key(&self) -> String {
        let (key, canonical, format) = (
            self.key.as_str(),
            self.params.canonical(),
            self.output.name(),
        );
        // One allocation of the right size (this runs on every request, hits included).
        let mut out = String::with_capacity(key.len() + canonical.len() + format.len() + 5);
        out.push_str(key);
        out.push('?');
        out.push_str(&canonical);
        out.push_str("&fm=");
        out.push_str(format);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParamLimits = ParamLimits {
        max_dimension: 8192,
        strict: false,
    };

    #[test]
    fn auto_settles_per_accept_class_and_the_key_says_which() {
        let req = ImageRequest::parse("/a/cat.jpg", Some("w=400&fm=auto"), LIMITS).unwrap();
        assert!(req.varies_on_accept());
        let avif = req.variant(AcceptClass::Avif).cache_key();
        let webp = req.variant(AcceptClass::Webp).cache_key();
        let legacy = req.variant(AcceptClass::Legacy).cache_key();
        assert!(avif.ends_with("fm=auto-avif") && webp.ends_with("fm=auto-webp"));
        assert!(legacy.ends_with("fm=family"));
        // Not the fixed-format key: for an animated original, negotiated AVIF becomes WebP.
        assert_ne!(avif, {
            let fixed = ImageRequest::parse("/a/cat.jpg", Some("w=400&fm=avif"), LIMITS).unwrap();
            assert!(!fixed.varies_on_accept());
            fixed.variant(AcceptClass::Legacy).cache_key()
        });
    }

    #[test]
    fn keys_are_decoded_before_keying() {
        let a = ImageRequest::parse("/a%20b.jpg", Some("w=1"), LIMITS).unwrap();
        let b = ImageRequest::parse("/a b.jpg", Some("w=1&ixlib=x"), LIMITS).unwrap();
        assert_eq!(
            a.variant(AcceptClass::Legacy).cache_key(),
            b.variant(AcceptClass::Legacy).cache_key()
        );
    }

    #[test]
    fn compress_over_fm_only_on_stills() {
        let out = Output::StillFamily(Format::Webp);
        assert_eq!(out.resolve(Format::Gif, false, true), Format::Webp);
        assert_eq!(out.resolve(Format::Gif, false, false), Format::JPEG);
        assert_eq!(out.resolve(Format::Png, true, false), Format::Png);
        assert_ne!(out.name(), Output::StillFamily(Format::Avif).name());
    }

    #[test]
    fn resolve_follows_the_source() {
        assert_eq!(
            Output::Source.resolve(Format::Gif, true, false),
            Format::Gif
        );
        assert_eq!(
            Output::Family.resolve(Format::Gif, true, false),
            Format::Png
        );
        assert_eq!(
            Output::Family.resolve(Format::Webp, false, false),
            Format::JPEG
        );
        let auto_avif = Output::Negotiated(Format::Avif);
        assert_eq!(auto_avif.resolve(Format::Gif, true, true), Format::Webp);
        assert_eq!(auto_avif.resolve(Format::Gif, true, false), Format::Avif);
        assert_eq!(
            Output::Fixed(Format::Avif).resolve(Format::Gif, true, true),
            Format::Avif
        );
    }
}
