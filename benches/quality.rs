//! Quality benchmark: bytes, CPU and perceptual distance of each output format, over the photos
//! of the corpus, for choosing encoder defaults from measurements.
//!
//! Run: `make bench-quality` (or `cargo bench --bench quality`). Needs the corpus
//! (`../shared/corpus`, or `REFRACT_CORPUS`) and `butteraugli_main` from Debian's
//! `libjxl-devtools` (libjxl's butteraugli; the Makefile installs it). The metric runs as a
//! separate program on PNG files: nothing of it is linked into Refract.
//!
//! For every photo, the **reference** is Refract's own lossless render (`fm=png`) at the width;
//! each candidate is compared with it by butteraugli (3-norm, the mean-like distance libjxl's
//! benchmarks report, and the max, the worst spot). Distances near 1 are at the threshold of
//! visibility; below ~0.6 nobody sees a difference at arm's length.
//!
//! Tables (markdown on stdout, for BENCHMARKS.md):
//! 1. **Defaults** — each format at Refract's defaults and compressed (`auto=compress`; for WebP
//!    and AVIF `auto=format,compress` from a browser that takes them), through the
//!    whole pipeline (`App::render`, cache off) at 320, 640 and 1280 px: bytes against JPEG q80,
//!    distance, CPU per request. `fm=auto` for a browser that takes AVIF is the AVIF row.
//! 2. **Effort** — AVIF and WebP encoder effort at the default quality, encoding the 640-px
//!    reference pixels: encode CPU against WebP's, bytes, distance.
//! 3. **Quality ladders** at 640 px, at the chosen efforts: how bytes and distance trade; and
//!    AVIF at efforts 2–4 and lower qualities, where its bytes would reach 0.6× JPEG q80's.
//!
//! `cargo test --benches` runs a smoke version (one photo, 320 px, the defaults table).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use refract::request::{AcceptClass, ImageRequest, ParamLimits};
use refract::transform::encode::{default_quality, Tier, AVIF_EFFORT, WEBP_EFFORT};
use refract::transform::vips::{Image, SaveOptions};
use refract::{encoding::format::Format, App, Config};

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_ns;

// The perceptual metrics, shared with the tests that assert distances.
#[path = "../tests/support/perceptual.rs"]
mod perceptual;

const WIDTHS: [u32; 3] = [320, 640, 1280];
const SWEEP_WIDTH: u32 = 640;

