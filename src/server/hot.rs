//! Hits answered without routing. For each variant served whole, the response head is kept
//! ready — status line and headers as bytes, everything but `Date` — beside a weak reference to
//! the cached variant. The connection loop ([`super::conn`]) finds a request's entry by its raw
//! target, its `Accept` class and its client-hint headers, and writes head, date and body in
//! one vectored write: no URL parsing, no cache-key building, no header map, no formatting.
//!
//! Client hints are compared as routing reads them (parsed), and only those the variant varies
//! on: a URL without `ch=` has one entry per `Accept` class whatever hints are sent, and no
//! header's bytes are ever kept. The table's memory has a bound no request can move: at most
//! [`SHARD_CAPACITY`] entries and [`SHARD_BYTES`] of targets and heads per shard (a full shard
//! is emptied), at most [`PER_URL`] entries per target and class, and the memory files
//! ([`super::wire::BodyFile`]) within their own cap.
//!
//! An entry is only ever a shortcut to what routing would answer, so it is served only while
//! all of these hold, and otherwise the request is routed (which makes a fresh entry):
//! - the variant is still in the render cache (the reference is weak: evicted is gone);
//! - the render cache's epoch has not moved since the entry was made (nothing was refined,
//!   invalidated or purged since);
//! - the entry is at most [`LIFETIME_SECS`] seconds old, so the cache's TTL is kept to within
//!   that and every hot variant still gets a real lookup that often (moka's recency), plus one
//!   every [`TOUCH_EVERY`] hits (its frequency).
//!
//! Entries are made only for answers that depend on nothing but those inputs: `GET`, 200, no
//! expiring signature, not a first render waiting to be refined (those count their hits).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;

use super::wire::BodyFile;
use crate::request::{AcceptClass, Hints, Varies};
use crate::transform::Rendered;

/// Longest an entry is served without routing the request again, in whole seconds (1–2 s of
/// wall time, counted in the clock's seconds).
pub const LIFETIME_SECS: u64 = 1;

/// A hot entry's hits between two real lookups in the render cache.
pub const TOUCH_EVERY: u32 = 32;

/// Shards of the table (a read lock each; writes are one per entry per second).
const SHARDS: usize = 16;

/// Entries per shard; a full shard is emptied (they are remade by the next routed hit).
pub const SHARD_CAPACITY: usize = 1024;

/// Bytes of targets, heads and keys per shard; past it the shard is emptied too.
pub const SHARD_BYTES: usize = 1 << 20;

/// Entries per target and `Accept` class (different hint values of a URL with `ch=`); the
/// oldest goes first.
pub const PER_URL: usize = 4;

/// Bookkeeping bytes charged per entry besides its target, head and keys.
const ENTRY_OVERHEAD: usize = 192;

/// What a request is looked up by: its raw target (path and query, as sent), the class of its
/// `Accept` header and its client hints as routing parses them.
#[derive(Clone, Copy)]
pub struct Probe<'a> {
    /// Path and query as sent.
    pub target: &'a [u8],
    /// What the client decodes.
    pub accept: AcceptClass,
    /// `Sec-CH-DPR`, `Sec-CH-Width`, `Save-Data`, parsed.
    pub hints: Hints,
}

impl Probe<'_> {
    fn hash(&self) -> u64 {
        let mut h = DefaultHasher::new();
        h.write(self.target);
        h.write_u8(self.accept as u8);
        h.finish()
    }
}

/// The hints an answer depends on: those its variant varies on, the rest forgotten.
fn relevant(hints: Hints, varies: Varies) -> Hints {
    Hints {
        dpr: hints.dpr.filter(|_| varies.dpr),
        width: hints.width.filter(|_| varies.width),
        save_data: hints.save_data && varies.save_data,
    }
}

/// A ready response for one probe.
pub struct Hot {
    target: Box<[u8]>,
    accept: AcceptClass,
    /// The hints the variant varies on, and their values when it was routed.
    varies: Varies,
    hints: Hints,
    /// Status line and headers, ending before the `Date` line.
    pub head: Bytes,
    /// The body in a memory file, for `sendfile` (large bodies: see [`super::wire::BodyFile`]).
    pub file: Option<Arc<BodyFile>>,
    rendered: Weak<Rendered>,
    epoch: u64,
    made: u64,
    hits: AtomicU32,
    /// The render cache's key (for the periodic real lookup).
    pub cache_key: Box<str>,
    /// The original's key (analytics).
    pub key: Box<str>,
    /// The kind of store it came from (metrics, access log).
    pub source: &'static str,
    /// The requested DPR (analytics).
    pub dpr: f64,
}

