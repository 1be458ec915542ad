//! The variant store in S3 or an S3-compatible store (`s3://bucket/prefix`), through the same
//! `object_store` client and `AWS_*` settings as the S3 source. A PUT is atomic on S3: readers
//! see the whole object or none. Purging an original lists its folder and deletes in batches.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use super::Backend;
use crate::source::s3::{endpoint_is_http, open_bucket};
use crate::source::{error_chain, BoxFuture};

/// A bucket (and prefix) of stored variants.
pub struct S3Backend {
    store: AmazonS3,
    bucket: String,
    prefix: String,
}

impl S3Backend {
    /// Open `s3://bucket/prefix` with settings from the `AWS_*` environment; requests time out
    /// after `timeout`.
    pub fn from_env(url: &str, timeout: Duration) -> Result<S3Backend, String> {
        let bucket = open_bucket(
            url,
            AmazonS3Builder::from_env(),
            endpoint_is_http(),
            timeout,
        )
        .map_err(|e| format!("--variant-store {e}"))?;
        Ok(S3Backend {
            store: bucket.store,
            bucket: bucket.name,
            prefix: bucket.prefix,
        })
    }

    fn path(&self, relative: &str) -> Path {
        Path::from(format!("{}{relative}", self.prefix))
    }
}

impl Backend for S3Backend {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, String>> {
        Box::pin(async move {
            match self.store.get(&self.path(path)).await {
                Ok(result) => result.bytes().await.map(Some).map_err(|e| error_chain(&e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(error_chain(&e)),
            }
        })
    }

    fn put<'a>(&'a self, path: &'a str, object: Bytes) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.store
                .put(&self.path(path), PutPayload::from(object))
                .await
                .map(|_| ())
                .map_err(|e| error_chain(&e))
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let prefix = self.path(prefix.trim_end_matches('/'));
            let locations = self
                .store
                .list(Some(&prefix))
                .map(|meta| meta.map(|m| m.location))
                .boxed();
            let mut deleted = self.store.delete_stream(locations);
            let mut count = 0;
            while let Some(result) = deleted.next().await {
                match result {
                    Ok(_) => count += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(error_chain(&e)),
                }
            }
            Ok(count)
        })
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
