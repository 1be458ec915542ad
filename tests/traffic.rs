//! Real imgix traffic, as it is written: `tests/data/imgix-traffic.tsv` holds imgix URLs found
//! verbatim in public code (production sites, CMS integrations, UI kits, Unsplash and Pexels
//! links), each with where it was found. Each query string is served here against corpus photos
//! of several shapes — a landscape camera JPEG, an EXIF-rotated portrait, and (every third URL)
//! a transparent PNG — as a modern browser asks for it, and the answer is checked against what
//! imgix documents: status 200, the output format for that `Accept`, and the dimensions worked
//! out below from docs.imgix.com's size rules (written here, independently of Refract's own
//! size code). Where the documents leave the size open, status and format only; the reason is
//! beside the rule that says so.
//!
//! Cases Refract does not pass are listed in [`EXPECTED_FAILURES`] with their reason (also in
//! docs/imgix.md); the test fails if one of them starts passing (drop it from the list) or if any
//! other case fails, and it prints the pass rate.

use crate::support::images::decode;
use crate::support::{corpus_file, header, TestServer};

/// What a modern browser sends for an `<img>`.
const ACCEPT: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

/// Cases that fail, by a distinctive piece of their query, with the reason. Each must still fail.
const EXPECTED_FAILURES: &[(&str, &str)] = &[(
    "mark=http",
    "an overlay at an absolute URL on a host no source serves is refused (no open fetch); \
         imgix fetches it",
)];

/// One harvested case: the URL as found, and where.
struct Case {
    url: String,
    source: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/imgix-traffic.tsv"),
    )
    .expect("tests/data/imgix-traffic.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (url, source) = l.split_once('\t').expect("URL <TAB> source");
            Case {
                url: url.to_string(),
                source: source.to_string(),
            }
        })
        .collect()
}

/// The path and query a browser requests for a URL written into HTML: `&amp;` is `&`; the
/// query is everything after the first `?` (a second `?` belongs to the first pair's name, as
/// imgix reads it). A bare `?query` (appended to a variable in its source) keeps its query.
fn split(url: &str) -> (&str, String) {
    let unescaped = url.replace("&amp;", "&");
    let (path, query) = match url.split_once('?') {
        Some((p, _)) => (
            p,
            unescaped.split_once('?').map_or("", |(_, q)| q).to_string(),
        ),
        None => (url, String::new()),
    };
    (path, query)
}

/// A query as imgix reads it: names and values percent-decoded (`+` is a space), the last of a
/// repeated parameter wins, and `auto` combines its values.
struct Query {
    pairs: Vec<(String, String)>,
    auto: Vec<String>,
}

fn decode_component(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    fn parse(query: &str) -> Query {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut auto = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode_component(name), decode_component(value));
            if name == "auto" {
                auto.extend(value.split(',').map(|t| t.trim().to_ascii_lowercase()));
                continue;
            }
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
        }
        Query { pairs, auto }
    }

    /// The value of the first of `names` given (a parameter and its aliases).
    fn get(&self, names: &[&str]) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, names: &[&str]) -> bool {
        self.get(names).is_some()
    }
}

/// An original: its key, its upright size, whether it has transparency, its own format.
struct Photo {
    key: &'static str,
    size: (u32, u32),
    alpha: bool,
    mime: &'static str,
}

