//! The learned operations' costs and quality, with the models `make deps` installs: CPU per
//! foreground mask (U²-NetP) and per `crop=auto` decision, CPU per upscaled megapixel
//! (Real-ESRGAN's compact 4× network), the memory the runtime and models add, `bg-remove`'s
//! IoU against known masks on five backgrounds, and `upscale` against Lanczos on four corpus
//! photos (SSIMULACRA2, butteraugli).
//!
//! `cargo bench --bench learned` (reads `../shared/corpus`, or `REFRACT_CORPUS`; the quality
//! table needs `butteraugli_main` and `SSIMULACRA2`, as `make bench-quality` installs). Prints
//! tables; no timing assertions. `cargo test --benches` (so `make test`) runs a smoke version.

#[path = "support/cpu.rs"]
mod cpu;
#[path = "../tests/support/cutouts.rs"]
mod cutouts;
#[path = "../tests/support/images.rs"]
#[allow(dead_code)]
mod images;
#[path = "../tests/support/perceptual.rs"]
mod perceptual;

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use cpu::cpu_ns;
use refract::transform::learned::{self, UpscalePlan};
use refract::transform::models::{upscale, Models};
use refract::transform::plan::Size;
use refract::transform::vips::{self, Image, Interesting, Pages, SaveOptions, ThumbnailOptions};
use refract::transform::{faces, Limits};

fn corpus() -> PathBuf {
    std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// Bytes of a corpus file (for `cutouts`).
fn corpus_file(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"))
}

/// `VmRSS` (now) or `VmHWM` (peak) of this process, in KB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

fn limits() -> Limits {
    Limits {
        max_pixels: 100_000_000,
        max_frames: 1000,
        max_dimension: 8192,
        deadline: std::time::Duration::from_secs(60),
        inputs: refract::encoding::format::Inputs::ALL,
        json_gps: false,
    }
}

/// (wall ms, CPU ms) of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (wall, cpu) = (Instant::now(), cpu_ns());
    let out = f();
    (
        out,
        wall.elapsed().as_secs_f64() * 1e3,
        (cpu_ns() - cpu) as f64 / 1e6,
    )
}

