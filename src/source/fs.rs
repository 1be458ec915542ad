//! Originals in a local directory. Keys are already free of `..` (see [`crate::request::Key`]); on top of that a
//! resolved path must stay inside the root, so a symlink cannot lead out of it.
//!
//! Uploads are written atomically and durably — a reader sees the whole file or nothing, and a
//! 201 means the file survives a crash. On Linux the file is an unnamed inode (`O_TMPFILE`) in
//! its own directory until its data is synced, then linked under its name and the directory
//! synced: a crash leaves nothing named. Elsewhere (or where the file system lacks `O_TMPFILE`)
//! it is written into [`TEMP_DIR`] under the root, fsynced, renamed into place and the directory
//! fsynced; a crash leaves at most a temporary file, never served and removed at start-up.

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
    /// Group commit for uploads' syncs (Linux).
    #[cfg(target_os = "linux")]
    sync: std::sync::Arc<unnamed::GroupSync>,
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
        Ok(FsSource {
            #[cfg(target_os = "linux")]
            sync: std::sync::Arc::new(unnamed::GroupSync::new(&root)?),
            root,
            max_bytes,
        })
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
fn write_atomically(
    root: &Path,
    key: &str,
    bytes: &[u8],
    #[cfg(target_os = "linux")] sync: &unnamed::GroupSync,
) -> io::Result<Stored> {
    let target = root.join(key);
    if target.exists() {
        return Ok(Stored::Existed);
    }
    let parent = target.parent().unwrap_or(root);
    #[cfg(target_os = "linux")]
    {
        let mut result = unnamed::write(parent, &target, bytes, sync);
        if matches!(&result, Err(e) if e.kind() == ErrorKind::NotFound) {
            // The first upload into this fan-out directory: make it, then try once more.
            std::fs::create_dir_all(parent)?;
            result = unnamed::write(parent, &target, bytes, sync);
        }
        match result {
            Err(e) if unnamed::unsupported(&e) => {}
            done => return done,
        }
    }
    std::fs::create_dir_all(parent)?;
    write_renamed(root, parent, &target, bytes)
}

/// The portable way: a named temporary in [`TEMP_DIR`], fsynced, renamed into place.
fn write_renamed(root: &Path, parent: &Path, target: &Path, bytes: &[u8]) -> io::Result<Stored> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);

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
        std::fs::rename(&temp, target)?;
        std::fs::File::open(parent)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(|()| Stored::Created)
}

/// Linux: the file is written as an unnamed inode in its own directory (`O_TMPFILE`), its data
/// synced, then given its name with `linkat` — which fails if the name exists, so the first of
/// two concurrent uploads of the same bytes wins and the other finds it stored — and the name
/// synced. Nothing partial ever has a name, so nothing needs sweeping after a crash; no rename,
/// so no lock on a shared temporary folder, and each file's inode is allocated near its own
/// directory.
///
/// The two syncs are group commits ([`GroupSync`]): one `syncfs` of the upload file system
/// makes every upload written before it started durable, so concurrent uploads share flushes
/// (each one a device cache flush, and on a VM an exit to the hypervisor) instead of paying
/// two each.
#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::{c_char, c_int, CString};
    use std::io::{self, Write as _};
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::os::unix::io::AsRawFd as _;
    use std::path::Path;
    use std::sync::{Condvar, Mutex};

    use super::Stored;

    extern "C" {
        fn syncfs(fd: c_int) -> c_int;
    }

    /// Group commit: [`GroupSync::sync`] returns once a `syncfs` that started after the call
    /// began has finished. The first caller to find no sync running runs one for everyone
    /// waiting; callers arriving meanwhile wait for the next, which one of them runs.
    pub(super) struct GroupSync {
        root: std::fs::File,
        state: Mutex<SyncState>,
        done: Condvar,
    }

    #[derive(Default)]
    struct SyncState {
        started: u64,
        finished: u64,
        running: bool,
        /// The generation of the last failed sync and its error.
        failed: Option<(u64, io::ErrorKind, String)>,
    }

    impl GroupSync {
        pub(super) fn new(root: &Path) -> io::Result<GroupSync> {
            Ok(GroupSync {
                root: std::fs::File::open(root)?,
                state: Mutex::new(SyncState::default()),
                done: Condvar::new(),
            })
        }

        /// Make everything written to the file system before this call durable.
        pub(super) fn sync(&self) -> io::Result<()> {
            let lock = || self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut state = lock();
            let needed = state.started + 1;
            loop {
                if state.finished >= needed {
                    return match &state.failed {
                        Some((generation, kind, message)) if *generation >= needed => {
                            Err(io::Error::new(*kind, message.clone()))
                        }
                        _ => Ok(()),
                    };
                }
                if state.running {
                    state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                state.running = true;
                state.started += 1;
                let generation = state.started;
                drop(state);
                // SAFETY: a file descriptor we own, open for the life of `self`.
                let result = if unsafe { syncfs(self.root.as_raw_fd()) } == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                };
                state = lock();
                state.running = false;
                state.finished = generation;
                if let Err(e) = &result {
                    state.failed = Some((generation, e.kind(), e.to_string()));
                }
                self.done.notify_all();
            }
        }
    }

    /// `O_TMPFILE` (which includes `O_DIRECTORY`) on Linux.
    const O_TMPFILE: c_int = 0o20_200_000;
    const AT_FDCWD: c_int = -100;
    const AT_SYMLINK_FOLLOW: c_int = 0x400;

    extern "C" {
        fn linkat(
            olddirfd: c_int,
            oldpath: *const c_char,
            newdirfd: c_int,
            newpath: *const c_char,
            flags: c_int,
        ) -> c_int;
    }

    /// Errors that mean "this file system (or /proc) cannot do it": use the portable way.
    pub(super) fn unsupported(e: &io::Error) -> bool {
        // EISDIR, EINVAL, EOPNOTSUPP: no O_TMPFILE (old kernel, some file systems).
        matches!(e.raw_os_error(), Some(21 | 22 | 95))
    }

    pub(super) fn write(
        parent: &Path,
        target: &Path,
        bytes: &[u8],
        sync: &GroupSync,
    ) -> io::Result<Stored> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .mode(0o644)
            .custom_flags(O_TMPFILE)
            .open(parent)?;
        file.write_all(bytes)?;
        sync.sync()?;
        // /proc/self/fd/N names the open inode; AT_SYMLINK_FOLLOW links the file behind it.
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let to = CString::new(target.as_os_str().as_bytes())?;
        // SAFETY: two NUL-terminated paths that outlive the call.
        let rc = unsafe {
            linkat(
                AT_FDCWD,
                from.as_ptr(),
                AT_FDCWD,
                to.as_ptr(),
                AT_SYMLINK_FOLLOW,
            )
        };
        let stored = if rc == 0 {
            Stored::Created
        } else {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // A concurrent upload of the same bytes named it first: same content.
                Some(17) => Stored::Existed,
                // No /proc: the portable way (the unnamed inode is freed on close).
                Some(2) if !Path::new("/proc/self/fd").exists() => {
                    return Err(io::Error::from_raw_os_error(95))
                }
                _ => return Err(e),
            }
        };
        // The name (and the inode's link count) durable.
        sync.sync()?;
        Ok(stored)
    }
}

