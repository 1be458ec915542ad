//! [`Mounts`]: sources under URL prefixes, and the cache of fetched originals.
//!
//! Routing is by whole path segments, longest prefix first, on the percent-decoded path: with
//! `--source s3=s3://bucket/` and `--root DIR`, `/s3/cats/cat.jpg` is `cats/cat.jpg` in the
//! bucket and `/dogs/dog.jpg` is a file. The request's [`Key`] keeps the prefix, so cache keys,
//! analytics and logs tell mounts apart.
//!
//! Originals are cached separately from rendered variants (bounded by bytes): one original asked
//! for at several widths is fetched once, and concurrent fetches of one key are coalesced. After
//! `--originals-revalidate-after` an entry is revalidated (ETag / modification time) before use;
//! if the store is failing at that moment the cached copy is served, so an outage does not take
//! hot images down with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::future::Cache;
use percent_encoding::{
    percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC,
};

use crate::encoding::digest::LazyDigest;

use super::{Fetched, Original, Source, Stored, Validator};
use crate::error::Error;
use crate::observe::metrics::{Metrics, Stage};
use crate::request::Key;

/// One source under a prefix.
struct Mount {
    /// Normalised prefix: no leading or trailing `/`; empty for the root.
    prefix: String,
    source: Box<dyn Source>,
}

struct Cached {
    original: Original,
    checked: Instant,
    /// SHA-256 of the bytes, computed the first time someone needs the original's identity.
    digest: LazyDigest,
}

impl Cached {
    fn new(original: Original) -> Cached {
        Cached {
            original,
            checked: Instant::now(),
            digest: LazyDigest::default(),
        }
    }
}

/// A fetched original: its bytes, and on demand their SHA-256 — what the variant store names
/// variants by, so a changed original never meets its old variants. The hash is computed once
/// per cached original.
pub struct FetchedOriginal(Arc<Cached>);

impl FetchedOriginal {
    /// An original made here rather than fetched (the typesetting endpoint's blank).
    pub fn in_memory(bytes: Bytes) -> FetchedOriginal {
        FetchedOriginal(Arc::new(Cached::new(Original {
            bytes,
            validator: Validator::default(),
        })))
    }

    /// The bytes (shared, not copied).
    pub fn bytes(&self) -> Bytes {
        self.0.original.bytes.clone()
    }

    /// The SHA-256 of the bytes, shared with whoever computes it first (face detection
    /// computes it on its transform thread when it gets there first).
    pub fn lazy_digest(&self) -> LazyDigest {
        self.0.digest.clone()
    }

    /// The SHA-256 of the bytes; large originals are hashed on the blocking pool.
    pub async fn digest(&self) -> Result<[u8; 32], Error> {
        if let Some(digest) = self.0.digest.get() {
            return Ok(digest);
        }
        let (bytes, cell) = (self.bytes(), self.0.digest.clone());
        let hash = move || cell.of(&bytes);
        if self.0.original.bytes.len() >= HASH_OFF_THREAD {
            tokio::task::spawn_blocking(hash)
                .await
                .map_err(|e| Error::Internal(format!("hash task failed: {e}")))
        } else {
            Ok(hash())
        }
    }
}

/// Originals at least this large are hashed on the blocking pool rather than on an async worker.
const HASH_OFF_THREAD: usize = 256 * 1024;

/// Bookkeeping bytes charged per cached original on top of key and body.
const ENTRY_OVERHEAD: usize = 256;

/// How the originals cache behaves.
#[derive(Debug, Clone, Copy)]
pub struct OriginalsCache {
    /// Bytes of originals kept; 0 turns the cache off.
    pub max_bytes: u64,
    /// An entry older than this is revalidated with the store before use.
    pub revalidate_after: Duration,
    /// An entry is dropped after this long whatever happens.
    pub ttl: Duration,
}

/// The configured sources and the originals cache.
pub struct Mounts {
    /// Longest prefix first.
    mounts: Vec<Mount>,
    originals: Option<Cache<String, Arc<Cached>>>,
    revalidate_after: Duration,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

/// Normalise a mount prefix as written in `--source PREFIX=URL` (`/s3`, `s3/`, `/`).
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    let p = prefix.trim().trim_matches('/');
    let ok = p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
    if !p.is_empty() && !ok {
        return Err(format!(
            "source prefix '{prefix}': use letters, digits, '-', '.', '_', '~' and '/' segments"
        ));
    }
    Ok(p.to_owned())
}

