//! Image formats Refract reads and writes: names in URLs, MIME types, what each can hold, and the
//! format a source is in (from the libvips loader that opened it).

/// An input format: what an original is coded as, told from the bytes by the libvips loader
/// that claims them (and, for HEIF, the coding its header names). Operators choose which are
/// accepted with `--formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP (still or animated).
    Webp,
    /// GIF (still or animated).
    Gif,
    /// AVIF: AV1 in HEIF, decoded by libvips.
    Avif,
    /// HEIC: HEVC in HEIF (phones), decoded by the system's libheif with libde265.
    Heic,
    /// TIFF.
    Tiff,
}

impl Input {
    /// Every input format, in the order `--formats` lists them.
    pub const ALL: [Input; 7] = [
        Input::Jpeg,
        Input::Png,
        Input::Webp,
        Input::Gif,
        Input::Avif,
        Input::Heic,
        Input::Tiff,
    ];

    /// Name in `--formats` (and the file extension an upload of this format is stored under,
    /// except JPEG's `jpg` and TIFF's `tif`).
    pub fn name(self) -> &'static str {
        match self {
            Input::Jpeg => "jpeg",
            Input::Png => "png",
            Input::Webp => "webp",
            Input::Gif => "gif",
            Input::Avif => "avif",
            Input::Heic => "heic",
            Input::Tiff => "tiff",
        }
    }

    /// File extension for stored uploads.
    pub fn extension(self) -> &'static str {
        match self {
            Input::Jpeg => "jpg",
            Input::Tiff => "tif",
            other => other.name(),
        }
    }

    /// The input format of bytes a libvips `loader` claimed (e.g. `jpegload_buffer`), with the
    /// HEIF coding from the header (`heif-compression`) for HEIF files. `None`: a loader we do
    /// not accept input from.
    pub fn of_loader(loader: &str, heif_compression: Option<&str>) -> Option<Input> {
        let name = loader
            .trim_end_matches("_buffer")
            .trim_end_matches("_source");
        Some(match name.trim_end_matches("load") {
            "jpeg" => Input::Jpeg,
            "png" => Input::Png,
            "webp" => Input::Webp,
            "gif" => Input::Gif,
            "heif" if heif_compression == Some("av1") => Input::Avif,
            "heif" => Input::Heic,
            "tiff" => Input::Tiff,
            _ => return None,
        })
    }
}

/// A set of [`Input`] formats: the `--formats` allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs(u8);

impl Inputs {
    /// Every format Refract can read.
    pub const ALL: Inputs = Inputs(0b111_1111);

    /// Whether `input` is in the set.
    pub fn contains(self, input: Input) -> bool {
        self.0 & (1 << input as u8) != 0
    }

    /// The set without `input`.
    pub fn without(self, input: Input) -> Inputs {
        Inputs(self.0 & !(1 << input as u8))
    }

    /// Parse a comma-separated list of names (`jpeg,png,webp`; `jpg` and `tif` accepted too).
    pub fn parse(list: &str) -> Result<Inputs, String> {
        let mut set = 0u8;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            let input = Input::ALL
                .into_iter()
                .find(|i| {
                    i.name() == name
                        || i.extension() == name
                        || (name == "heif" && *i == Input::Heic)
                })
                .ok_or_else(|| {
                    let known: Vec<&str> = Input::ALL.iter().map(|i| i.name()).collect();
                    format!(
                        "unknown input format {name:?} (known: {})",
                        known.join(", ")
                    )
                })?;
            set |= 1 << input as u8;
        }
        if set == 0 {
            return Err("--formats needs at least one format".into());
        }
        Ok(Inputs(set))
    }

    /// The names in the set, comma-separated.
    pub fn names(self) -> String {
        let names: Vec<&str> = Input::ALL
            .into_iter()
            .filter(|i| self.contains(*i))
            .map(Input::name)
            .collect();
        names.join(",")
    }
}

/// An output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (baseline, or progressive for `fm=pjpg`).
    Jpeg {
        /// Progressive scan order.
        progressive: bool,
    },
    /// PNG (lossless).
    Png,
    /// WebP (lossy).
    Webp,
    /// AVIF (AV1 in HEIF).
    Avif,
    /// GIF.
    Gif,
    /// A description as JSON: the original's metadata (`fm=json`) or its palette
    /// (`palette=json`).
    Json,
    /// The palette as CSS classes (`palette=css`).
    Css,
    /// A BlurHash string (`fm=blurhash`).
    BlurHash,
}

impl Format {
    /// Baseline JPEG.
    pub const JPEG: Format = Format::Jpeg { progressive: false };

