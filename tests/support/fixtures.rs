//! Small originals generated with libvips at test time (nothing binary is checked in).

use refract::transform::vips::{self, Image, SaveOptions};

fn init() {
    vips::init().unwrap();
}

/// Colour of each quadrant of [`quadrants`]: top-left, top-right, bottom-left, bottom-right.
pub const QUADRANT_COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];

/// RGB pixels of a `w`×`h` image split into four flat quadrants (red, green / blue, white), so
/// crops and orientation can be read off single pixels.
pub fn quadrant_pixels(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let q = usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2);
            px.extend_from_slice(&QUADRANT_COLOURS[q]);
        }
    }
    px
}

/// A quadrant JPEG.
pub fn quadrants_jpeg(w: u32, h: u32) -> Vec<u8> {
    init();
    Image::from_pixels(&quadrant_pixels(w, h), w, h, 3)
        .unwrap()
        .save(SaveOptions::Jpeg {
            full_chroma: None,
            quality: 95,
            progressive: false,
        })
        .unwrap()
        .to_vec()
}

/// A flat `w`×`h` PNG of one RGB colour.
pub fn flat_png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    block_png(w, h, rgb, (0, 0, 0, 0, rgb))
}

/// A `w`×`h` PNG of `background` with a `bw`×`bh` block of `block` at (`bx`, `by`).
pub fn block_png(
    w: u32,
    h: u32,
    background: [u8; 3],
    block: (u32, u32, u32, u32, [u8; 3]),
) -> Vec<u8> {
    init();
    let (bx, by, bw, bh, colour) = block;
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let inside = (bx..bx + bw).contains(&x) && (by..by + bh).contains(&y);
            px.extend_from_slice(if inside { &colour } else { &background });
        }
    }
    Image::from_pixels(&px, w, h, 3)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap()
        .to_vec()
}

/// A quadrant PNG (lossless: every pixel one of the four colours).
pub fn quadrants_png(w: u32, h: u32) -> Vec<u8> {
    init();
    Image::from_pixels(&quadrant_pixels(w, h), w, h, 3)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap()
        .to_vec()
}

/// A quadrant PNG with alpha: the left half opaque, the right half fully transparent.
pub fn half_transparent_png(w: u32, h: u32) -> Vec<u8> {
    init();
    let rgb = quadrant_pixels(w, h);
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for (i, p) in rgb.chunks(3).enumerate() {
        let x = i as u32 % w;
        rgba.extend_from_slice(p);
        rgba.push(if x < w / 2 { 255 } else { 0 });
    }
    Image::from_pixels(&rgba, w, h, 4)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap()
        .to_vec()
}

/// A smooth RGB gradient JPEG (photo-like, compresses like a photo rather than flat blocks).
pub fn gradient_jpeg(w: u32, h: u32) -> Vec<u8> {
    init();
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            px.extend_from_slice(&[
                (x * 255 / w.max(1)) as u8,
                (y * 255 / h.max(1)) as u8,
                ((x + y) * 127 / (w + h).max(1)) as u8,
            ]);
        }
    }
    jpeg(&px, w, h)
}

/// A JPEG of pseudo-random noise (distinct per `seed`): hard to compress, so about 1 byte per
/// pixel at quality 90 — a 520×400 one is ~200 KB, like a phone upload after resizing.
pub fn noise_jpeg(w: u32, h: u32, seed: u64) -> Vec<u8> {
    init();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let px: Vec<u8> = (0..w * h * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    jpeg(&px, w, h)
}

/// RGB pixels encoded as a quality-90 baseline JPEG.
fn jpeg(px: &[u8], w: u32, h: u32) -> Vec<u8> {
    Image::from_pixels(px, w, h, 3)
        .unwrap()
        .save(SaveOptions::Jpeg {
            full_chroma: None,
            quality: 90,
            progressive: false,
        })
        .unwrap()
        .to_vec()
}