/// The format imgix serves a modern browser (AVIF and WebP accepted), per its `fm` and `auto`
/// documents: `auto=format` negotiates (AVIF here) and `fm` is only its fallback; `auto=compress`
/// without `format` serves PNG for transparency and JPEG otherwise, over `fm`, on stills; `fm`
/// otherwise; else the original's own format. `None` where the documents leave it open.
fn expected_format(q: &Query, photo: &Photo) -> Option<&'static str> {
    if q.auto.iter().any(|t| t == "format") {
        if matches!(q.get(&["fm"]), Some("json" | "blurhash")) {
            return None;
        }
        return Some("image/avif");
    }
    let fm = q.get(&["fm"]).map(|v| match v {
        "jpg" | "pjpg" => Some("image/jpeg"),
        "png" | "png8" | "png32" => Some("image/png"),
        "webp" => Some("image/webp"),
        "avif" => Some("image/avif"),
        "gif" => Some("image/gif"),
        "json" => Some("application/json"),
        _ => None,
    });
    if matches!(fm, Some(Some("application/json"))) {
        return Some("application/json");
    }
    if q.auto.iter().any(|t| t == "compress") {
        let masked = q.has(&["mask"]);
        if photo.alpha && q.has(&["bg", "fill-color", "fillcolor", "blend"]) {
            // Whether a background colour left any transparency is the colour's alpha: open.
            return None;
        }
        return Some(if photo.alpha || masked {
            "image/png"
        } else {
            "image/jpeg"
        });
    }
    match fm {
        Some(Some(mime)) => Some(mime),
        // An fm imgix cannot read is ignored: the original's format.
        Some(None) | None if q.has(&["mask"]) && !photo.alpha && photo.mime == "image/jpeg" => {
            // A mask on a JPEG: imgix documents PNG only with fm; the default stays open.
            None
        }
        _ => Some(photo.mime),
    }
}

/// A size value: pixels (a whole number above 1), or a share of the original's (0–1].
enum Side {
    Pixels(f64),
    Share(f64),
}

fn side(v: Option<&str>) -> Result<Option<Side>, ()> {
    let Some(v) = v else { return Ok(None) };
    let Ok(n) = v.trim().parse::<f64>() else {
        return Ok(None); // unreadable: ignored, as imgix ignores it
    };
    if n <= 0.0 || !n.is_finite() {
        return Ok(None);
    }
    if n <= 1.0 {
        return Ok(Some(Side::Share(n)));
    }
    if n.fract() != 0.0 {
        return Err(()); // a fractional pixel count: the documents do not say how it rounds
    }
    Ok(Some(Side::Pixels(n)))
}

