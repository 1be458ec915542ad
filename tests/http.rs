//! HTTP semantics: status codes, headers, ETag/304, Vary, HEAD, errors, health.

use std::io::{Read, Write};

use refract::encoding::format::Format;

use crate::support::fixtures::{half_transparent_png, quadrants_jpeg};
use crate::support::images::decode;
use crate::support::{header, TestServer};

const CHROME_ACCEPT: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
const SAFARI_ACCEPT: &str = "image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5";

#[tokio::test]
async fn serves_a_resized_image_with_cdn_headers() {
    let s = TestServer::start(|_| {}).await;
    s.put("photos/q.jpg", &quadrants_jpeg(400, 300));
    let r = s.get("/photos/q.jpg?w=100").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "cache-control"), "public, max-age=31557600");
    let etag = header(&r, "etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    assert_eq!(
        header(&r, "vary"),
        "",
        "no Vary when the output ignores Accept"
    );
    let length: usize = header(&r, "content-length").parse().unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    let d = decode(&body);
    assert_eq!((d.format, d.width, d.height), (Format::JPEG, 100, 75));
}

#[tokio::test]
async fn head_sends_the_headers_without_the_body() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    let get = s.get("/q.jpg?w=50").await;
    let get_len = header(&get, "content-length");
    let get_etag = header(&get, "etag");
    let head = s
        .client
        .head(format!("{}/q.jpg?w=50", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), get_len);
    assert_eq!(header(&head, "etag"), get_etag);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn etag_answers_conditional_requests_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.jpg"), quadrants_jpeg(400, 300)).unwrap();
    let s = TestServer::start_at(dir.path(), |_| {}).await;
    let etag = header(&s.get("/q.jpg?w=120&fm=webp").await, "etag");

    for candidate in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let r = s
            .get_with("/q.jpg?w=120&fm=webp", &[("if-none-match", &candidate)])
            .await;
        assert_eq!(r.status(), 304, "If-None-Match: {candidate}");
        assert_eq!(header(&r, "etag"), etag);
        assert!(header(&r, "cache-control").starts_with("public"));
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let r = s
        .get_with("/q.jpg?w=120&fm=webp", &[("if-none-match", "\"other\"")])
        .await;
    assert_eq!(r.status(), 200);
    let other_variant = header(&s.get("/q.jpg?w=121&fm=webp").await, "etag");
    assert_ne!(other_variant, etag);
    s.stop().await;

    // A fresh process (new cache) renders the same bytes and so the same ETag.
    let again = TestServer::start_at(dir.path(), |_| {}).await;
    assert_eq!(
        header(&again.get("/q.jpg?w=120&fm=webp").await, "etag"),
        etag
    );
}

#[tokio::test]
async fn fm_auto_negotiates_by_accept_and_says_vary() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    s.put("a.png", &half_transparent_png(200, 100));
    let cases = [
        ("/q.jpg?w=80&fm=auto", CHROME_ACCEPT, Format::Avif),
        ("/q.jpg?w=80&fm=auto", SAFARI_ACCEPT, Format::Webp),
        ("/q.jpg?w=80&fm=auto", "*/*", Format::JPEG),
        ("/a.png?w=80&fm=auto", "*/*", Format::Png),
        // imgix clients ask with auto=format.
        ("/q.jpg?w=80&auto=format", SAFARI_ACCEPT, Format::Webp),
    ];
    for (url, accept, expected) in cases {
        let r = s.get_with(url, &[("accept", accept)]).await;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(header(&r, "vary"), "Accept", "{url}");
        assert_eq!(
            header(&r, "content-type"),
            expected.mime(),
            "{url} {accept}"
        );
        assert_eq!(decode(&r.bytes().await.unwrap()).format, expected, "{url}");
    }
    // With auto=format, fm is the fallback (imgix's fm docs): negotiated, and varying.
    let r = s
        .get_with(
            "/q.jpg?w=80&auto=format&fm=png",
            &[("accept", CHROME_ACCEPT)],
        )
        .await;
    assert_eq!(header(&r, "content-type"), "image/avif");
    assert_eq!(header(&r, "vary"), "Accept");
    // fm alone is the answer, and then nothing varies.
    let r = s
        .get_with("/q.jpg?w=80&fm=png", &[("accept", CHROME_ACCEPT)])
        .await;
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(header(&r, "vary"), "");
}

#[tokio::test]
async fn output_formats_by_name() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    for (fm, format) in [
        ("jpg", Format::JPEG),
        ("pjpg", Format::JPEG),
        ("png", Format::Png),
        ("webp", Format::Webp),
        ("avif", Format::Avif),
        ("gif", Format::Gif),
    ] {
        let r = s.get(&format!("/q.jpg?w=64&fm={fm}")).await;
        assert_eq!(r.status(), 200, "{fm}");
        assert_eq!(header(&r, "content-type"), format.mime());
        let d = decode(&r.bytes().await.unwrap());
        assert_eq!((d.format, d.width, d.height), (format, 64, 48), "{fm}");
    }
}