impl Mounts {
    /// Mount `sources` (prefix, source); prefixes must be distinct.
    pub fn new(
        sources: Vec<(String, Box<dyn Source>)>,
        cache: OriginalsCache,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Mounts, String> {
        let mut mounts = Vec::with_capacity(sources.len());
        for (prefix, source) in sources {
            let prefix = normalise_prefix(&prefix)?;
            if mounts.iter().any(|m: &Mount| m.prefix == prefix) {
                return Err(format!("two sources are mounted at '/{prefix}'"));
            }
            mounts.push(Mount { prefix, source });
        }
        if mounts.is_empty() {
            return Err("no sources configured: pass --root DIR or --source PREFIX=URL".into());
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let originals = (cache.max_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(cache.max_bytes)
                .weigher(|key: &String, value: &Arc<Cached>| {
                    let weight = key.len() + value.original.bytes.len() + ENTRY_OVERHEAD;
                    u32::try_from(weight).unwrap_or(u32::MAX)
                })
                .time_to_live(cache.ttl)
                .build()
        });
        Ok(Mounts {
            mounts,
            originals,
            revalidate_after: cache.revalidate_after,
            timeout,
            metrics,
        })
    }

    /// The mount serving `path` (decoded, without the leading `/`) and the rest of the path.
    fn route<'p>(&self, path: &'p str) -> Option<(&Mount, &'p str)> {
        self.mounts.iter().find_map(|m| {
            if m.prefix.is_empty() {
                return Some((m, path));
            }
            let rest = path.strip_prefix(m.prefix.as_str())?;
            Some((m, rest.strip_prefix('/')?))
        })
    }

    /// Turn a raw URL path (`/s3/cats/cat%20one.jpg`) into a key: percent-decoded, routed, and
    /// checked by the source it routes to. A path no mount serves is [`Error::NotFound`].
    pub fn key(&self, raw_path: &str) -> Result<Key, Error> {
        let decoded = percent_decode_str(raw_path)
            .decode_utf8()
            .map_err(|_| Error::BadPath("not valid UTF-8 after percent-decoding".into()))?;
        let path = decoded.strip_prefix('/').unwrap_or(&decoded);
        let (mount, rest) = self.route(path).ok_or(Error::NotFound)?;
        mount.source.check_key(rest)?;
        if mount.source.takes_urls() {
            Key::routed(path)
        } else {
            Key::new(path)
        }
    }

    /// The raw path, in this origin's URL space, of an overlay whose URL carries parameters
    /// (rendered through the origin): a path as it is, or an absolute URL under an HTTP
    /// origin's base address as its mount's path. Not for URLs only the proxy source fetches:
    /// their query belongs to the remote site, and no parameters are read from it.
    pub fn overlay_path(&self, param: &'static str, source: &str) -> Result<String, Error> {
        self.local_path(source).ok_or_else(|| {
            Error::bad_param(
                param,
                format!(
                    "{source} is not in this origin's URL space: parameters on an overlay's URL \
                     are read only for a path here or an HTTP origin's address"
                ),
            )
        })
    }

    /// The raw path an overlay reference names in this origin's URL space: a path as it is; an
    /// absolute URL under an HTTP origin's base address, as its mount's path; else `None`.
    fn local_path(&self, source: &str) -> Option<String> {
        const PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#');
        if !(source.starts_with("http://") || source.starts_with("https://")) {
            return Some(utf8_percent_encode(source, PATH).to_string());
        }
        self.mounts.iter().find_map(|m| {
            let rest = source.strip_prefix(m.source.base_url()?.as_str())?;
            let path = if m.prefix.is_empty() {
                format!("/{rest}")
            } else {
                format!("/{}/{rest}", m.prefix)
            };
            Some(utf8_percent_encode(&path, PATH).to_string())
        })
    }

    /// The key of an overlay image a URL parameter names (`mark=`, `blend=`): a path in this
    /// origin's URL space, routed as a request path is; or an absolute URL, fetched only through
    /// a mount that serves it — an HTTP origin whose base URL it starts with, else the proxy
    /// source (whose allow-list and address checks then apply). No such mount: a 400 naming
    /// `param`.
    pub fn overlay_key(&self, param: &'static str, source: &str) -> Result<Key, Error> {
        if let Some(path) = self.local_path(source) {
            return self.key(&path);
        }
        match self.mounts.iter().find(|m| m.source.takes_urls()) {
            Some(m) => {
                let url = utf8_percent_encode(source, NON_ALPHANUMERIC);
                if m.prefix.is_empty() {
                    self.key(&format!("/{url}"))
                } else {
                    self.key(&format!("/{}/{url}", m.prefix))
                }
            }
            None => Err(Error::bad_param(
                param,
                format!("no source serves {source} (absolute URLs need a proxy source or an HTTP origin under that address)"),
            )),
        }
    }

