//! One client connection: Refract's own HTTP/1.1 loop for the requests that are most of the
//! traffic — `GET` and `HEAD` without a body — and hyper for everything else.
//!
//! Each request head is parsed in place (httparse, no allocation). A `GET` whose ready
//! response is live ([`super::hot`]) is answered at once: recorded (metrics, analytics, access
//! log) and written as head, `Date` and body in one vectored write. Any other bodiless `GET` or
//! `HEAD` is routed as usual ([`super::routes::read_only`]) and its response written here. The
//! first request this loop does not take on — one with a body (uploads, purges, deletes), an
//! `Upgrade`, `Expect` or `Connection: close`, HTTP/1.0, or a head it cannot parse or that
//! outgrows `--max-header-bytes` — hands the connection, with every byte read so far, to hyper
//! for the rest of its life, so hyper's answers to the unusual stay what they were.
//!
//! Timing out a client that is slow to send its head (`--header-read-timeout`, counted from
//! when the loop starts waiting for a request, as hyper does) costs no timer per request: one
//! timer per connection is moved only when it fires early. On shutdown, a connection closes as
//! soon as it has no request in progress.

use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Uri, Version};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Site;
use super::{hot, routes, wire};
use crate::observe::analytics::Served;
use crate::observe::metrics::RequestGuard;
use crate::observe::Lookup;
use crate::request::{AcceptClass, Hints};
use crate::transform::Rendered;

/// Most headers a request handled here may have (a request with more goes to hyper, which
/// allows 100).
const MAX_HEADERS: usize = 64;

