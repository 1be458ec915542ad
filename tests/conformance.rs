//! HTTP/1.1 conformance, probed with raw sockets and read with a strict response parser written
//! here (not the server's code, not hyper, not reqwest): request smuggling shapes (CL+TE,
//! duplicate Content-Length, chunked GET bodies), obs-fold, NUL bytes, Host rules, HEAD and 304
//! framing, a 100-request pipeline, half-close, the head-size limit, slow readers, byte ranges,
//! and ready responses that must not grow with hostile client hints. Each case runs against
//! Refract alone; the framing cases run again behind the project's Varnish VCL.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::edge::Varnish;
use crate::support::fixtures::{noise_jpeg, quadrants_jpeg};
use crate::support::TestServer;

/// A response as a strict reader sees it.
#[derive(Debug)]
pub struct Strict {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Strict {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A raw connection, read response by response.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Raw {
    pub fn open(base: &str) -> Raw {
        let stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Raw {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Read more; false at end of stream (or a reset).
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Whether the server closed the connection: nothing buffered, and end of stream (or a
    /// reset) within a moment; a connection that stays open and silent is not closed.
    pub fn closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        if self.eof {
            return true;
        }
        let wait = Duration::from_millis(1000);
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 4096];
        let closed = match self.stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        };
        self.eof = closed;
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        closed
    }

    /// The next response, or why it is not a well-formed HTTP/1.1 response. `head_request`:
    /// it answers a HEAD (no body, whatever the headers say).
    pub fn read(&mut self, head_request: bool) -> Result<Strict, String> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                return Err(format!(
                    "connection closed before a complete head ({} bytes)",
                    self.buf.len()
                ));
            }
        };
        let head = self.buf[..end - 2].to_vec();
        self.buf.drain(..end);
        // Every line ends in CRLF: no bare CR or LF anywhere, no NUL.
        for (i, &b) in head.iter().enumerate() {
            match b {
                b'\n' if i == 0 || head[i - 1] != b'\r' => return Err("bare LF".into()),
                b'\r' if head.get(i + 1) != Some(&b'\n') => return Err("bare CR".into()),
                0 => return Err("NUL in head".into()),
                _ => {}
            }
        }
        let text = std::str::from_utf8(&head).map_err(|_| "head not UTF-8")?;
        let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
        let status_line = lines.next().ok_or("no status line")?;
        // HTTP/1.0 only in answer to an HTTP/1.0 request (the one case that sends one).
        let rest = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .ok_or_else(|| format!("not HTTP/1.x: {status_line}"))?;
        let code = rest.get(..3).ok_or("short status")?;
        if !code.bytes().all(|b| b.is_ascii_digit()) || rest.as_bytes().get(3) != Some(&b' ') {
            return Err(format!("bad status line: {status_line}"));
        }
        let status: u16 = code.parse().unwrap();
        let mut headers = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                return Err(format!("obs-fold: {line:?}"));
            }
            let (name, value) = line.split_once(':').ok_or("header without colon")?;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(format!("bad header name {name:?}"));
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut answer = Strict {
            status,
            headers,
            body: Vec::new(),
        };
        let lengths = answer.all("content-length");
        let chunked = answer
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked"));
        if chunked && !lengths.is_empty() {
            return Err("both Transfer-Encoding and Content-Length".into());
        }
        if lengths.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("conflicting Content-Length {lengths:?}"));
        }
        let bodiless = head_request || status == 304 || status == 204 || status < 200;
        if bodiless {
            return Ok(answer);
        }
        if chunked {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if !self.fill() {
                        return Err("closed inside a chunk size".into());
                    }
                };
                let size_text = std::str::from_utf8(&self.buf[..line_end]).map_err(|_| "chunk")?;
                let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                    .map_err(|_| format!("bad chunk size {size_text:?}"))?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    if !self.fill() {
                        return Err("closed inside a chunk".into());
                    }
                }
                if &self.buf[size..size + 2] != b"\r\n" {
                    return Err("chunk not followed by CRLF".into());
                }
                answer.body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
                if size == 0 {
                    return Ok(answer);
                }
            }
        }
        match lengths.first() {
            Some(n) => {
                if !n.bytes().all(|b| b.is_ascii_digit()) || n.is_empty() {
                    return Err(format!("bad Content-Length {n:?}"));
                }
                let len: usize = n.parse().unwrap();
                while self.buf.len() < len {
                    if !self.fill() {
                        return Err(format!(
                            "closed after {} of {len} body bytes",
                            self.buf.len()
                        ));
                    }
                }
                answer.body = self.buf.drain(..len).collect();
            }
            None => {
                // Delimited by the close.
                while self.fill() {}
                answer.body = std::mem::take(&mut self.buf);
            }
        }
        Ok(answer)
    }
}

