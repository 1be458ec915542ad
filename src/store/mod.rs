//! The durable variant store (`--variant-store`): rendered variants kept in S3 or a directory
//! that every replica shares, so a variant is rendered once per fleet rather than once per
//! replica and restart.
//!
//! - Read-through: a miss in memory looks here before rendering ([`VariantStore::get`]); a store
//!   that fails or is slow is a miss, counted, never an error for the request.
//! - Write-behind: a render is queued for writing ([`VariantStore::put_behind`]) and the response
//!   does not wait; the queue is bounded and a full queue drops (and counts) the write.
//! - Identity: an object's name derives from the variant's cache key, the original's content
//!   hash and the renderer (libvips version and [`crate::transform::PIPELINE_VERSION`]), so a
//!   changed original or a new renderer never meets an old variant.
//! - Layout: `v1/{purge tag}/{variant hash}` — every variant of one original under one prefix,
//!   so purging an original is one prefix delete ([`VariantStore::purge`]).
//! - Atomic: one PUT on S3; temporary file, fsync and rename on disk. Readers check every object
//!   ([`record`]) and treat anything partial or foreign as absent.
//!
//! Not here: the memory cache in front of it ([`crate::render::cache`]), the render ([`crate::transform`]).

pub mod file;
pub mod record;
pub mod s3;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use crate::encoding::digest::hex;
use crate::error::Error;
use crate::observe::metrics::{Metrics, Stage};
use crate::source::BoxFuture;
use crate::transform::Rendered;

/// Writes waiting to go out; past this, new writes are dropped (and counted).
const WRITE_QUEUE: usize = 1024;

/// Writes in flight at once.
const WRITERS: usize = 8;

/// Longest a purge waits for the writes queued before it.
const PURGE_WAIT: Duration = Duration::from_secs(10);

/// A place objects are kept: S3 (or compatible) or a local directory. Paths are relative
/// (`v1/…`), `/`-separated, made only of hex digits and those separators.
pub trait Backend: Send + Sync + 'static {
    /// The object at `path`; `None` when there is none.
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, String>>;

    /// Write the object at `path` atomically: readers see all of it or nothing.
    fn put<'a>(&'a self, path: &'a str, object: Bytes) -> BoxFuture<'a, Result<(), String>>;

    /// Delete every object under `prefix` (ending in `/`); how many there were.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, String>>;

    /// A short description for logs, without credentials.
    fn describe(&self) -> String;
}

/// Open the backend a `--variant-store` URL names: `s3://bucket/prefix` (settings from the
/// `AWS_*` environment, as for sources) or `file:///dir`.
pub fn open_backend(url: &str, timeout: Duration) -> Result<Arc<dyn Backend>, String> {
    if let Some(dir) = url.strip_prefix("file://") {
        return Ok(Arc::new(file::FileBackend::new(std::path::Path::new(dir))?));
    }
    if url.starts_with("s3://") {
        return Ok(Arc::new(s3::S3Backend::from_env(url, timeout)?));
    }
    Err(format!(
        "--variant-store '{url}': use s3://BUCKET/PREFIX or file:///DIR"
    ))
}

/// The purge key of an original: 32 hex digits of the SHA-256 of its key (mount prefix
/// included). The same text names the original's folder in the store and goes out in every
/// image response's `Surrogate-Key`, `Cache-Tag` and `xkey` headers: safe in all three (no
/// spaces or commas, fixed length), whatever characters the key has.
pub fn purge_tag(original_key: &str) -> String {
    hex(&Sha256::digest(original_key.as_bytes())[..16])
}

/// Where one variant lives in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `v1/{purge tag}/{variant hash}`.
    path: String,
    /// The variant's cache key, which the object must say it renders.
    cache_key: String,
}

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// The original's purge key (for the CDN's tag purge).
    pub purge_key: String,
    /// Objects deleted from the store.
    pub stored: u64,
}

/// A write waiting for the writer task: encoded there, not on the request path.
struct Write {
    path: String,
    cache_key: String,
    rendered: Rendered,
}

