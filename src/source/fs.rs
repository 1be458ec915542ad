//! Originals in a local directory. Keys are already free of `..` (see [`crate::request::Key`]); on top of that a
//! resolved path must stay inside the root, so a symlink cannot lead out of it.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{BoxFuture, Fetched, Original, Source, Validator};
use crate::error::Error;

/// A directory of originals.
pub struct FsSource {
    root: PathBuf,
    max_bytes: u64,
}

impl FsSource {
    /// Serve files under `root` (which must exist), refusing any larger than `max_bytes`.
    pub fn new(root: &Path, max_bytes: u64) -> io::Result<FsSource> {
        Ok(FsSource {
            root: root.canonicalize()?,
            max_bytes,
        })
    }

    async fn read(&self, key: &str, current: Option<&Validator>) -> Result<Fetched, Error> {
        let path = self.root.join(key);
        let resolved = match tokio::fs::canonicalize(&path).await {
            Ok(p) => p,
            Err(e) => return Err(io_error(e)),
        };
        if !resolved.starts_with(&self.root) {
            return Err(Error::NotFound);
        }
        let mut file = tokio::fs::File::open(&resolved).await.map_err(io_error)?;
        let meta = file.metadata().await.map_err(io_error)?;
        if !meta.is_file() {
            return Err(Error::NotFound);
        }
        // A file's version is its size and modification time: unchanged, nothing is read.
        let validator = Validator {
            etag: Some(format!(
                "{}-{}",
                meta.len(),
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos())
            )),
            last_modified: None,
        };
        if current == Some(&validator) {
            return Ok(Fetched::NotModified);
        }
        if meta.len() > self.max_bytes {
            return Err(Error::SourceTooLarge {
                limit: self.max_bytes,
            });
        }
        // The file may grow between stat and read: read at most one byte past the cap.
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(self.max_bytes + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(io_error)?;
        if buf.len() as u64 > self.max_bytes {
            return Err(Error::SourceTooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(Fetched::Body(Original {
            bytes: Bytes::from(buf),
            validator,
        }))
    }
}

fn io_error(e: io::Error) -> Error {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory => Error::NotFound,
        _ => Error::SourceFailed(e.to_string()),
    }
}

impl Source for FsSource {
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        current: Option<&'a Validator>,
    ) -> BoxFuture<'a, Result<Fetched, Error>> {
        Box::pin(self.read(key, current))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(src: &FsSource, key: &str) -> Result<Vec<u8>, Error> {
        match src.fetch(key, None).await? {
            Fetched::Body(o) => Ok(o.bytes.to_vec()),
            Fetched::NotModified => panic!("unconditional fetch answered NotModified"),
        }
    }

    #[tokio::test]
    async fn reads_missing_oversized_and_escaping_keys() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.bin"), b"hello").unwrap();
        std::fs::write(root.join("big.bin"), vec![0u8; 100]).unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape")).unwrap();

        let src = FsSource::new(&root, 50).unwrap();
        assert_eq!(get(&src, "sub/a.bin").await.unwrap(), b"hello");
        assert_eq!(get(&src, "nope.jpg").await, Err(Error::NotFound));
        assert_eq!(get(&src, "sub").await, Err(Error::NotFound));
        assert_eq!(get(&src, "sub/a.bin/x").await, Err(Error::NotFound));
        assert_eq!(get(&src, "escape").await, Err(Error::NotFound));
        assert_eq!(
            get(&src, "big.bin").await,
            Err(Error::SourceTooLarge { limit: 50 })
        );
    }

    #[tokio::test]
    async fn an_unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), b"one").unwrap();
        let src = FsSource::new(dir.path(), 50).unwrap();
        let Fetched::Body(first) = src.fetch("a.bin", None).await.unwrap() else {
            panic!("no body");
        };
        let again = src.fetch("a.bin", Some(&first.validator)).await.unwrap();
        assert_eq!(again, Fetched::NotModified);
        std::fs::write(dir.path().join("a.bin"), b"two!").unwrap();
        let changed = src.fetch("a.bin", Some(&first.validator)).await.unwrap();
        assert!(matches!(changed, Fetched::Body(o) if &o.bytes[..] == b"two!"));
    }
}