/// A `GET` of `target` with a Host and `extra` header lines.
pub fn get(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").into_bytes()
}

/// A server with a photo-like original (`cat.jpg`) and a large noisy one (`big.jpg`).
async fn server(tweak: impl FnOnce(&mut refract::Config)) -> TestServer {
    let s = TestServer::start(tweak).await;
    s.put("cat.jpg", &quadrants_jpeg(400, 300));
    s.put("big.jpg", &noise_jpeg(1600, 1200, 7));
    s
}

/// Run `f` on a blocking thread (raw sockets block).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The framing cases: each must be answered by a well-formed response, and never let a request
/// hide inside another (after each, a plain GET on the same connection, if it is still open,
/// gets its own 200). `cdn`: a cache in front answers malformed requests its own way (Varnish
/// unfolds obs-fold, for one); only the framing is held to then.
fn framing_cases(base: &str, cdn: bool) {
    let after = |c: &mut Raw, case: &str| {
        if c.closed() {
            return;
        }
        c.send(&get("/cat.jpg?w=10", ""));
        match c.read(false) {
            Ok(r) => assert_eq!(r.status, 200, "{case}: the request after it"),
            // The server may close after an error, as long as it does so cleanly.
            Err(e) => assert!(e.starts_with("connection closed"), "{case}: {e}"),
        }
    };
    let cases: &[(&str, &[u8], u16)] = &[
        (
            "CL and TE",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "duplicate, different Content-Length",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
        (
            "obs-fold",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nX-A: a\r\n b\r\n\r\n",
            400,
        ),
        (
            "NUL in a header",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nX-A: a\0b\r\n\r\n",
            400,
        ),
        (
            "space before the colon",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost : test\r\n\r\n",
            400,
        ),
        (
            "no Host",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nAccept: */*\r\n\r\n",
            400,
        ),
        (
            "two Host lines",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        (
            "an invalid Host",
            b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: a b/c\r\n\r\n",
            400,
        ),
        (
            "absolute-form without Host",
            b"GET http://test/cat.jpg?w=10 HTTP/1.1\r\nAccept: */*\r\n\r\n",
            400,
        ),
        (
            "HTTP/1.0 without Host",
            b"GET /cat.jpg?w=10 HTTP/1.0\r\n\r\n",
            200,
        ),
    ];
    for &(case, raw, status) in cases {
        let mut c = Raw::open(base);
        c.send(raw);
        let r = c.read(false).unwrap_or_else(|e| panic!("{case}: {e}"));
        // RFC 9112 §6.1: a request with both may instead be read by its Transfer-Encoding,
        // as long as the connection is closed after the answer.
        if case == "CL and TE" && r.status == 200 {
            assert!(c.closed(), "{case}: answered, so the connection must close");
            continue;
        }
        if cdn {
            assert!(
                r.status == 200 || (400..500).contains(&r.status),
                "{case}: {}",
                r.status
            );
            after(&mut c, case);
            continue;
        }
        assert_eq!(r.status, status, "{case}");
        if status == 200 {
            continue; // HTTP/1.0: closed after the answer
        }
        after(&mut c, case);
    }
    // A chunked body on a GET is read and dropped, never taken as the next request.
    let mut c = Raw::open(base);
    c.send(b"GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n1d\r\nGET /nope.jpg HTTP/1.1\r\nX: y\r\n0\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 200, "chunked GET");
    after(&mut c, "chunked GET");
    // HEAD: the GET's headers, no body (the next response follows at once).
    let mut c = Raw::open(base);
    c.send(&get("/cat.jpg?w=20", ""));
    let full = c.read(false).unwrap();
    c.send(b"HEAD /cat.jpg?w=20 HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = c.read(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(full.body.len().to_string().as_str())
    );
    // 304: no body, the same ETag.
    let etag = full.header("etag").unwrap().to_owned();
    c.send(&get("/cat.jpg?w=20", &format!("If-None-Match: {etag}\r\n")));
    let not_modified = c.read(false).unwrap();
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    after(&mut c, "304");
    // 100 pipelined requests, answered in order.
    let mut c = Raw::open(base);
    let mut burst = Vec::new();
    for i in 0..100 {
        burst.extend(get(&format!("/cat.jpg?w={}", 10 + i % 5), ""));
    }
    c.send(&burst);
    let first = (0..5)
        .map(|i| {
            let mut one = Raw::open(base);
            one.send(&get(&format!("/cat.jpg?w={}", 10 + i), ""));
            one.read(false).unwrap().body
        })
        .collect::<Vec<_>>();
    for i in 0..100 {
        let r = c
            .read(false)
            .unwrap_or_else(|e| panic!("pipelined #{i}: {e}"));
        assert_eq!(r.status, 200, "pipelined #{i}");
        assert_eq!(r.body, first[i % 5], "pipelined #{i} in order");
    }
}

#[tokio::test]
async fn framing_holds_alone_and_behind_varnish() {
    let s = server(|_| {}).await;
    let base = s.base.clone();
    blocking(move || framing_cases(&base, false)).await;
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let base = v.base.clone();
    blocking(move || framing_cases(&base, true)).await;
    drop(v);
}

#[tokio::test]
async fn a_complete_head_over_the_limit_is_refused() {
    let s = server(|c| c.max_header_bytes = 16 * 1024).await;
    let base = s.base.clone();
    blocking(move || {
        // 8 KB arrives first, then the rest: one read can complete it past the limit.
        for size in [20 * 1024, 32 * 1024] {
            let mut c = Raw::open(&base);
            let filler = "a".repeat(size);
            let raw =
                format!("GET /cat.jpg?w=10 HTTP/1.1\r\nHost: test\r\nX-Filler: {filler}\r\n\r\n");
            c.send(&raw.as_bytes()[..8 * 1024]);
            std::thread::sleep(Duration::from_millis(50));
            c.send(&raw.as_bytes()[8 * 1024..]);
            let r = c.read(false).unwrap();
            assert_eq!(r.status, 431, "a {size}-byte head under a 16 KB limit");
        }
        // Just under the limit is fine.
        let mut c = Raw::open(&base);
        let filler = "a".repeat(15 * 1024);
        c.send(&get("/cat.jpg?w=10", &format!("X-Filler: {filler}\r\n")));
        assert_eq!(c.read(false).unwrap().status, 200);
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_after_a_half_close() {
    let s = server(|_| {}).await;
    let base = s.base.clone();
    blocking(move || {
        for (hits, misses) in [(0, 2), (2, 0), (1, 3)] {
            let mut c = Raw::open(&base);
            let mut burst = Vec::new();
            for i in 0..hits {
                // Hits: rendered before.
                let mut warm = Raw::open(&base);
                warm.send(&get(&format!("/cat.jpg?w={}", 30 + i), ""));
                warm.read(false).unwrap();
                burst.extend(get(&format!("/cat.jpg?w={}", 30 + i), ""));
            }
            for i in 0..misses {
                burst.extend(get(
                    &format!("/cat.jpg?w={}", 100 + hits * 10 + misses + i),
                    "",
                ));
            }
            c.send(&burst);
            c.stream.shutdown(Shutdown::Write).unwrap();
            for i in 0..hits + misses {
                let r = c
                    .read(false)
                    .unwrap_or_else(|e| panic!("{hits} hits, {misses} misses: #{i}: {e}"));
                assert_eq!(r.status, 200);
            }
            assert!(c.closed(), "closed once every request is answered");
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let s = server(|c| c.send_timeout = Duration::from_secs(2)).await;
    let base = s.base.clone();
    blocking(move || {
        for path in ["/big.jpg?fm=png", "/big.jpg?fm=png&q=99"] {
            // Routed once, then (the second time) a ready response sent from its memory file.
            for round in 0..2 {
                let mut c = Raw::open(&base);
                c.stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                // Twenty copies of a multi-megabyte answer: far more than the socket buffers.
                let mut burst = Vec::new();
                for _ in 0..20 {
                    burst.extend(get(path, ""));
                }
                c.send(&burst);
                // Once the first answer has begun (however long its render took here), read
                // nothing for three times the timeout: the server must give up on us.
                let mut one = [0u8; 1];
                c.stream.peek(&mut one).unwrap();
                std::thread::sleep(Duration::from_secs(6));
                let mut total = 0usize;
                let mut chunk = vec![0u8; 1 << 20];
                loop {
                    match c.stream.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                        Err(e) => panic!("{path} round {round}: not closed ({e})"),
                    }
                }
                // Twenty ~5.7 MB answers were asked for; what arrives is what the socket
                // buffers held when the server gave up.
                assert!(
                    total < 40 << 20,
                    "{path} round {round}: {total} bytes, the server kept sending"
                );
                assert!(total > 0, "{path} round {round}: something was sent");
            }
        }
    })
    .await;
}

/// Range answers of `base` for `target`: single ranges as 206, the rest as 200 or 416.
/// `cdn`: a cache in front answers ranges itself (Varnish refuses what it does not serve with
/// 416 rather than sending the whole body).
fn range_cases(base: &str, target: &str, cdn: bool) {
    let mut c = Raw::open(base);
    c.send(&get(target, ""));
    let full = c.read(false).unwrap();
    assert_eq!(full.status, 200);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let len = full.body.len();
    let etag = full.header("etag").unwrap().to_owned();
    for round in 0..2 {
        // The first round may be routed; the second repeats it (ready responses too).
        let mut c = Raw::open(base);
        for (range, from, to) in [
            ("bytes=0-99", 0, 99),
            ("bytes=100-", 100, len - 1),
            ("bytes=-50", len - 50, len - 1),
            ("bytes=10-10", 10, 10),
            (&*format!("bytes=5-{}", len + 1000), 5, len - 1),
        ] {
            c.send(&get(target, &format!("Range: {range}\r\n")));
            let r = c
                .read(false)
                .unwrap_or_else(|e| panic!("{target} {range} (round {round}): {e}"));
            assert_eq!(r.status, 206, "{range} (round {round})");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {from}-{to}/{len}").as_str()),
                "{range}"
            );
            assert_eq!(r.body, full.body[from..=to], "{range}");
            assert_eq!(r.header("etag"), Some(etag.as_str()));
        }
        // Unsatisfiable.
        c.send(&get(target, &format!("Range: bytes={}-\r\n", len + 5)));
        let r = c.read(false).unwrap();
        assert_eq!(r.status, 416);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
        // Several ranges, or a unit that is not bytes: the whole body.
        for range in ["bytes=0-1,5-6", "items=0-1", "bytes=x-y"] {
            c.send(&get(target, &format!("Range: {range}\r\n")));
            let r = c.read(false).unwrap();
            if cdn && r.status == 416 {
                continue;
            }
            assert_eq!((r.status, r.body.len()), (200, len), "{range}");
        }
        // If-Range: the same ETag gets the range, another the whole body.
        c.send(&get(
            target,
            &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
        ));
        assert_eq!(c.read(false).unwrap().status, 206, "If-Range matching");
        c.send(&get(target, "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n"));
        let r = c.read(false).unwrap();
        assert_eq!(
            (r.status, r.body.len()),
            (200, len),
            "If-Range not matching"
        );
        // HEAD with a range: the headers of a whole answer.
        let mut c = Raw::open(base);
        c.send(
            format!("HEAD {target} HTTP/1.1\r\nHost: test\r\nRange: bytes=0-9\r\n\r\n").as_bytes(),
        );
        let r = c.read(true).unwrap();
        assert!(
            r.status == 200 || r.status == 206,
            "HEAD with Range: {}",
            r.status
        );
    }
}

#[tokio::test]
async fn single_byte_ranges_are_served_routed_and_ready() {
    let s = server(|_| {}).await;
    let base = s.base.clone();
    blocking(move || {
        range_cases(&base, "/cat.jpg?w=120", false); // a small body: written with the head
        range_cases(&base, "/big.jpg?w=900&fm=png", false); // a large one: from a memory file
    })
    .await;
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let base = v.base.clone();
    blocking(move || range_cases(&base, "/cat.jpg?w=121", true)).await;
}

#[tokio::test]
async fn hostile_client_hints_do_not_grow_the_ready_responses() {
    let s = server(|_| {}).await;
    let (base, site) = (s.base.clone(), s.site.clone());
    blocking(move || {
        // A URL that does not vary on hints: however many distinct hint values are sent, one
        // ready entry per Accept class, all hits.
        let mut c = Raw::open(&base);
        c.send(&get("/big.jpg?w=900&fm=png", ""));
        c.read(false).unwrap();
        c.send(&get("/big.jpg?w=900&fm=png", ""));
        c.read(false).unwrap();
        let entries = site.hot.len();
        let junk = "x".repeat(15_000);
        for i in 0..300 {
            c.send(&get(
                "/big.jpg?w=900&fm=png",
                &format!("Save-Data: {i}{junk}\r\nSec-CH-DPR: {i}.{i}\r\nSec-CH-Width: {i}\r\n"),
            ));
            let r = c.read(false).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("x-refract-cache"), Some("hit"));
        }
        assert_eq!(site.hot.len(), entries, "no entry per hint value");
        assert!(
            site.hot.bytes() < 64 * 1024,
            "entries hold no header bytes: {}",
            site.hot.bytes()
        );
        // A URL that does vary on DPR: entries per parsed value, bounded per URL, and each
        // answer is the one routing gives for its DPR.
        let url = "/cat.jpg?w=100&ch=dpr&fm=png";
        let mut sizes = Vec::new();
        for dpr in ["1", "2", "1.0", "2.00", "x", "1", "2"] {
            c.send(&get(url, &format!("Sec-CH-DPR: {dpr}\r\n")));
            let r = c.read(false).unwrap();
            assert_eq!(r.status, 200, "dpr {dpr}");
            sizes.push(crate::support::images::decode(&r.body).width);
        }
        // DPR 1 and 2 (whatever their spelling; "x" is no hint) are two variants.
        let (one, two) = (sizes[0], sizes[1]);
        assert!(two > one, "{sizes:?}");
        assert_eq!(sizes, [one, two, one, two, one, one, two]);
    })
    .await;
}