/// An I/O failure as a source error: a name that cannot be a file here (missing, a directory,
/// under a file, too long for the file system) is not found — what the client asked for does
/// not exist — and anything else is the source failing.
fn io_error(e: io::Error) -> Error {
    match e.kind() {
        ErrorKind::NotFound
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::InvalidFilename => Error::NotFound,
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
            #[cfg(target_os = "linux")]
            let sync = self.sync.clone();
            tokio::task::spawn_blocking(move || {
                write_atomically(
                    &root,
                    &key,
                    &bytes,
                    #[cfg(target_os = "linux")]
                    &sync,
                )
            })
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
        // Longer than a file name can be (ENAMETOOLONG): not there, not a failing disk.
        assert_eq!(get(&src, &"x".repeat(300)).await, Err(Error::NotFound));
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
        // Nothing but the file itself was named (no temporary left behind, on either path).
        let leftovers = std::fs::read_dir(dir.path().join(TEMP_DIR)).map_or(0, |d| d.count());
        assert_eq!(leftovers, 0);
        let parent = dir.path().join("cd");
        std::fs::create_dir_all(&parent).unwrap();
        let renamed = write_renamed(dir.path(), &parent, &parent.join("x.jpg"), b"portable");
        assert_eq!(renamed.unwrap(), Stored::Created);
        assert_eq!(get(&src, "cd/x.jpg").await.unwrap(), b"portable");
        assert_eq!(
            std::fs::read_dir(dir.path().join(TEMP_DIR))
                .unwrap()
                .count(),
            0
        );
        std::fs::write(dir.path().join(TEMP_DIR).join("x.part"), b"half").unwrap();
        assert_eq!(get(&src, ".refract-tmp/x.part").await, Err(Error::NotFound));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_share_syncs_and_the_same_bytes_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = std::sync::Arc::new(FsSource::new(dir.path(), 1 << 20).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let src = src.clone();
            // Every fourth upload repeats bytes another one also stores.
            let (key, body) = if i % 4 == 0 {
                ("ff/same.jpg".to_owned(), Bytes::from_static(b"same bytes"))
            } else {
                (
                    format!("{:02x}/{i}.jpg", i % 7),
                    Bytes::from(vec![i as u8; 4096]),
                )
            };
            tasks.push(tokio::spawn(async move {
                (key.clone(), src.put(&key, body).await)
            }));
        }
        let mut created_same = 0;
        for task in tasks {
            let (key, stored) = task.await.unwrap();
            let stored = stored.unwrap();
            if key == "ff/same.jpg" {
                created_same += usize::from(stored == Stored::Created);
            } else {
                assert_eq!(stored, Stored::Created, "{key}");
                assert_eq!(get(&src, &key).await.unwrap().len(), 4096, "{key}");
            }
        }
        assert_eq!(
            created_same, 1,
            "one of the identical uploads names the file"
        );
        assert_eq!(get(&src, "ff/same.jpg").await.unwrap(), b"same bytes");
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
