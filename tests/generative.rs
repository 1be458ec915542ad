//! No parameter combination is a server error: a seeded generator draws query strings from the
//! registry — every parameter Refract implements under any of its names, imgix names it does not
//! implement, unknown names, Base64 variants; valid values, invalid values, empty values,
//! repeats — and serves each over originals of every kind (EXIF-rotated and CMYK JPEG,
//! progressive JPEG, 16-bit and grey+alpha and palette PNG, animated GIF and WebP, HEIC, WebP
//! with an orientation, Ultra HDR (mostly with `hdr=true`), 1×1, 10000×10 and 10×10000 strips),
//! asking as a modern browser asks.
//!
//! Every answer must be 200 or a 4xx that says why (`X-Refract-Error` and a body). Every 200
//! must decode whole, be what its `Content-Type` says (and the `fm` asked for, where the URL
//! settles it), and be upright: no EXIF orientation but 1, no AVIF/HEIF `irot`/`imir` box.
//!
//! `make test` runs a bounded budget (`REFRACT_GEN_CASES`, default 1,500 cases, ~20 s; seed
//! `REFRACT_GEN_SEED`, default fixed so a failure reproduces); `make fuzz` runs a long one with a
//! fresh seed. A failure prints the seed and every failing URL with its answer.

use std::time::{Duration, Instant};

use refract::encoding::format::Format;
use refract::request::params::names::Name;
use refract::transform::vips::{self, Image, SaveOptions};

use crate::support::fixtures::{flat_png, noise_jpeg, quadrants_jpeg};
use crate::support::images::turns_on_display;
use crate::support::{base64url, corpus_file, header, TestServer};

/// What a modern browser sends for an `<img>`.
const ACCEPT: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

/// A small, fast, seedable generator (xorshift64*): the same seed draws the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Keywords any imgix parameter takes somewhere (fits, crops, formats, auto, modes, booleans),
/// so each parameter also meets the others' words.
const KEYWORDS: &[&str] = &[
    "clip",
    "crop",
    "clamp",
    "facearea",
    "fill",
    "fillmax",
    "max",
    "min",
    "scale",
    "top",
    "bottom",
    "left",
    "right",
    "middle",
    "center",
    "faces",
    "entropy",
    "edges",
    "focalpoint",
    "attention",
    "format",
    "compress",
    "enhance",
    "redeye",
    "true",
    "false",
    "default",
    "auto",
    "jpg",
    "pjpg",
    "png",
    "png8",
    "png32",
    "webp",
    "avif",
    "gif",
    "json",
    "blurhash",
    "jxl",
    "h",
    "v",
    "hv",
    "ellipse",
    "corners",
    "grid",
    "color",
    "alpha",
    "srgb",
    "tinysrgb",
    "keep",
    "strip",
    "normal",
    "multiply",
    "screen",
    "overlay",
    "darken",
    "lighten",
    "difference",
    "pivot",
    "straighten",
    "start",
    "end",
    "ellipsis",
    "solid",
    "blur",
    "gen",
    "sans-serif",
    "bold",
    "Fira Sans",
    "null",
    "undefined",
    "NaN",
    "Infinity",
];

/// Numbers around every edge a parameter has: negatives, zero, shares below 1, the usual
/// sizes, ranges' ends (±100, 359), sizes past the output cap.
const NUMBERS: &[&str] = &[
    "-1000", "-100", "-50", "-1", "-0.5", "0", "0.0", "0.001", "0.25", "0.5", "0.999", "1", "1.0",
    "1.5", "2", "3", "3.7", "5", "8", "10", "16", "37", "50", "80", "99", "100", "101", "120",
    "200", "256", "333", "359", "360", "400", "640", "1000", "1080", "2000", "4096", "9000",
    "100000", "1e3", "1e309", "0x10", "+5", "05", "1,2", "80.5px", "20%",
];

