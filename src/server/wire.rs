//! HTTP/1.1 on the wire, for the responses the connection loop ([`super::conn`]) writes itself:
//! a response head as bytes, the `Date` line (formatted once a second per thread), one vectored
//! write of head, date and body — and, for large ready bodies, the body kept in a memory file
//! ([`BodyFile`]) and sent with `sendfile`, as nginx sends a file: the kernel hands its pages to
//! the socket instead of copying the bytes from user space.

use std::cell::Cell;
use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::{self, HeaderMap};
use hyper::StatusCode;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// `date: <IMF-fixdate>\r\n\r\n`: the last header and the blank line that ends the head.
pub const DATE_LEN: usize = 6 + 29 + 4;

/// The tail of every head written here.
pub type DateLine = [u8; DATE_LEN];

thread_local! {
    static DATE: Cell<(u64, DateLine)> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// Seconds since the UNIX epoch and the `Date` line for them: one clock read, formatted again
/// only when the second changes.
pub fn now() -> (u64, DateLine) {
    let time = SystemTime::now();
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    DATE.with(|cell| {
        let (cached, line) = cell.get();
        if cached == secs {
            return (secs, line);
        }
        let mut line = [0; DATE_LEN];
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        line[..6].copy_from_slice(b"date: ");
        line[6..35].copy_from_slice(&date.as_bytes()[..29]);
        line[35..].copy_from_slice(b"\r\n\r\n");
        cell.set((secs, line));
        (secs, line)
    })
}

/// Append a response head's status line and headers to `out` — everything but the `Date`
/// line that ends it. A `Content-Length` is added from `body_len` unless the headers carry one
/// or the status has no body.
pub fn head(status: StatusCode, headers: &HeaderMap, body_len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !headers.contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Write every slice, in order, with as few `writev` calls as the socket allows.
pub async fn write_all(
    stream: &mut TcpStream,
    parts: &mut [IoSlice<'_>],
    timeout: Duration,
) -> std::io::Result<()> {
    let mut parts = parts;
    // Skip empty slices up front so an empty body never costs a call.
    while parts.first().is_some_and(|p| p.is_empty()) {
        parts = &mut parts[1..];
    }
    while !parts.is_empty() {
        let written = write_when_ready(stream, timeout, || {
            rustix::io::writev(stream.as_fd(), parts).map_err(std::io::Error::from)
        })
        .await?;
        IoSlice::advance_slices(&mut parts, written);
    }
    Ok(())
}

/// One non-blocking write by `op`, retried each time the socket takes bytes again (waiting at
/// most `timeout` for that: [`writable`]); what it wrote, never 0 (a write of nothing is an
/// error).
async fn write_when_ready(
    stream: &TcpStream,
    timeout: Duration,
    mut op: impl FnMut() -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    loop {
        match stream.try_io(Interest::WRITABLE, &mut op) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                writable(stream, timeout).await?
            }
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            written => return written,
        }
    }
}

/// Wait until `stream` takes more bytes, for at most `timeout` (`--send-timeout`): a client
/// that reads nothing for that long is given up on. The timer exists only while a write waits.
async fn writable(stream: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    match tokio::time::timeout(timeout, stream.writable()).await {
        Ok(ready) => ready,
        Err(_) => Err(send_timed_out()),
    }
}

/// The error of a write the client took nothing of within `--send-timeout` (both paths).
pub fn send_timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the client read nothing within --send-timeout",
    )
}

/// Bodies at least this large are kept in a [`BodyFile`] and sent with `sendfile`; below it,
/// one `writev` (the copy costs less than a second system call).
pub const SENDFILE_MIN: usize = 32 * 1024;

/// Largest body kept in a [`BodyFile`].
const BODY_FILE_MAX: usize = 8 << 20;

/// Bytes all [`BodyFile`]s together may hold (beyond it, bodies go by `writev`).
const BODY_FILES_TOTAL: usize = 64 << 20;

/// Bytes held in [`BodyFile`]s now.
static BODY_FILE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A response body copied once into an anonymous memory file (`memfd`), so each send is a
/// `sendfile` from its pages. Held by ready responses only (they live a second or two, and one
/// is handed on to the next while the variant is the same).
#[derive(Debug)]
pub struct BodyFile {
    fd: OwnedFd,
    len: usize,
}

impl BodyFile {
    /// `body` in a memory file, or `None` when it is outside the sizes kept this way, the
    /// budget is spent, or the system refuses.
    pub fn new(body: &[u8]) -> Option<BodyFile> {
        let len = body.len();
        if !(SENDFILE_MIN..=BODY_FILE_MAX).contains(&len) {
            return None;
        }
        if BODY_FILE_BYTES.fetch_add(len, Ordering::Relaxed) + len > BODY_FILES_TOTAL {
            BODY_FILE_BYTES.fetch_sub(len, Ordering::Relaxed);
            return None;
        }
        let Ok(fd) = rustix::fs::memfd_create("refract-body", rustix::fs::MemfdFlags::CLOEXEC)
        else {
            BODY_FILE_BYTES.fetch_sub(len, Ordering::Relaxed);
            return None;
        };
        // From here a failure drops `file`, which gives the bytes back.
        let file = BodyFile { fd, len };
        let mut written = 0;
        while written < len {
            match rustix::io::write(&file.fd, &body[written..]) {
                Ok(0) | Err(_) => return None,
                Ok(n) => written += n,
            }
        }
        Some(file)
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: empty bodies are not kept).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        BODY_FILE_BYTES.fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// Write `head` (status line, headers, date line) and then `body` from its memory file: the
/// head with `MSG_MORE`, so it leaves in the same packet as the body's start.
pub async fn send_with_file(
    stream: &mut TcpStream,
    head: &[u8],
    body: &BodyFile,
    timeout: Duration,
) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < head.len() {
        sent += write_when_ready(stream, timeout, || {
            rustix::net::send(stream.as_fd(), &head[sent..], rustix::net::SendFlags::MORE)
                .map_err(std::io::Error::from)
        })
        .await?;
    }
    let mut offset = 0u64;
    while (offset as usize) < body.len {
        let remaining = body.len - offset as usize;
        // sendfile moves `offset` on by what it sent.
        write_when_ready(stream, timeout, || {
            rustix::fs::sendfile(stream.as_fd(), &body.fd, Some(&mut offset), remaining)
                .map_err(std::io::Error::from)
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn date_line_is_an_imf_fixdate_ending_the_head() {
        let (secs, line) = now();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(
            text.starts_with("date: ") && text.ends_with(" GMT\r\n\r\n"),
            "{text}"
        );
        let parsed = httpdate::parse_http_date(&text[6..35]).unwrap();
        assert_eq!(
            parsed.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            secs,
            "{text}"
        );
    }

    #[test]
    fn head_lists_status_headers_and_a_length() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"x\""));
        let mut out = Vec::new();
        head(StatusCode::OK, &headers, 12_345, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\netag: \"x\"\r\ncontent-length: 12345\r\n".to_vec()
        );
        out.clear();
        head(StatusCode::NOT_MODIFIED, &headers, 0, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n".to_vec()
        );
        out.clear();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("7"));
        head(StatusCode::NOT_FOUND, &headers, 0, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\netag: \"x\"\r\ncontent-length: 7\r\n".to_vec()
        );
    }
}
