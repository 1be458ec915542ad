//! The floor under a Refract cache hit: hyper answering every GET with one body held in memory
//! and the headers a Refract hit sends (ETag, Cache-Control, nosniff, X-Refract-Cache, the three
//! purge-key headers, Vary, Content-Type) — no routing, no URL parsing, no cache lookup, no
//! metrics, no log. The load benchmark's (b) workload runs it next to Refract and nginx, so the
//! share of a hit's CPU that is hyper's own (and would only go by bypassing hyper) is measured,
//! not guessed.
//!
//! ```sh
//! cargo run --release --example hyper_floor -- 127.0.0.1:8099 body.webp
//! ```

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::{TokioIo, TokioTimer};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_floor LISTEN-ADDR BODY-FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file)?);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("hyper_floor listen={}", listener.local_addr()?);
    let mut builder = http1::Builder::new();
    // As Refract's listener is set up (src/server/mod.rs).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        let service = service_fn(move |_req| {
            let body = body.clone();
            async move { Ok::<_, Infallible>(hit(body)) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// A response with a Refract hit's headers, every value static.
fn hit(body: Bytes) -> Response<Full<Bytes>> {
    let tag = HeaderValue::from_static("0123456789abcdef0123456789abcdef");
    let mut builder = Response::builder()
        .header(
            header::ETAG,
            HeaderValue::from_static("\"0123456789abcdef0123456789abcdef\""),
        )
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        )
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
        .header(
            HeaderName::from_static("x-refract-cache"),
            HeaderValue::from_static("hit"),
        );
    for name in ["surrogate-key", "cache-tag", "xkey"] {
        builder = builder.header(HeaderName::from_static(name), tag.clone());
    }
    builder
        .header(header::VARY, HeaderValue::from_static("Accept"))
        .header(header::CONTENT_TYPE, HeaderValue::from_static("image/webp"))
        .body(Full::new(body))
        .expect("valid response")
}