/// Structured values: colours (3/4/6/8 hex digits, keywords, broken), ratios, rectangles,
/// lists, overlay paths (served, missing, outside the origin), text, and noise.
const SHAPED: &[&str] = &[
    "fff",
    "f00a",
    "ff0000",
    "80ff0000",
    "FF00FF00",
    "red",
    "grey",
    "transparent",
    "gggggg",
    "fffffffff",
    "%23ff0000",
    "16:9",
    "1:1",
    "4:3",
    "0:1",
    "1:0",
    "16",
    "a:b",
    "9999:1",
    "0,0,10,10",
    "10,10,100,50",
    "0,0,0,0",
    "-5,-5,20,20",
    "0,0,99999,99999",
    "1,2,3",
    "10,20,30,40,50",
    "000080,FAEBD7",
    "ff0000,00ff00",
    "format,compress",
    "compress,format,enhance",
    "format,,",
    "top,left",
    "faces,center",
    "focalpoint",
    "/mark.png",
    "/missing.png",
    "/photo.jpg",
    "http://example.invalid/x.png",
    "https://assets.imgix.net/logo.png",
    "Hello",
    "Hello%20World",
    "%F0%9F%98%80",
    "%00",
    "%E2%80%AE",
    "%FF%FE",
    "%",
    "a%2Cb",
    "xx-large",
    "😀",
];

/// imgix parameters Refract does not implement (a 400 naming them), names imgix does not
/// define (ignored), and analytics tags real URLs carry.
const OTHER_NAMES: &[&str] = &[
    "bg-remove",
    "upscale",
    "hdr",
    "fill-gen-prompt",
    "bg-replace",
    "video-codec",
    "ixlib",
    "ixid",
    "utm_source",
    "s",
    "expires",
    "foo",
    "W",
    "FM",
    "fit ",
    "w[]",
    "",
];

/// One parameter's value: its own words most often, then anything.
fn value(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => rng.pick(NUMBERS).to_string(),
        4..=6 => rng.pick(KEYWORDS).to_string(),
        7 | 8 => rng.pick(SHAPED).to_string(),
        _ => match rng.below(4) {
            0 => String::new(),
            1 => "x".repeat(1 + rng.below(300)),
            2 => format!("{}{}", rng.pick(NUMBERS), rng.pick(KEYWORDS)),
            _ => format!("{},{}", rng.pick(KEYWORDS), rng.pick(KEYWORDS)),
        },
    }
}

/// One query string: one to six pairs, sometimes a parameter twice, sometimes a bare name.
fn query(rng: &mut Rng) -> String {
    let n = 1 + rng.below(6);
    let mut pairs: Vec<String> = Vec::with_capacity(n + 1);
    for _ in 0..n {
        let name = if rng.chance(85) {
            let param = *rng.pick(Name::ALL);
            let aliases = param.aliases();
            if !aliases.is_empty() && rng.chance(20) {
                rng.pick(aliases).to_string()
            } else {
                param.as_str().to_string()
            }
        } else {
            rng.pick(OTHER_NAMES).to_string()
        };
        let pair = match rng.below(20) {
            0 => name,
            1 => format!("{name}64={}", base64url(value(rng).as_bytes())),
            _ => format!("{name}={}", value(rng)),
        };
        if rng.chance(8) {
            pairs.push(pair.clone());
        }
        pairs.push(pair);
    }
    // Most real URLs size the image; so do most cases, so the others meet a resize.
    if rng.chance(60) {
        pairs.push(format!("w={}", rng.pick(&["1", "40", "150", "300", "0.5"])));
    }
    if rng.chance(30) {
        pairs.push(format!(
            "fm={}",
            rng.pick(&["jpg", "png", "webp", "avif", "gif"])
        ));
    }
    for i in (1..pairs.len()).rev() {
        let j = rng.below(i + 1);
        pairs.swap(i, j);
    }
    pairs.join("&")
}

/// A progressive JPEG of noise (`noise_jpeg` is baseline).
fn progressive_jpeg(w: u32, h: u32) -> Vec<u8> {
    vips::init().unwrap();
    let noise = noise_jpeg(w, h, 7);
    let progressive = Image::header(&noise)
        .unwrap()
        .save(SaveOptions::Jpeg {
            full_chroma: None,
            quality: 85,
            progressive: true,
        })
        .unwrap()
        .to_vec();
    progressive
}

/// A 10000×10 (or 10×10000) PNG strip.
fn strip(w: u32, h: u32) -> Vec<u8> {
    let jpeg = quadrants_jpeg(w, h);
    vips::init().unwrap();
    let png = Image::header(&jpeg)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap()
        .to_vec();
    png
}

