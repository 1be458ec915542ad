//! Building responses: the headers a CDN needs for an image (type, length, strong ETag and 304,
//! `Cache-Control`, `Vary`), and the one place an [`Error`] becomes an HTTP answer.

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::Site;
use crate::error::Error;
use crate::observe::Lookup;
use crate::request::signature::unix_now;
use crate::request::{ImageRequest, Varies};
use crate::transform::encode::Tier;
use crate::transform::Rendered;

/// Header naming how the cache answered (`hit`, `miss`, `coalesced`, `store`); handy behind a
/// CDN.
pub const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-refract-cache");

/// Parameters whose values were ignored (as imgix ignores them), comma-separated.
pub const X_IGNORED: header::HeaderName = header::HeaderName::from_static("x-refract-ignored");

/// Which encoder settings made the image (`first`, `refined`), with `--refine`.
pub const X_TIER: header::HeaderName = header::HeaderName::from_static("x-refract-tier");
/// Header carrying the stable error code on error responses.
pub const X_ERROR: header::HeaderName = header::HeaderName::from_static("x-refract-error");

/// The purge-key headers: Fastly's, Cloudflare's and Varnish xkey's names for one tag (built
/// once: a custom name given as text would be parsed and copied on every response).
const PURGE_HEADERS: [header::HeaderName; 3] = [
    header::HeaderName::from_static("surrogate-key"),
    header::HeaderName::from_static("cache-tag"),
    header::HeaderName::from_static("xkey"),
];

/// An image response, or 304 when `if_none_match` already names its ETag. For a signed URL
/// that `expires` (UNIX seconds), `max-age` never reaches past the expiry.
pub fn image(
    site: &Site,
    request: &ImageRequest,
    rendered: &Rendered,
    lookup: Lookup,
    if_none_match: Option<&HeaderValue>,
    expires: Option<u64>,
    head: bool,
) -> Response<Full<Bytes>> {
    let not_modified = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, &rendered.etag));
    let status = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let body = if not_modified || head {
        Bytes::new()
    } else {
        rendered.body.clone()
    };
    // A hit formats nothing: every value below is static, kept with the variant, or made once
    // per process — except a signed URL's max-age, which depends on the clock.
    let cache_control = match expires {
        None if rendered.tier == Tier::First => site.first_cache_control.clone(),
        None => site.image_cache_control.clone(),
        Some(_) => {
            let seconds = max_age(site.app.config().max_age.as_secs(), expires);
            HeaderValue::from_str(&cache_control(seconds)).expect("digits")
        }
    };
    let mut builder = Response::builder().status(status);
    if let Some(headers) = builder.headers_mut() {
        // Every header below in one allocation, not a map regrown as they are added.
        headers.reserve(13);
    }
    builder = builder
        .header(header::ETAG, &rendered.etag)
        .header(header::CACHE_CONTROL, cache_control)
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
        .header(X_CACHE, HeaderValue::from_static(lookup.as_str()))
        // Single byte ranges are served (see [`ranged`]).
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if !request.params.ignored.is_empty() {
        builder = builder.header(X_IGNORED, request.params.ignored.join(", "));
    }
    if rendered.tier != Tier::Standard {
        builder = builder.header(X_TIER, HeaderValue::from_static(rendered.tier.name()));
    }
    // The original's purge key, for each CDN's tag purge.
    for name in PURGE_HEADERS {
        builder = builder.header(name, rendered.purge_tag.clone());
    }
    if let Some(vary) = vary(request.varies_on_accept(), request.params.varies) {
        builder = builder.header(header::VARY, vary);
    }
    if let Some(name) = &request.params.download {
        let disposition = if name.is_empty() {
            "attachment".to_owned()
        } else if name.contains('.') {
            format!("attachment; filename=\"{name}\"")
        } else {
            format!(
                "attachment; filename=\"{name}.{}\"",
                rendered.format.extension()
            )
        };
        builder = builder.header(header::CONTENT_DISPOSITION, disposition);
    }
    if !not_modified {
        builder = builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendered.format.mime()),
        );
        // hyper writes the length of a full body itself; a HEAD answer has none to measure.
        if head {
            builder = builder.header(header::CONTENT_LENGTH, rendered.body.len());
        }
    }
    builder.body(Full::new(body)).expect("valid response")
}

/// `Cache-Control` for an image cacheable for `max_age` seconds.
pub fn cache_control(max_age: u64) -> String {
    format!("public, max-age={max_age}")
}

