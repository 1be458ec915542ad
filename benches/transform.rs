//! Transform and cache benchmarks, each next to its reference measured in the same run.
//!
//! Run: `make bench` (or `cargo bench --bench transform`). Needs the image corpus
//! (`../shared/corpus`, or `REFRACT_CORPUS`).
//!
//! Groups:
//! - `miss/{jpeg,webp,avif}`: a full cache miss through [`App::render`] (parse → cache lookup →
//!   read the file → permit → blocking pool → header limits → thumbnail → encode → ETag hash)
//!   against `raw_libvips`: the same thumbnail and encode called straight through the FFI on bytes
//!   already in memory. The ratio is Refract's overhead per transformed request.
//! - `cpu_per_request` (printed, not a criterion group): process CPU time per miss, Refract and
//!   raw libvips, read from `/proc/self/stat` — wall time above, CPU here.
//! - `cache`: the same request as a hit and as a miss (cache disabled).
//! - `coalesce`: one miss against eight concurrent identical misses of a fresh variant.
//! - `srcset_cpu` (printed): the 36 srcset variants of 4, 8 and 12 MP originals, CPU with
//!   decode-once masters against rendering each from its original.
//! - `avif_effort`: encoder effort 0–4 on the same image, for `encode::AVIF_EFFORT`.
//! - `request`: URL parsing and cache-key building; signing a URL and checking a signature.
//! - `plan`: geometry planning (sizes, crop window, canvas) for a 12 MP original.
//! - `heic`: a 12 MP phone HEIC (Display P3) rendered at 640 px WebP, decoded through libheif
//!   and handed over as an uncompressed TIFF, against the same pixels as a JPEG (q 92) — the
//!   cost of HEVC input, as a ratio.
//! - `overlay`, `overlay/masters`: a 640-px WebP with a cached watermark against the same
//!   render without one, every render decoding its original and with decode-once masters.
//! - `analytics/record`: what every served image records for `/analytics`, one thread against
//!   one thread per core all recording the same hot key (the hit benchmark's case) — equal
//!   times per record mean the threads never wait for each other.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use refract::request::signature::{sign_url, Verifier};
use refract::request::{AcceptClass, ImageRequest, ParamLimits};
use refract::transform::encode::{default_quality, AVIF_EFFORT, WEBP_EFFORT};
use refract::transform::plan::{plan, Size};
use refract::transform::vips::{self, Image, SaveOptions, ThumbnailOptions};
use refract::{encoding::format::Format, App, Config};

#[path = "support/cpu.rs"]
mod cpu;

const PHOTO_DIR: &str = "photos";
/// 4 MP camera JPEG with an ICC profile: a typical original.
const PHOTO: &str = "kde-ColorfulCups-2560x1600.jpg";
const WIDTH: u32 = 640;
const HEIGHT: u32 = 400; // 2560x1600 scaled to 640 wide

fn corpus() -> PathBuf {
    let dir = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join(PHOTO_DIR).join(PHOTO).is_file(),
        "corpus not found at {} (set REFRACT_CORPUS)",
        dir.display()
    );
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn app(cache_bytes: u64) -> App {
    let mut config = Config::for_root(corpus().join(PHOTO_DIR));
    config.cache_size = cache_bytes;
    config.max_concurrency = 1;
    // Single-variant work, comparable with raw libvips: every render decodes its original
    // (decode-once masters are measured by `srcset_cpu`) and encodes with the standard
    // settings, as the reference does (fast first encodes: `first_pass_split`).
    config.master_cache_size = 0;
    config.refine = refract::config::Refine::Off;
    App::new(config).unwrap()
}

fn request(query: &str) -> ImageRequest {
    ImageRequest::parse(
        &format!("/{PHOTO}"),
        Some(query),
        ParamLimits {
            max_dimension: 8192,
            strict: false,
        },
    )
    .unwrap()
}

fn raw(bytes: &[u8], save: SaveOptions) -> usize {
    let opts = ThumbnailOptions {
        width: WIDTH,
        height: HEIGHT,
        crop: None,
        no_rotate: false,
        pages: vips::Pages::First,
        // The photo carries an ICC profile, which Refract converts to sRGB: the same work.
        to_srgb: true,
    };
    let image = Image::thumbnail(bytes, opts).unwrap();
    image.save(save).unwrap().len()
}