/// The originals, by key: every kind of input a URL can meet.
fn originals() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("exif6.jpg", corpus_file("exif/recurser-Landscape_6.jpg")),
        (
            "cmyk.jpg",
            corpus_file("exif/thumbor-Giunchedi-cmyk-orientation-exif.jpg"),
        ),
        ("progressive.jpg", progressive_jpeg(400, 260)),
        (
            "icc-big.jpg",
            corpus_file("color/pillow-icc_profile_big.jpg"),
        ),
        ("photo.jpg", corpus_file("photos/pillow-flower.jpg")),
        ("rgb16.png", corpus_file("formats/pngsuite/basn2c16.png")),
        (
            "grey-alpha16.png",
            corpus_file("formats/pngsuite/basn4a16.png"),
        ),
        (
            "grey-alpha.png",
            corpus_file("formats/pngsuite/basn4a08.png"),
        ),
        (
            "palette.png",
            corpus_file("alpha/thumbor-paletted-transparent.png"),
        ),
        ("anim.gif", corpus_file("animated/libvips-cogs.gif")),
        (
            "anim.webp",
            corpus_file("animated/sharp-rotating-squares.webp"),
        ),
        ("photo.heic", corpus_file("formats/heic/thumbor-image.heic")),
        (
            "rotated.webp",
            corpus_file("exif/pillow-hopper_orientation_6.webp"),
        ),
        ("one.png", flat_png(1, 1, [200, 30, 30])),
        (
            "one.jpg",
            corpus_file("hostile/metadata/thumbor-broken-exif-tag.jpg"),
        ),
        ("ultra-hdr.jpg", corpus_file("color/libvips-ultra-hdr.jpg")),
        ("wide.png", strip(10_000, 10)),
        ("tall.png", strip(10, 10_000)),
    ]
}

/// The `Content-Type` `fm` settles, where the URL settles it: the last `fm` among the image formats,
/// with no `auto` (which may negotiate over it) and no Base64 `fm64`.
fn settled_format(query: &str) -> Option<&'static str> {
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    if pairs.iter().any(|(n, _)| *n == "auto" || *n == "fm64") {
        return None;
    }
    let (_, fm) = pairs.iter().rev().find(|(n, _)| *n == "fm")?;
    Some(match *fm {
        "jpg" | "pjpg" => "image/jpeg",
        "png" | "png8" | "png32" => "image/png",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "gif" => "image/gif",
        _ => return None,
    })
}

/// The answer's status, and what was wrong with it, if anything.
async fn check(s: &TestServer, url: &str) -> (u16, Option<String>) {
    let resp = match s
        .client
        .get(format!("{}{url}", s.base))
        .header("accept", ACCEPT)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (0, Some(format!("no answer ({e})"))),
    };
    let status = resp.status();
    let code = status.as_u16();
    let error = header(&resp, "x-refract-error");
    let content_type = header(&resp, "content-type");
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return (code, Some(format!("{status}: body cut off ({e})"))),
    };
    if status.is_client_error() {
        let reasonless = error.is_empty() || body.is_empty();
        return (
            code,
            reasonless.then(|| format!("{status} without a reason ({error:?})")),
        );
    }
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return (code, Some(format!("{status} {error}: {text}")));
    }
    if !content_type.starts_with("image/") {
        // fm=json, fm=blurhash, palette=css|json: text that must parse as what it says.
        let text = std::str::from_utf8(&body).ok();
        let problem = match content_type.as_str() {
            t if t.starts_with("application/json") => text
                .filter(|t| serde_json::from_str::<serde_json::Value>(t).is_ok())
                .map_or(Some("JSON that does not parse".into()), |_| None),
            t if t.starts_with("text/") => text
                .is_none()
                .then(|| format!("{content_type} that is not UTF-8")),
            _ => Some(format!("200 with Content-Type {content_type:?}")),
        };
        return (code, problem);
    }
    (code, image_problem(url, &content_type, &body))
}