/// The `Vary` value for a response negotiated on `Accept` (when `accept`) and on the hints in
/// `varies`; `None` when it depends on no request header. The 16 possible values are built once.
fn vary(accept: bool, varies: Varies) -> Option<HeaderValue> {
    static VALUES: OnceLock<Vec<Option<HeaderValue>>> = OnceLock::new();
    let index = |accept: bool, v: Varies| {
        usize::from(accept) << 3
            | usize::from(v.dpr) << 2
            | usize::from(v.width) << 1
            | usize::from(v.save_data)
    };
    let values = VALUES.get_or_init(|| {
        let mut values = vec![None; 16];
        for bits in 0..16usize {
            let (accept, v) = (
                bits & 8 != 0,
                Varies {
                    dpr: bits & 4 != 0,
                    width: bits & 2 != 0,
                    save_data: bits & 1 != 0,
                },
            );
            let names: Vec<&str> = accept
                .then_some("Accept")
                .into_iter()
                .chain(v.names())
                .collect();
            values[index(accept, v)] = (!names.is_empty())
                .then(|| HeaderValue::from_str(&names.join(", ")).expect("header names"));
        }
        values
    });
    values[index(accept, varies)].clone()
}

/// The configured `max-age`, cut so that a cached copy never outlives a signed URL's expiry.
fn max_age(configured: u64, expires: Option<u64>) -> u64 {
    let Some(expires) = expires else {
        return configured;
    };
    configured.min(expires.saturating_sub(unix_now()))
}

/// Weak comparison, as RFC 9110 prescribes for `If-None-Match`: `*`, or any listed tag equal to
/// ours once `W/` is dropped.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The answer for an error: status, short `code: reason` text, the code in a header, and a
/// cache policy — short for 4xx (the URL may start working once the original is uploaded),
/// `no-store` for 5xx.
pub fn error(site: &Site, err: &Error, head: bool) -> Response<Full<Bytes>> {
    let status = err.status();
    let cache_control = if status >= 500 {
        "no-store".to_owned()
    } else {
        format!(
            "public, max-age={}",
            site.app.config().error_max_age.as_secs()
        )
    };
    let body = format!("{}: {}\n", err.code(), err.public_message());
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(X_ERROR, err.code());
    if matches!(err, Error::MethodNotAllowed) {
        builder = builder.header(header::ALLOW, "GET, HEAD");
    }
    if let Some(seconds) = err.retry_after() {
        builder = builder.header(header::RETRY_AFTER, seconds);
    }
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    builder.body(Full::new(body)).expect("valid response")
}

/// The `/metrics` page in the Prometheus text format.
pub fn metrics(text: String, head: bool) -> Response<Full<Bytes>> {
    uncached(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(text),
        head,
    )
}

/// A JSON document (`/analytics`).
pub fn json(body: String, head: bool) -> Response<Full<Bytes>> {
    uncached(200, "application/json", Bytes::from(body), head)
}

/// The demo page: HTML asking for client hints, with a policy that allows nothing but this
/// origin's own images, the page's inline style and its playground script.
pub fn demo(html: String, head: bool) -> Response<Full<Bytes>> {
    let mut response = uncached(200, "text/html; charset=utf-8", Bytes::from(html), head);
    let headers = response.headers_mut();
    headers.insert(
        "accept-ch",
        HeaderValue::from_static(super::demo::ACCEPT_CH),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&super::demo::content_security_policy())
            .expect("a header-safe policy"),
    );
    response
}

/// A small plain-text response (health endpoints).
pub fn text(status: u16, body: &'static str, head: bool) -> Response<Full<Bytes>> {
    uncached(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
        head,
    )
}

/// An operational response that no cache may keep.
/// A `text/plain` answer of `body`, never cached.
pub fn plain(status: u16, body: Bytes, head: bool) -> Response<Full<Bytes>> {
    uncached(status, "text/plain; charset=utf-8", body, head)
}

fn uncached(status: u16, content_type: &str, body: Bytes, head: bool) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(if head { Bytes::new() } else { body }))
        .expect("valid response")
}

/// `response` (a whole 200 answer) cut to the single byte range `range` asks for: 206 with
/// `Content-Range`, or 416 when the range starts past the end. Unchanged (200, the whole body)
/// when there is no range, when `if_range` names another ETag (or a date: Refract sends no
/// `Last-Modified` to compare it with), for several ranges, and for anything it cannot read —
/// RFC 9110 §14 lets a server ignore those.
pub fn ranged(
    response: Response<Full<Bytes>>,
    range: Option<&HeaderValue>,
    if_range: Option<&HeaderValue>,
) -> Response<Full<Bytes>> {
    let Some(range) = range.and_then(|r| r.to_str().ok()) else {
        return response;
    };
    if response.status() != StatusCode::OK {
        return response;
    }
    let etag = response.headers().get(header::ETAG);
    if let Some(if_range) = if_range {
        // A strong comparison: weak validators never match.
        let same = etag.is_some_and(|e| e.as_bytes() == if_range.as_bytes())
            && !if_range.as_bytes().starts_with(b"W/");
        if !same {
            return response;
        }
    }
    let (mut parts, body) = response.into_parts();
    let body = body_bytes(body);
    let len = body.len() as u64;
    let (status, content_range, body) = match byte_range(range, len) {
        Range::Whole => return Response::from_parts(parts, Full::new(body)),
        // The length is the writer's to set, from the body (as for any answer).
        Range::Part(a, b) => (
            StatusCode::PARTIAL_CONTENT,
            format!("bytes {a}-{b}/{len}"),
            body.slice(a as usize..=b as usize),
        ),
        Range::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("bytes */{len}"),
            Bytes::new(),
        ),
    };
    parts.status = status;
    parts.headers.insert(
        header::CONTENT_RANGE,
        HeaderValue::from_str(&content_range).expect("digits"),
    );
    Response::from_parts(parts, Full::new(body))
}