fn miss(c: &mut Criterion) {
    let rt = runtime();
    let uncached = app(0);
    let bytes = std::fs::read(corpus().join(PHOTO_DIR).join(PHOTO)).unwrap();
    let cases = [
        (
            "jpeg",
            Format::JPEG,
            SaveOptions::Jpeg {
                full_chroma: None,
                quality: default_quality(Format::JPEG),
                progressive: false,
            },
        ),
        (
            "webp",
            Format::Webp,
            SaveOptions::Webp {
                quality: default_quality(Format::Webp),
                effort: WEBP_EFFORT,
                lossless: false,
            },
        ),
        (
            "avif",
            Format::Avif,
            SaveOptions::Avif {
                full_chroma: None,
                quality: default_quality(Format::Avif),
                effort: AVIF_EFFORT,
                lossless: false,
            },
        ),
    ];
    for (name, format, save) in cases {
        let mut group = c.benchmark_group(format!("miss/{name}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(if name == "avif" { 8 } else { 4 }));
        let req = request(&format!("w={WIDTH}&fm={}", format.name()));
        group.bench_function("refract", |b| {
            b.iter(|| {
                let (result, _) =
                    rt.block_on(uncached.renderer().render(&req, AcceptClass::Legacy));
                result.unwrap().body.len()
            })
        });
        group.bench_function("raw_libvips", |b| b.iter(|| raw(&bytes, save)));
        group.finish();
    }
}

/// CPU time of this process so far, every thread (`clock_gettime`, nanoseconds).
fn process_cpu() -> Duration {
    Duration::from_nanos(cpu::cpu_ns())
}

/// CPU per transformed request, Refract against raw libvips, printed as a ratio.
fn cpu_per_request(_: &mut Criterion) {
    // `cargo test --benches` runs each bench once as a smoke test: keep that quick.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        30
    } else {
        1
    };
    let rt = runtime();
    let uncached = app(0);
    let bytes = std::fs::read(corpus().join(PHOTO_DIR).join(PHOTO)).unwrap();
    for (format, save) in [
        (
            Format::JPEG,
            SaveOptions::Jpeg {
                full_chroma: None,
                quality: default_quality(Format::JPEG),
                progressive: false,
            },
        ),
        (
            Format::Webp,
            SaveOptions::Webp {
                quality: default_quality(Format::Webp),
                effort: WEBP_EFFORT,
                lossless: false,
            },
        ),
    ] {
        let req = request(&format!("w={WIDTH}&fm={}", format.name()));
        let start = process_cpu();
        for _ in 0..rounds {
            let (result, _) = rt.block_on(uncached.renderer().render(&req, AcceptClass::Legacy));
            result.unwrap();
        }
        let ours = (process_cpu() - start).as_secs_f64() * 1000.0 / f64::from(rounds);
        let start = process_cpu();
        for _ in 0..rounds {
            raw(&bytes, save);
        }
        let reference = (process_cpu() - start).as_secs_f64() * 1000.0 / f64::from(rounds);
        eprintln!(
            "cpu_per_request/{}: refract {ours:.1} ms, raw libvips {reference:.1} ms, ratio {:.2}",
            format.name(),
            ours / reference.max(0.001)
        );
    }
}

fn cache(c: &mut Criterion) {
    let rt = runtime();
    let cached = app(64 << 20);
    let uncached = app(0);
    let req = request(&format!("w={WIDTH}&fm=webp&ixlib=bench"));
    let mut group = c.benchmark_group("cache");
    group.sample_size(10);
    group.bench_function("hit", |b| {
        b.iter(|| {
            let (result, _) = rt.block_on(cached.renderer().render(&req, AcceptClass::Legacy));
            result.unwrap().body.len()
        })
    });
    group.bench_function("miss", |b| {
        b.iter(|| {
            let (result, _) = rt.block_on(uncached.renderer().render(&req, AcceptClass::Legacy));
            result.unwrap().body.len()
        })
    });
    group.finish();
}

/// Eight concurrent requests for one fresh variant, against one request for a fresh variant.
/// Each iteration changes `fill-color`, which is in the cache key but (for an opaque JPEG
/// fitted with `clip`) does not change the work.
fn coalesce(c: &mut Criterion) {
    let rt = runtime();
    let cached = app(256 << 20);
    let fresh = AtomicU32::new(0);
    let next = || {
        let n = fresh.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        request(&format!("w={WIDTH}&fm=jpg&fill-color=ff{n:06x}"))
    };
    let mut group = c.benchmark_group("coalesce");
    group.sample_size(10);
    group.bench_function("one_miss", |b| {
        b.iter(|| {
            let (result, _) = rt.block_on(cached.renderer().render(&next(), AcceptClass::Legacy));
            result.unwrap().body.len()
        })
    });
    group.bench_function("eight_identical_misses", |b| {
        b.iter(|| {
            let req = next();
            rt.block_on(async {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        let (app, req) = (cached.clone(), req.clone());
                        tokio::spawn(async move {
                            let (result, _) =
                                app.renderer().render(&req, AcceptClass::Legacy).await;
                            result.unwrap().body.len()
                        })
                    })
                    .collect();
                let mut total = 0;
                for task in tasks {
                    total += task.await.unwrap();
                }
                total
            })
        })
    });
    group.finish();
}

