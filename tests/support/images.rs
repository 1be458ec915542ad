//! Reading back what the server sent: format by signature, size and bands by libvips, pixels.

use refract::encoding::format::Format;
use refract::transform::vips::{self, Image};

/// What an encoded image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Format by magic bytes.
    pub format: Format,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Bands, alpha included.
    pub bands: u32,
}

/// Identify and measure encoded bytes. Panics if they are not an image we write.
pub fn decode(bytes: &[u8]) -> Decoded {
    vips::init().unwrap();
    let format = Format::sniff(bytes).unwrap_or_else(|| {
        panic!(
            "not a known image signature: {:02x?}",
            &bytes[..bytes.len().min(16)]
        )
    });
    let img = Image::header(bytes).expect("output decodes");
    Decoded {
        format,
        width: img.width(),
        height: img.height(),
        bands: img.bands(),
    }
}

/// All pixels, interleaved, plus the band count.
pub fn pixels(bytes: &[u8]) -> (Vec<u8>, u32, u32, u32) {
    vips::init().unwrap();
    let img = Image::header(bytes).expect("output decodes");
    let (w, h, b) = (img.width(), img.height(), img.bands());
    (img.pixels().expect("pixels decode"), w, h, b)
}

/// The pixel at (x, y): all its bands.
pub fn pixel(bytes: &[u8], x: u32, y: u32) -> Vec<u8> {
    let (px, w, _h, b) = pixels(bytes);
    let i = ((y * w + x) * b) as usize;
    px[i..i + b as usize].to_vec()
}

/// Whether two colours are within `tolerance` on every band (lossy codecs shift colours a bit).
pub fn close(a: &[u8], b: &[u8], tolerance: u8) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= tolerance)
}

/// Mean absolute difference per sample between two images of the same size and bands (0–255).
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let (pa, wa, ha, ba) = pixels(a);
    let (pb, wb, hb, bb) = pixels(b);
    assert_eq!((wa, ha, ba), (wb, hb, bb), "images differ in size or bands");
    let total: u64 = pa
        .iter()
        .zip(&pb)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / pa.len() as f64
}

/// Whether libvips finds any metadata that should have been stripped.
pub fn metadata_fields(bytes: &[u8]) -> Vec<&'static str> {
    vips::init().unwrap();
    let img = Image::header(bytes).expect("output decodes");
    [
        (c"exif-data", "exif"),
        (c"xmp-data", "xmp"),
        (c"iptc-data", "iptc"),
        (c"icc-profile-data", "icc"),
    ]
    .into_iter()
    .filter(|(field, _)| img.has_field(field))
    .map(|(_, name)| name)
    .collect()
}

/// Whether an AVIF (ISOBMFF) file carries an `irot` or `imir` item property: the boxes that tell
/// a decoder to turn or mirror the pixels (a byte search: four letters at random in a few KB of
/// compressed data are a one-in-a-million chance).
pub fn turns_on_display(avif: &[u8]) -> bool {
    avif.windows(4).any(|w| w == b"irot" || w == b"imir")
}