/// What is wrong with a 200's image, if anything: its signature, the format asked for, its
/// decoding, its orientation.
fn image_problem(url: &str, content_type: &str, body: &[u8]) -> Option<String> {
    let Some(format) = Format::sniff(body) else {
        return Some(format!("{content_type}: not an image signature"));
    };
    if format.mime() != content_type {
        return Some(format!("{content_type}: the bytes are {}", format.mime()));
    }
    if let Some(asked) = settled_format(url.split_once('?').map_or("", |(_, q)| q)) {
        if asked != format.mime() {
            return Some(format!("asked for {asked}, got {content_type}"));
        }
    }
    let img = match Image::header(body) {
        Ok(img) => img,
        Err(e) => return Some(format!("{format:?} does not open: {e}")),
    };
    if let Err(e) = img.pixels() {
        return Some(format!("{format:?} does not decode: {e}"));
    }
    if img.orientation() != 1 {
        return Some(format!("EXIF orientation {}", img.orientation()));
    }
    if format == Format::Avif && turns_on_display(body) {
        return Some("an irot/imir box".into());
    }
    None
}

/// What the generator found, kept as fixed cases whatever the seed: each was a 5xx.
const FOUND: &[&str] = &[
    // A median window (nr, the default under nrs) larger than a tiny image: libvips refused it.
    "/one.png?fm=gif&nrs=0",
    "/photo.jpg?w=3&nr=5",
    // Text with no ink (only U+202E): libvips refused to measure it.
    "/progressive.jpg?w=0.5&txt=%E2%80%AE",
    "/photo.jpg?txt=%E2%80%8B&txt-size=40",
    // An overlay name longer than a file name can be: "not found", not a failing source.
    "/palette.png?blend=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    // trim=color on an image with alpha: libvips wanted the background without its alpha.
    "/anim.gif?trim=color",
    "/grey-alpha.png?trim=color&trim-color=fff",
    "/palette.png?trim=color&w=150&fit=fillmax&h=100",
    // trim=color on a 1×1 image: libvips's find_trim median window was larger than it.
    "/one.png?txt&trim=color&txt-color=grid&expires=0.001&foo=blur&w=40&txt-color=grid&mark-x=transparent",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combinations_the_generator_found_stay_fixed() {
    let s = TestServer::start(|_| {}).await;
    for (key, bytes) in originals() {
        s.put(key, &bytes);
    }
    let mut failures = Vec::new();
    for url in FOUND {
        if let (status, Some(problem)) = check(&s, url).await {
            failures.push(format!("{url}: {status} {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_parameter_combination_is_a_server_error_or_sideways() {
    let cases: usize = std::env::var("REFRACT_GEN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("REFRACT_GEN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_2027);
    let s = TestServer::start(|c| {
        // A slow combination must show as slow, not as a 503 from the deadline.
        c.transform_timeout = Duration::from_secs(120);
    })
    .await;
    let originals = originals();
    for (key, bytes) in &originals {
        s.put(key, bytes);
    }
    s.put("mark.png", &flat_png(40, 20, [0, 0, 255]));

    let mut rng = Rng(seed | 1);
    let urls: Vec<String> = (0..cases)
        .map(|_| {
            let (key, _) = rng.pick(&originals);
            // The Ultra HDR original mostly with hdr=true: its gain map through every step.
            let hdr = if *key == "ultra-hdr.jpg" && rng.chance(60) {
                "&hdr=true"
            } else {
                ""
            };
            format!("/{key}?{}{hdr}", query(&mut rng))
        })
        .collect();
    let started = Instant::now();
    // Two requests in flight, as two cores would have.
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut slowest = (Duration::ZERO, String::new());
    for pair in urls.chunks(2) {
        let t = Instant::now();
        let answers =
            futures_util::future::join_all(pair.iter().map(|url| check(&s, url.as_str()))).await;
        if t.elapsed() > slowest.0 {
            slowest = (t.elapsed(), pair.join(" | "));
        }
        for (url, (status, problem)) in pair.iter().zip(answers) {
            *statuses.entry(status).or_default() += 1;
            if let Some(problem) = problem {
                failures.push(format!("{url}\n    {problem}"));
            }
        }
    }
    println!(
        "generative: {cases} cases, seed {seed}, {:.1} s, statuses {statuses:?}; slowest pair \
         {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64(),
        slowest.1
    );
    s.stop().await;
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
