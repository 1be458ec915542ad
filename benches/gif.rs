//! GIF encoder settings against WebP, over every animation in the corpus: time, bytes and
//! distance, for choosing `GIF_EFFORT` and `GIF_DITHER_TENTHS` (src/transform/encode.rs).
//!
//! Run: `cargo bench --bench gif` (needs the corpus: `../shared/corpus`, or `REFRACT_CORPUS`).
//! `cargo test --benches` runs a smoke version (two animations, two settings).
//!
//! Each animation is scaled to fit 160×160 with every frame (what `?w=160&h=160&fm=gif` does),
//! held in memory, then encoded: as WebP at Refract's defaults (the reference time), and as GIF
//! at each candidate setting. Times are the fastest of three encodes (one thread, as in the
//! server). Distance: the GIF decoded back, against the frames it was made from — the mean
//! absolute difference per colour channel over every pixel of every frame (0–255), and the share
//! of pixels off by more than 16 levels in some channel (banding and dither noise show there).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use refract::encoding::format::Format;
use refract::transform::encode::{
    default_quality, GIF_DITHER_TENTHS, GIF_EFFORT, GIF_PALETTE_ERROR, WEBP_EFFORT,
};
use refract::transform::vips::{self, Image, Pages, SaveOptions, ThumbnailOptions};

/// The box every animation is scaled into.
const SIZE: u32 = 160;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let corpus = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let dir = corpus.join("animated");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus not found at {} ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    vips::init().expect("libvips starts");
    // Candidates: (effort, dither in tenths, palette error). The first is libvips's default.
    let mut candidates = vec![
        (7, 10, 3),
        (4, 0, 3),
        (1, 10, 3),
        (1, 0, 3),
        (1, 0, 8),
        (1, 0, 24),
    ];
    let chosen = (GIF_EFFORT, GIF_DITHER_TENTHS, GIF_PALETTE_ERROR);
    if !candidates.contains(&chosen) {
        candidates.push(chosen);
    }
    if !full {
        files.truncate(2);
        candidates.truncate(2);
    }
    println!("GIF at {SIZE} px against WebP (q{}, effort {WEBP_EFFORT}); time = fastest of three encodes.\n", default_quality(Format::Webp));
    println!("| animation | frames | WebP ms | setting (effort, dither, palette error) | GIF ms | × WebP | bytes | mean diff | pixels off > 16 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // Per candidate: worst time ratio, total bytes, summed distances and how many were compared.
    let mut summary: Vec<(f64, usize, f64, f64, u32)> =
        vec![(0.0, 0, 0.0, 0.0, 0); candidates.len()];
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let options = ThumbnailOptions {
            width: SIZE,
            height: SIZE,
            crop: None,
            no_rotate: false,
            pages: Pages::All,
            to_srgb: false,
        };
        let Ok(frames) = Image::thumbnail(&bytes, options).and_then(|i| i.materialize()) else {
            continue; // not an animation libvips opens (the corpus README says which)
        };
        let pages = frames.pages().max(1);
        if pages < 2 {
            continue;
        }
        let reference = frames.to_uchar().unwrap().pixels().unwrap();
        let webp = fastest(|| {
            frames
                .save(SaveOptions::Webp {
                    quality: default_quality(Format::Webp),
                    effort: WEBP_EFFORT,
                    lossless: false,
                })
                .unwrap();
        });
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, &(effort, dither_tenths, palette_error)) in candidates.iter().enumerate() {
            let setting = SaveOptions::Gif {
                effort,
                dither_tenths,
                palette_error,
            };
            let gif = frames.save(setting).unwrap();
            let took = fastest(|| {
                frames.save(setting).unwrap();
            });
            let measured = distance(&gif, &frames, &reference);
            let ratio = took.as_secs_f64() / webp.as_secs_f64();
            let (mean, off) = measured.map_or(("–".into(), "–".into()), |(m, o)| {
                (format!("{m:.2}"), format!("{:.2}%", o * 100.0))
            });
            println!(
                "| {name} | {pages} | {:.1} | {effort}, {:.1}, {palette_error} | {:.1} | {ratio:.2} | {} | {mean} | {off} |",
                ms(webp),
                f64::from(dither_tenths) / 10.0,
                ms(took),
                gif.len(),
            );
            let s = &mut summary[i];
            s.0 = s.0.max(ratio);
            s.1 += gif.len();
            if let Some((m, o)) = measured {
                s.2 += m;
                s.3 += o;
                s.4 += 1;
            }
        }
    }
    println!("\n| setting (effort, dither, palette error) | worst × WebP time | total bytes | mean diff (avg) | pixels off > 16 (avg) |");
    println!("|---|---|---|---|---|");
    for (&(effort, dither, palette_error), (worst, bytes, mean, off, compared)) in
        candidates.iter().zip(&summary)
    {
        let n = f64::from((*compared).max(1));
        println!(
            "| {effort}, {:.1}, {palette_error} | {worst:.2} | {bytes} | {:.2} | {:.2}% |",
            f64::from(dither) / 10.0,
            mean / n,
            off / n * 100.0
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The fastest of three runs of `work`.
fn fastest(mut work: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .min()
        .unwrap()
}

/// Mean absolute difference per colour channel, and the share of pixels off by more than 16 in
/// some channel, between a GIF and the frames it encodes (`reference`: their 8-bit pixels).
fn distance(gif: &[u8], frames: &Image<'_>, reference: &[u8]) -> Option<(f64, f64)> {
    let options = ThumbnailOptions {
        width: frames.width(),
        // The box is one frame's: every frame is scaled to fit it.
        height: frames.height() / frames.pages().max(1),
        crop: None,
        no_rotate: true,
        pages: Pages::All,
        to_srgb: false,
    };
    let decoded = Image::thumbnail(gif, options).unwrap();
    if (decoded.width(), decoded.height()) != (frames.width(), frames.height()) {
        // The encoder merged identical neighbouring frames: no frame-by-frame comparison.
        return None;
    }
    let back = decoded.pixels().unwrap();
    let (a, b) = (frames.bands() as usize, decoded.bands() as usize);
    let colours = a.min(b).min(3);
    let (mut sum, mut off, mut n) = (0u64, 0u64, 0u64);
    for (p, q) in reference.chunks_exact(a).zip(back.chunks_exact(b)) {
        // GIF transparency is all or nothing: compare the colour of opaque pixels only.
        if a == 4 && p[3] < 255 {
            continue;
        }
        let worst = (0..colours).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0);
        sum += (0..colours)
            .map(|c| u64::from(p[c].abs_diff(q[c])))
            .sum::<u64>();
        off += u64::from(worst > 16);
        n += 1;
    }
    let n = n.max(1);
    Some((
        sum as f64 / (n * colours as u64) as f64,
        off as f64 / n as f64,
    ))
}
