//! Originals in S3 or an S3-compatible store (Garage, MinIO, R2, Ceph), through the
//! `object_store` crate. `s3://bucket/prefix/` names the bucket and an optional key prefix;
//! credentials, region and endpoint come from the standard `AWS_*` environment variables
//! (`AWS_ENDPOINT_URL` for compatible stores, addressed path-style; an `http://` endpoint is
//! allowed because it was configured explicitly).
//!
//! An object in an archive storage class (Glacier Flexible Retrieval, Deep Archive) answers
//! `403 InvalidObjectState` until it is restored: that becomes [`Error::SourceArchived`] (409,
//! `source_archived`), told apart from refused credentials (502).

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig,
};

use super::{causes, error_chain};
use super::{BoxFuture, Fetched, Original, Source, SourceSettings, Stored, Validator};
use crate::error::Error;

/// A bucket (and key prefix) of originals.
pub struct S3Source {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    max_bytes: u64,
}

impl S3Source {
    /// Open `s3://bucket/prefix/` with settings from the `AWS_*` environment.
    pub fn from_env(url: &str, settings: &SourceSettings) -> Result<S3Source, String> {
        Self::open(
            url,
            settings,
            AmazonS3Builder::from_env(),
            endpoint_is_http(),
        )
    }

    /// Open `s3://bucket/prefix/` with explicit store settings (`builder` carries endpoint,
    /// region and credentials; `allow_http` permits a plain-HTTP endpoint).
    pub fn open(
        url: &str,
        settings: &SourceSettings,
        builder: AmazonS3Builder,
        allow_http: bool,
    ) -> Result<S3Source, String> {
        let bucket = open_bucket(url, builder, allow_http, settings.timeout)?;
        Ok(S3Source {
            store: bucket.store,
            bucket: bucket.name,
            prefix: bucket.prefix,
            max_bytes: settings.max_bytes,
        })
    }

    /// The object path of `key`, exactly as written: `Path::from` would percent-encode
    /// non-ASCII and characters such as `%`, `~` or `[` into the object's name, so
    /// `dir/é.jpg` written by any other S3 client would never be found. Keys reaching a source
    /// are already free of control characters, empty, `.` and `..` segments (which
    /// `Path::parse` also refuses).
    fn path(&self, key: &str) -> Result<Path, Error> {
        Path::parse(format!("{}{key}", self.prefix))
            .map_err(|e| Error::BadPath(format!("not an object key: {e}")))
    }

    async fn get(&self, key: &str, current: Option<&Validator>) -> Result<Fetched, Error> {
        let path = self.path(key)?;
        let options = GetOptions {
            if_none_match: current.and_then(|v| v.etag.clone()),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) if current.is_some() => {
                return Ok(Fetched::NotModified)
            }
            Err(e) => return Err(store_error(e)),
        };
        if result.meta.size > self.max_bytes {
            return Err(Error::SourceTooLarge {
                limit: self.max_bytes,
            });
        }
        let validator = Validator {
            etag: result.meta.e_tag.clone(),
            last_modified: None,
        };
        // The body is exactly `meta.size` bytes (S3 sends Content-Length), checked above.
        let bytes = result.bytes().await.map_err(store_error)?;
        Ok(Fetched::Body(Original { bytes, validator }))
    }
}

impl S3Source {
    /// Store unless present: a HEAD, then one PUT (S3 PUTs are atomic, and durable when they
    /// return). Keys are content hashes, so a concurrent PUT of the same key writes the same bytes.
    async fn store(&self, key: &str, bytes: bytes::Bytes) -> Result<Stored, Error> {
        let path = self.path(key)?;
        match self.store.head(&path).await {
            Ok(_) => return Ok(Stored::Existed),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(e)),
        }
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(store_error)?;
        Ok(Stored::Created)
    }
}

/// A bucket opened from an `s3://bucket/prefix/` URL: what S3 sources and the S3 variant store
/// share.
pub struct Bucket {
    /// The client, bound to the bucket.
    pub store: AmazonS3,
    /// The bucket's name.
    pub name: String,
    /// The key prefix, empty or ending in `/`.
    pub prefix: String,
}

/// The `allow_http` setting `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`) calls for: a plain-HTTP
/// endpoint is allowed because it was configured explicitly.
pub fn endpoint_is_http() -> bool {
    std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .is_ok_and(|e| e.starts_with("http://"))
}

/// Open `s3://bucket/prefix/` with `builder`'s endpoint, region and credentials. Requests time
/// out after `timeout`; a store that keeps failing is reported, not retried for minutes: one
/// quick retry, never past the timeout (or 10 s).
pub fn open_bucket(
    url: &str,
    builder: AmazonS3Builder,
    allow_http: bool,
    timeout: Duration,
) -> Result<Bucket, String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url}: expected s3://BUCKET/PREFIX/"))?;
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(format!("{url}: no bucket name"));
    }
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    let client = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout)
        .with_allow_http(allow_http);
    let retry = RetryConfig {
        max_retries: 1,
        retry_timeout: timeout.min(Duration::from_secs(10)),
        ..RetryConfig::default()
    };
    let store = builder
        .with_bucket_name(name)
        .with_client_options(client)
        .with_retry(retry)
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(Bucket {
        store,
        name: name.to_owned(),
        prefix,
    })
}

/// Map an `object_store` error to ours.
fn store_error(e: object_store::Error) -> Error {
    if let object_store::Error::NotFound { .. } = e {
        return Error::NotFound;
    }
    let detail = error_chain(&e);
    if detail.contains("InvalidObjectState") {
        return Error::SourceArchived;
    }
    let timed_out = causes(&e).any(|c| {
        c.downcast_ref::<HttpError>()
            .is_some_and(|h| h.kind() == HttpErrorKind::Timeout)
    });
    if timed_out {
        return Error::SourceTimeout;
    }
    Error::SourceFailed(detail)
}

impl Source for S3Source {
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        current: Option<&'a Validator>,
    ) -> BoxFuture<'a, Result<Fetched, Error>> {
        Box::pin(self.get(key, current))
    }

    fn writable(&self) -> bool {
        true
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: bytes::Bytes,
    ) -> BoxFuture<'a, Result<Stored, Error>> {
        Box::pin(self.store(key, bytes))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            // S3 deletes succeed on missing keys: ask first, to answer 404.
            self.store.head(&path).await.map_err(store_error)?;
            self.store.delete(&path).await.map_err(store_error)
        })
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn kind(&self) -> &'static str {
        "s3"
    }
}
