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
//!
//! Recording is on every image response, hits included, so it must not make requests wait for
//! each other: each thread records into its own shard (a mutex only that thread and an
//! `/analytics` reader take), and reading merges the shards. Shards' top-K tables merge as
//! mergeable summaries do: a key missing from a full shard may have been counted there up to
//! that shard's smallest count, which is added to its count and to its error, so the merged
//! count still never underestimates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::encoding::format::Format;
use crate::observe::Lookup;
use serde::Serialize;

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

#[derive(Default, Clone)]
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

impl State {
    /// Add `other`'s counters (everything but the top-K table) to these.
    fn add_counts(&mut self, other: &State) {
        self.bytes_served += other.bytes_served;
        self.bytes_original += other.bytes_original;
        self.hits += other.hits;
        self.lookups += other.lookups;
        for (total, n) in self.widths.iter_mut().zip(other.widths) {
            *total += n;
        }
        for (name, t) in &other.formats {
            let total = self.formats.entry(name).or_default();
            total.requests += t.requests;
            total.bytes += t.bytes;
        }
        for (tenths, n) in &other.dpr {
            *self.dpr.entry(*tenths).or_default() += n;
        }
    }
}

/// Gives each thread its shard index, once.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

/// Bounded request statistics, shared by every connection: one shard per thread (see the
/// module docs), each lock held for a few counter updates and never across an `await`.
pub struct Analytics {
    capacity: usize,
    shards: Box<[Mutex<State>]>,
}

impl Analytics {
    /// Analytics keeping the `capacity` most requested originals.
    pub fn new(capacity: usize) -> Analytics {
        // Two per core: the async workers (which record) rarely share one.
        let shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .clamp(2, 64);
        Analytics {
            capacity: capacity.max(1),
            shards: (0..shards).map(|_| Mutex::new(State::default())).collect(),
        }
    }

    /// This thread's shard.
    fn shard(&self) -> MutexGuard<'_, State> {
        let index = SHARD.with(|i| *i) % self.shards.len();
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of every shard, each locked only while it is copied.
    fn snapshot(&self) -> Vec<State> {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Record one served image.
    pub fn record(&self, served: Served<'_>) {
        let mut s = self.shard();
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

    /// Number of entries tracked over all shards (at most the capacity in each).
    pub fn tracked_keys(&self) -> usize {
        self.snapshot().iter().map(|s| s.top.len()).sum()
    }

    /// The shards' top-K tables as one, best first, at most `capacity` long: counts summed,
    /// plus, for each full shard a key is missing from, that shard's smallest count (on the
    /// count and on the error).
    fn merged_top<'a>(&self, shards: &'a [State]) -> Vec<(&'a str, TopEntry)> {
        let floors: Vec<u64> = shards
            .iter()
            .map(|s| {
                if s.top.len() < self.capacity {
                    0
                } else {
                    s.top.values().map(|e| e.requests).min().unwrap_or(0)
                }
            })
            .collect();
        let mut merged: HashMap<&str, TopEntry> = HashMap::new();
        for s in shards {
            for key in s.top.keys() {
                merged.entry(key).or_default();
            }
        }
        for (key, total) in &mut merged {
            for (s, floor) in shards.iter().zip(&floors) {
                match s.top.get(*key) {
                    Some(e) => {
                        total.requests += e.requests;
                        total.error += e.error;
                        total.bytes += e.bytes;
                    }
                    None => {
                        total.requests += floor;
                        total.error += floor;
                    }
                }
            }
        }
        let mut top: Vec<(&str, TopEntry)> = merged.into_iter().collect();
        top.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
        top.truncate(self.capacity);
        top
    }

    /// The `/analytics` document.
    pub fn to_json(&self) -> String {
        let shards = self.snapshot();
        let top = self.merged_top(&shards);
        let mut s = State::default();
        for shard in &shards {
            s.add_counts(shard);
        }
        let mut dpr: Vec<(u32, u64)> = s.dpr.iter().map(|(k, n)| (*k, *n)).collect();
        dpr.sort_unstable();
        let hit_ratio = if s.lookups == 0 {
            0.0
        } else {
            s.hits as f64 / s.lookups as f64
        };
        let document = Document {
            top: top
                .iter()
                .map(|(key, e)| TopJson {
                    key,
                    requests: e.requests,
                    error: e.error,
                    bytes: e.bytes,
                })
                .collect(),
            formats: s
                .formats
                .iter()
                .map(|(name, t)| {
                    let tally = TallyJson {
                        requests: t.requests,
                        bytes: t.bytes,
                    };
                    (*name, tally)
                })
                .collect(),
            dpr: Ordered(
                dpr.into_iter()
                    .map(|(tenths, n)| ((f64::from(tenths) / 10.0).to_string(), n))
                    .collect(),
            ),
            widths: Ordered(
                WIDTH_BUCKETS
                    .iter()
                    .zip(s.widths.iter())
                    .map(|((_, label), n)| (*label, *n))
                    .collect(),
            ),
            bytes_served: s.bytes_served,
            bytes_original: s.bytes_original,
            cache_hit_ratio: (hit_ratio * 10_000.0).round() / 10_000.0,
        };
        serde_json::to_string(&document).expect("serialisable")
    }
}

/// The `/analytics` document, in the order it is read.
#[derive(Serialize)]
struct Document<'a> {
    top: Vec<TopJson<'a>>,
    formats: std::collections::BTreeMap<&'static str, TallyJson>,
    dpr: Ordered<String>,
    widths: Ordered<&'static str>,
    bytes_served: u64,
    bytes_original: u64,
    cache_hit_ratio: f64,
}