#[tokio::test]
async fn errors_have_status_code_reason_and_cache_policy() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(40, 30));
    s.put("notes.txt", b"just text, not an image");

    let r = s.get("/missing.jpg?w=10").await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "x-refract-error"), "not_found");
    assert_eq!(header(&r, "cache-control"), "public, max-age=60");

    // A value imgix would ignore: ignored (the rest renders), and named.
    let bad = [
        ("w=0", "w"),
        ("w=abc", "w"),
        ("dpr=9", "dpr"),
        ("q=0", "q"),
        ("fm=bmp", "fm"),
        ("fit=sideways", "fit"),
        ("crop=up", "crop"),
        ("fp-x=1.5", "fp-x"),
    ];
    for (q, param) in bad {
        let r = s.get(&format!("/q.jpg?{q}")).await;
        assert_eq!(r.status(), 200, "{q}");
        assert_eq!(header(&r, "x-refract-ignored"), param, "{q}");
    }
    // Past --max-dimension: a limit, refused either way.
    let r = s.get("/q.jpg?h=99999").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (400, "bad_param".to_owned())
    );
    // With --strict-params, each is a 400 with a one-line reason.
    let strict = TestServer::start_at(&s.root, |c| c.strict_params = true).await;
    for (q, param) in bad.into_iter().chain([("h=99999", "h")]) {
        let r = strict.get(&format!("/q.jpg?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        assert_eq!(header(&r, "x-refract-error"), "bad_param");
        let body = r.text().await.unwrap();
        assert!(
            body.starts_with(&format!("bad_param: {param}: ")),
            "{q}: {body}"
        );
        assert_eq!(body.lines().count(), 1, "one-line reason: {body}");
    }

    // An imgix parameter Refract does not implement: refused by name, briefly cacheable,
    // never a silently different image.
    for (q, param) in [
        ("w=10&fp-debug=1", "fp-debug"),
        ("txt-lig=1", "txt-lig"),
        ("page=2", "page"),
    ] {
        let r = s.get(&format!("/q.jpg?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        assert_eq!(header(&r, "x-refract-error"), "unsupported_param");
        assert_eq!(header(&r, "cache-control"), "public, max-age=60");
        let body = r.text().await.unwrap();
        assert!(
            body.starts_with(&format!("unsupported_param: {param}: ")),
            "{body}"
        );
    }
    // Names imgix does not define are ignored.
    let r = s.get("/q.jpg?w=10&ixlib=js-3.8.0&utm_source=mail").await;
    assert_eq!(r.status(), 200);

    let r = s.get("/notes.txt?w=10").await;
    assert_eq!(r.status(), 422);
    assert_eq!(header(&r, "x-refract-error"), "unsupported_format");

    let r = s
        .client
        .post(format!("{}/q.jpg", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");
}

/// Send a raw request line (clients normalise `..` away, attackers do not).
fn raw_get(base: &str, target: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

#[tokio::test]
async fn path_traversal_is_refused_in_every_spelling() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(outer.path().join("secret.jpg"), quadrants_jpeg(20, 20)).unwrap();
    let s = TestServer::start_at(&root, |_| {}).await;
    let base = s.base.clone();
    for target in [
        "/../secret.jpg",
        "/%2e%2e/secret.jpg",
        "/%2E%2E%2Fsecret.jpg",
        "/a/..%2f..%2fsecret.jpg",
        "/..%5csecret.jpg",
    ] {
        let base = base.clone();
        let answer = tokio::task::spawn_blocking(move || raw_get(&base, target))
            .await
            .unwrap();
        let status = answer.split_whitespace().nth(1).unwrap_or("").to_owned();
        assert_eq!(status, "400", "{target}: {answer}");
        assert!(answer.contains("bad_path"), "{target}");
    }
}

#[tokio::test]
async fn health_endpoints() {
    let s = TestServer::start(|_| {}).await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status(), 200);
    // `ok`, then the learned models checked at start (the ones `make deps` installs).
    let text = r.text().await.unwrap();
    assert!(text.starts_with("ok\n"), "{text}");
    assert!(
        text.contains("model foreground ") && text.contains("u2netp.onnx"),
        "{text}"
    );
    assert!(
        text.contains("model upscale ") && text.contains("factor 4"),
        "{text}"
    );
    let r = s.get("/readyz").await;
    assert_eq!(r.status(), 200);
    s.app.begin_shutdown();
    assert_eq!(s.get("/readyz").await.status(), 503);
    assert_eq!(s.get("/healthz").await.status(), 200, "liveness stays up");
}
