//! The in-memory cache of rendered variants: moka, weighted by bytes, with request coalescing —
//! concurrent misses for the same variant wait for one render instead of starting their own.
//! Failures are not cached: the next request tries again.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use prometheus::IntCounter;

use crate::error::Error;
use crate::observe::Lookup;
use crate::transform::Rendered;

/// Rendered variants by cache key.
#[derive(Clone)]
pub struct RenderCache {
    inner: Cache<String, Arc<Rendered>>,
    /// Bumped whenever a variant is replaced or dropped on purpose (refined, invalidated,
    /// purged): a response kept ready from an earlier epoch is no longer served
    /// ([`crate::server::hot`]).
    epoch: Arc<AtomicU64>,
}

/// Bookkeeping bytes charged per entry on top of key and body.
const ENTRY_OVERHEAD: usize = 256;

impl RenderCache {
    /// A cache holding at most `max_bytes` of keys and bodies, each entry for at most `ttl`;
    /// `evictions` counts entries dropped for size or age.
    pub fn new(max_bytes: u64, ttl: Duration, evictions: IntCounter) -> RenderCache {
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &Arc<Rendered>| {
                let weight = key.len() + value.body.len() + ENTRY_OVERHEAD;
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| {
                if cause.was_evicted() {
                    evictions.inc();
                }
            })
            .build();
        RenderCache {
            inner,
            epoch: Arc::default(),
        }
    }

    /// The current epoch: it changes whenever a cached variant is replaced or dropped on
    /// purpose, so anything derived from the cache before that is stale.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Look `key` up and drop the answer: keeps moka's recency and frequency right for
    /// variants mostly answered without a lookup (ready responses).
    pub async fn touch(&self, key: &str) {
        let _ = self.inner.get(key).await;
    }

    /// The cached variant for `key`, or the result of `render` — run once however many callers
    /// ask for the same key at the same time.
    pub async fn get_or_render<F>(
        &self,
        key: &str,
        render: F,
    ) -> (Result<Arc<Rendered>, Error>, Lookup)
    where
        F: Future<Output = Result<Rendered, Error>>,
    {
        if let Some(hit) = self.inner.get(key).await {
            return (Ok(hit), Lookup::Hit);
        }
        let entry = self
            .inner
            .entry(key.to_owned())
            .or_try_insert_with(async { render.await.map(Arc::new) })
            .await;
        match entry {
            Ok(entry) if entry.is_fresh() => {
                let rendered = entry.into_value();
                // A stand-in for a learned result on its way: answered, not kept.
                if rendered.provisional {
                    self.inner.invalidate(key).await;
                }
                (Ok(rendered), Lookup::Miss)
            }
            Ok(entry) => (Ok(entry.into_value()), Lookup::Coalesced),
            Err(e) => (Err((*e).clone()), Lookup::Miss),
        }
    }

    /// Put `rendered` in place of whatever `key` holds (a refined render).
    pub async fn replace(&self, key: &str, rendered: Arc<Rendered>) {
        self.inner.insert(key.to_owned(), rendered).await;
        self.bump();
    }

    /// Drop the variant `key` (another replica refined it: the next request takes the store's).
    pub async fn invalidate(&self, key: &str) {
        self.inner.invalidate(key).await;
        self.bump();
    }

    /// Drop every variant of the original `key` (its cache keys start with `key?`).
    pub fn purge(&self, key: &str) {
        let prefix = format!("{key}?");
        // Only fails when closures are not enabled, and they are.
        let _ = self
            .inner
            .invalidate_entries_if(move |k, _| k.starts_with(&prefix));
        self.bump();
    }

    /// Number of entries (approximate; moka applies writes lazily).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// Bytes held (approximate).
    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    /// Apply pending writes and evictions now (tests and metrics want exact counts).
    pub async fn sync(&self) {
        self.inner.run_pending_tasks().await;
    }
}