/// What a `Range` header asks of a `len`-byte body.
enum Range {
    /// The whole body: no single byte range Refract reads.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// A range that starts past the end.
    Unsatisfiable,
}

/// Read `range` (`bytes=A-B`, `bytes=A-`, `bytes=-N`) against a `len`-byte body.
fn byte_range(range: &str, len: u64) -> Range {
    let Some(spec) = range.trim().strip_prefix("bytes=").map(str::trim) else {
        return Range::Whole;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let end = len.saturating_sub(1);
    let (a, b) = match (number(first), number(last), first.is_empty()) {
        // bytes=-N: the last N bytes.
        (None, Some(n), true) if n > 0 => (len.saturating_sub(n), end),
        // bytes=A- and bytes=A-B.
        (Some(a), None, false) if last.is_empty() => (a, end),
        (Some(a), Some(b), false) if a <= b => (a, b.min(end)),
        _ => return Range::Whole,
    };
    if a < len {
        Range::Part(a, b)
    } else {
        Range::Unsatisfiable
    }
}

/// The bytes of a whole body.
fn body_bytes(body: Full<Bytes>) -> Bytes {
    use http_body_util::BodyExt as _;
    // A `Full` body is one frame, ready at once.
    futures_util::FutureExt::now_or_never(body.collect())
        .expect("a full body is ready")
        .map(|b| b.to_bytes())
        .unwrap_or_else(|never| match never {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_comparison() {
        let tag = "\"abc\"";
        assert!(etag_matches("\"abc\"", tag));
        assert!(etag_matches("W/\"abc\"", tag));
        assert!(etag_matches("\"x\", \"abc\"", tag));
        assert!(etag_matches("*", tag));
        assert!(!etag_matches("\"abcd\"", tag));
        assert!(!etag_matches("abc", tag));
    }

    #[test]
    fn single_ranges_are_cut_and_the_rest_left_whole() {
        let whole = || {
            Response::builder()
                .status(200)
                .header(header::ETAG, "\"e\"")
                .body(Full::new(Bytes::from_static(b"0123456789")))
                .unwrap()
        };
        let cut = |range: &str, if_range: Option<&str>| {
            let range = HeaderValue::from_str(range).unwrap();
            let if_range = if_range.map(|v| HeaderValue::from_str(v).unwrap());
            let r = ranged(whole(), Some(&range), if_range.as_ref());
            let content_range = r
                .headers()
                .get(header::CONTENT_RANGE)
                .map(|v| v.to_str().unwrap().to_owned());
            (
                r.status().as_u16(),
                content_range,
                body_bytes(r.into_body()),
            )
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            cut("bytes=2-4", None),
            (206, some("bytes 2-4/10"), Bytes::from("234"))
        );
        assert_eq!(
            cut("bytes=7-", None),
            (206, some("bytes 7-9/10"), Bytes::from("789"))
        );
        assert_eq!(
            cut("bytes=-3", None),
            (206, some("bytes 7-9/10"), Bytes::from("789"))
        );
        assert_eq!(
            cut("bytes=8-99", None),
            (206, some("bytes 8-9/10"), Bytes::from("89"))
        );
        assert_eq!(
            cut("bytes=10-", None),
            (416, some("bytes */10"), Bytes::new())
        );
        for whole_body in [
            "bytes=0-1,3-4",
            "bytes=5-2",
            "bytes=-0",
            "lines=1-2",
            "bytes=a-",
        ] {
            assert_eq!(cut(whole_body, None).0, 200, "{whole_body}");
        }
        assert_eq!(cut("bytes=0-0", Some("\"e\"")).0, 206);
        assert_eq!(cut("bytes=0-0", Some("\"f\"")).0, 200);
        assert_eq!(cut("bytes=0-0", Some("W/\"e\"")).0, 200);
    }
}
