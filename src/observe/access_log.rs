//! The access log: one line per image request on stdout — JSON by default, or text for humans
//! (`--log-format text`). Diagnostics go to stderr, so stdout stays machine-readable.
//!
//! JSON fields: `ts` (RFC 3339, UTC), `method`, `path` (with query), `status`, `bytes` (body
//! bytes sent), `duration_ms`, `cache` (`hit`/`miss`/`coalesced`, or null when the request never
//! reached the cache), `format` (output format, or null), `source`, and `ignored` (parameters
//! whose values were ignored, comma-separated; present only when there are some).
//!
//! Lines are written by a thread of their own, not by the request: a request formats its line
//! and queues it (no lock, no syscall on the async worker), and the writer batches whatever is
//! queued into one write. The queue is bounded (16,384 lines); if stdout stalls long enough to
//! fill it (a stuck log collector), further lines are dropped and counted
//! (`refract_access_log_dropped_total`) — serving never waits for the log. [`AccessLog::flush`]
//! waits for everything queued to be written, at shutdown.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use prometheus::IntCounter;

/// Lines queued for the writer before requests wait for it.
const QUEUE: usize = 16_384;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Space-separated fields for people.
    Text,
}

/// One request, as the access log records it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query as requested.
    pub path: &'a str,
    /// Status sent (499 if the client went away first).
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Time from routing to answer.
    pub duration: Duration,
    /// Cache result, if the request got that far.
    pub cache: Option<&'static str>,
    /// Output format, for images.
    pub format: Option<&'static str>,
    /// Which source the original came from.
    pub source: &'static str,
    /// Parameters whose values were ignored, comma-separated (empty: none).
    pub ignored: &'a str,
}

/// What the writer thread is asked to do.
enum Message {
    Line(String),
    /// Write out everything queued before this, then answer.
    Flush(mpsc::Sender<()>),
}

/// Writes access-log lines to stdout, from a writer thread.
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: LogFormat,
    /// `None` when the log is off.
    queue: Option<SyncSender<Message>>,
    dropped: IntCounter,
}

impl AccessLog {
    /// An access log in `format` on stdout; `enabled = false` writes nothing (and starts no
    /// thread). Lines dropped because stdout stalled are counted in `dropped`.
    pub fn new(format: LogFormat, enabled: bool, dropped: IntCounter) -> AccessLog {
        if enabled {
            AccessLog::to_writer(format, std::io::stdout(), dropped)
        } else {
            AccessLog {
                format,
                queue: None,
                dropped,
            }
        }
    }

    /// An access log in `format` written to `out` by a new writer thread.
    pub fn to_writer(
        format: LogFormat,
        out: impl Write + Send + 'static,
        dropped: IntCounter,
    ) -> AccessLog {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("refract-access-log".into())
            .spawn(move || write_lines(rx, out))
            .expect("the access-log thread starts");
        AccessLog {
            format,
            queue: Some(tx),
            dropped,
        }
    }

    /// Queue one line for `entry`.
    pub fn write(&self, entry: &Entry<'_>) {
        let Some(queue) = &self.queue else {
            return;
        };
        let line = Message::Line(self.line(entry, SystemTime::now()));
        if let Err(TrySendError::Full(_)) = queue.try_send(line) {
            self.dropped.inc();
        }
    }

    /// Wait (at most `timeout`) until every line queued so far has been written out.
    pub fn flush(&self, timeout: Duration) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (done, wait) = mpsc::channel();
        if queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }

    fn line(&self, e: &Entry<'_>, now: SystemTime) -> String {
        let ts = humantime::format_rfc3339_millis(now);
        let ms = e.duration.as_secs_f64() * 1000.0;
        match self.format {
            LogFormat::Json => {
                let line = JsonLine {
                    ts,
                    method: e.method,
                    path: e.path,
                    status: e.status,
                    bytes: e.bytes,
                    // Microsecond precision is all a log needs.
                    duration_ms: (ms * 1000.0).round() / 1000.0,
                    cache: e.cache,
                    format: e.format,
                    source: e.source,
                    ignored: e.ignored,
                };
                let mut out = serde_json::to_string(&line).expect("serialisable");
                out.push('\n');
                out
            }
            LogFormat::Text => format!(
                "{ts} {} {} {} {}B {ms:.1}ms cache={} format={} source={}{}{}\n",
                e.method,
                e.path,
                e.status,
                e.bytes,
                e.cache.unwrap_or("-"),
                e.format.unwrap_or("-"),
                e.source,
                if e.ignored.is_empty() {
                    ""
                } else {
                    " ignored="
                },
                e.ignored
            ),
        }
    }
}

/// How long the writer naps after the queue runs dry while lines keep coming: lines then
/// gather for one write, and requests never have to wake the writer (a futex wake and a
/// context switch per line, at hit rates). An idle log blocks instead, woken by its next line.
const NAP: Duration = Duration::from_millis(5);