    /// The kind of source (`file`, `s3`, `http`, `proxy`) a key is served from, for logs.
    pub fn kind_of(&self, key: &Key) -> &'static str {
        self.route(key.as_str())
            .map_or("none", |(m, _)| m.source.kind())
    }

    /// Whether the source mounted exactly at `prefix` can store uploads.
    pub fn writable(&self, prefix: &str) -> bool {
        let Ok(prefix) = normalise_prefix(prefix) else {
            return false;
        };
        self.mounts
            .iter()
            .any(|m| m.prefix == prefix && m.source.writable())
    }

    /// Store `bytes` under `key` (routed like a fetch), unless something is already there.
    pub async fn put(&self, key: &Key, bytes: Bytes) -> Result<Stored, Error> {
        let (mount, object) = self.route(key.as_str()).ok_or(Error::NotFound)?;
        let stored = mount.source.put(object, bytes).await?;
        if let Some(cache) = &self.originals {
            cache.invalidate(key.as_str()).await;
        }
        Ok(stored)
    }

    /// Delete the object under `key` from a writable mount, and its cached original.
    pub async fn delete(&self, key: &Key) -> Result<(), Error> {
        let (mount, object) = self.route(key.as_str()).ok_or(Error::NotFound)?;
        if !mount.source.writable() {
            return Err(Error::MethodNotAllowed);
        }
        let result = mount.source.delete(object).await;
        if let Some(cache) = &self.originals {
            cache.invalidate(key.as_str()).await;
        }
        result
    }

    /// One line per mount, for the start-up log.
    pub fn describe(&self) -> Vec<String> {
        self.mounts
            .iter()
            .map(|m| format!("/{} → {}", m.prefix, m.source.describe()))
            .collect()
    }

    /// The original under `key`, from the originals cache or its source.
    pub async fn fetch(&self, key: &Key) -> Result<Bytes, Error> {
        Ok(self.fetch_entry(key).await?.original.bytes.clone())
    }

    /// The original under `key`, able to tell its content hash (see [`FetchedOriginal`]).
    pub async fn fetch_original(&self, key: &Key) -> Result<FetchedOriginal, Error> {
        self.fetch_entry(key).await.map(FetchedOriginal)
    }

    async fn fetch_entry(&self, key: &Key) -> Result<Arc<Cached>, Error> {
        let (mount, object) = self.route(key.as_str()).ok_or(Error::NotFound)?;
        let Some(cache) = &self.originals else {
            return match self.fetch_from(mount, object, None).await? {
                Fetched::Body(o) => Ok(Arc::new(Cached::new(o))),
                Fetched::NotModified => Err(not_modified_unasked()),
            };
        };
        let count = |result: &str| {
            self.metrics
                .originals_cache
                .with_label_values(&[result])
                .inc()
        };
        if let Some(entry) = cache.get(key.as_str()).await {
            if entry.checked.elapsed() < self.revalidate_after {
                count("hit");
                return Ok(entry);
            }
            let validator = &entry.original.validator;
            let asked = (!validator.is_empty()).then_some(validator);
            return match self.fetch_from(mount, object, asked).await {
                Ok(fetched) => {
                    let fresh = match fetched {
                        Fetched::NotModified => {
                            count("revalidated");
                            // Same bytes: keep the hash already computed.
                            Cached {
                                original: entry.original.clone(),
                                checked: Instant::now(),
                                digest: entry.digest.clone(),
                            }
                        }
                        Fetched::Body(o) => {
                            count("changed");
                            Cached::new(o)
                        }
                    };
                    let fresh = Arc::new(fresh);
                    cache.insert(key.as_str().to_owned(), fresh.clone()).await;
                    Ok(fresh)
                }
                Err(e @ (Error::SourceFailed(_) | Error::SourceTimeout)) => {
                    count("stale");
                    tracing::warn!(%key, error = %e, "store failing; serving the cached original");
                    Ok(entry)
                }
                Err(e) => {
                    cache.invalidate(key.as_str()).await;
                    Err(e)
                }
            };
        }
        let entry = cache
            .entry(key.as_str().to_owned())
            .or_try_insert_with(async {
                match self.fetch_from(mount, object, None).await? {
                    Fetched::Body(original) => Ok(Arc::new(Cached::new(original))),
                    Fetched::NotModified => Err(not_modified_unasked()),
                }
            })
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?;
        count(if entry.is_fresh() {
            "miss"
        } else {
            "coalesced"
        });
        Ok(entry.into_value())
    }

    /// One fetch from a store, under the timeout, counted and timed.
    async fn fetch_from(
        &self,
        mount: &Mount,
        object: &str,
        current: Option<&Validator>,
    ) -> Result<Fetched, Error> {
        let started = Instant::now();
        let result =
            match tokio::time::timeout(self.timeout, mount.source.fetch(object, current)).await {
                Ok(result) => result,
                Err(_) => Err(Error::SourceTimeout),
            };
        self.metrics.stage(Stage::Fetch, started.elapsed());
        let outcome = match &result {
            Ok(Fetched::Body(o)) => {
                self.metrics.source_bytes.inc_by(o.bytes.len() as u64);
                "ok"
            }
            Ok(Fetched::NotModified) => "not_modified",
            Err(e) => e.code(),
        };
        self.metrics
            .source_fetches
            .with_label_values(&[mount.source.kind(), outcome])
            .inc();
        result
    }
}