impl Hot {
    fn answers(&self, probe: &Probe<'_>) -> bool {
        *self.target == *probe.target
            && self.accept == probe.accept
            && relevant(probe.hints, self.varies) == self.hints
    }

    /// Bytes it is charged for.
    fn bytes(&self) -> usize {
        self.target.len() + self.head.len() + self.cache_key.len() + self.key.len() + ENTRY_OVERHEAD
    }

    /// The variant, if this entry may still be served at `now` (UNIX seconds) in the render
    /// cache's `epoch`.
    pub fn live(&self, epoch: u64, now: u64) -> Option<Arc<Rendered>> {
        if self.epoch != epoch || now > self.made + LIFETIME_SECS {
            return None;
        }
        self.rendered.upgrade()
    }

    /// Count a hit; true when this one should also be looked up in the render cache.
    pub fn touch_due(&self) -> bool {
        self.hits.fetch_add(1, Ordering::Relaxed) % TOUCH_EVERY == TOUCH_EVERY - 1
    }
}

/// What a routed answer leaves for the next identical request.
pub struct Ready<'a> {
    /// The response head (see [`Hot::head`]).
    pub head: Bytes,
    /// The cached variant it answers with.
    pub rendered: &'a Arc<Rendered>,
    /// The render cache's epoch read before the variant was looked up.
    pub epoch: u64,
    /// Now, in UNIX seconds.
    pub now: u64,
    /// See [`Hot::cache_key`], [`Hot::key`], [`Hot::source`], [`Hot::dpr`].
    pub cache_key: &'a str,
    /// The original's key.
    pub key: &'a str,
    /// The kind of store.
    pub source: &'static str,
    /// The requested DPR.
    pub dpr: f64,
    /// The client hints the variant varies on (its `Vary`).
    pub varies: Varies,
}

/// Entries by the hash of their target and class: a few per URL (hint values).
type Buckets = HashMap<u64, Vec<Arc<Hot>>, BuildHasherDefault<Prehashed>>;

/// A shard's entries and what they hold.
#[derive(Default)]
struct Entries {
    buckets: Buckets,
    count: usize,
    bytes: usize,
}

impl Entries {
    fn clear(&mut self) {
        *self = Entries::default();
    }

    /// Keep only the entries `keep` accepts.
    fn retain(&mut self, keep: impl Fn(&Hot) -> bool) {
        let (mut count, mut bytes) = (0, 0);
        self.buckets.retain(|_, bucket| {
            bucket.retain(|hot| keep(hot));
            count += bucket.len();
            bytes += bucket.iter().map(|hot| hot.bytes()).sum::<usize>();
            !bucket.is_empty()
        });
        (self.count, self.bytes) = (count, bytes);
    }
}

/// One shard: its entries, and the second it was last swept of expired ones.
#[derive(Default)]
struct Shard {
    entries: RwLock<Entries>,
    swept: AtomicU64,
}

/// The table of ready responses.
pub struct HotResponses {
    shards: Box<[Shard]>,
}

impl Default for HotResponses {
    fn default() -> HotResponses {
        HotResponses {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

impl HotResponses {
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash >> 60) as usize % SHARDS]
    }

    /// The entry for `probe`, if there is one (whether it is still live is [`Hot::live`]'s
    /// to say).
    pub fn get(&self, probe: &Probe<'_>) -> Option<Arc<Hot>> {
        let hash = probe.hash();
        let entries = self.shard(hash).entries.read();
        let entries = entries.unwrap_or_else(|e| e.into_inner());
        entries
            .buckets
            .get(&hash)?
            .iter()
            .find(|hot| hot.answers(probe))
            .cloned()
    }

    /// Whether `probe` needs a (new) entry at `now` in `epoch`: none, another probe's, or a
    /// stale one.
    pub fn wants(&self, probe: &Probe<'_>, epoch: u64, now: u64) -> bool {
        self.get(probe)
            .is_none_or(|hot| hot.live(epoch, now).is_none())
    }