#[derive(Serialize)]
struct TopJson<'a> {
    key: &'a str,
    requests: u64,
    error: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct TallyJson {
    requests: u64,
    bytes: u64,
}

/// A JSON object whose keys keep the order given (DPRs ascending, width buckets small to large).
struct Ordered<K>(Vec<(K, u64)>);

impl<K: Serialize> Serialize for Ordered<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
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
        assert!(json.contains(r#""cache_hit_ratio":0.0"#));
    }

    /// The `requests` and `error` of `key` in the document.
    fn counts(json: &str, key: &str) -> (u64, u64) {
        let at = json.find(&format!(r#""key":"{key}""#)).expect("key listed");
        let field = |name: &str| -> u64 {
            let rest = &json[at..];
            let start = rest.find(&format!(r#""{name}":"#)).unwrap() + name.len() + 3;
            let digits: String = rest[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().unwrap()
        };
        (field("requests"), field("error"))
    }

    #[test]
    fn threads_record_without_losing_a_count() {
        let a = Analytics::new(100);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let a = &a;
                scope.spawn(move || {
                    for i in 0..20_000u32 {
                        a.record(served(&format!("t{t}/{i}.jpg")));
                        if i % 10 == 0 {
                            a.record(served("hero.jpg"));
                        }
                    }
                });
            }
        });
        let json = a.to_json();
        // Every shard that filled up kept hero.jpg (it outranks the one-off keys), so its
        // merged count is exact; the totals add up over the shards.
        assert_eq!(counts(&json, "hero.jpg"), (8_000, 0), "{json:.300}");
        assert!(json.starts_with(r#"{"top":[{"key":"hero.jpg""#));
        assert!(json.contains(r#""webp":{"requests":88000,"#));
        assert!(json.contains(r#""bytes_served":880000"#));
        assert!(json.contains(r#""dpr":{"2":88000}"#));
    }

    #[test]
    fn a_key_evicted_from_one_shard_is_never_undercounted() {
        let a = Analytics::new(4);
        // On one thread: "x" three times, then enough one-off keys to push it out.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..3 {
                    a.record(served("x"));
                }
                for i in 0..40 {
                    a.record(served(&format!("one-off/{i}")));
                }
            });
        });
        // On another: "x" five more times.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..5 {
                    a.record(served("x"));
                }
            });
        });
        let (requests, error) = counts(&a.to_json(), "x");
        assert!(requests >= 8, "x counted {requests}, sent 8");
        assert!(
            requests - error <= 8,
            "x: {requests} - {error} claims more than 8"
        );
    }
}