/// The store, its write-behind queue and its counters.
pub struct VariantStore {
    backend: Arc<dyn Backend>,
    /// Identifies the renderer in object names: libvips and pipeline versions.
    renderer: String,
    timeout: Duration,
    writes: mpsc::Sender<Write>,
    /// The receiving end, until the first write starts the writer task (which needs a runtime).
    pending_writer: Mutex<Option<mpsc::Receiver<Write>>>,
    /// Writes accepted and not yet finished (queued or in flight).
    outstanding: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl VariantStore {
    /// A store over `backend`; `renderer` names the renderer version; reads that take longer
    /// than `timeout` count as misses.
    pub fn new(
        backend: Arc<dyn Backend>,
        renderer: String,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> VariantStore {
        let (writes, receiver) = mpsc::channel(WRITE_QUEUE);
        VariantStore {
            backend,
            renderer,
            timeout,
            writes,
            pending_writer: Mutex::new(Some(receiver)),
            outstanding: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    /// Where the variant `cache_key` of an original, whose [`purge_tag`] is `purge_key` and whose
    /// content hashes to `original_digest`, is stored.
    pub fn locate(&self, cache_key: &str, purge_key: &str, original_digest: &[u8; 32]) -> Location {
        let mut h = Sha256::new();
        for part in [
            cache_key.as_bytes(),
            original_digest,
            self.renderer.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        Location {
            path: format!("v1/{purge_key}/{}", hex(&h.finalize()[..20])),
            cache_key: cache_key.to_owned(),
        }
    }

    /// The stored variant at `location`, or `None` (absent, unreadable, or the store failing or
    /// slow — all counted in `refract_variant_store_total`, none an error for the caller).
    pub async fn get(&self, location: &Location) -> Option<Rendered> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.backend.get(&location.path)).await;
        self.metrics.stage(Stage::Store, started.elapsed());
        let (label, found) = match result {
            Ok(Ok(Some(object))) => match record::decode(&location.cache_key, &object) {
                Ok(rendered) => ("hit", Some(rendered)),
                Err(e) => {
                    tracing::warn!(path = %location.path, error = %e, "unreadable stored variant");
                    ("corrupt", None)
                }
            },
            Ok(Ok(None)) => ("miss", None),
            Ok(Err(e)) => {
                tracing::warn!(path = %location.path, error = %e, "variant store read failed");
                ("read_error", None)
            }
            Err(_) => {
                tracing::warn!(path = %location.path, "variant store read timed out");
                ("read_error", None)
            }
        };
        self.count(label);
        found
    }

    /// Queue `rendered` for writing at `location`; returns at once. A full queue drops the
    /// write (`refract_variant_store_total{result="dropped"}`): the variant can be rendered
    /// again, and a request never waits for the store.
    pub fn put_behind(&self, location: &Location, rendered: &Rendered) {
        self.start_writer();
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        let write = Write {
            path: location.path.clone(),
            cache_key: location.cache_key.clone(),
            // Shares the body: nothing is copied until the writer encodes it.
            rendered: rendered.clone(),
        };
        if self.writes.try_send(write).is_err() {
            self.outstanding.fetch_sub(1, Ordering::AcqRel);
            self.count("dropped");
        }
    }

    /// Write `rendered` at `location` now and wait for the store to take it: background work
    /// that acknowledges its job only once its result is durable (a learned mask, an upscale).
    pub async fn put(&self, location: &Location, rendered: &Rendered) -> Result<(), Error> {
        let object = record::encode(&location.cache_key, rendered);
        let result = self.backend.put(&location.path, object).await;
        self.count(if result.is_ok() {
            "written"
        } else {
            "write_error"
        });
        result.map_err(Error::StoreFailed)
    }

    /// Delete every stored variant of the original whose [`purge_tag`] is `purge_key`: one
    /// prefix delete; how many objects there were. Writes this replica accepted before the
    /// purge finish first (for at most 10 s), so none of them lands after the delete.
    pub async fn purge(&self, purge_key: &str) -> Result<u64, Error> {
        self.flush(PURGE_WAIT).await;
        let prefix = format!("v1/{purge_key}/");
        let stored = self
            .backend
            .delete_prefix(&prefix)
            .await
            .map_err(Error::StoreFailed)?;
        self.metrics
            .variant_store
            .with_label_values(&["purged"])
            .inc_by(stored);
        Ok(stored)
    }

    /// Writes accepted and not yet finished (queued or in flight).
    pub fn pending_writes(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Wait (at most `limit`) until every write accepted so far has finished: tests, and a
    /// graceful shutdown, which should not throw finished renders away.
    pub async fn flush(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.pending_writes() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A description for logs.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    fn count(&self, result: &str) {
        self.metrics
            .variant_store
            .with_label_values(&[result])
            .inc();
    }

    /// Start the write-behind task on the current runtime, the first time a write is queued.
    fn start_writer(&self) {
        let Some(mut receiver) = self.pending_writer.lock().expect("not poisoned").take() else {
            return;
        };
        let backend = self.backend.clone();
        let metrics = self.metrics.clone();
        let outstanding = self.outstanding.clone();
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(WRITERS));
            while let Some(write) = receiver.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let (backend, metrics) = (backend.clone(), metrics.clone());
                let outstanding = outstanding.clone();
                tokio::spawn(async move {
                    let Write {
                        path,
                        cache_key,
                        rendered,
                    } = write;
                    let object = record::encode(&cache_key, &rendered);
                    let result = backend.put(&path, object).await;
                    let label = match &result {
                        Ok(()) => "written",
                        Err(e) => {
                            tracing::warn!(%path, error = %e, "variant store write failed");
                            "write_error"
                        }
                    };
                    metrics.variant_store.with_label_values(&[label]).inc();
                    outstanding.fetch_sub(1, Ordering::AcqRel);
                    drop(permit);
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> VariantStore {
        VariantStore::new(
            Arc::new(file::FileBackend::new(dir).unwrap()),
            "vips 8.18.0; pipeline 1".into(),
            Duration::from_secs(5),
            Arc::new(Metrics::new()),
        )
    }

    #[test]
    fn names_change_with_the_original_the_variant_and_the_renderer() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let tag = purge_tag("a.jpg");
        let base = s.locate("a.jpg?w=1&fm=webp", &tag, &[1; 32]);
        assert!(base
            .path
            .starts_with(&format!("v1/{}/", purge_tag("a.jpg"))));
        assert_ne!(base, s.locate("a.jpg?w=2&fm=webp", &tag, &[1; 32]));
        assert_ne!(
            base.path,
            s.locate("a.jpg?w=1&fm=webp", &tag, &[2; 32]).path
        );
        let mut other = store(dir.path());
        other.renderer = "vips 8.18.1; pipeline 1".into();
        assert_ne!(
            base.path,
            other.locate("a.jpg?w=1&fm=webp", &tag, &[1; 32]).path
        );
        assert_eq!(purge_tag("a.jpg").len(), 32);
        assert_ne!(purge_tag("a.jpg"), purge_tag("b.jpg"));
    }

    #[tokio::test]
    async fn written_behind_read_back_and_purged_by_original() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let body = Bytes::from_static(b"not really a webp");
        let rendered = Rendered {
            etag: crate::transform::etag_of(&body),
            body,
            format: crate::encoding::format::Format::Webp,
            size: crate::transform::plan::Size {
                width: 2,
                height: 1,
            },
            original_bytes: 9,
            purge_tag: hyper::header::HeaderValue::from_static(""),
            tier: crate::transform::encode::Tier::Standard,
            served: std::sync::atomic::AtomicU32::new(0),
            provisional: false,
        };
        let (a, b) = (purge_tag("a.jpg"), purge_tag("b.jpg"));
        let a1 = s.locate("a.jpg?w=1", &a, &[1; 32]);
        let a2 = s.locate("a.jpg?w=2", &a, &[1; 32]);
        let b1 = s.locate("b.jpg?w=1", &b, &[1; 32]);
        assert!(s.get(&a1).await.is_none());
        for l in [&a1, &a2, &b1] {
            s.put_behind(l, &rendered);
        }
        s.flush(Duration::from_secs(30)).await;
        assert_eq!(s.get(&a1).await.unwrap().body, rendered.body);
        assert_eq!(s.purge(&a).await.unwrap(), 2);
        assert!(s.get(&a1).await.is_none() && s.get(&a2).await.is_none());
        assert!(s.get(&b1).await.is_some());
        let count = |r: &str| s.metrics.variant_store.with_label_values(&[r]).get();
        assert_eq!((count("written"), count("hit"), count("miss")), (3, 2, 3));

        // A write still queued when the purge comes lands before the delete, never after it.
        s.put_behind(&a1, &rendered);
        assert_eq!(s.purge(&a).await.unwrap(), 1);
        s.flush(Duration::from_secs(30)).await;
        assert!(s.get(&a1).await.is_none());
    }
}