    /// File extension (`jpg` for progressive JPEG too).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg { .. } => "jpg",
            Format::BlurHash => "txt",
            other => other.name(),
        }
    }

    /// Canonical name, as written in cache keys and `fm=`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg { progressive: false } => "jpg",
            Format::Jpeg { progressive: true } => "pjpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Gif => "gif",
            Format::Json => "json",
            Format::Css => "css",
            Format::BlurHash => "blurhash",
        }
    }

    /// Whether this is an image encoding (not a description of one).
    pub fn is_image(self) -> bool {
        !matches!(self, Format::Json | Format::Css | Format::BlurHash)
    }

    /// The format a [`Format::name`] names (descriptions included).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "css" => Some(Format::Css),
            "blurhash" => Some(Format::BlurHash),
            other => Format::from_param(other),
        }
    }

    /// `Content-Type` value.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg { .. } => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
            Format::Gif => "image/gif",
            Format::Json => "application/json",
            Format::Css => "text/css; charset=utf-8",
            Format::BlurHash => "text/plain; charset=utf-8",
        }
    }

    /// Whether the encoding can carry an alpha channel.
    pub fn supports_alpha(self) -> bool {
        !matches!(self, Format::Jpeg { .. })
    }

    /// Parse an `fm=` value (other than `auto`). `None` for names we do not encode.
    pub fn from_param(value: &str) -> Option<Format> {
        Some(match value {
            "jpg" | "jpeg" => Format::JPEG,
            "pjpg" => Format::Jpeg { progressive: true },
            "png" | "png32" => Format::Png,
            "webp" => Format::Webp,
            "avif" => Format::Avif,
            "gif" => Format::Gif,
            _ => return None,
        })
    }

    /// The output format for a source of this input format when the request names none: its
    /// own, or (for sources we cannot write back: TIFF, HEIC) PNG when it has alpha and JPEG
    /// otherwise.
    pub fn of_input(input: Input, has_alpha: bool) -> Format {
        match input {
            Input::Jpeg => Format::JPEG,
            Input::Png => Format::Png,
            Input::Webp => Format::Webp,
            Input::Gif => Format::Gif,
            Input::Avif => Format::Avif,
            Input::Heic | Input::Tiff => Format::family(has_alpha),
        }
    }

    /// The widely supported format for an image: PNG when it has alpha, JPEG otherwise.
    pub fn family(has_alpha: bool) -> Format {
        if has_alpha {
            Format::Png
        } else {
            Format::JPEG
        }
    }

    /// The format whose signature starts `bytes`, if any (used to check outputs).
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::JPEG)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && &bytes[8..12] == b"avif" {
            Some(Format::Avif)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lists_parse_and_name_every_format() {
        assert_eq!(Inputs::parse(&Inputs::ALL.names()).unwrap(), Inputs::ALL);
        let some = Inputs::parse("jpg, PNG,heif").unwrap();
        assert!(some.contains(Input::Jpeg) && some.contains(Input::Png));
        assert!(some.contains(Input::Heic) && !some.contains(Input::Avif));
        assert_eq!(some.names(), "jpeg,png,heic");
        assert!(!Inputs::ALL.without(Input::Heic).contains(Input::Heic));
        assert!(Inputs::parse("jpeg,bmp").unwrap_err().contains("bmp"));
        assert!(Inputs::parse("").is_err());
    }

    #[test]
    fn loaders_name_their_input_format() {
        assert_eq!(Input::of_loader("jpegload_buffer", None), Some(Input::Jpeg));
        assert_eq!(
            Input::of_loader("heifload_buffer", Some("av1")),
            Some(Input::Avif)
        );
        assert_eq!(
            Input::of_loader("heifload_buffer", Some("hevc")),
            Some(Input::Heic)
        );
        assert_eq!(Input::of_loader("tiffload_buffer", None), Some(Input::Tiff));
        assert_eq!(Input::of_loader("svgload_buffer", None), None);
    }

    #[test]
    fn params_round_trip_through_names() {
        for f in [
            Format::JPEG,
            Format::Jpeg { progressive: true },
            Format::Png,
            Format::Webp,
            Format::Avif,
            Format::Gif,
        ] {
            assert_eq!(Format::from_param(f.name()), Some(f));
        }
        assert_eq!(Format::from_param("jpeg"), Some(Format::JPEG));
        assert_eq!(Format::from_param("bmp"), None);
    }

    #[test]
    fn sources_we_cannot_write_fall_back_to_their_family() {
        assert_eq!(Format::of_input(Input::Tiff, true), Format::Png);
        assert_eq!(Format::of_input(Input::Heic, false), Format::JPEG);
        assert_eq!(Format::of_input(Input::Avif, false), Format::Avif);
    }
}