/// The output size imgix documents for `q` over an original of `src` (after EXIF orientation),
/// or `None` where the documents leave it open.
fn expected_size(q: &Query, src: (u32, u32)) -> Option<(u32, u32)> {
    // Operations whose effect on the size the size rules do not cover: open.
    const OPEN: &[&str] = &[
        "rect",
        "orient",
        "or",
        "rot",
        "trim",
        "pad",
        "pad-top",
        "pad-left",
        "pad-right",
        "pad-bottom",
        "border",
        "frame",
    ];
    if q.pairs.iter().any(|(n, _)| OPEN.contains(&n.as_str())) {
        return None;
    }
    if matches!(q.get(&["fm"]), Some("json" | "blurhash")) || q.has(&["palette"]) {
        return None;
    }
    let (sw, sh) = (f64::from(src.0), f64::from(src.1));
    let w = side(q.get(&["w", "width"])).ok()?;
    let h = side(q.get(&["h", "height"])).ok()?;
    let dpr = match q.get(&["dpr"]).map(|v| v.parse::<f64>()) {
        Some(Ok(d)) if d > 0.0 && d <= 10.0 => d,
        Some(Ok(_)) => return None,
        _ => 1.0,
    };
    let px = |s: &Side, of: f64| match s {
        Side::Pixels(p) => *p,
        Side::Share(r) => r * of,
    };
    // dpr scales the requested box before the fit reads it: fit=max with dpr=2 still never
    // enlarges the original.
    let w = w.map(|s| px(&s, sw) * dpr);
    let h = h.map(|s| px(&s, sh) * dpr);
    const FITS: &[&str] = &[
        "clamp", "clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale",
    ];
    let fit = q
        .get(&["fit", "f"])
        .filter(|f| FITS.contains(f))
        .unwrap_or("clip");
    // ar: with fit=crop or fit=fill, W:H, when at most one side is given.
    let ar = match q.get(&["ar"]) {
        Some(v) if matches!(fit, "crop" | "fill") => {
            let (a, b) = v.split_once(':')?; // a bare decimal: not the documented W:H
            let (a, b): (f64, f64) = (a.parse().ok()?, b.parse().ok()?);
            (a > 0.0 && b > 0.0).then_some(a / b)
        }
        _ => None,
    };
    if w.is_none() && h.is_none() {
        // No size: dpr and min/max have nothing documented to act on.
        if dpr != 1.0 || q.has(&["min-w", "min-h", "max-w", "max-h"]) {
            return None;
        }
        if ar.is_none() {
            return Some(src); // the original's own size
        }
    }
    let aspect = sw / sh;
    let (ow, oh) = match (w, h) {
        (Some(w), Some(h)) => match fit {
            "clip" => fit_within(w, h, aspect),
            "max" => {
                let (fw, fh) = fit_within(w, h, aspect);
                if fw > sw || fh > sh {
                    (sw, sh)
                } else {
                    (fw, fh)
                }
            }
            "min" => {
                // The requested ratio, never past the original's size.
                let scale = (sw / w).min(sh / h).min(1.0);
                (w * scale, h * scale)
            }
            // The box exactly (filled, cropped, stretched, or framed on the face).
            _ => (w, h),
        },
        (Some(w), None) => match ar {
            Some(r) => (w, w / r),
            None if fit == "max" && w > sw => (sw, sh),
            None if fit == "min" => return None,
            None => (w, w / aspect),
        },
        (None, Some(h)) => match ar {
            Some(r) => (h * r, h),
            None if fit == "max" && h > sh => (sw, sh),
            None if fit == "min" => return None,
            None => (h * aspect, h),
        },
        (None, None) => {
            let r = ar?;
            if fit == "crop" {
                // The largest box of the ratio inside the original.
                if r > aspect {
                    (sw, sw / r)
                } else {
                    (sh * r, sh)
                }
            } else {
                // Fill: the smallest box of the ratio around it.
                if r > aspect {
                    (sh * r, sh)
                } else {
                    (sw, sw / r)
                }
            }
        }
    };
    if fit == "facearea" && (w.is_none() || h.is_none()) {
        return None; // facearea with one side: the face's own shape decides the other
    }
    if fit == "crop" && q.has(&["min-w", "min-h", "max-w", "max-h"]) {
        return None; // bounds on the derived side: covered by tests/imgix.rs, not here
    }
    let (ow, oh) = (ow.round(), oh.round());
    if ow > 8192.0 || oh > 8192.0 || ow < 1.0 || oh < 1.0 {
        return None; // past imgix's output cap: it scales down, by rules it does not publish
    }
    Some((ow as u32, oh as u32))
}

/// The largest box of `aspect` inside `w`×`h`.
fn fit_within(w: f64, h: f64, aspect: f64) -> (f64, f64) {
    if w / h > aspect {
        (h * aspect, h)
    } else {
        (w, w / aspect)
    }
}

