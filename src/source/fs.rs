//! Originals in a local directory. Keys are already free of `..` (see [`crate::request::Key`]); on top of that a
//! resolved path must stay inside the root, so a symlink cannot lead out of it.
//!
//! Uploads are written atomically: into [`TEMP_DIR`] under the root (same file system), fsynced,
//! renamed into place, and the directory fsynced — a reader sees the whole file or nothing, and a
//! crash leaves at most a temporary file, which is never served and is removed at start-up.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{BoxFuture, Fetched, Original, Source, Stored, Validator};
use crate::error::Error;

/// Folder under the root holding uploads being written; never served.
pub const TEMP_DIR: &str = ".refract-tmp";

/// A directory of originals.
pub struct FsSource {
    root: PathBuf,
    max_bytes: u64,
}

impl FsSource {
    /// Serve files under `root` (which must exist), refusing any larger than `max_bytes`.
    /// Temporary files an interrupted upload left behind are removed.
    pub fn new(root: &Path, max_bytes: u64) -> io::Result<FsSource> {
        let root = root.canonicalize()?;
        match std::fs::remove_dir_all(root.join(TEMP_DIR)) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                tracing::warn!(dir = %root.join(TEMP_DIR).display(), error = %e, "could not clear temporary uploads");
            }
            _ => {}
        }
        Ok(FsSource { root, max_bytes })
    }

    async fn read(&self, key: &str, current: Option<&Validator>) -> Result<Fetched, Error> {
        if key == TEMP_DIR || key.starts_with(&format!("{TEMP_DIR}/")) {
            return Err(Error::NotFound);
        }
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

/// Write `bytes` to `root/key` atomically and durably, unless the file exists.
fn write_atomically(root: &Path, key: &str, bytes: &[u8]) -> io::Result<Stored> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);

    let target = root.join(key);
    if target.exists() {
        return Ok(Stored::Existed);
    }
    let parent = target.parent().unwrap_or(root);
    std::fs::create_dir_all(parent)?;
    let temp_dir = root.join(TEMP_DIR);
    std::fs::create_dir_all(&temp_dir)?;
    let temp = temp_dir.join(format!(
        "{}-{}.part",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        // A concurrent upload of the same bytes may have won: same content, same result.
        std::fs::rename(&temp, &target)?;
        std::fs::File::open(parent)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(|()| Stored::Created)
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

    fn writable(&self) -> bool {
        true
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Stored, Error>> {
        let root = self.root.clone();
        let key = key.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || write_atomically(&root, &key, &bytes))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| Error::SourceFailed(format!("writing the upload: {e}")))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        let path = self.root.join(key);
        Box::pin(async move {
            if key.starts_with(TEMP_DIR) {
                return Err(Error::NotFound);
            }
            tokio::task::spawn_blocking(move || {
                std::fs::remove_file(&path)?;
                std::fs::File::open(path.parent().expect("inside the root"))?.sync_all()
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(io_error)
        })
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
    async fn puts_are_atomic_idempotent_and_temporaries_never_served() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(TEMP_DIR)).unwrap();
        std::fs::write(dir.path().join(TEMP_DIR).join("stale.part"), b"half").unwrap();
        let src = FsSource::new(dir.path(), 50).unwrap();
        assert!(
            !dir.path().join(TEMP_DIR).exists(),
            "stale temporaries removed at start"
        );
        let bytes = Bytes::from_static(b"image bytes");
        assert_eq!(
            src.put("ab/abc.jpg", bytes.clone()).await,
            Ok(Stored::Created)
        );
        assert_eq!(src.put("ab/abc.jpg", bytes).await, Ok(Stored::Existed));
        assert_eq!(get(&src, "ab/abc.jpg").await.unwrap(), b"image bytes");
        let leftovers = std::fs::read_dir(dir.path().join(TEMP_DIR))
            .unwrap()
            .count();
        assert_eq!(leftovers, 0);
        std::fs::write(dir.path().join(TEMP_DIR).join("x.part"), b"half").unwrap();
        assert_eq!(get(&src, ".refract-tmp/x.part").await, Err(Error::NotFound));
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