fn png(img: &Image) -> Vec<u8> {
    img.save(SaveOptions::Png { compression: 1 })
        .unwrap()
        .to_vec()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    // As `refract` runs: one malloc arena, a fixed mmap threshold (large buffers go back).
    vips::tune_malloc();
    vips::init().unwrap();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "learned: CPU {cpu_model}, {cores} cores{}",
        if full { "" } else { " (smoke run)" }
    );
    let limits = limits();
    let idle = rss_kb();
    // One thread per inference is Refract's default on two cores (--learned-cpu 0.5).
    let models = Models::open_builtin(1).expect("make deps installs the models");
    let photos: &[&str] = if full {
        &[
            "photos/kde-ColorfulCups-2560x1600.jpg",
            "photos/mate-Elephants_3840x2160.jpg",
            "photos/skimage-astronaut.png",
            "photos/pillow-flower.jpg",
            "photos/thumbor-Giunchedi_Filippo_January_2015_01.jpg",
        ]
    } else {
        &["photos/skimage-astronaut.png"]
    };

    // Masks: the whole computation (decode with shrink-on-load, model, nothing cached).
    println!("\n| mask (U²-NetP 320², 1 thread) | original | wall ms | CPU ms |");
    println!("|---|---|---|---|");
    for (i, photo) in photos.iter().enumerate() {
        let bytes = Bytes::from(corpus_file(photo));
        let size = Image::header(&bytes)
            .map(|h| (h.width(), h.height()))
            .unwrap();
        let (_, wall, cpu) = timed(|| learned::mask_of(&models, &bytes, &limits).unwrap());
        // The first mask also loads ONNX Runtime and the session.
        let note = if i == 0 {
            " (first: loads the runtime)"
        } else {
            ""
        };
        println!(
            "| {}{note} | {}×{} | {wall:.0} | {cpu:.0} |",
            photo.rsplit('/').next().unwrap(),
            size.0,
            size.1
        );
    }
    let with_mask = rss_kb();
    // The model alone, on a fixed input (the runtime comparison: ONNX Runtime against tract).
    let side = refract::transform::models::foreground::side(&models).unwrap();
    let flat = vec![77u8; (side * side * 3) as usize];
    let runs = if full { 5 } else { 1 };
    let (_, wall, cpu) = timed(|| {
        for _ in 0..runs {
            refract::transform::models::foreground::mask(&models, &flat).unwrap();
        }
    });
    println!(
        "U²-NetP inference alone ({side}², ONNX Runtime, 1 thread): {:.0} ms wall, {:.0} ms CPU",
        wall / f64::from(runs),
        cpu / f64::from(runs)
    );

    // crop=auto: faces first (the detector at its size), then the mask's subject.
    println!("\n| crop=auto decision | faces ms | mask ms | subject |");
    println!("|---|---|---|---|");
    for photo in photos {
        let bytes = Bytes::from(corpus_file(photo));
        let (found, faces_wall, _) = timed(|| faces::detect(&bytes).unwrap());
        let (mask, mask_wall, _) = timed(|| learned::mask_of(&models, &bytes, &limits).unwrap());
        let subject = if let Some((x, y)) = faces::centre(&found) {
            format!("faces at {x:.2},{y:.2}")
        } else {
            learned::subject(&mask).map_or("none (anchors)".into(), |(x, y)| {
                format!("mask at {x:.2},{y:.2}")
            })
        };
        println!(
            "| {} | {faces_wall:.0} | {mask_wall:.0} | {subject} |",
            photo.rsplit('/').next().unwrap()
        );
    }

    // Upscale: CPU per output megapixel of the model (4×), at two input sizes.
    let k = upscale::factor(&models).unwrap();
    println!("\n| upscale ({k}×, 1 thread) | input | output MP | wall ms | CPU ms | CPU ms per output MP |");
    println!("|---|---|---|---|---|---|");
    let sides: &[u32] = if full { &[128, 256, 384] } else { &[48] };
    let cups = Bytes::from(corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"));
    for &side in sides {
        let small = Image::thumbnail(
            &cups,
            ThumbnailOptions {
                width: side,
                height: side,
                crop: Some(Interesting::Attention),
                no_rotate: false,
                pages: Pages::First,
                to_srgb: false,
            },
        )
        .unwrap();
        let rgb = small.pixels().unwrap();
        let (_, wall, cpu) = timed(|| upscale::upscale(&models, &rgb, side, side).unwrap());
        let mp = f64::from(side * k).powi(2) / 1e6;
        println!(
            "| Real-ESRGAN animevideov3 | {side}² | {mp:.2} | {wall:.0} | {cpu:.0} | {:.0} |",
            cpu / mp
        );
    }
    let with_both = rss_kb();
    println!(
        "\nRSS: {} MB idle (libvips), +{} MB after the first mask (ONNX Runtime + U²-NetP), \
         +{} MB after the upscales too; peak +{} MB",
        idle / 1024,
        with_mask.saturating_sub(idle) / 1024,
        with_both.saturating_sub(idle) / 1024,
        status_kb("VmHWM:").saturating_sub(idle) / 1024
    );
    let plan = learned::upscale_plan(
        &refract::transform::load::inspect(&cups, &limits).unwrap(),
        &refract::request::Params::default(),
        8192,
        refract::render::learned::UPSCALE_MAX_PIXELS,
        refract::render::learned::UPSCALE_MAX_INPUT,
    );
    println!("upscale=true, no size, on the 4.1 MP cups photo: {plan:?}");
    assert!(
        matches!(plan, UpscalePlan::Refused(_)),
        "2× would be 16.4 MP"
    );
    let astronaut = Bytes::from(corpus_file("photos/skimage-astronaut.png"));
    let plan = learned::upscale_plan(
        &refract::transform::load::inspect(&astronaut, &limits).unwrap(),
        &refract::request::Params::default(),
        8192,
        refract::render::learned::UPSCALE_MAX_PIXELS,
        refract::render::learned::UPSCALE_MAX_INPUT,
    );
    println!("upscale=true, no size, on the 512² astronaut: {plan:?}");
    assert!(matches!(plan, UpscalePlan::Upscale { factor: 4, .. }));

    if !full {
        return;
    }

    // bg-remove: IoU against the known mask, per background.
    println!("\n| bg-remove background | IoU | mask ms |");
    println!("|---|---|---|");
    for kind in [
        cutouts::Background::Plain,
        cutouts::Background::Gradient,
        cutouts::Background::Textured,
        cutouts::Background::Photo("photos/kde-Path-2560x1600.jpg"),
        cutouts::Background::Photo("photos/kde-FallenLeaf-2560x1600.jpg"),
    ] {
        let (jpeg, truth) = cutouts::composite(kind);
        let bytes = Bytes::from(jpeg);
        let (mask, wall, _) = timed(|| learned::mask_of(&models, &bytes, &limits).unwrap());
        // The mask as the pipeline applies it: scaled to the image, as its alpha.
        let image = Image::header(&bytes).unwrap();
        let cut = learned::remove_background(image, &mask, None).unwrap();
        let score = cutouts::iou(&png(&cut), &truth);
        println!("| {kind:?} | {score:.3} | {wall:.0} |");
    }

    // upscale against Lanczos: a 4× downscale of a window of each photo served back.
    perceptual::require_tools();
    let dir = tempfile::tempdir().unwrap();
    println!("\n| upscale 128² → 512² | SSIMULACRA2 learned / Lanczos | butteraugli 3-norm learned / Lanczos |");
    println!("|---|---|---|");
    for photo in [
        "photos/kde-ColorfulCups-2560x1600.jpg",
        "photos/mate-Elephants_3840x2160.jpg",
        "photos/kde-Path-2560x1600.jpg",
        "photos/kde-FallenLeaf-2560x1600.jpg",
    ] {
        let bytes = corpus_file(photo);
        let reference = Image::thumbnail(
            &bytes,
            ThumbnailOptions {
                width: 512,
                height: 512,
                crop: Some(Interesting::Attention),
                no_rotate: false,
                pages: Pages::First,
                to_srgb: false,
            },
        )
        .unwrap();
        let small = reference.thumbnail_image(128, 128).unwrap();
        let small_png = Bytes::from(png(&small));
        let (up, _, _) =
            learned::upscale_of(&models, &small_png, 4, Size::new(128, 128), &limits).unwrap();
        let learned_img = Image::header(&up).unwrap();
        let lanczos = small.thumbnail_image(512, 512).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let r = write("r.png", &png(&reference));
        let l = write("l.png", &png(&learned_img));
        let z = write("z.png", &png(&lanczos));
        println!(
            "| {} | {:.1} / {:.1} | {:.2} / {:.2} |",
            photo.rsplit('/').next().unwrap(),
            perceptual::ssimulacra2(&r, &l),
            perceptual::ssimulacra2(&r, &z),
            perceptual::butteraugli(&r, &l).1,
            perceptual::butteraugli(&r, &z).1
        );
    }
}
