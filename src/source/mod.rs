//! Where originals come from. A [`Source`] turns an object key into bytes, enforcing the byte cap;
//! it knows nothing of images. [`Mounts`] puts sources under URL prefixes (`--source
//! PREFIX=URL`), routes each request to one, and keeps a bounded cache of fetched originals so a
//! page asking for one original at six widths fetches it once.
//!
//! Implementations: [`fs::FsSource`] (a local directory), [`s3::S3Source`] (S3 and compatible
//! stores through `object_store`), [`http::HttpSource`] (a web server under a fixed base URL, or
//! a proxy for absolute URLs on an allow-list). [`net`] holds the SSRF defence they share.

pub mod fs;
pub mod http;
pub mod mounts;
pub mod net;
pub mod s3;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

pub use mounts::Mounts;

use crate::error::Error;

/// An error and each of its causes, outermost first.
pub fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// An error and its causes on one line (reqwest's and object_store's own messages are terse).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// A boxed, sendable future (what trait objects can return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a store says identifies one version of an object: an entity tag, or a modification time.
/// Sent back on revalidation so an unchanged original is not downloaded again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Validator {
    /// Entity tag, as the store sent it (quotes included).
    pub etag: Option<String>,
    /// `Last-Modified` (HTTP date) or an equivalent the store understands.
    pub last_modified: Option<String>,
}

impl Validator {
    /// Whether there is anything to revalidate with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// One fetched original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The bytes.
    pub bytes: Bytes,
    /// How to ask "has it changed?" later.
    pub validator: Validator,
}

/// The answer to a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The object's bytes.
    Body(Original),
    /// The object matches the validator sent: the copy the caller holds is current.
    NotModified,
}

/// What [`Source::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The object was written (and is durable).
    Created,
    /// An object was already under the key; nothing was written.
    Existed,
}

/// A store of originals.
///
/// Contract, which `tests/sources.rs` checks for every implementation: a missing object is
/// [`Error::NotFound`]; an object larger than the byte cap is [`Error::SourceTooLarge`], detected
/// without reading it all into memory; a store that fails or refuses credentials is
/// [`Error::SourceFailed`]; a slow store is cut off by [`Mounts`] with [`Error::SourceTimeout`].
/// Keys reach a source already validated (see [`Source::check_key`]).
pub trait Source: Send + Sync + 'static {
    /// Fetch the object under `key`; with `current`, answer [`Fetched::NotModified`] if it still
    /// matches (sources that cannot tell fetch the body).
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        current: Option<&'a Validator>,
    ) -> BoxFuture<'a, Result<Fetched, Error>>;

    /// Refuse a key this source cannot take, before anything is fetched. The default accepts
    /// object keys (already free of `..`, empty segments and control characters); the proxy
    /// source takes absolute URLs instead and checks them against its allow-list.
    fn check_key(&self, key: &str) -> Result<(), Error> {
        crate::request::Key::new(key).map(|_| ())
    }

    /// Whether [`Source::put`] can store objects (local directories and S3 can).
    fn writable(&self) -> bool {
        false
    }

    /// Store `bytes` under `key` unless an object is already there. Atomic (readers see the whole
    /// object or none) and durable when it returns `Ok`.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Stored, Error>> {
        let _ = (key, bytes);
        Box::pin(async { Err(Error::Internal("this source is read-only".into())) })
    }

    /// Delete the object under `key`; [`Error::NotFound`] when there is none.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        let _ = key;
        Box::pin(async { Err(Error::Internal("this source is read-only".into())) })
    }

    /// Whether keys are absolute URLs rather than object keys.
    fn takes_urls(&self) -> bool {
        false
    }

    /// The web address objects live under, for a source that has one (an HTTP origin): an
    /// overlay named by an absolute URL under it is fetched as that object.
    fn base_url(&self) -> Option<&url::Url> {
        None
    }

    /// A short description for logs (e.g. `file:///srv/images`); never includes credentials.
    fn describe(&self) -> String;

    /// The kind of store, for access logs and metric labels: `file`, `s3`, `http` or `proxy`.
    fn kind(&self) -> &'static str;
}

/// Settings every source is opened with.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Largest original, in bytes.
    pub max_bytes: u64,
    /// Longest a fetch may take, connection included.
    pub timeout: Duration,
    /// Where HTTP and proxy sources may connect.
    pub net: net::NetPolicy,
}

/// Open the source a `--source` URL names: `file:///dir`, `s3://bucket/prefix/`,
/// `https://host/base/` (or `http://`), `proxy://`.
pub fn open(url: &str, settings: &SourceSettings) -> Result<Box<dyn Source>, String> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "file" => {
            let dir = &url["file://".len()..];
            let source = fs::FsSource::new(std::path::Path::new(dir), settings.max_bytes)
                .map_err(|e| format!("{url}: {e}"))?;
            Ok(Box::new(source))
        }
        "s3" => Ok(Box::new(s3::S3Source::from_env(url, settings)?)),
        "http" | "https" => Ok(Box::new(http::HttpSource::origin(url, settings)?)),
        "proxy" => {
            if url != "proxy://" {
                return Err(format!(
                    "{url}: a proxy source is written proxy:// (no host)"
                ));
            }
            Ok(Box::new(http::HttpSource::proxy(settings)?))
        }
        _ => Err(format!(
            "'{url}': sources are file:///DIR, s3://BUCKET/PREFIX/, https://HOST/BASE/ or proxy://"
        )),
    }
}