fn close_to(got: (u32, u32), want: (u32, u32)) -> bool {
    got.0.abs_diff(want.0) <= 1 && got.1.abs_diff(want.1) <= 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harvested_imgix_urls_render_as_imgix_documents() {
    let cases = cases();
    let queries: std::collections::HashSet<String> =
        cases.iter().map(|c| split(&c.url).1).collect();
    let sources: std::collections::HashSet<&str> = cases
        .iter()
        .map(|c| c.source.split(" (").next().unwrap())
        .collect();
    assert!(
        queries.len() >= 300,
        "{} distinct query strings",
        queries.len()
    );
    assert!(sources.len() >= 100, "{} sources", sources.len());

    let s = TestServer::start(|_| {}).await;
    let photos = [
        Photo {
            key: "landscape.jpg",
            size: (1920, 1280),
            alpha: false,
            mime: "image/jpeg",
        },
        Photo {
            key: "portrait.jpg",
            size: (1200, 1800),
            alpha: false,
            mime: "image/jpeg",
        },
        Photo {
            key: "transparent.png",
            size: (2048, 1536),
            alpha: true,
            mime: "image/png",
        },
    ];
    s.put("landscape.jpg", &corpus_file("photos/mate-Storm.jpg"));
    s.put("portrait.jpg", &corpus_file("exif/recurser-Portrait_6.jpg"));
    s.put("transparent.png", &corpus_file("alpha/sharp-blackbug.png"));

    // imgix's typesetting endpoint: text on a transparent PNG blank, `w`×`h` when given (its
    // "original" is that blank; imgix serves it as PNG).
    let blanks: Vec<Photo> = cases
        .iter()
        .map(|c| split(&c.url))
        .filter(|(path, _)| path.ends_with("/~text"))
        .map(|(_, query)| {
            let q = Query::parse(&query);
            let side = |names: &[&str]| q.get(names).and_then(|v| v.parse::<u32>().ok());
            Photo {
                key: "~text",
                size: side(&["w", "width"])
                    .zip(side(&["h", "height"]))
                    .unwrap_or((0, 0)),
                alpha: true,
                mime: "image/png",
            }
        })
        .collect();
    let mut blank = blanks.iter();
    let mut runs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (path, query) = split(&case.url);
        if path.ends_with("/~text") {
            let photo = blank.next().expect("one blank per text case");
            runs.push((case, photo, format!("/~text?{query}"), query.clone()));
            continue;
        }
        let mut on: Vec<&Photo> = vec![&photos[0], &photos[1]];
        if i % 3 == 0 {
            on.push(&photos[2]);
        }
        for photo in on {
            let target = format!("/{}?{query}", photo.key);
            runs.push((case, photo, target, query.clone()));
        }
    }

    let mut failures: Vec<String> = Vec::new();
    let mut expected_seen = vec![false; EXPECTED_FAILURES.len()];
    let (mut passed, mut sized, mut formatted) = (0usize, 0usize, 0usize);
    for chunk in runs.chunks(2) {
        let answers = futures_util::future::join_all(chunk.iter().map(|(_, _, target, _)| {
            s.client
                .get(format!("{}{target}", s.base))
                .header("accept", ACCEPT)
                .send()
        }))
        .await;
        for ((case, photo, target, query), answer) in chunk.iter().zip(answers) {
            let q = Query::parse(query);
            let resp = answer.expect("request completes");
            let status = resp.status();
            let error = header(&resp, "x-refract-error");
            let mime = header(&resp, "content-type");
            let body = resp.bytes().await.expect("body");
            let mut problem = None;
            if status != 200 {
                problem = Some(format!("{status} {error}"));
            } else {
                if let Some(want) = expected_format(&q, photo) {
                    formatted += 1;
                    if !mime.starts_with(want) {
                        problem = Some(format!("format {mime}, imgix serves {want}"));
                    }
                }
                if problem.is_none() && mime.starts_with("image/") {
                    if let Some(want) = expected_size(&q, photo.size) {
                        sized += 1;
                        let d = decode(&body);
                        if !close_to((d.width, d.height), want) {
                            problem = Some(format!(
                                "{}x{}, imgix documents {}x{}",
                                d.width, d.height, want.0, want.1
                            ));
                        }
                    }
                }
            }
            let known = EXPECTED_FAILURES
                .iter()
                .position(|(piece, _)| query.contains(piece));
            match (problem, known) {
                (None, None) => passed += 1,
                (None, Some(k)) => failures.push(format!(
                    "{target} passes now: drop \"{}\" from EXPECTED_FAILURES",
                    EXPECTED_FAILURES[k].0
                )),
                (Some(_), Some(k)) => expected_seen[k] = true,
                (Some(p), None) => {
                    failures.push(format!("{target}\n    {p}\n    from {}", case.source))
                }
            }
        }
    }
    let total = runs.len();
    println!(
        "imgix traffic: {} URLs ({} distinct queries, {} sources), {total} renders: {passed} \
         pass ({:.1}%), {} expected failures; sizes checked {sized}, formats checked {formatted}",
        cases.len(),
        queries.len(),
        sources.len(),
        100.0 * passed as f64 / total as f64,
        total - passed - failures.len(),
    );
    for (k, seen) in expected_seen.iter().enumerate() {
        assert!(
            seen,
            "EXPECTED_FAILURES \"{}\" matched no failing case",
            EXPECTED_FAILURES[k].0
        );
    }
    assert!(
        failures.is_empty(),
        "{} unexpected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    s.stop().await;
}