/// Originals for `srcset_cpu`: 4, 8 and 12 MP camera JPEGs.
const SRCSET_PHOTOS: [&str; 3] = [
    PHOTO,
    "mate-Elephants_3840x2160.jpg",
    "libavif-dog_exif_extended_xmp_icc.jpg",
];

/// The decode-once masters on a page's srcset: every variant the load benchmark's srcset
/// workload asks of one original (6 widths × 2 DPR × AVIF, WebP, JPEG = 36 renders, variant
/// cache off), CPU with masters against CPU rendering each from the original. Printed as
/// ratios, for all three formats and for JPEG alone (where the decode is most of the work).
fn srcset_cpu(_: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = runtime();
    let (photos, widths, formats): (&[&str], &[u32], &[&str]) = if full {
        (
            &SRCSET_PHOTOS,
            &[320, 480, 640, 960, 1280, 1920],
            &["avif", "webp", "jpg"],
        )
    } else {
        (&SRCSET_PHOTOS[..1], &[320, 640], &["jpg"])
    };
    let mut totals = std::collections::BTreeMap::<(&str, bool), f64>::new();
    for masters in [false, true] {
        let mut config = Config::for_root(corpus().join(PHOTO_DIR));
        config.cache_size = 0;
        config.max_concurrency = 1;
        if !masters {
            config.master_cache_size = 0;
        }
        let app = App::new(config).unwrap();
        for photo in photos {
            for fm in formats {
                for w in widths {
                    for dpr in [1, 2] {
                        let req = ImageRequest::parse(
                            &format!("/{photo}"),
                            Some(&format!("w={}&dpr={dpr}&fm={fm}", w / 2)),
                            ParamLimits {
                                max_dimension: 8192,
                                strict: false,
                            },
                        )
                        .unwrap();
                        let start = process_cpu();
                        let (result, _) =
                            rt.block_on(app.renderer().render(&req, AcceptClass::Legacy));
                        result.unwrap();
                        let cpu = (process_cpu() - start).as_secs_f64() * 1000.0;
                        *totals.entry((fm, masters)).or_default() += cpu;
                    }
                }
            }
        }
    }
    let sum = |masters: bool| -> f64 {
        totals
            .iter()
            .filter(|((_, m), _)| *m == masters)
            .map(|(_, v)| v)
            .sum()
    };
    let renders = (photos.len() * widths.len() * 2 * formats.len()) as f64;
    eprintln!(
        "srcset_cpu: {renders} renders, CPU per render {:.1} ms from originals, {:.1} ms with \
         masters: ratio {:.2} (throughput {:.2}x)",
        sum(false) / renders,
        sum(true) / renders,
        sum(true) / sum(false),
        sum(false) / sum(true)
    );
    for fm in formats {
        let (direct, mastered) = (totals[&(*fm, false)], totals[&(*fm, true)]);
        eprintln!(
            "srcset_cpu/{fm}: {:.1} ms → {:.1} ms per render, ratio {:.2}",
            direct * formats.len() as f64 / renders,
            mastered * formats.len() as f64 / renders,
            mastered / direct
        );
    }
}