/// The writer thread: whatever is queued goes out in one buffered write, flushed whenever the
/// queue runs dry — so a line waits at most [`NAP`] plus the writing of the lines before it.
fn write_lines(queue: Receiver<Message>, out: impl Write) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut busy = false;
    loop {
        let message = match queue.try_recv() {
            Ok(message) => message,
            Err(mpsc::TryRecvError::Empty) => {
                let _ = out.flush();
                if std::mem::take(&mut busy) {
                    std::thread::sleep(NAP);
                    continue;
                }
                match queue.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        match message {
            Message::Line(line) => {
                busy = true;
                let _ = out.write_all(line.as_bytes());
            }
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
    }
    let _ = out.flush();
}

/// A value written through its `Display` (no intermediate `String`).
fn as_text<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// One JSON access-log line (paths are arbitrary text from URLs: serde escapes them).
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    #[serde(serialize_with = "as_text")]
    ts: humantime::Rfc3339Timestamp,
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes: u64,
    duration_ms: f64,
    cache: Option<&'a str>,
    format: Option<&'a str>,
    source: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ignored: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> IntCounter {
        IntCounter::new("dropped", "dropped").unwrap()
    }

    fn entry() -> Entry<'static> {
        Entry {
            method: "GET",
            path: "/a \"b\".jpg?w=1",
            status: 200,
            bytes: 42,
            duration: Duration::from_micros(1500),
            cache: Some("hit"),
            format: Some("webp"),
            source: "file",
            ignored: "",
        }
    }

    #[test]
    fn json_lines_have_every_field_escaped() {
        let line = AccessLog::new(LogFormat::Json, false, counter())
            .line(&entry(), SystemTime::UNIX_EPOCH);
        assert_eq!(
            line,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"method\":\"GET\",\"path\":\"/a \\\"b\\\".jpg?w=1\",\
             \"status\":200,\"bytes\":42,\"duration_ms\":1.5,\"cache\":\"hit\",\"format\":\"webp\",\
             \"source\":\"file\"}\n"
        );
        let mut e = entry();
        e.cache = None;
        e.format = None;
        let line =
            AccessLog::new(LogFormat::Json, false, counter()).line(&e, SystemTime::UNIX_EPOCH);
        assert!(line.contains("\"cache\":null,\"format\":null"));
    }

    #[test]
    fn text_lines_read_left_to_right() {
        let line = AccessLog::new(LogFormat::Text, false, counter())
            .line(&entry(), SystemTime::UNIX_EPOCH);
        assert!(line.starts_with("1970-01-01T00:00:00.000Z GET /a \"b\".jpg?w=1 200 42B 1.5ms"));
        assert!(line.ends_with("source=file\n"), "{line}");
    }

    #[test]
    fn ignored_parameters_are_listed_only_when_there_are_some() {
        let e = Entry {
            ignored: "crop,rot",
            ..entry()
        };
        let json =
            AccessLog::new(LogFormat::Json, false, counter()).line(&e, SystemTime::UNIX_EPOCH);
        assert!(
            json.ends_with(",\"source\":\"file\",\"ignored\":\"crop,rot\"}\n"),
            "{json}"
        );
        let text =
            AccessLog::new(LogFormat::Text, false, counter()).line(&e, SystemTime::UNIX_EPOCH);
        assert!(text.ends_with(" source=file ignored=crop,rot\n"), "{text}");
    }

    /// A `Write` that appends to a shared buffer, to read back what the thread wrote.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_are_all_written_whole_by_flush_time() {
        let out = Shared::default();
        let dropped = counter();
        let log = AccessLog::to_writer(LogFormat::Text, out.clone(), dropped.clone());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let log = log.clone();
                scope.spawn(move || {
                    for _ in 0..5_000 {
                        log.write(&entry());
                    }
                });
            }
        });
        log.flush(Duration::from_secs(10));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let written = text.lines().count() as u64;
        assert_eq!(
            written + dropped.get(),
            20_000,
            "each line written or counted"
        );
        assert!(written >= QUEUE as u64);
        assert!(text
            .lines()
            .all(|l| l.contains(" GET /a \"b\".jpg?w=1 200 42B ")));
    }

    /// A `Write` that blocks until released: stdout with a stuck reader.
    struct Stalled(std::sync::Arc<std::sync::Mutex<()>>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            drop(self.0.lock().unwrap());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stdout_drops_and_counts_lines_instead_of_blocking_requests() {
        let gate = std::sync::Arc::new(std::sync::Mutex::new(()));
        let held = gate.lock().unwrap();
        let dropped = counter();
        let log = AccessLog::to_writer(LogFormat::Text, Stalled(gate.clone()), dropped.clone());
        let started = std::time::Instant::now();
        // More than the writer's buffer and the queue together can take.
        for _ in 0..QUEUE + 2_000 {
            log.write(&entry());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "writes never wait"
        );
        assert!(dropped.get() > 0, "nothing dropped");
        drop(held);
        log.flush(Duration::from_secs(10));
    }

    #[test]
    fn json_lines_escape_control_characters_and_parse_back() {
        let mut e = entry();
        e.path = "/a\\b\n\u{1}\u{e9}.jpg";
        let line =
            AccessLog::new(LogFormat::Json, false, counter()).line(&e, SystemTime::UNIX_EPOCH);
        assert_eq!(line.lines().count(), 1);
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["path"], e.path);
    }
}
