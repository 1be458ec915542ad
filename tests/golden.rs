//! Golden outputs: every photo in `../shared/corpus/photos` and `color/` rendered with two
//! recipes, compared with a reference stored in `tests/golden/` by perceptual distance (CIE76
//! ΔE in Lab: mean and 99th percentile), never byte equality — libvips versions and encoders may
//! move pixels a little without anyone seeing it. References are small (96 px, lossless WebP).
//!
//! Regenerate after an intended change: `REFRACT_GOLDEN=regenerate cargo test golden` (or
//! `make golden`), then look at the diff of `tests/golden/` before committing it.

use std::path::{Path, PathBuf};

use refract::transform::vips::{self, Image, SaveOptions};

use crate::support::images::pixels;
use crate::support::{corpus, TestServer};

/// What each original is put through.
const RECIPES: [(&str, &str); 2] = [
    // Colour management (CMYK, wide gamut, 16-bit, profiles) and a centre crop.
    ("crop", "w=96&h=96&fit=crop&fm=png"),
    // Filters and mirroring.
    ("filters", "w=96&sat=40&con=15&sharp=20&flip=h&fm=png"),
];

/// Largest mean ΔE allowed (about the threshold of a visible difference side by side).
const MAX_MEAN_DELTA_E: f64 = 1.5;
/// Largest 99th-percentile ΔE allowed (a few pixels may move more, at edges).
const MAX_P99_DELTA_E: f64 = 12.0;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn regenerate() -> bool {
    std::env::var("REFRACT_GOLDEN").is_ok_and(|v| v == "regenerate")
}

/// sRGB (8-bit) to CIE Lab (D65).
fn lab(rgb: &[u8]) -> [f64; 3] {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// (mean, 99th percentile) ΔE between two images of the same size, or `None` if sizes differ.
fn distance(a: &[u8], b: &[u8]) -> Option<(f64, f64)> {
    let (pa, wa, ha, ba) = pixels(a);
    let (pb, wb, hb, bb) = pixels(b);
    if (wa, ha) != (wb, hb) {
        return None;
    }
    let rgb = |px: &[u8], bands: u32, i: usize| -> [u8; 3] {
        let p = &px[i * bands as usize..];
        if bands >= 3 {
            [p[0], p[1], p[2]]
        } else {
            [p[0], p[0], p[0]]
        }
    };
    let mut deltas: Vec<f64> = (0..(wa * ha) as usize)
        .map(|i| {
            let (x, y) = (lab(&rgb(&pa, ba, i)), lab(&rgb(&pb, bb, i)));
            ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt()
        })
        .collect();
    deltas.sort_by(f64::total_cmp);
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let p99 = deltas[(deltas.len() * 99 / 100).min(deltas.len() - 1)];
    Some((mean, p99))
}

#[tokio::test]
async fn outputs_match_their_golden_references() {
    vips::init().unwrap();
    let regenerate = regenerate();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in ["photos", "color"] {
        let root = corpus().join(dir);
        // Direct renders only: the references pin the decode-and-resize path itself. Renders
        // scaled from decode-once masters are checked against the ideal in tests/masters.rs.
        let s = TestServer::start_at(&root, |c| {
            c.max_pixels = 100_000_000;
            c.master_cache_size = 0;
        })
        .await;
        let mut files: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no files in {}", root.display());
        let out_dir = golden_dir().join(dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        for file in &files {
            for (name, query) in RECIPES {
                let stem = format!("{file}.{name}");
                let reference = out_dir.join(format!("{stem}.webp"));
                let status_file = out_dir.join(format!("{stem}.status"));
                let r = s.get(&format!("/{file}?{query}")).await;
                let status = r.status().as_u16();
                let body = r.bytes().await.unwrap();
                if regenerate {
                    let _ = std::fs::remove_file(&reference);
                    let _ = std::fs::remove_file(&status_file);
                    if status == 200 {
                        // Stored losslessly as WebP: a third of the PNG's size.
                        let img = Image::header(&body).unwrap();
                        let webp = img
                            .save(SaveOptions::Webp {
                                quality: 100,
                                effort: 6,
                                lossless: true,
                            })
                            .unwrap();
                        std::fs::write(&reference, webp).unwrap();
                    } else {
                        std::fs::write(&status_file, format!("{status}\n")).unwrap();
                    }
                    continue;
                }
                checked += 1;
                if status != 200 {
                    let expected = std::fs::read_to_string(&status_file).unwrap_or_default();
                    if expected.trim() != status.to_string() {
                        failures.push(format!(
                            "{dir}/{stem}: status {status}, expected {}",
                            expected.trim()
                        ));
                    }
                    continue;
                }
                let Ok(golden) = std::fs::read(&reference) else {
                    failures.push(format!(
                        "{dir}/{stem}: no reference (REFRACT_GOLDEN=regenerate to create it)"
                    ));
                    continue;
                };
                match distance(&body, &golden) {
                    None => failures.push(format!("{dir}/{stem}: size differs from the reference")),
                    Some((mean, p99)) if mean > MAX_MEAN_DELTA_E || p99 > MAX_P99_DELTA_E => {
                        failures.push(format!(
                            "{dir}/{stem}: ΔE mean {mean:.2} (max {MAX_MEAN_DELTA_E}), p99 {p99:.1} (max {MAX_P99_DELTA_E})"
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        s.stop().await;
    }
    if !regenerate {
        assert!(checked >= 60, "only {checked} outputs checked");
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_distance_sees_a_visible_change_and_ignores_an_invisible_one() {
    vips::init().unwrap();
    let image = |shift: u8| {
        let px: Vec<u8> = (0..64u32 * 64)
            .flat_map(|i| {
                [
                    (i % 64 * 4) as u8,
                    (i / 64 * 4) as u8,
                    128u8.saturating_add(shift),
                ]
            })
            .collect();
        Image::from_pixels(&px, 64, 64, 3)
            .unwrap()
            .save(SaveOptions::Png { compression: 6 })
            .unwrap()
            .to_vec()
    };
    let (mean, _) = distance(&image(0), &image(1)).unwrap();
    assert!(mean < MAX_MEAN_DELTA_E, "one level of blue: {mean}");
    let (mean, _) = distance(&image(0), &image(40)).unwrap();
    assert!(
        mean > MAX_MEAN_DELTA_E * 3.0,
        "forty levels of blue: {mean}"
    );
}
