//! Step 6: encode. Quality defaults per format, encoder effort chosen for an origin that renders
//! on demand, and all metadata stripped (EXIF, XMP, IPTC, ICC: outputs are sRGB, which is what an
//! untagged image means on the web).

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;

use super::vips::{self, Image, SaveOptions};
use super::{classify, icc};
use crate::encoding::format::Format;
use crate::error::Error;
use crate::request::params::{Chroma, Profile};

/// Default quality per format when the URL gives no `q`. JPEG and WebP follow imgproxy/sharp.
/// AVIF's is chosen by `make bench-quality` (BENCHMARKS.md): 66 is the lowest quality at which
/// AVIF is as close to the lossless render as JPEG q80 by both SSIMULACRA2 and butteraugli,
/// at 0.66× JPEG's bytes (60, the previous default, saved another 14% but looked measurably
/// worse than JPEG q80).
pub fn default_quality(format: Format) -> u8 {
    match format {
        Format::Jpeg { .. } => 80,
        Format::Webp => 80,
        Format::Avif => 66,
        Format::Png | Format::Gif => 100,
        // Descriptions are not encoded images.
        Format::Json | Format::Css | Format::BlurHash => 100,
    }
}

/// Which encoder settings a render uses. Without refinement (`--refine off`) every render is
/// `Standard`, today's defaults. With it, a variant's first render is `First` — chosen for CPU,
/// served with a short `Cache-Control` — and the variants that prove hot are rendered again in
/// the background as `Refined`, chosen for bytes, and served from then on with the full max-age.
///
/// Settings from `make bench-quality` over the corpus photos (BENCHMARKS.md, "Fast first, small
/// forever"): first AVIF effort 0 at q 68 — 0.44× the CPU of the standard AVIF request at a
/// better distance; first WebP effort 2 at q 82 — 0.66× the CPU, better distance; refined AVIF
/// effort 3 at q 64 — 0.58× JPEG q80's bytes at a smaller distance (effort 4 at q 62 saves 5%
/// more for 5× the CPU, 1% further than JPEG); refined WebP effort 6. JPEG is the same in every
/// tier (its Huffman tables are always optimised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    /// Today's defaults (refinement off).
    #[default]
    Standard,
    /// A first render, fast; refined later if it proves hot.
    First,
    /// The background re-encode for bytes.
    Refined,
}

impl Tier {
    /// Its name in stored objects and the `x-refract-tier` header.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::First => "first",
            Tier::Refined => "refined",
        }
    }

    /// The tier called `name`.
    pub fn from_name(name: &str) -> Option<Tier> {
        [Tier::Standard, Tier::First, Tier::Refined]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// The tier a render in `format` really gets: tiers differ only in WebP and AVIF settings,
    /// so any other output (JPEG, PNG, GIF) is final at once — `Standard`, served with the full
    /// max-age and never refined.
    pub fn for_format(self, format: Format) -> Tier {
        match format {
            Format::Webp | Format::Avif => self,
            _ => Tier::Standard,
        }
    }

    /// Default quality for `format` in this tier, when the URL gives no `q`.
    pub fn default_quality(self, format: Format) -> u8 {
        match (self, format) {
            (Tier::First, Format::Avif) => 68,
            (Tier::Refined, Format::Avif) => 64,
            (Tier::First, Format::Webp) => 82,
            _ => default_quality(format),
        }
    }

    /// WebP and AVIF encoder effort in this tier.
    pub fn efforts(self) -> (u8, u8) {
        match self {
            Tier::Standard => (WEBP_EFFORT, AVIF_EFFORT),
            Tier::First => (2, 0),
            Tier::Refined => (6, 3),
        }
    }
}

/// Default quality of palette-quantised PNG (`fm=png8`).
pub const PALETTE_QUALITY: u8 = 80;

/// What the URL asks of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// 1–100 (for palette PNG: the quantiser's quality).
    pub quality: u8,
    /// Lossless WebP/AVIF.
    pub lossless: bool,
    /// Palette-quantised PNG.
    pub palette: bool,
    /// Chroma subsampling of JPEG and AVIF (`chromasub`).
    pub chroma: Chroma,
    /// Resolution for the JPEG (JFIF) and PNG (pHYs) headers, pixels per inch (`dpi`).
    pub dpi: Option<u32>,
    /// ICC profile to embed (`cs`; GIF has no place for one).
    pub profile: Profile,
    /// Encoder settings tier.
    pub tier: Tier,
}

/// AVIF encoder effort (0 fastest – 9 slowest; libaom speed 9 − effort). Measured over the
/// corpus photos (`make bench-quality`, BENCHMARKS.md): effort 1 encodes at 0.57× the CPU of
/// effort 2 for 2% more bytes at the same distance, which keeps a whole AVIF request at under
/// 2× the CPU of a WebP one; libvips's default, 4, costs 13× effort 1 for 7% fewer bytes, and
/// effort 0 gives up 9% in size and visibly more distance.
pub const AVIF_EFFORT: u8 = 1;

/// WebP encoder effort (0–6); libvips's default. Effort 2 halves the encode CPU but loses
/// on both size (+4%) and distance; 6 costs 2.4× for 4% fewer bytes (BENCHMARKS.md).
pub const WEBP_EFFORT: u8 = 4;

