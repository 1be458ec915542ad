//! Known masks for `bg-remove`: a cut-out subject from the corpus (Pillow's transparent dice,
//! its alpha the truth) pasted onto plain, gradient and textured backgrounds, and the IoU of a
//! served alpha against it. Shared by `tests/learned.rs` and `benches/learned.rs`.

use refract::transform::vips::{self, Image, SaveOptions};

use super::corpus_file;
use super::images::pixels;

/// The cut-out subject: Pillow's transparent dice (four dice, some translucent), its alpha the
/// known mask. Scaled to `w` × `h` as RGBA.
pub fn dice(w: u32, h: u32) -> Vec<u8> {
    vips::init().unwrap();
    let png = corpus_file("alpha/pillow-transparent.png");
    let img = Image::header(&png).unwrap().thumbnail_image(w, h).unwrap();
    assert_eq!(img.bands(), 4);
    img.pixels().unwrap()
}

/// The backgrounds the subject is pasted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Light grey.
    Plain,
    /// Colours changing across and down.
    Gradient,
    /// Clouds (`photos/mate-Storm.jpg`): texture all over, no subject of its own.
    Textured,
    /// Another corpus photo (a path, a leaf: scenes with subjects of their own), by path.
    Photo(&'static str),
}

pub const W: u32 = 800;
pub const H: u32 = 600;
/// The subject's box in the composite (off-centre, right and low).
pub const SUBJECT: (u32, u32, u32, u32) = (380, 230, 400, 300);

pub fn background(kind: Background) -> Vec<u8> {
    match kind {
        Background::Plain => [214u8, 218, 222].repeat((W * H) as usize),
        Background::Gradient => {
            let mut px = Vec::with_capacity((W * H * 3) as usize);
            for y in 0..H {
                for x in 0..W {
                    px.extend_from_slice(&[
                        (40 + x * 180 / W) as u8,
                        (90 + y * 120 / H) as u8,
                        (200 - x * 120 / W) as u8,
                    ]);
                }
            }
            px
        }
        Background::Textured | Background::Photo(_) => {
            let file = match kind {
                Background::Photo(file) => file,
                _ => "photos/mate-Storm.jpg",
            };
            let photo = corpus_file(file);
            let px = Image::header(&photo)
                .unwrap()
                .thumbnail_image(W, H)
                .unwrap()
                .pixels()
                .unwrap();
            px
        }
    }
}

/// The subject pasted onto `kind` (a JPEG) and the true mask (alpha ≥ 128), `W` × `H`.
pub fn composite(kind: Background) -> (Vec<u8>, Vec<bool>) {
    let (sx, sy, sw, sh) = SUBJECT;
    let fg = dice(sw, sh);
    let mut px = background(kind);
    let mut truth = vec![false; (W * H) as usize];
    for y in 0..sh {
        for x in 0..sw {
            let s = ((y * sw + x) * 4) as usize;
            let a = u32::from(fg[s + 3]);
            let d = (((sy + y) * W + sx + x) * 3) as usize;
            for c in 0..3 {
                px[d + c] =
                    ((u32::from(fg[s + c]) * a + u32::from(px[d + c]) * (255 - a)) / 255) as u8;
            }
            truth[((sy + y) * W + sx + x) as usize] = a >= 128;
        }
    }
    let jpeg = Image::from_pixels(&px, W, H, 3)
        .unwrap()
        .save(SaveOptions::Jpeg {
            quality: 92,
            progressive: false,
            full_chroma: None,
        })
        .unwrap()
        .to_vec();
    (jpeg, truth)
}

/// Intersection over union of the served alpha (≥ 128) and the truth.
pub fn iou(png: &[u8], truth: &[bool]) -> f64 {
    let (px, w, h, bands) = pixels(png);
    assert_eq!(
        (w, h, bands),
        (W, H, 4),
        "bg-remove gives RGBA at the original size"
    );
    let (mut inter, mut union) = (0u64, 0u64);
    for (i, &t) in truth.iter().enumerate() {
        let served = px[i * 4 + 3] >= 128;
        inter += u64::from(served && t);
        union += u64::from(served || t);
    }
    inter as f64 / union.max(1) as f64
}