/// One measured output: which width and candidate, and what it cost.
struct Sample {
    width: u32,
    candidate: String,
    bytes: usize,
    cpu_ns: u64,
    /// The decoded output as PNG, for the metric.
    png: PathBuf,
    /// The reference render as PNG.
    reference: PathBuf,
    /// Filled in by [`measure`].
    distance: Option<Distance>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let corpus = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let photos_dir = corpus.join("photos");
    let mut photos: Vec<String> = std::fs::read_dir(&photos_dir)
        .unwrap_or_else(|e| panic!("corpus not found at {} ({e})", photos_dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jpg") || n.ends_with(".png"))
        .collect();
    photos.sort();
    assert!(!photos.is_empty(), "no photos in {}", photos_dir.display());
    perceptual::require_tools();

    let widths: &[u32] = if full { &WIDTHS } else { &WIDTHS[..1] };
    if !full {
        photos.truncate(1);
    }
    let work = tempfile::tempdir().unwrap();
    let mut config = Config::for_root(photos_dir.clone());
    config.cache_size = 0;
    config.max_concurrency = 1;
    // Every render straight from its original; `mastered` keeps decode-once masters.
    let mut direct = config.clone();
    direct.master_cache_size = 0;
    let app = App::new(direct).unwrap();
    let mastered = App::new(config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let render_tier = |app: &App, photo: &str, query: &str, accept: AcceptClass, tier: Tier| {
        let request = ImageRequest::parse(
            &format!("/{photo}"),
            Some(query),
            ParamLimits {
                max_dimension: 8192,
                strict: false,
            },
        )
        .unwrap();
        let start = cpu_ns();
        let (rendered, ..) = rt
            .block_on(app.renderer().render_with(&request, accept, tier))
            .unwrap();
        (rendered, cpu_ns() - start)
    };
    let render_with = |app: &App, photo: &str, query: &str, accept: AcceptClass| {
        render_tier(app, photo, query, accept, Tier::Standard)
    };
    let render =
        |photo: &str, query: &str, accept: AcceptClass| render_with(&app, photo, query, accept);

    // 1. Defaults through the whole pipeline.
    // The standard settings, and with `--refine` the first render and the refined one.
    // auto=compress serves JPEG for a still whatever fm says (imgix's precedence, issue 27): the
    // compressed WebP and AVIF come from auto=format,compress for a browser that takes them.
    let (chrome, safari) = (AcceptClass::Avif, AcceptClass::Webp);
    let rows = [
        ("JPEG q80 (fm=jpg)", "fm=jpg", Tier::Standard, chrome),
        (
            "JPEG, auto=compress",
            "auto=compress",
            Tier::Standard,
            chrome,
        ),
        ("WebP (fm=webp)", "fm=webp", Tier::Standard, chrome),
        (
            "WebP, auto=format,compress",
            "auto=format,compress",
            Tier::Standard,
            safari,
        ),
        (
            "AVIF (fm=avif; fm=auto for Chrome)",
            "fm=avif",
            Tier::Standard,
            chrome,
        ),
        (
            "AVIF, auto=format,compress",
            "auto=format,compress",
            Tier::Standard,
            chrome,
        ),
        (
            "WebP, --refine first render",
            "fm=webp",
            Tier::First,
            chrome,
        ),
        ("WebP, --refine refined", "fm=webp", Tier::Refined, chrome),
        (
            "AVIF, --refine first render",
            "fm=avif",
            Tier::First,
            chrome,
        ),
        ("AVIF, --refine refined", "fm=avif", Tier::Refined, chrome),
    ];
    let mut samples = Vec::new();
    let mut masters = Vec::new();
    let mut sweep_refs = Vec::new();
    for photo in &photos {
        // The first render of an original is cold, the second builds its master.
        for _ in 0..2 {
            render_with(&mastered, photo, "w=64&fm=png", AcceptClass::Legacy);
        }
        for &width in widths {
            let (reference, _) = render(photo, &format!("w={width}&fm=png"), AcceptClass::Legacy);
            if reference.size.width < width {
                continue; // smaller than asked: not a downscale any more
            }
            let ref_png = work.path().join(format!("{photo}-{width}-ref.png"));
            std::fs::write(&ref_png, &reference.body).unwrap();
            for (label, query, tier, accept) in rows {
                let query = format!("w={width}&{query}");
                let (out, cpu) = render_tier(&app, photo, &query, accept, tier);
                samples.push(sample(
                    work.path(),
                    photo,
                    width,
                    label,
                    &out.body,
                    cpu,
                    &ref_png,
                ));
            }
            if width == SWEEP_WIDTH {
                sweep_refs.push((photo.clone(), ref_png.clone()));
            }
            // The same lossless render scaled from the photo's decode-once master, against the
            // direct one: the master's quality guard, measured.
            let query = format!("w={width}&fm=png");
            let (out, _) = render_with(&mastered, photo, &query, AcceptClass::Legacy);
            let label = "lossless render scaled from the master";
            masters.push(sample(
                work.path(),
                photo,
                width,
                label,
                &out.body,
                0,
                &ref_png,
            ));
        }
    }

    // 2 and 3. Encoder sweeps on the reference pixels.
    let mut sweep = Vec::new();
    if full {
        let q_avif = default_quality(Format::Avif);
        let q_webp = default_quality(Format::Webp);
        let mut candidates: Vec<(String, SaveOptions)> = Vec::new();
        for effort in 0..=4 {
            candidates.push((
                format!("AVIF q{q_avif} effort {effort}"),
                avif(q_avif, effort),
            ));
        }
        for effort in [0, 2, 4, 6] {
            candidates.push((
                format!("WebP q{q_webp} effort {effort}"),
                webp(q_webp, effort),
            ));
        }
        for q in [50, 55, 60, 62, 64, 66, 68, 70, 75] {
            candidates.push((
                format!("AVIF q{q} effort {AVIF_EFFORT}"),
                avif(q, AVIF_EFFORT),
            ));
        }
        // Dearer efforts at lower quality: where AVIF would reach 0.6x JPEG q80's bytes at
        // JPEG's distance, and at what CPU.
        for (effort, q) in [
            (2, 62),
            (2, 64),
            (3, 60),
            (3, 62),
            (3, 64),
            (4, 60),
            (4, 62),
        ] {
            candidates.push((format!("AVIF q{q} effort {effort}"), avif(q, effort)));
        }
        for q in [60, 70, 75, 80, 90] {
            candidates.push((
                format!("WebP q{q} effort {WEBP_EFFORT}"),
                webp(q, WEBP_EFFORT),
            ));
        }
        for q in [60, 70, 80, 90] {
            let opts = SaveOptions::Jpeg {
                full_chroma: None,
                quality: q,
                progressive: false,
            };
            candidates.push((format!("JPEG q{q}"), opts));
        }
        // The ladders repeat the sweeps' default points: measure each encoder once.
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|(label, _)| seen.insert(label.clone()));
        for (photo, ref_png) in &sweep_refs {
            let bytes = std::fs::read(ref_png).unwrap();
            let pixels = Image::load_random(&bytes).unwrap().materialize().unwrap();
            for (label, opts) in &candidates {
                let start = cpu_ns();
                let out = pixels.save(*opts).unwrap();
                let cpu = cpu_ns() - start;
                sweep.push(sample(
                    work.path(),
                    photo,
                    SWEEP_WIDTH,
                    label,
                    &out,
                    cpu,
                    ref_png,
                ));
            }
        }
    }

    eprintln!(
        "quality: {} renders; running butteraugli on each",
        samples.len() + masters.len() + sweep.len()
    );
    measure(&mut samples);
    measure(&mut masters);
    measure(&mut sweep);

    println!(
        "Photos: {} from {}; widths {:?}; libvips {}.",
        photos.len(),
        photos_dir.display(),
        widths,
        refract::transform::vips::init()
            .map(|v| v.to_string())
            .unwrap_or_default()
    );
    println!();
    println!("### Defaults, whole pipeline (App::render, cache off)");
    println!();
    println!("| output | bytes vs JPEG q80 | butteraugli 3-norm | butteraugli max | SSIMULACRA2 | CPU ms/request |");
    println!("|---|---|---|---|---|---|");
    let table = summarise(&samples);
    let jpeg = table[rows[0].0].bytes;
    for (label, ..) in rows {
        let row = &table[label];
        println!(
            "| {label} | {:.2}× | {:.3} | {:.2} | {:.1} | {:.1} |",
            row.bytes / jpeg,
            row.norm3,
            row.max,
            row.ss2,
            row.cpu_ms
        );
    }
    println!();
    println!("Per width (bytes vs JPEG q80 at that width / butteraugli 3-norm / SSIMULACRA2):");
    println!();
    print!("| output |");
    for w in widths {
        print!(" {w} px |");
    }
    println!();
    println!("|---|{}", "---|".repeat(widths.len()));
    for (label, ..) in rows {
        print!("| {label} |");
        for &w in widths {
            let at: Vec<&Sample> = samples.iter().filter(|s| s.width == w).collect();
            let t = summarise_refs(&at);
            let (row, jpeg) = (&t[label], t[rows[0].0].bytes);
            print!(
                " {:.2}× / {:.3} / {:.1} |",
                row.bytes / jpeg,
                row.norm3,
                row.ss2
            );
        }
        println!();
    }
    println!();
    println!(
        "### Decode-once masters: a lossless render scaled from the master against the direct one"
    );
    println!();
    let worst = |f: fn(&Distance) -> f64, max: bool| {
        let values = masters.iter().map(|s| f(s.distance.as_ref().unwrap()));
        if max {
            values.fold(f64::MIN, f64::max)
        } else {
            values.fold(f64::MAX, f64::min)
        }
    };
    let mean = |f: fn(&Distance) -> f64| {
        masters
            .iter()
            .map(|s| f(s.distance.as_ref().unwrap()))
            .sum::<f64>()
            / masters.len().max(1) as f64
    };
    println!("| renders | butteraugli 3-norm mean / worst | butteraugli max mean / worst | SSIMULACRA2 mean / worst |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {:.3} / {:.3} | {:.2} / {:.2} | {:.1} / {:.1} |",
        masters.len(),
        mean(|d| d.norm3),
        worst(|d| d.norm3, true),
        mean(|d| d.max),
        worst(|d| d.max, true),
        mean(|d| d.ss2),
        worst(|d| d.ss2, false)
    );
    if full {
        println!();
        println!("### Encoders at {SWEEP_WIDTH} px on the reference pixels (encode only)");
        println!();
        println!("| encoder | encode CPU vs WebP default | bytes vs JPEG q80 | butteraugli 3-norm | max | SSIMULACRA2 | encode ms |");
        println!("|---|---|---|---|---|---|---|");
        let table = summarise(&sweep);
        let webp_cpu = table[&format!(
            "WebP q{} effort {WEBP_EFFORT}",
            default_quality(Format::Webp)
        )]
            .cpu_ms;
        let jpeg = table["JPEG q80"].bytes;
        let mut labels: Vec<&String> = table.keys().collect();
        labels.sort_by_key(|l| (l.split(' ').next().unwrap().to_owned(), table[*l].order));
        for label in labels {
            let row = &table[label];
            println!(
                "| {label} | {:.2}× | {:.2}× | {:.3} | {:.2} | {:.1} | {:.1} |",
                row.cpu_ms / webp_cpu,
                row.bytes / jpeg,
                row.norm3,
                row.max,
                row.ss2,
                row.cpu_ms
            );
        }
    }
}

fn avif(quality: u8, effort: u8) -> SaveOptions {
    SaveOptions::Avif {
        full_chroma: None,
        quality,
        effort,
        lossless: false,
    }
}

fn webp(quality: u8, effort: u8) -> SaveOptions {
    SaveOptions::Webp {
        quality,
        effort,
        lossless: false,
    }
}

/// Decode `body` to PNG next to the reference and record it.
fn sample(
    dir: &Path,
    photo: &str,
    width: u32,
    candidate: &str,
    body: &[u8],
    cpu_ns: u64,
    reference: &Path,
) -> Sample {
    let png = dir.join(format!(
        "{photo}-{width}-{}.png",
        candidate.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let decoded = Image::load_random(body).unwrap();
    std::fs::write(
        &png,
        decoded.save(SaveOptions::Png { compression: 1 }).unwrap(),
    )
    .unwrap();
    Sample {
        width,
        candidate: candidate.to_owned(),
        bytes: body.len(),
        cpu_ns,
        png,
        reference: reference.to_owned(),
        distance: None,
    }
}

/// Run butteraugli on every sample, as many at a time as there are cores.
fn measure(samples: &mut [Sample]) {
    let queue = Mutex::new(samples.iter_mut().collect::<Vec<_>>());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let Some(sample) = queue.lock().unwrap().pop() else {
                    return;
                };
                sample.distance = Some(distance(&sample.reference, &sample.png));
            });
        }
    });
}