fn avif_effort(c: &mut Criterion) {
    vips::init().unwrap();
    let bytes = std::fs::read(corpus().join(PHOTO_DIR).join(PHOTO)).unwrap();
    let mut group = c.benchmark_group("avif_effort");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    for effort in [0u8, 1, 2, 4] {
        let save = SaveOptions::Avif {
            full_chroma: None,
            quality: default_quality(Format::Avif),
            effort,
            lossless: false,
        };
        eprintln!("avif_effort/{effort}: {} bytes", raw(&bytes, save));
        group.bench_with_input(BenchmarkId::from_parameter(effort), &save, |b, save| {
            b.iter(|| raw(&bytes, *save))
        });
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let limits = ParamLimits {
        max_dimension: 8192,
        strict: false,
    };
    c.bench_function("request/parse_and_key", |b| {
        b.iter(|| {
            let req = ImageRequest::parse(
                "/photos/summer%20trip/cat.jpg",
                Some("w=400&h=300&dpr=2&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.6&auto=format&q=75&ixlib=js-3.8.0"),
                limits,
            )
            .unwrap();
            req.variant(AcceptClass::Avif).cache_key()
        })
    });
    let key = "a-signing-key-of-at-least-32-bytes!!";
    let url = "/photos/summer%20trip/cat.jpg?w=400&h=300&dpr=2&fit=crop&q=75";
    c.bench_function("request/sign_url", |b| {
        b.iter(|| sign_url(key.as_bytes(), url, Some(4_102_444_800)))
    });
    let signed = sign_url(key.as_bytes(), url, Some(4_102_444_800));
    let (path, query) = signed.split_once('?').unwrap();
    let verifier = Verifier::new(&[key.to_owned()]).unwrap();
    c.bench_function("request/verify_signature", |b| {
        b.iter(|| verifier.verify(path, Some(query), 1_800_000_000).unwrap())
    });
}

/// Geometry planning for a 12 MP original: a proportional width, a focal-point crop, and a
/// padded fit — the arithmetic before any pixel is touched.
fn geometry(c: &mut Criterion) {
    let source = Size::new(4032, 3024);
    let mut group = c.benchmark_group("plan");
    for (name, query) in [
        ("width", "w=640"),
        (
            "crop_focalpoint",
            "w=400&h=400&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.6",
        ),
        ("fill_pad", "w=800&h=300&fit=fill&bg=ffffff"),
    ] {
        let params = request(query).params;
        group.bench_function(name, |b| b.iter(|| plan(source, &params, 8192).unwrap()));
    }
    group.finish();
}

/// `Analytics::record` on one hot key: per record, from one thread and from one thread per
/// core at once (wall time per record per thread; contention shows as the second growing).
fn analytics(c: &mut Criterion) {
    use refract::observe::analytics::{Analytics, Served};
    use refract::observe::Lookup;
    let served = Served {
        key: "photos/hero.jpg",
        format: Format::Webp,
        dpr: 2.0,
        width: 800,
        bytes: 21_344,
        original_bytes: 1_200_000,
        lookup: Lookup::Hit,
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut group = c.benchmark_group("analytics/record");
    for threads in [1, cores] {
        group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &n| {
            let analytics = Analytics::new(100);
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..n {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                analytics.record(served);
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// A phone HEIC against the same photo as a JPEG, both rendered to 640-px WebP on a miss.
fn heic(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let heic = std::fs::read(corpus().join("formats/heic/pillowheif-pug.heic")).unwrap();
    std::fs::write(dir.path().join("pug.heic"), &heic).unwrap();
    let rt = runtime();
    let mut config = Config::for_root(dir.path());
    config.cache_size = 0;
    config.max_concurrency = 1;
    config.master_cache_size = 0;
    let app = App::new(config).unwrap();
    let render = |path: &str, query: &str| {
        let request = ImageRequest::parse(
            path,
            Some(query),
            ParamLimits {
                max_dimension: 8192,
                strict: false,
            },
        )
        .unwrap();
        rt.block_on(app.renderer().render(&request, AcceptClass::Legacy))
            .0
            .unwrap()
    };
    // The JPEG twin, made by Refract from the HEIC at full size.
    let jpeg = render("/pug.heic", "fm=jpg&q=92");
    std::fs::write(dir.path().join("pug.jpg"), &jpeg.body).unwrap();
    let mut group = c.benchmark_group("heic");
    group.sample_size(10);
    for (name, path) in [("heic", "/pug.heic"), ("jpeg", "/pug.jpg")] {
        group.bench_function(name, |b| b.iter(|| render(path, "w=640&fm=webp")));
    }
    group.finish();
}

/// Face detection for `crop=faces` on a 12 MP phone photo: the cascade alone on the small
/// greyscale it runs on (1,000 px), and with the shrink-on-load decode
/// that makes that greyscale from the original.
fn faces(c: &mut Criterion) {
    use refract::transform::faces;
    let bytes =
        std::fs::read(corpus().join("photos/libavif-dog_exif_extended_xmp_icc.jpg")).unwrap();
    let (width, height) = faces::detect_size(&bytes, faces::DETECT_SIDE).unwrap();
    let small = Image::thumbnail(
        &bytes,
        ThumbnailOptions {
            width,
            height,
            crop: None,
            no_rotate: false,
            pages: vips::Pages::First,
            to_srgb: false,
        },
    )
    .and_then(|i| i.colourspace(vips::Interpretation::BW))
    .and_then(|i| i.extract_bands(0, 1))
    .and_then(|i| i.to_uchar())
    .unwrap();
    let (w, h) = (small.width(), small.height());
    let grey = small.pixels().unwrap();
    let mut group = c.benchmark_group("faces");
    group.sample_size(10);
    group.bench_function("detect_1000px", |b| {
        b.iter(|| faces::detect_grey(&grey, w, h).len())
    });
    group.bench_function("detect_from_12mp_original", |b| {
        b.iter(|| faces::detect(&bytes).unwrap().len())
    });
    group.finish();
}

/// A 640-px render with a watermark (its scaled copy cached after the first render) against the
/// same render without one; and with masters on, where the render itself is cheapest and the
/// watermark's share largest. The budget: ≤ 1.1×.
fn overlay(c: &mut Criterion) {
    vips::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(corpus().join(PHOTO_DIR).join(PHOTO), dir.path().join(PHOTO)).unwrap();
    // A 400×120 logo with soft alpha: a gradient in every band.
    let (lw, lh) = (400u32, 120u32);
    let mut px = Vec::with_capacity((lw * lh * 4) as usize);
    for y in 0..lh {
        for x in 0..lw {
            px.extend_from_slice(&[(x * 255 / lw) as u8, (y * 255 / lh) as u8, 128, 200]);
        }
    }
    let logo = Image::from_pixels(&px, lw, lh, 4)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap();
    std::fs::write(dir.path().join("logo.png"), &logo).unwrap();
    let rt = runtime();
    for masters in [false, true] {
        let mut config = Config::for_root(dir.path());
        config.cache_size = 0;
        config.max_concurrency = 1;
        if !masters {
            config.master_cache_size = 0;
        }
        let app = App::new(config).unwrap();
        let mut group = c.benchmark_group(if masters {
            "overlay/masters"
        } else {
            "overlay"
        });
        group.sample_size(10);
        for (name, query) in [
            ("plain", format!("w={WIDTH}&fm=webp")),
            (
                "watermarked",
                format!("w={WIDTH}&fm=webp&mark=/logo.png&mark-w=0.25&mark-alpha=80"),
            ),
        ] {
            let req = request(&query);
            group.bench_function(name, |b| {
                b.iter(|| {
                    let (result, _) = rt.block_on(app.renderer().render(&req, AcceptClass::Legacy));
                    result.unwrap().body.len()
                })
            });
        }
        group.finish();
    }
}

/// The originals of `benches/peers.sh`'s srcset workload.
const PEER_PHOTOS: [&str; 6] = [
    "kde-ColorfulCups-2560x1600.jpg",
    "kde-FallenLeaf-2560x1600.jpg",
    "kde-Path-2560x1600.jpg",
    "libavif-dog_exif_extended_xmp_icc.jpg",
    "mate-Dune.jpg",
    "mate-Elephants_3840x2160.jpg",
];

/// Where a first render's CPU goes (issue 31), on `benches/peers.sh`'s workload (6 photos ×
/// widths 160–1080 × DPR 1, 2 × JPEG and WebP q 80, each once, default configuration: masters
/// on, fast first WebP encodes), one render at a time: the whole render against the **floor** —
/// encoding the same output pixels alone, with the same settings, from memory. What is left is
/// decoding, scaling, colour and orientation (and masters being built). Printed per format;
/// `SPLIT_VERBOSE=1` prints every render.
fn first_pass_split(_: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = runtime();
    let (photos, widths): (&[&str], &[u32]) = if full {
        (&PEER_PHOTOS, &[160, 320, 480, 640, 828, 1080])
    } else {
        (&PEER_PHOTOS[..1], &[320])
    };
    let mut config = Config::for_root(corpus().join(PHOTO_DIR));
    config.cache_size = 0;
    config.max_concurrency = 1;
    let app = App::new(config).unwrap();
    // (format) -> (renders, render CPU ms, encode-only CPU ms, output megapixels)
    let mut totals = std::collections::BTreeMap::<&str, (u32, f64, f64, f64)>::new();
    for photo in photos {
        for w in widths {
            for dpr in [1, 2] {
                for fm in ["jpg", "webp"] {
                    let req = ImageRequest::parse(
                        &format!("/{photo}"),
                        Some(&format!("w={w}&dpr={dpr}&fm={fm}&q=80")),
                        ParamLimits {
                            max_dimension: 8192,
                            strict: false,
                        },
                    )
                    .unwrap();
                    let start = process_cpu();
                    let (result, _) = rt.block_on(app.renderer().render(&req, AcceptClass::Legacy));
                    let rendered = result.unwrap();
                    let render = (process_cpu() - start).as_secs_f64() * 1000.0;
                    let decoded = Image::load_random(&rendered.body).unwrap();
                    let pixels = decoded.with_pixels(&decoded.pixels().unwrap()).unwrap();
                    let save = match fm {
                        "jpg" => SaveOptions::Jpeg {
                            quality: 80,
                            progressive: false,
                            full_chroma: None,
                        },
                        _ => SaveOptions::Webp {
                            quality: 80,
                            // The tier the render got (the default's first tier).
                            effort: rendered.tier.efforts().0,
                            lossless: false,
                        },
                    };
                    let start = process_cpu();
                    pixels.save(save).unwrap();
                    let encode = (process_cpu() - start).as_secs_f64() * 1000.0;
                    let mp = f64::from(pixels.width() * pixels.height()) / 1e6;
                    if std::env::var_os("SPLIT_VERBOSE").is_some() {
                        let (ow, oh) = (pixels.width(), pixels.height());
                        eprintln!(
                            "{photo} w={w} dpr={dpr} {fm} ({}): render {render:.1} ms, encode \
                             {encode:.1} ms, {ow}x{oh}",
                            rendered.tier.name()
                        );
                    }
                    let t = totals.entry(fm).or_default();
                    *t = (t.0 + 1, t.1 + render, t.2 + encode, t.3 + mp);
                }
            }
        }
    }
    eprintln!("first_pass_split (default configuration, one render at a time):");
    for (fm, (n, render, encode, mp)) in &totals {
        let n = f64::from(*n);
        eprintln!(
            "first_pass_split/{fm}: {n} renders, {:.2} MP mean output, render {:.1} ms, encode \
             alone {:.1} ms ({:.0}%), decode + scale + the rest {:.1} ms ({:.0}%)",
            mp / n,
            render / n,
            encode / n,
            100.0 * encode / render,
            (render - encode) / n,
            100.0 * (render - encode) / render
        );
    }
}

criterion_group!(
    benches,
    overlay,
    faces,
    miss,
    heic,
    cpu_per_request,
    cache,
    coalesce,
    srcset_cpu,
    first_pass_split,
    avif_effort,
    parse,
    geometry,
    analytics
);
criterion_main!(benches);
