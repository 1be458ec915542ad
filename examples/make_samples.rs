//! Regenerates the sample originals in `examples/images/` that `make run` serves.
//!
//! Run: `cargo run --release --example make_samples`
//!
//! The pictures are drawn procedurally (no third-party images in the repository): a landscape
//! photo-like JPEG, a portrait JPEG, and a PNG logo with transparency.

use std::f64::consts::PI;
use std::path::Path;

use refract::transform::vips::{self, Image, SaveOptions};

fn main() {
    vips::init().expect("libvips starts");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    std::fs::create_dir_all(&dir).unwrap();

    let jpeg = SaveOptions::Jpeg {
        full_chroma: None,
        quality: 88,
        progressive: false,
    };
    save(
        &dir.join("landscape.jpg"),
        &landscape(1600, 1000),
        1600,
        1000,
        3,
        jpeg,
    );
    save(
        &dir.join("portrait.jpg"),
        &landscape(900, 1400),
        900,
        1400,
        3,
        jpeg,
    );
    save(
        &dir.join("logo.png"),
        &logo(600),
        600,
        600,
        4,
        SaveOptions::Png { compression: 9 },
    );
}

fn save(path: &Path, pixels: &[u8], w: u32, h: u32, bands: u32, opts: SaveOptions) {
    let bytes = Image::from_pixels(pixels, w, h, bands)
        .and_then(|img| img.save(opts))
        .expect("encode");
    std::fs::write(path, &bytes).unwrap();
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
}

/// A sunset over layered hills, with a little grain so it compresses like a photo.
fn landscape(w: u32, h: u32) -> Vec<u8> {
    let (fw, fh) = (f64::from(w), f64::from(h));
    let sun = (fw * 0.68, fh * 0.42, fh.min(fw) * 0.09);
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    let mut seed = 0x2545_f491_u32;
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (f64::from(x), f64::from(y));
            let t = fy / fh;
            // Sky: deep blue at the top, orange at the horizon.
            let mut c = [
                lerp(18.0, 250.0, t * 1.4),
                lerp(32.0, 150.0, t * 1.3),
                lerp(92.0, 90.0, t),
            ];
            let d = ((fx - sun.0).powi(2) + (fy - sun.1).powi(2)).sqrt();
            let glow = (1.0 - d / (sun.2 * 4.0)).max(0.0).powi(2);
            c = mix(c, [255.0, 214.0, 140.0], glow * 0.8);
            if d < sun.2 {
                c = [255.0, 236.0, 190.0];
            }
            // Three ranges of hills, nearer ones darker.
            for (i, (height, amp, freq, tint)) in [
                (0.55, 0.06, 2.3, [92.0, 70.0, 110.0]),
                (0.68, 0.05, 3.7, [52.0, 64.0, 70.0]),
                (0.80, 0.04, 5.1, [24.0, 40.0, 32.0]),
            ]
            .into_iter()
            .enumerate()
            {
                let ridge = fh
                    * (height
                        + amp * (fx / fw * freq * PI + i as f64).sin()
                        + amp * 0.4 * (fx / fw * freq * 3.1 * PI).sin());
                if fy > ridge {
                    c = mix(tint, c, ((fy - ridge) / fh * 0.6).min(0.3));
                }
            }
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let grain = f64::from(seed % 9) - 4.0;
            px.extend(c.map(|v| (v + grain).clamp(0.0, 255.0) as u8));
        }
    }
    px
}

/// Concentric rings on a transparent background.
fn logo(size: u32) -> Vec<u8> {
    let c = f64::from(size) / 2.0;
    let mut px = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let d = ((f64::from(x) - c).powi(2) + (f64::from(y) - c).powi(2)).sqrt() / c;
            let ring = (d * 5.0).fract();
            let inside = d < 0.95 && ring > 0.25;
            let hue = d * 2.0 * PI;
            let rgb = [
                127.0 + 127.0 * hue.cos(),
                127.0 + 127.0 * (hue + 2.1).cos(),
                127.0 + 127.0 * (hue + 4.2).cos(),
            ];
            let edge = ((0.95 - d) * f64::from(size)).clamp(0.0, 1.0);
            let alpha = if inside { 255.0 * edge } else { 0.0 };
            px.extend(rgb.map(|v| v as u8));
            px.push(alpha as u8);
        }
    }
    px
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t.clamp(0.0, 1.0)
}

fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    [
        lerp(a[0], b[0], t),
        lerp(a[1], b[1], t),
        lerp(a[2], b[2], t),
    ]
}
