//! `refract upload`: the bulk uploader. Walks files and folders, skips what is not an image (by
//! its leading bytes), uploads the rest concurrently with retries and backoff on 5xx, 429 and
//! connection errors (4xx other than 429 are final), shows a progress bar with rate and ETA on a
//! terminal, and prints `path → url` per file, or one JSON object per line with `--json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::encoding::format::Format;

/// What to upload and where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `https://img.example.com` (the `/upload` path is appended).
    pub server: String,
    /// Bearer token with the `upload` scope.
    pub token: String,
    /// Files and folders (searched recursively).
    pub paths: Vec<PathBuf>,
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// How one file went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or already there): the server's JSON answer.
    Uploaded {
        /// `true` for 201, `false` for 200 (same bytes already stored).
        created: bool,
        /// The server's JSON body.
        body: String,
    },
    /// Not an image by its leading bytes; not sent.
    Skipped,
    /// Failed after the retries; the reason.
    Failed(String),
}

/// Totals, for the summary and the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Newly stored.
    pub created: usize,
    /// Already stored.
    pub existed: usize,
    /// Not images.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
}

/// Every regular file under `paths` (folders recursively, sorted; hidden entries skipped).
pub fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files);
    }
    files
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        out.push(path.to_path_buf()); // reported as a failure when read
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            walk(&entry, out);
        }
    }
}

/// Whether the leading bytes are an image format Refract stores (TIFF and HEIF by signature too).
fn looks_like_image(head: &[u8]) -> bool {
    Format::sniff(head).is_some()
        || head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || (head.len() >= 12 && &head[4..8] == b"ftyp")
}

/// Upload everything in `plan`, reporting each file through `report` as it finishes.
pub async fn run(plan: &Plan, mut report: impl FnMut(&Path, &Outcome)) -> Summary {
    let files = collect(&plan.paths);
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} files · {per_sec} · ETA {eta} · {wide_msg}",
        )
        .expect("valid template"),
    );
    let client = reqwest::Client::builder()
        .timeout(plan.timeout)
        .user_agent(concat!("refract-upload/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client");
    let url = format!("{}/upload", plan.server.trim_end_matches('/'));
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, file) in files.iter().enumerate() {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("open semaphore");
        let (client, url, token, file) = (
            client.clone(),
            url.clone(),
            plan.token.clone(),
            file.clone(),
        );
        let retries = plan.retries;
        tasks.spawn(async move {
            let outcome = upload_one(&client, &url, &token, &file, retries).await;
            drop(permit);
            (index, outcome)
        });
    }
    let mut summary = Summary::default();
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) =
            joined.unwrap_or_else(|e| (usize::MAX, Outcome::Failed(e.to_string())));
        match &outcome {
            Outcome::Uploaded { created: true, .. } => summary.created += 1,
            Outcome::Uploaded { created: false, .. } => summary.existed += 1,
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Failed(_) => summary.failed += 1,
        }
        bar.inc(1);
        if let Some(file) = files.get(index) {
            bar.set_message(file.display().to_string());
            bar.suspend(|| report(file, &outcome));
        }
    }
    bar.finish_and_clear();
    summary
}

async fn upload_one(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    file: &Path,
    retries: u32,
) -> Outcome {
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("read: {e}")),
    };
    if !looks_like_image(&bytes[..bytes.len().min(16)]) {
        return Outcome::Skipped;
    }
    let mime = Format::sniff(&bytes).map_or("application/octet-stream", Format::mime);
    let bytes = bytes::Bytes::from(bytes);
    let mut attempt = 0;
    loop {
        let sent = client
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(bytes.clone())
            .send()
            .await;
        let retryable = match sent {
            Ok(r) if r.status().is_success() => {
                let created = r.status() == reqwest::StatusCode::CREATED;
                return match r.text().await {
                    Ok(body) => Outcome::Uploaded { created, body },
                    Err(e) => Outcome::Failed(format!("reading the answer: {e}")),
                };
            }
            Ok(r) => {
                let status = r.status();
                let reason = r.text().await.unwrap_or_default();
                let failure = format!("{status}: {}", reason.trim());
                if !(status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS) {
                    return Outcome::Failed(failure);
                }
                failure
            }
            Err(e) => format!("request: {e}"),
        };
        if attempt >= retries {
            return Outcome::Failed(retryable);
        }
        // 250 ms, 500 ms, 1 s, … capped at 8 s.
        let backoff = Duration::from_millis(250u64 << attempt.min(5)).min(Duration::from_secs(8));
        tokio::time::sleep(backoff).await;
        attempt += 1;
    }
}

/// The `url` field of a JSON answer (for the text report).
pub fn url_of(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("url")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_what_is_an_image() {
        assert!(looks_like_image(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(looks_like_image(b"\x89PNG\r\n\x1a\n"));
        assert!(looks_like_image(b"II*\0...."));
        assert!(looks_like_image(b"\0\0\0\x1cftypavif"));
        assert!(!looks_like_image(b"hello world"));
        assert!(!looks_like_image(b""));
    }

    #[test]
    fn folders_are_walked_in_order_without_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/.git")).unwrap();
        for f in ["a.jpg", "b/c.png", "b/.git/x", ".hidden.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let files = collect(&[dir.path().to_path_buf()]);
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["a.jpg", "b/c.png"]);
    }
}
