//! Where originals come from. A [`Source`] turns a [`Key`] into bytes, enforcing its own byte cap;
//! it knows nothing of images. Implementations: [`fs::FsSource`] (a local directory).

pub mod fs;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::error::Error;
use crate::request::Key;

/// A boxed, sendable future (what trait objects can return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store of originals.
///
/// Contract, for every implementation: a missing key is [`Error::NotFound`]; an object larger
/// than the source's byte cap is [`Error::SourceTooLarge`], detected without reading it all into
/// memory; a failing store is [`Error::SourceFailed`].
pub trait Source: Send + Sync + 'static {
    /// Fetch the original stored under `key`.
    fn fetch<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Bytes, Error>>;

    /// A short description for logs (e.g. `file:///srv/images`).
    fn describe(&self) -> String;

    /// The kind of store, for access logs and labels (e.g. `file`).
    fn kind(&self) -> &'static str;
}