    /// Keep `ready` as the answer to `probe`.
    pub fn insert(&self, probe: &Probe<'_>, ready: Ready<'_>) {
        let hash = probe.hash();
        let shard = self.shard(hash);
        let variant = Arc::downgrade(ready.rendered);
        // An entry of the same variant (this URL's, for other hint values or the one replaced)
        // hands on its memory file.
        let file = {
            let entries = shard.entries.read().unwrap_or_else(|e| e.into_inner());
            entries.buckets.get(&hash).and_then(|bucket| {
                bucket
                    .iter()
                    .find(|old| Weak::ptr_eq(&old.rendered, &variant))
                    .and_then(|old| old.file.clone())
            })
        }
        .or_else(|| BodyFile::new(&ready.rendered.body).map(Arc::new));
        let hot = Arc::new(Hot {
            file,
            target: probe.target.into(),
            accept: probe.accept,
            varies: ready.varies,
            hints: relevant(probe.hints, ready.varies),
            head: ready.head,
            rendered: variant,
            epoch: ready.epoch,
            made: ready.now,
            hits: AtomicU32::new(0),
            cache_key: ready.cache_key.into(),
            key: ready.key.into(),
            source: ready.source,
            dpr: ready.dpr,
        });
        let mut entries = shard.entries.write().unwrap_or_else(|e| e.into_inner());
        // At most once a second per shard, drop what can no longer be served (and with it
        // any memory file it holds).
        if shard.swept.swap(ready.now, Ordering::Relaxed) != ready.now {
            entries.retain(|hot| {
                hot.made + LIFETIME_SECS >= ready.now && hot.rendered.strong_count() > 0
            });
        }
        if entries.count >= SHARD_CAPACITY || entries.bytes + hot.bytes() > SHARD_BYTES {
            entries.clear();
        }
        let (added, kept) = (hot.bytes(), &mut *entries);
        let bucket = kept.buckets.entry(hash).or_default();
        // The entry it replaces: the same target, class and relevant hints.
        let replaced = bucket.iter().position(|old| {
            old.target == hot.target
                && old.accept == hot.accept
                && old.varies == hot.varies
                && old.hints == hot.hints
        });
        let dropped = match replaced {
            Some(i) => Some(bucket.remove(i)),
            None if bucket.len() >= PER_URL => Some(bucket.remove(0)),
            None => None,
        };
        bucket.push(hot);
        if let Some(old) = dropped {
            kept.count -= 1;
            kept.bytes -= old.bytes();
        }
        kept.count += 1;
        kept.bytes += added;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.entries.read().unwrap_or_else(|e| e.into_inner()).count)
            .sum()
    }

    /// Bytes the entries are charged for (targets, heads, keys; memory files aside).
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.entries.read().unwrap_or_else(|e| e.into_inner()).bytes)
            .sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The table's keys are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encoding::format::Format;
    use crate::transform::encode::Tier;

    /// A small cached WebP variant.
    pub(crate) fn rendered() -> Arc<Rendered> {
        Arc::new(Rendered {
            body: Bytes::from_static(b"img"),
            format: Format::Webp,
            size: crate::transform::plan::Size {
                width: 1,
                height: 1,
            },
            original_bytes: 10,
            etag: "\"e\"".into(),
            purge_tag: hyper::header::HeaderValue::from_static("p"),
            tier: Tier::Standard,
            served: AtomicU32::new(0),
            provisional: false,
        })
    }

    /// The ready answer for `/a.jpg?w=1` (key `a.jpg`) made in `epoch` at `now`.
    pub(crate) fn ready(rendered: &Arc<Rendered>, epoch: u64, now: u64) -> Ready<'_> {
        Ready {
            head: Bytes::from_static(b"HTTP/1.1 200 OK\r\n"),
            rendered,
            epoch,
            now,
            cache_key: "a.jpg?w=1",
            key: "a.jpg",
            source: "file",
            dpr: 1.0,
            varies: Varies::default(),
        }
    }

    #[test]
    fn an_entry_answers_only_its_own_probe_while_live() {
        let table = HotResponses::default();
        let probe = Probe {
            target: b"/a.jpg?w=1",
            accept: AcceptClass::Webp,
            hints: Hints::default(),
        };
        let r = rendered();
        assert!(table.wants(&probe, 0, 100));
        table.insert(&probe, ready(&r, 0, 100));
        assert!(!table.wants(&probe, 0, 100));
        let hot = table.get(&probe).unwrap();
        assert!(hot.live(0, 100).is_some());
        assert!(hot.live(0, 101).is_some(), "within its lifetime");
        assert!(hot.live(0, 102).is_none(), "too old");
        assert!(hot.live(1, 100).is_none(), "the cache's epoch moved");
        for other in [
            Probe {
                target: b"/a.jpg?w=2",
                ..probe
            },
            Probe {
                accept: AcceptClass::Avif,
                ..probe
            },
        ] {
            assert!(table.get(&other).is_none());
        }
        // The variant does not vary on hints: any hint values find it.
        let hinted = Probe {
            hints: Hints::from_values(Some("2"), Some("300"), Some("on")),
            ..probe
        };
        assert!(table.get(&hinted).is_some());
        drop(r);
        assert!(hot.live(0, 100).is_none(), "evicted from the render cache");
        let touches = (0..TOUCH_EVERY * 3).filter(|_| hot.touch_due()).count();
        assert_eq!(touches, 3);
    }

    #[test]
    fn entries_past_their_lifetime_or_their_variant_are_swept() {
        let table = HotResponses::default();
        // Targets that all land in the first shard.
        let targets: Vec<&'static str> = (0..)
            .map(|i| &*format!("/a.jpg?w={i}").leak())
            .filter(|t: &&str| {
                let probe = Probe {
                    target: t.as_bytes(),
                    accept: AcceptClass::Legacy,
                    hints: Hints::default(),
                };
                std::ptr::eq(table.shard(probe.hash()), &table.shards[0])
            })
            .take(22)
            .collect();
        let probe = |t: &'static str| Probe {
            target: t.as_bytes(),
            accept: AcceptClass::Legacy,
            hints: Hints::default(),
        };
        let (kept, gone) = (rendered(), rendered());
        for (i, t) in targets[..20].iter().enumerate() {
            let r = if i % 2 == 0 { &kept } else { &gone };
            table.insert(&probe(t), ready(r, 0, 100));
        }
        assert_eq!(table.len(), 20);
        drop(gone);
        // The next second's first insert sweeps the entries whose variant is gone.
        table.insert(&probe(targets[20]), ready(&kept, 0, 101));
        assert_eq!(table.len(), 11);
        // Later, everything past its lifetime goes too.
        table.insert(&probe(targets[21]), ready(&kept, 0, 105));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_full_shard_is_emptied_rather_than_grown() {
        let table = HotResponses::default();
        let r = rendered();
        let targets: Vec<String> = (0..SHARDS * SHARD_CAPACITY * 2)
            .map(|i| format!("/a.jpg?w={i}"))
            .collect();
        for t in &targets {
            let probe = Probe {
                target: t.as_bytes(),
                accept: AcceptClass::Legacy,
                hints: Hints::default(),
            };
            table.insert(&probe, ready(&r, 0, 0));
        }
        assert!(table.len() <= SHARDS * SHARD_CAPACITY);
    }

    #[test]
    fn a_url_that_varies_on_hints_has_an_entry_per_value_and_a_bound() {
        let table = HotResponses::default();
        let r = rendered();
        let varies = Varies {
            dpr: true,
            ..Varies::default()
        };
        let probe = |dpr: &str| Probe {
            target: b"/a.jpg?w=1&ch=dpr",
            accept: AcceptClass::Webp,
            hints: Hints::from_values(Some(dpr), Some("300"), None),
        };
        for dpr in ["1", "2"] {
            table.insert(
                &probe(dpr),
                Ready {
                    varies,
                    ..ready(&r, 0, 100)
                },
            );
        }
        assert_eq!(table.len(), 2);
        assert!(
            table.get(&probe("2.0")).is_some(),
            "parsed, not compared as bytes"
        );
        assert!(table.get(&probe("3")).is_none());
        // Width is not among what it varies on: another width finds the same entry.
        let other_width = Probe {
            hints: Hints::from_values(Some("1"), Some("999"), None),
            ..probe("1")
        };
        assert!(table.get(&other_width).is_some());
        for dpr in 3..20 {
            table.insert(
                &probe(&dpr.to_string()),
                Ready {
                    varies,
                    ..ready(&r, 0, 100)
                },
            );
        }
        assert_eq!(table.len(), PER_URL, "at most {PER_URL} per URL");
    }

    #[test]
    fn the_table_holds_at_most_its_bytes_whatever_the_targets() {
        let table = HotResponses::default();
        let r = rendered();
        let long = "x".repeat(8000);
        for i in 0..5000 {
            let target = format!("/a.jpg?w=1&junk={i}{long}");
            let probe = Probe {
                target: target.as_bytes(),
                accept: AcceptClass::Legacy,
                hints: Hints::default(),
            };
            table.insert(&probe, ready(&r, 0, 0));
        }
        assert!(table.bytes() <= SHARDS * SHARD_BYTES, "{}", table.bytes());
        assert!(table.len() <= SHARDS * SHARD_CAPACITY);
    }
}
