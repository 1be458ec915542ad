//! Per-process request analytics for `/analytics`: which originals are requested most, in which
//! formats, at which DPRs and widths, how many bytes the transforms saved, and the cache hit
//! ratio.
//!
//! Memory does not grow with the number of distinct keys: the most-requested list is a
//! space-saving top-K (Metwally et al.) of at most `capacity` entries; every other aggregate has
//! a fixed set of buckets. A key's count may be overestimated by at most its `error` (the count
//! of the entry it replaced), never underestimated. Numbers are per process since start: for the
//! fleet, aggregate the Prometheus metrics (`refract_requests_total`, `refract_response_bytes_total`)
//! or the access logs.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::access_log::json_string;
use crate::cache::Lookup;
use crate::format::Format;

/// Upper bounds (device pixels) of the width buckets; wider outputs go in the last one.
const WIDTH_BUCKETS: &[(u32, &str)] = &[
    (320, "<=320"),
    (640, "<=640"),
    (960, "<=960"),
    (1280, "<=1280"),
    (1920, "<=1920"),
    (2560, "<=2560"),
    (u32::MAX, ">2560"),
];

/// One served image, as analytics sees it.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The original's key.
    pub key: &'a str,
    /// Output format.
    pub format: Format,
    /// Requested DPR.
    pub dpr: f64,
    /// Output width in pixels.
    pub width: u32,
    /// Body bytes sent.
    pub bytes: u64,
    /// Bytes of the original.
    pub original_bytes: u64,
    /// How the cache answered.
    pub lookup: Lookup,
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    requests: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TopEntry {
    requests: u64,
    /// Overestimation bound: the count this entry inherited when it replaced another.
    error: u64,
    bytes: u64,
}

#[derive(Default)]
struct State {
    top: HashMap<String, TopEntry>,
    formats: HashMap<&'static str, Tally>,
    dpr: HashMap<u32, u64>,
    widths: [u64; WIDTH_BUCKETS.len()],
    bytes_served: u64,
    bytes_original: u64,
    hits: u64,
    lookups: u64,
}

/// Bounded request statistics, shared by every connection (one short critical section per
/// served image; never held across an `await`).
pub struct Analytics {
    capacity: usize,
    state: Mutex<State>,
}

impl Analytics {
    /// Analytics keeping the `capacity` most requested originals.
    pub fn new(capacity: usize) -> Analytics {
        Analytics {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Record one served image.
    pub fn record(&self, served: Served<'_>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.bytes_served += served.bytes;
        s.bytes_original += served.original_bytes;
        s.lookups += 1;
        if served.lookup == Lookup::Hit {
            s.hits += 1;
        }
        let f = s.formats.entry(served.format.name()).or_default();
        f.requests += 1;
        f.bytes += served.bytes;
        // DPR in tenths: at most 41 buckets for the allowed 1.0–5.0.
        *s.dpr.entry((served.dpr * 10.0).round() as u32).or_default() += 1;
        let bucket = WIDTH_BUCKETS
            .iter()
            .position(|(max, _)| served.width <= *max)
            .unwrap_or(WIDTH_BUCKETS.len() - 1);
        s.widths[bucket] += 1;
        self.count_key(&mut s.top, served.key, served.bytes);
    }

    /// Space-saving: count a key; when the table is full, the least-counted entry gives its
    /// place (and its count, as the new entry's error bound) to the newcomer.
    fn count_key(&self, top: &mut HashMap<String, TopEntry>, key: &str, bytes: u64) {
        if let Some(e) = top.get_mut(key) {
            e.requests += 1;
            e.bytes += bytes;
            return;
        }
        let mut entry = TopEntry {
            requests: 1,
            error: 0,
            bytes,
        };
        if top.len() >= self.capacity {
            let (victim, min) = top
                .iter()
                .min_by_key(|(_, e)| e.requests)
                .map(|(k, e)| (k.clone(), *e))
                .expect("table is full, so not empty");
            top.remove(&victim);
            entry.requests += min.requests;
            entry.error = min.requests;
        }
        top.insert(key.to_owned(), entry);
    }

    /// Number of keys tracked (never more than the capacity).
    pub fn tracked_keys(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .top
            .len()
    }

    /// The `/analytics` document.
    pub fn to_json(&self) -> String {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut top: Vec<(&String, &TopEntry)> = s.top.iter().collect();
        top.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
        let top_json: Vec<String> = top
            .iter()
            .map(|(k, e)| {
                format!(
                    r#"{{"key":{},"requests":{},"error":{},"bytes":{}}}"#,
                    json_string(k),
                    e.requests,
                    e.error,
                    e.bytes
                )
            })
            .collect();
        let mut formats: Vec<_> = s.formats.iter().collect();
        formats.sort_by_key(|(name, _)| **name);
        let formats_json: Vec<String> = formats
            .iter()
            .map(|(name, t)| {
                format!(
                    r#""{name}":{{"requests":{},"bytes":{}}}"#,
                    t.requests, t.bytes
                )
            })
            .collect();
        let mut dpr: Vec<_> = s.dpr.iter().collect();
        dpr.sort();
        let dpr_json: Vec<String> = dpr
            .iter()
            .map(|(tenths, n)| format!(r#""{}":{n}"#, **tenths as f64 / 10.0))
            .collect();
        let widths_json: Vec<String> = WIDTH_BUCKETS
            .iter()
            .zip(s.widths.iter())
            .map(|((_, label), n)| format!(r#""{label}":{n}"#))
            .collect();
        let hit_ratio = if s.lookups == 0 {
            0.0
        } else {
            s.hits as f64 / s.lookups as f64
        };
        format!(
            r#"{{"top":[{}],"formats":{{{}}},"dpr":{{{}}},"widths":{{{}}},"bytes_served":{},"bytes_original":{},"cache_hit_ratio":{:.4}}}"#,
            top_json.join(","),
            formats_json.join(","),
            dpr_json.join(","),
            widths_json.join(","),
            s.bytes_served,
            s.bytes_original,
            hit_ratio
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(key: &str) -> Served<'_> {
        Served {
            key,
            format: Format::Webp,
            dpr: 2.0,
            width: 800,
            bytes: 10,
            original_bytes: 100,
            lookup: Lookup::Miss,
        }
    }

    #[test]
    fn the_most_requested_key_ranks_first_and_memory_stays_bounded() {
        let a = Analytics::new(100);
        for i in 0..100_000u32 {
            a.record(served(&format!("photos/{i}.jpg")));
            if i % 50 == 0 {
                a.record(served("hero.jpg"));
            }
        }
        assert!(a.tracked_keys() <= 100);
        let json = a.to_json();
        assert!(
            json.starts_with(r#"{"top":[{"key":"hero.jpg","requests":2000,"#),
            "{json:.200}"
        );
        assert!(json.contains(r#""bytes_served":1020000"#));
        assert!(json.contains(r#""bytes_original":10200000"#));
        assert!(json.contains(r#""webp":{"requests":102000,"#));
        assert!(json.contains(r#""dpr":{"2":102000}"#));
        assert!(json.contains(r#""<=960":102000"#));
        assert!(json.contains(r#""cache_hit_ratio":0.0000"#));
    }
}
