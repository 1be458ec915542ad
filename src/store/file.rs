//! The variant store in a local directory (`file:///dir`): one file per variant, written to a
//! temporary file in `incoming/` (same file system), fsynced, renamed into place and the folder
//! fsynced — a reader sees the old state or the whole new file, and `kill -9` at any point leaves
//! at most a stray temporary file in `incoming/` (named `.tmp-…`, never read, swept by
//! [`FileBackend::new`], which so reads one folder, not the whole store). Blocking file work runs
//! on the blocking pool.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::Backend;
use crate::source::BoxFuture;

/// Prefix of files being written.
const TEMP_PREFIX: &str = ".tmp-";

/// The folder (under the root) where files are written before they are renamed into place.
const INCOMING: &str = "incoming";

/// A directory of stored variants.
pub struct FileBackend {
    root: PathBuf,
    /// Distinguishes concurrent temporary files of this process.
    counter: AtomicU64,
}

impl FileBackend {
    /// Use (creating it if needed) the directory `root`, and sweep temporary files a killed
    /// process may have left.
    pub fn new(root: &Path) -> Result<FileBackend, String> {
        let incoming = root.join(INCOMING);
        std::fs::create_dir_all(&incoming)
            .map_err(|e| format!("--variant-store {}: {e}", root.display()))?;
        sweep_temporaries(&incoming);
        Ok(FileBackend {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    fn path(&self, relative: &str) -> Result<PathBuf, String> {
        // Paths are made by the store (hex and '/'); refuse anything else rather than join it.
        let ok = !relative.is_empty()
            && relative
                .split('/')
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return Err(format!("not a store path: {relative:?}"));
        }
        Ok(self.root.join(relative))
    }
}

/// Remove the `.tmp-*` files in `incoming`, best effort.
fn sweep_temporaries(incoming: &Path) {
    let Ok(entries) = std::fs::read_dir(incoming) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_atomically(path: &Path, temp: &Path, object: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("store paths have a folder");
    std::fs::create_dir_all(dir)?;
    let result = (|| {
        let mut file = std::fs::File::create(temp)?;
        file.write_all(object)?;
        file.sync_all()?;
        std::fs::rename(temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    result
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("store task failed: {e}"))?
}

impl Backend for FileBackend {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, String>> {
        Box::pin(async move {
            let path = self.path(path)?;
            blocking(move || match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", path.display())),
            })
            .await
        })
    }

    fn put<'a>(&'a self, path: &'a str, object: Bytes) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let path = self.path(path)?;
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let temp = self
                .root
                .join(INCOMING)
                .join(format!("{TEMP_PREFIX}{name}-{}-{n}", std::process::id()));
            blocking(move || {
                write_atomically(&path, &temp, &object)
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .await
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let dir = self.path(prefix.trim_end_matches('/'))?;
            blocking(move || {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                    Err(e) => return Err(format!("{}: {e}", dir.display())),
                };
                let mut deleted = 0;
                for entry in entries {
                    let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => deleted += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(format!("{}: {e}", entry.path().display())),
                    }
                }
                // A concurrent write may have refilled it; the folder then stays.
                let _ = std::fs::remove_dir(&dir);
                Ok(deleted)
            })
            .await
        })
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn atomic_writes_and_swept_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBackend::new(dir.path()).unwrap();
        b.put("v1/ab/cd", Bytes::from_static(b"one")).await.unwrap();
        b.put("v1/ab/cd", Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(b.get("v1/ab/cd").await.unwrap().unwrap(), "two");
        assert_eq!(b.get("v1/ab/ef").await.unwrap(), None);
        assert!(b.get("../etc/passwd").await.is_err());
        assert!(b.put("v1/../x", Bytes::new()).await.is_err());
        // What a process killed mid-write leaves behind is never a variant, and goes at start.
        let stray = dir.path().join("incoming/.tmp-cd-1-0");
        std::fs::write(&stray, b"tw").unwrap();
        FileBackend::new(dir.path()).unwrap();
        assert!(!stray.exists());
        assert_eq!(b.delete_prefix("v1/ab/").await.unwrap(), 1);
        assert_eq!(b.delete_prefix("v1/ab/").await.unwrap(), 0);
    }
}
