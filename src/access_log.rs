//! The access log: one line per image request on stdout — JSON by default, or text for humans
//! (`--log-format text`). Diagnostics go to stderr, so stdout stays machine-readable.
//!
//! JSON fields: `ts` (RFC 3339, UTC), `method`, `path` (with query), `status`, `bytes` (body
//! bytes sent), `duration_ms`, `cache` (`hit`/`miss`/`coalesced`, or null when the request never
//! reached the cache), `format` (output format, or null), `source`.

use std::io::Write;
use std::time::{Duration, SystemTime};

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
}

/// Writes access-log lines to stdout.
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    format: LogFormat,
    enabled: bool,
}

impl AccessLog {
    /// An access log in `format`; `enabled = false` writes nothing.
    pub fn new(format: LogFormat, enabled: bool) -> AccessLog {
        AccessLog { format, enabled }
    }

    /// Write one line for `entry`.
    pub fn write(&self, entry: &Entry<'_>) {
        if !self.enabled {
            return;
        }
        let line = self.line(entry, SystemTime::now());
        // One write per line: lines from concurrent requests never interleave.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    fn line(&self, e: &Entry<'_>, now: SystemTime) -> String {
        let ts = humantime::format_rfc3339_millis(now);
        let ms = e.duration.as_secs_f64() * 1000.0;
        match self.format {
            LogFormat::Json => format!(
                "{{\"ts\":\"{ts}\",\"method\":{},\"path\":{},\"status\":{},\"bytes\":{},\
                 \"duration_ms\":{ms:.3},\"cache\":{},\"format\":{},\"source\":{}}}\n",
                json_string(e.method),
                json_string(e.path),
                e.status,
                e.bytes,
                e.cache.map_or("null".into(), json_string),
                e.format.map_or("null".into(), json_string),
                json_string(e.source),
            ),
            LogFormat::Text => format!(
                "{ts} {} {} {} {}B {ms:.1}ms cache={} format={} source={}\n",
                e.method,
                e.path,
                e.status,
                e.bytes,
                e.cache.unwrap_or("-"),
                e.format.unwrap_or("-"),
                e.source
            ),
        }
    }
}

/// A JSON string literal (paths and keys are arbitrary text from URLs).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    #[test]
    fn json_lines_have_every_field_escaped() {
        let line = AccessLog::new(LogFormat::Json, true).line(&entry(), SystemTime::UNIX_EPOCH);
        assert_eq!(
            line,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"method\":\"GET\",\"path\":\"/a \\\"b\\\".jpg?w=1\",\
             \"status\":200,\"bytes\":42,\"duration_ms\":1.500,\"cache\":\"hit\",\"format\":\"webp\",\
             \"source\":\"file\"}\n"
        );
        let mut e = entry();
        e.cache = None;
        e.format = None;
        let line = AccessLog::new(LogFormat::Json, true).line(&e, SystemTime::UNIX_EPOCH);
        assert!(line.contains("\"cache\":null,\"format\":null"));
    }

    #[test]
    fn text_lines_read_left_to_right() {
        let line = AccessLog::new(LogFormat::Text, true).line(&entry(), SystemTime::UNIX_EPOCH);
        assert!(line.starts_with("1970-01-01T00:00:00.000Z GET /a \"b\".jpg?w=1 200 42B 1.5ms"));
    }

    #[test]
    fn json_escaping() {
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }
}