/// GIF quantiser effort (1–10). libvips's default, 7, spends most of a GIF's time quantising:
/// over the corpus animations at 160 px (`cargo bench --bench gif`, BENCHMARKS.md) it took up to
/// 35× WebP's encode time (4.3 s for one 42-frame animation). Effort 1 with no dithering and a
/// palette reused within an error of 8 encodes that one in 0.69 s (6×), the whole corpus at 0.91×
/// the default's bytes, at a mean colour error of 0.5 levels in 255 (the default: 0.3).
pub const GIF_EFFORT: u8 = 1;

/// GIF dithering in tenths (0–10): none. At 160–640 px and a palette per frame, dithering
/// costs time and adds per-pixel noise (more pixels off by over 16 levels) without a measurable
/// gain (see [`GIF_EFFORT`]).
pub const GIF_DITHER_TENTHS: u8 = 0;

/// How far the previous frame's palette may be off before a GIF frame gets its own (0–255;
/// libvips's default 3): 8 reuses palettes between similar frames, 11% fewer bytes over the
/// corpus animations at the same mean error (see [`GIF_EFFORT`]).
pub const GIF_PALETTE_ERROR: u8 = 8;

/// Encode `image` as `format` (`lossless` for WebP and AVIF; JPEG has no lossless mode and PNG
/// and GIF are lossless anyway), abandoning the work at `deadline` ([`Error::Timeout`]).
pub fn apply(
    image: &Image<'_>,
    format: Format,
    options: Options,
    deadline: Instant,
) -> Result<Bytes, Error> {
    let Options {
        quality,
        lossless,
        palette,
        chroma,
        dpi,
        profile,
        tier,
    } = options;
    let (webp_effort, avif_effort) = tier.efforts();
    let full_chroma = match chroma {
        Chroma::Auto => None,
        Chroma::Half => Some(false),
        Chroma::Full => Some(true),
    };
    let options = match format {
        Format::Jpeg { progressive } => SaveOptions::Jpeg {
            quality,
            progressive,
            full_chroma,
        },
        Format::Png if palette => SaveOptions::PalettePng { quality },
        Format::Png => SaveOptions::Png { compression: 6 },
        Format::Webp => SaveOptions::Webp {
            quality,
            effort: webp_effort,
            lossless,
        },
        Format::Avif => SaveOptions::Avif {
            quality,
            effort: avif_effort,
            lossless,
            full_chroma,
        },
        Format::Gif => SaveOptions::Gif {
            effort: GIF_EFFORT,
            dither_tenths: GIF_DITHER_TENTHS,
            palette_error: GIF_PALETTE_ERROR,
        },
        Format::Json | Format::Css | Format::BlurHash => {
            return Err(Error::Internal(format!(
                "{} is a description, not an image encoding",
                format.name()
            )))
        }
    };
    let resized;
    let image = match (dpi, format) {
        (Some(dpi), Format::Png) => {
            resized = image.with_dpi(f64::from(dpi)).map_err(classify)?;
            &resized
        }
        _ => image,
    };
    let icc: Option<&[u8]> = match profile {
        _ if format == Format::Gif => None,
        Profile::None => None,
        Profile::Srgb => Some(srgb_profile()?),
        Profile::TinySrgb => Some(tiny_srgb_profile()),
    };
    let tagged;
    let image = match &icc {
        Some(icc) => {
            tagged = image.with_profile(icc).map_err(classify)?;
            &tagged
        }
        None => image,
    };
    let body = image
        .save_before(options, deadline, icc.is_some())
        .map_err(|e| {
            if Instant::now() >= deadline {
                Error::Timeout
            } else {
                classify(e)
            }
        })?;
    Ok(match (dpi, format) {
        (Some(dpi), Format::Jpeg { .. }) => with_jfif_density(body, dpi),
        _ => body,
    })
}

/// libvips's built-in sRGB profile, read once.
fn srgb_profile() -> Result<&'static [u8], Error> {
    static PROFILE: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(p) = PROFILE.get() {
        return Ok(p);
    }
    let loaded = vips::builtin_profile(c"srgb").map_err(classify)?;
    Ok(PROFILE.get_or_init(|| loaded))
}

/// The compact sRGB profile, built once.
fn tiny_srgb_profile() -> &'static [u8] {
    static PROFILE: OnceLock<Vec<u8>> = OnceLock::new();
    PROFILE.get_or_init(icc::tiny_srgb)
}

/// The JPEG with a JFIF header giving `dpi` dots per inch. With metadata stripped, libvips
/// writes no JFIF segment at all; one is inserted after the start-of-image marker (or an
/// existing one's density patched in place).
fn with_jfif_density(body: Bytes, dpi: u32) -> Bytes {
    if body.len() < 4 || body[..2] != [0xFF, 0xD8] {
        return body;
    }
    let d = u16::try_from(dpi).unwrap_or(u16::MAX).to_be_bytes();
    // APP0: marker, length 16, "JFIF\0", version 1.01, units 1 (per inch), X, Y, no thumbnail.
    let app0 = [
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 1, d[0], d[1], d[0], d[1], 0, 0,
    ];
    let mut bytes = Vec::with_capacity(body.len() + app0.len());
    bytes.extend_from_slice(&body[..2]);
    bytes.extend_from_slice(&app0);
    let rest = &body[2..];
    let has_jfif = rest.len() >= 9 && rest[..2] == [0xFF, 0xE0] && &rest[4..9] == b"JFIF\0";
    if has_jfif {
        // Replace the existing segment (its length is at rest[2..4]).
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 2;
        bytes.extend_from_slice(&rest[len.min(rest.len())..]);
    } else {
        bytes.extend_from_slice(rest);
    }
    Bytes::from(bytes)
}