/// Perceptual distance of a decoded output from its reference.
struct Distance {
    /// Butteraugli's max: the worst spot (1.0 ≈ just noticeable).
    max: f64,
    /// Butteraugli's 3-norm: the whole image.
    norm3: f64,
    /// SSIMULACRA2 score: 100 identical, 90 visually lossless, 70 high quality, 50 medium.
    ss2: f64,
}

fn distance(reference: &Path, distorted: &Path) -> Distance {
    let (max, norm3) = perceptual::butteraugli(reference, distorted);
    Distance {
        max,
        norm3,
        ss2: perceptual::ssimulacra2(reference, distorted),
    }
}

struct Row {
    /// Mean bytes (compared as ratios).
    bytes: f64,
    norm3: f64,
    max: f64,
    ss2: f64,
    cpu_ms: f64,
    /// First appearance, for a stable order.
    order: usize,
}

fn summarise(samples: &[Sample]) -> BTreeMap<String, Row> {
    summarise_refs(&samples.iter().collect::<Vec<_>>())
}

/// Per candidate: mean bytes, distances and CPU over the samples.
fn summarise_refs(samples: &[&Sample]) -> BTreeMap<String, Row> {
    let mut sums: BTreeMap<String, (Row, usize)> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let d = s.distance.as_ref().expect("measured");
        let (row, n) = sums.entry(s.candidate.clone()).or_insert((
            Row {
                bytes: 0.0,
                norm3: 0.0,
                max: 0.0,
                ss2: 0.0,
                cpu_ms: 0.0,
                order: i,
            },
            0,
        ));
        row.bytes += s.bytes as f64;
        row.norm3 += d.norm3;
        row.max += d.max;
        row.ss2 += d.ss2;
        row.cpu_ms += s.cpu_ns as f64 / 1e6;
        *n += 1;
    }
    sums.into_iter()
        .map(|(k, (mut row, n))| {
            let n = n as f64;
            row.bytes /= n;
            row.norm3 /= n;
            row.max /= n;
            row.ss2 /= n;
            row.cpu_ms /= n;
            (k, row)
        })
        .collect()
}