/// What every connection of one listener shares.
pub struct Shared {
    /// The origin and the server's own state.
    pub site: Arc<Site>,
    /// hyper's settings, for connections handed to it.
    pub builder: http1::Builder,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// What to do with one parsed request head.
enum Action {
    /// Write this ready response (already recorded); touch the render cache when asked.
    Hot {
        hot: Arc<hot::Hot>,
        rendered: Arc<Rendered>,
        date: wire::DateLine,
        touch: bool,
    },
    /// Route this request and write its answer.
    Route(Request<()>),
    /// Give the connection to hyper.
    Handover,
}

/// Serve `stream` until the client closes it, times out, or the server shuts down. `watcher`
/// keeps the server's shutdown waiting for this connection, and tells hyper to finish if the
/// connection is handed to it.
pub async fn serve(shared: Arc<Shared>, watcher: Watcher, mut stream: TcpStream) {
    let config = shared.site.app.config();
    let (max_head, timeout) = (config.max_header_bytes, config.header_read_timeout);
    let send_timeout = config.send_timeout;
    let mut shutdown = shared.shutdown.clone();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let timer = tokio::time::sleep(timeout);
    tokio::pin!(timer);
    let mut head_out = Vec::new();
    // The client shut its side after sending what is in `buf`: answer that, then close.
    let mut eof = false;
    loop {
        // Read until `buf` starts with a complete head, and decide what to do with it.
        let mut waiting_since = None;
        let (len, action) = loop {
            if !buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(&buf) {
                    // The limit holds for the whole head, however the reads fell: one read
                    // can complete a head past it (hyper answers 431).
                    Ok(httparse::Status::Complete(len)) if len <= max_head => {
                        break (len, decide(&shared, &request))
                    }
                    Ok(httparse::Status::Partial) if buf.len() < max_head => {}
                    _ => break (0, Action::Handover),
                }
            } else if *shutdown.borrow() {
                return;
            }
            make_room(&mut buf);
            match stream.try_read_buf(&mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            tokio::select! {
                ready = stream.readable() => if ready.is_err() { return },
                () = &mut timer => {
                    let due = since + timeout;
                    if Instant::now() >= due {
                        tracing::debug!("request head not received in time; closing");
                        return;
                    }
                    timer.as_mut().reset(due);
                }
                _ = shutdown.changed(), if buf.is_empty() => return,
            }
        };
        let written = match action {
            Action::Handover => return handover(&shared, watcher, stream, buf).await,
            Action::Hot {
                hot,
                rendered,
                date,
                touch,
            } => {
                buf.advance(len);
                let result = match &hot.file {
                    Some(file) => {
                        head_out.clear();
                        head_out.extend_from_slice(&hot.head);
                        head_out.extend_from_slice(&date);
                        wire::send_with_file(&mut stream, &head_out, file, send_timeout).await
                    }
                    None => {
                        wire::write_all(
                            &mut stream,
                            &mut [
                                IoSlice::new(&hot.head),
                                IoSlice::new(&date),
                                IoSlice::new(&rendered.body),
                            ],
                            send_timeout,
                        )
                        .await
                    }
                };
                if touch {
                    shared
                        .site
                        .app
                        .renderer()
                        .cache()
                        .touch(&hot.cache_key)
                        .await;
                }
                result
            }
            Action::Route(request) => {
                buf.advance(len);
                let head_only = request.method() == Method::HEAD;
                let Some(response) =
                    route_while_connected(&shared.site, &request, &mut stream, &mut buf, &mut eof)
                        .await
                else {
                    return;
                };
                let (parts, body) = response.into_parts();
                let body = if head_only {
                    Bytes::new()
                } else {
                    http_body_util::BodyExt::collect(body)
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_else(|never: Infallible| match never {})
                };
                head_out.clear();
                wire::head(parts.status, &parts.headers, body.len(), &mut head_out);
                let (_, date) = wire::now();
                let close = parts
                    .headers
                    .get(hyper::header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                let result = wire::write_all(
                    &mut stream,
                    &mut [
                        IoSlice::new(&head_out),
                        IoSlice::new(&date),
                        IoSlice::new(&body),
                    ],
                    send_timeout,
                )
                .await;
                if close {
                    return;
                }
                result
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// Room in `buf` for the next read (a drained buffer is reused, not regrown).
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(8 * 1024);
    }
}

/// Route `request`, giving up (as hyper does) if the client closes the connection first: an
/// abandoned request is recorded as such (499) and gives back its place in the transform
/// queue. Bytes the client sends meanwhile (a pipelined request) are kept in `buf`. A client
/// that shuts its side after pipelining more requests (`buf` holds them) has only half-closed:
/// `eof` is set, and this request and those are answered before the connection closes.
async fn route_while_connected(
    site: &Site,
    request: &Request<()>,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    eof: &mut bool,
) -> Option<hyper::Response<http_body_util::Full<Bytes>>> {
    let routed = routes::read_only(site, request);
    tokio::pin!(routed);
    let mut watching = !*eof;
    loop {
        tokio::select! {
            biased;
            response = &mut routed => return Some(response),
            ready = stream.readable(), if watching => {
                if ready.is_err() {
                    return None;
                }
                make_room(buf);
                match stream.try_read_buf(buf) {
                    // The client shut its side after pipelining more: answer them all.
                    Ok(0) if !buf.is_empty() => {
                        *eof = true;
                        watching = false;
                    }
                    // The client closed its side.
                    Ok(0) => return None,
                    // A pipelined request: kept for later; stop watching.
                    Ok(_) => watching = false,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
            }
        }
    }
}

/// Decide what to do with a complete request head; a ready hit is recorded here (the
/// request's target is borrowed from the read buffer).
fn decide(shared: &Shared, request: &httparse::Request<'_, '_>) -> Action {
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Action::Handover;
    };
    let get = method == "GET";
    if !get && method != "HEAD" {
        return Action::Handover;
    }
    // Anything but origin-form (absolute-form, `*`) goes to hyper, and with it every request
    // without exactly one valid Host (answered 400 there).
    if !target.starts_with('/') {
        return Action::Handover;
    }
    let mut accept = None;
    let mut hints: [Option<&[u8]>; 3] = [None; 3];
    let mut conditional = false;
    let mut ranged = false;
    let (mut hosts, mut host) = (0, &b""[..]);
    for h in request.headers.iter() {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        match name.len() {
            4 if is("host") => {
                hosts += 1;
                host = h.value;
            }
            5 if is("range") => ranged = true,
            6 if is("accept") => {
                accept.get_or_insert(h.value);
            }
            6 if is("expect") => return Action::Handover,
            7 if is("upgrade") => return Action::Handover,
            9 if is("save-data") => {
                hints[2].get_or_insert(h.value);
            }
            10 if is("sec-ch-dpr") => {
                hints[0].get_or_insert(h.value);
            }
            // `close` and anything unusual: hyper knows every form.
            10 if is("connection") && !h.value.eq_ignore_ascii_case(b"keep-alive") => {
                return Action::Handover
            }
            12 if is("sec-ch-width") => {
                hints[1].get_or_insert(h.value);
            }
            13 if is("if-none-match") => conditional = true,
            14 if is("content-length") && h.value != b"0" => return Action::Handover,
            17 if is("transfer-encoding") => return Action::Handover,
            _ => {}
        }
    }
    if hosts != 1 || !routes::valid_host(host) {
        return Action::Handover;
    }
    let site = &shared.site;
    // A range is cut from the routed answer (ready entries hold whole answers).
    if get && !conditional && !ranged && required_headers_sent(site, request.headers) {
        let accept_class = AcceptClass::from_header(accept.and_then(visible_ascii));
        // Parsed as routing parses them: the raw values never reach the table.
        let [dpr, width, save_data] = hints.map(|h| h.and_then(visible_ascii));
        let probe = hot::Probe {
            target: target.as_bytes(),
            accept: accept_class,
            hints: Hints::from_values(dpr, width, save_data),
        };
        if let Some(hot) = site.hot.get(&probe) {
            let (now, date) = wire::now();
            if let Some(rendered) = hot.live(site.app.renderer().cache().epoch(), now) {
                record_hit(site, target, &hot, &rendered);
                let touch = hot.touch_due();
                return Action::Hot {
                    hot,
                    rendered,
                    date,
                    touch,
                };
            }
        }
    }
    match route_request(method, target, request.headers) {
        Some(request) => Action::Route(request),
        None => Action::Handover,
    }
}

/// A header value as text when it is all visible ASCII (and tabs): what hyper's
/// `HeaderValue::to_str` accepts, so a ready hit sees the same `Accept` that routing does.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// Whether every `--require-header` is present with its value (compared in constant time).
fn required_headers_sent(site: &Site, headers: &[httparse::Header<'_>]) -> bool {
    site.app
        .config()
        .require_headers
        .0
        .iter()
        .all(|(name, value)| {
            headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .is_some_and(|h| routes::constant_time_eq(h.value, value.as_bytes()))
        })
}

/// Metrics, analytics and the access log for a ready hit, as routing would record them.
fn record_hit(site: &Site, target: &str, hot: &hot::Hot, rendered: &Rendered) {
    let mut guard = RequestGuard::new(
        &site.app.observe().metrics,
        &site.app.observe().access_log,
        "GET",
        target,
    );
    guard.source(hot.source);
    guard.cache(Lookup::Hit);
    guard.image(
        200,
        &site.app.observe().analytics,
        Served {
            key: &hot.key,
            format: rendered.format,
            dpr: hot.dpr,
            width: rendered.size.width,
            bytes: rendered.body.len() as u64,
            original_bytes: rendered.original_bytes,
            lookup: Lookup::Hit,
        },
    );
}

/// The request as routing takes it, or `None` when hyper should judge it.
fn route_request(
    method: &str,
    target: &str,
    headers: &[httparse::Header<'_>],
) -> Option<Request<()>> {
    let mut request = Request::new(());
    *request.method_mut() = Method::from_bytes(method.as_bytes()).ok()?;
    *request.uri_mut() = Uri::from_maybe_shared(Bytes::copy_from_slice(target.as_bytes())).ok()?;
    *request.version_mut() = Version::HTTP_11;
    let map = request.headers_mut();
    map.reserve(headers.len());
    for h in headers {
        map.append(
            HeaderName::from_bytes(h.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(h.value).ok()?,
        );
    }
    Some(request)
}

/// Let hyper serve the rest of the connection, starting with the bytes already read.
async fn handover(shared: &Shared, watcher: Watcher, stream: TcpStream, read: BytesMut) {
    let site = shared.site.clone();
    let service = service_fn(move |req| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(routes::handle(&site, req).await) }
    });
    let io = TokioIo::new(Rewind {
        read: read.freeze(),
        stream,
        send_timeout: shared.site.app.config().send_timeout,
        stalled: None,
    });
    let connection = shared.builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A stream that first yields bytes already read from it, and gives up on a client that takes
/// none of what is written to it for `send_timeout`.
struct Rewind {
    read: Bytes,
    stream: TcpStream,
    send_timeout: std::time::Duration,
    /// Running while a write waits for the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Rewind {
    /// After a write: progress disarms the timer; waiting arms it, and past it is an error.
    fn waited<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.send_timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match std::future::Future::poll(timer.as_mut(), cx) {
            Poll::Ready(()) => Poll::Ready(Err(wire::send_timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.waited(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.waited(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_count::allocations;

    /// `decide` on a parsed copy of `raw`: whether it was a ready hit, and the allocations it
    /// made.
    fn decide_counted(shared: &Shared, raw: &[u8]) -> (bool, u64) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request.parse(raw).unwrap().is_complete());
        let before = allocations();
        let action = decide(shared, &request);
        let made = allocations() - before;
        (matches!(action, Action::Hot { .. }), made)
    }

    #[test]
    fn a_ready_hit_allocates_nothing() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::for_root(dir.path());
        config.access_log = false;
        let site = Arc::new(Site::new(crate::App::new(config).unwrap()));
        let (_stop, stopped) = watch::channel(false);
        let shared = Shared {
            site: site.clone(),
            builder: http1::Builder::new(),
            shutdown: stopped,
        };
        let rendered = hot::tests::rendered();
        let probe = hot::Probe {
            target: b"/a.jpg?w=1",
            accept: AcceptClass::Webp,
            hints: Hints::default(),
        };
        let ready = hot::tests::ready(
            &rendered,
            site.app.renderer().cache().epoch(),
            wire::now().0,
        );
        site.hot.insert(&probe, ready);
        let raw = b"GET /a.jpg?w=1 HTTP/1.1\r\nHost: x\r\nAccept: image/webp,*/*\r\n\r\n";
        // The first hit sets up what is made once (metric series, the analytics entry, the
        // date line of this second).
        assert!(decide_counted(&shared, raw).0);
        let mut measured = 0;
        while measured < 3 {
            let second = wire::now().0;
            let (hot, made) = decide_counted(&shared, raw);
            if wire::now().0 != second {
                continue; // the date line was formatted again: a new second, not a hit's cost
            }
            assert!(hot, "a ready hit");
            assert_eq!(made, 0, "allocations on a ready hit");
            measured += 1;
        }
        // A different Accept class is not this entry: routed, which allocates.
        let (hot, made) = decide_counted(&shared, b"GET /a.jpg?w=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(!hot && made > 0);
    }
}
