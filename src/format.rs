//! Image formats Refract reads and writes: names in URLs, MIME types, what each can hold, and the
//! format a source is in (from the libvips loader that opened it).

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
}

impl Format {
    /// Baseline JPEG.
    pub const JPEG: Format = Format::Jpeg { progressive: false };

    /// File extension (`jpg` for progressive JPEG too).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg { .. } => "jpg",
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

    /// The format of a decoded source, from the libvips loader name, as the output format when
    /// the request names none. `has_alpha` picks PNG over JPEG for sources we cannot write back
    /// (TIFF, HEIC).
    pub fn of_source(loader: &str, heif_compression: Option<&str>, has_alpha: bool) -> Format {
        if loader.starts_with("jpeg") {
            Format::JPEG
        } else if loader.starts_with("png") {
            Format::Png
        } else if loader.starts_with("webp") {
            Format::Webp
        } else if loader.starts_with("gif") {
            Format::Gif
        } else if loader.starts_with("heif") && heif_compression == Some("av1") {
            Format::Avif
        } else {
            Format::family(has_alpha)
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
        assert_eq!(
            Format::of_source("tiffload_buffer", None, true),
            Format::Png
        );
        assert_eq!(
            Format::of_source("heifload_buffer", Some("hevc"), false),
            Format::JPEG
        );
        assert_eq!(
            Format::of_source("heifload_buffer", Some("av1"), false),
            Format::Avif
        );
    }
}
