//! The variant store in S3 or an S3-compatible store (`s3://bucket/prefix`), through the same
//! `object_store` client and `AWS_*` settings as the S3 source. A PUT is atomic on S3: readers
//! see the whole object or none. Purging an original lists its folder and deletes in batches.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig};

use super::Backend;
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
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url}: expected s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("--variant-store {url}: no bucket name"));
        }
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let client = ClientOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(timeout)
            .with_allow_http(endpoint.starts_with("http://"));
        // A failing store is reported quickly: a request renders instead of waiting on it.
        let retry = RetryConfig {
            max_retries: 1,
            retry_timeout: timeout,
            ..RetryConfig::default()
        };
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(client)
            .with_retry(retry)
            .build()
            .map_err(|e| format!("--variant-store {url}: {e}"))?;
        Ok(S3Backend {
            store,
            bucket: bucket.to_owned(),
            prefix,
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
