//! Fast first, small forever, replayed: a Zipf-distributed (s = 1) request stream over the corpus
//! photos at srcset widths with `fm=auto` from a Chrome `Accept` (AVIF), served by an app with
//! `--refine hot`. A variant is refined once it has been served `REFINE_AFTER` times (here run
//! inline, so its CPU is counted apart from the requests'). Reported per tenth of the stream:
//! the bytes served against the same requests answered as JPEG q80, and the CPU of first renders
//! and of refinement; and, for reference, the CPU the same misses cost with the standard
//! settings.
//!
//! Run: `cargo bench --bench replay` (needs the corpus: `../shared/corpus` or `REFRACT_CORPUS`).
//! `cargo test --benches` runs a tiny smoke version.

use std::collections::HashMap;
use std::path::PathBuf;

use refract::config::Refine;
use refract::request::{AcceptClass, Hints, ImageRequest};
use refract::transform::encode::Tier;
use refract::{App, Config};

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_ns;

const WIDTHS: [u32; 5] = [320, 480, 640, 960, 1280];
const REFINE_AFTER: u32 = 5;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let corpus = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let dir = corpus.join("photos");
    let mut photos: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus not found at {} ({e})", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jpg") || n.ends_with(".png"))
        .collect();
    photos.sort();
    let (requests, photos, widths) = if full {
        (3000usize, photos, &WIDTHS[..])
    } else {
        (24, photos.into_iter().take(2).collect(), &WIDTHS[..1])
    };
    let variants: Vec<String> = photos
        .iter()
        .flat_map(|p| widths.iter().map(move |w| format!("/{p}?w={w}")))
        .collect();

    let config = |refine: Refine| {
        let mut c = Config::for_root(dir.clone());
        c.refine = refine;
        c.max_concurrency = 1;
        c
    };
    let app = App::new(config(Refine::Hot)).unwrap();
    let standard = App::new(config(Refine::Off)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = |app: &App, url: &str, extra: &str| {
        let (path, query) = url.split_once('?').unwrap();
        app.renderer()
            .request(path, Some(&format!("{query}&{extra}")), Hints::default())
            .unwrap()
    };

    // A Zipf stream (s = 1) over the variants, from a fixed seed: the same for every run.
    let weights: Vec<f64> = (1..=variants.len()).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    // Which variant is most popular is a shuffle of the list, not its order.
    let mut order: Vec<usize> = (0..variants.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (next() * (i + 1) as f64) as usize);
    }
    let stream: Vec<usize> = (0..requests)
        .map(|_| {
            let mut x = next() * total;
            let mut k = 0;
            while k + 1 < weights.len() && x > weights[k] {
                x -= weights[k];
                k += 1;
            }
            order[k]
        })
        .collect();

    let mut jpeg_bytes: HashMap<usize, usize> = HashMap::new();
    let mut served: HashMap<usize, u32> = HashMap::new();
    let windows = 10.min(requests);
    let per_window = requests.div_ceil(windows);
    println!(
        "replay: {requests} requests over {} variants ({} photos × {:?}), refine after {REFINE_AFTER}",
        variants.len(),
        photos.len(),
        widths
    );
    println!();
    println!("| requests | bytes vs JPEG q80 | first-render CPU ms | refinement CPU ms | refined variants |");
    println!("|---|---|---|---|---|");
    let (mut all_bytes, mut all_jpeg, mut first_cpu_all, mut standard_cpu) =
        (0u64, 0u64, 0u64, 0u64);
    let mut refined = 0;
    for (w, chunk) in stream.chunks(per_window).enumerate() {
        let (mut bytes, mut jpeg, mut first_cpu, mut refine_cpu) = (0u64, 0u64, 0u64, 0u64);
        for &v in chunk {
            let url = &variants[v];
            let req = request(&app, url, "fm=auto");
            let start = cpu_ns();
            let (rendered, _) = rt.block_on(app.renderer().render(&req, AcceptClass::Avif));
            let rendered = rendered.unwrap();
            let spent = cpu_ns() - start;
            bytes += rendered.body.len() as u64;
            let count = served.entry(v).or_insert(0);
            if *count == 0 {
                first_cpu += spent;
                // The same miss with the standard settings, for reference.
                let start = cpu_ns();
                rt.block_on(standard.renderer().render_with(
                    &request(&standard, url, "fm=auto"),
                    AcceptClass::Avif,
                    Tier::Standard,
                ))
                .unwrap();
                standard_cpu += cpu_ns() - start;
            }
            *count += 1;
            if *count == REFINE_AFTER + 1 {
                let start = cpu_ns();
                rt.block_on(app.renderer().refine(&req, AcceptClass::Avif))
                    .unwrap();
                refine_cpu += cpu_ns() - start;
                refined += 1;
            }
            jpeg += *jpeg_bytes.entry(v).or_insert_with(|| {
                let req: ImageRequest = request(&standard, url, "fm=jpg&q=80");
                let (r, _) = rt.block_on(standard.renderer().render(&req, AcceptClass::Legacy));
                r.unwrap().body.len()
            }) as u64;
        }
        all_bytes += bytes;
        all_jpeg += jpeg;
        first_cpu_all += first_cpu;
        println!(
            "| {}–{} | {:.2}× | {:.0} | {:.0} | {refined} |",
            w * per_window + 1,
            w * per_window + chunk.len(),
            bytes as f64 / jpeg as f64,
            first_cpu as f64 / 1e6,
            refine_cpu as f64 / 1e6,
        );
    }
    println!();
    println!(
        "Whole stream: {:.2}× JPEG q80's bytes; first renders {:.0} ms of CPU against {:.0} ms for \
         the same misses with the standard settings ({:.2}×).",
        all_bytes as f64 / all_jpeg as f64,
        first_cpu_all as f64 / 1e6,
        standard_cpu as f64 / 1e6,
        first_cpu_all as f64 / standard_cpu.max(1) as f64
    );
}
