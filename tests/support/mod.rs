//! Test helpers: a real server on 127.0.0.1:0 over a temporary directory, fixtures generated with
//! libvips, a corpus locator, and decoding helpers to check what came back.

#![allow(dead_code)]

pub mod cutouts;
pub mod face_set;
pub mod fixtures;
pub mod garage;
pub mod heic;
pub mod images;
pub mod origin;
pub mod perceptual;
pub mod rabbitmq;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use refract::{server, App, Config};
use tokio::sync::oneshot;

/// A running server and what a test needs to talk to it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The app behind it (for counters).
    pub app: App,
    /// The server's own state (its ready responses).
    pub site: Arc<server::Site>,
    /// HTTP client with a timeout, so a hang fails the test instead of stalling it.
    pub client: reqwest::Client,
    /// Root directory of originals.
    pub root: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server over a new temporary directory, with `tweak` applied to the default config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_at(dir.path(), tweak).await;
        server._dir = Some(dir);
        server
    }

    /// A server over an existing directory.
    pub async fn start_at(root: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_root(root);
        // In-process servers would write their access log into the test output.
        config.access_log = false;
        tweak(&mut config);
        let app = App::new(config).expect("app starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let site = Arc::new(server::Site::new(app.clone()));
        let task = tokio::spawn(server::run_site(listener, site.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            app,
            site,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            root: root.to_path_buf(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    /// Write an original under the root.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// `GET {base}{path_and_query}`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.get_with(path_and_query, &[]).await
    }

    /// `GET` with extra headers.
    pub async fn get_with(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{}", self.base, path_and_query));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request completes")
    }

    /// Stop accepting, drain, and wait for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// `GET {url}`, which must answer 200 (the failure names the error code); its body.
pub async fn body(s: &TestServer, url: &str) -> bytes::Bytes {
    let r = s.get(url).await;
    assert_eq!(r.status(), 200, "{url}: {}", header(&r, "x-refract-error"));
    r.bytes().await.unwrap()
}

/// The shared image corpus (`REFRACT_CORPUS`, or `../shared/corpus` beside the repository).
/// Panics when it is missing: corpus tests must not pass silently without it.
pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "image corpus not found at {} (set REFRACT_CORPUS)",
        dir.display()
    );
    dir
}

/// Bytes of a corpus file.
pub fn corpus_file(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"))
}

/// A response header as a string ("" when absent).
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The `refract` binary, with no `REFRACT_*` variables inherited from the developer's shell.
pub fn refract() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_refract"));
    for (k, _) in std::env::vars() {
        if k.starts_with("REFRACT_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Start `refract serve` over `root` on an ephemeral port; returns the child and its address.
pub fn spawn_refract(root: &Path, extra: &[&str]) -> (Child, String) {
    let (child, addr, _) = spawn_refract_logged(root, extra);
    (child, addr)
}

/// As [`spawn_refract`], also returning the log lines printed up to "refract serving".
pub fn spawn_refract_logged(root: &Path, extra: &[&str]) -> (Child, String, Vec<String>) {
    spawn_refract_with(root, extra, Stdio::null())
}

/// As [`spawn_refract_logged`], with the child's stdout (the access log) going to `stdout`.
pub fn spawn_refract_with(
    root: &Path,
    extra: &[&str],
    stdout: Stdio,
) -> (Child, String, Vec<String>) {
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("REFRACT_ROOT", root)
        .stdout(stdout);
    spawn_command(cmd)
}

/// Start a prepared `refract serve --listen 127.0.0.1:0 …` command; returns the child, its
/// address and the log lines printed up to "refract serving".
pub fn spawn_command(mut cmd: Command) -> (Child, String, Vec<String>) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    // Diagnostics (and the start line) are on stderr; stdout carries the access log.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut startup = Vec::new();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        assert!(!line.contains('\x1b'), "log has colour codes: {line:?}");
        startup.push(line.clone());
        if line.contains("refract serving") {
            let rest = line
                .split(" listen=")
                .nth(1)
                .expect("listen= in the start line");
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr, startup)
}

/// Run `cmd` to completion; fails the test (with its stderr) unless it exits 0. Returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A free loopback port (bound, then released for a child process to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sum of the samples of `name` whose labels include every pair in `labels`, in a Prometheus
/// text exposition.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric_name, label_part) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_part.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Peak resident set size of a process, from `/proc/PID/status` (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc status");
    kib * 1024
}

/// A tool installed from PyPI by `.ci/test-deps.sh` into the cached venv.
pub fn venv_tool(name: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let tool = cache.join("refract/venv/bin").join(name);
    assert!(
        tool.is_file(),
        "{} missing: run .ci/test-deps.sh (make test does)",
        tool.display()
    );
    tool
}

/// An HS256 upload token signed with `secret`: subject `user-1`, scope `upload`, valid an hour.
pub fn upload_token(secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({ "sub": "user-1", "scope": "upload", "exp": exp });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// URL-safe Base64 without padding (RFC 4648 §5), as JWTs and imgix's `…64` parameters take.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