fn not_modified_unasked() -> Error {
    Error::Internal("store answered 'not modified' to an unconditional fetch".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fs::FsSource;

    fn mounts(dir: &std::path::Path, cache_bytes: u64) -> Mounts {
        std::fs::create_dir_all(dir.join("root/s3")).unwrap();
        std::fs::create_dir_all(dir.join("bucket/cats")).unwrap();
        std::fs::write(dir.join("root/s3/shadowed.jpg"), b"root").unwrap();
        std::fs::write(dir.join("root/dog.jpg"), b"dog").unwrap();
        std::fs::write(dir.join("bucket/cats/cat one.jpg"), b"cat").unwrap();
        let fs = |d: &str| -> Box<dyn Source> {
            Box::new(FsSource::new(&dir.join(d), 1 << 20).unwrap())
        };
        Mounts::new(
            vec![("/".into(), fs("root")), ("/s3/".into(), fs("bucket"))],
            OriginalsCache {
                max_bytes: cache_bytes,
                revalidate_after: Duration::ZERO,
                ttl: Duration::from_secs(60),
            },
            Duration::from_secs(5),
            Arc::new(Metrics::new()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn routes_by_longest_prefix_on_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let m = mounts(dir.path(), 0);
        let key = m.key("/s3/cats/cat%20one.jpg").unwrap();
        assert_eq!(key.as_str(), "s3/cats/cat one.jpg");
        assert_eq!(&m.fetch(&key).await.unwrap()[..], b"cat");
        assert_eq!(
            &m.fetch(&m.key("/dog.jpg").unwrap()).await.unwrap()[..],
            b"dog"
        );
        // `/s3/…` is the bucket's, even where the root has a folder of that name.
        let shadowed = m.key("/s3/shadowed.jpg").unwrap();
        assert_eq!(m.fetch(&shadowed).await, Err(Error::NotFound));
        // `s3x` is not under `s3`.
        let s3x = m.key("/s3x/cats/cat%20one.jpg").unwrap();
        assert_eq!(m.fetch(&s3x).await, Err(Error::NotFound));
        assert!(m.key("/s3/../dog.jpg").is_err());
        assert_eq!(m.kind_of(&m.key("/s3/x.jpg").unwrap()), "file");
    }

    #[tokio::test]
    async fn cached_originals_are_revalidated_and_change_when_the_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let m = mounts(dir.path(), 1 << 20);
        let key = m.key("/dog.jpg").unwrap();
        assert_eq!(&m.fetch(&key).await.unwrap()[..], b"dog");
        assert_eq!(&m.fetch(&key).await.unwrap()[..], b"dog");
        std::fs::write(dir.path().join("root/dog.jpg"), b"new dog").unwrap();
        assert_eq!(&m.fetch(&key).await.unwrap()[..], b"new dog");
        std::fs::remove_file(dir.path().join("root/dog.jpg")).unwrap();
        assert_eq!(m.fetch(&key).await, Err(Error::NotFound));
        let count = |r: &str| m.metrics.originals_cache.with_label_values(&[r]).get();
        assert_eq!(
            (count("miss"), count("revalidated"), count("changed")),
            (1, 1, 1)
        );
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(normalise_prefix("/s3/").unwrap(), "s3");
        assert_eq!(normalise_prefix("/").unwrap(), "");
        assert_eq!(normalise_prefix("media/remote").unwrap(), "media/remote");
        assert!(normalise_prefix("/a//b").is_err());
        assert!(normalise_prefix("/a/../b").is_err());
        assert!(normalise_prefix("/a b").is_err());
    }
}
