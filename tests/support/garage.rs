//! A real Garage (S3-compatible object store) on 127.0.0.1 for the S3 source tests: one node,
//! replication factor 1, a bucket and an access key created through Garage's own CLI. The binary
//! is built once per machine by `.ci/garage.sh` (`make test` runs it and exports
//! `REFRACT_GARAGE`); a missing binary fails the test loudly.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;

use super::free_port;

/// Region Garage answers to (its `s3_region`).
pub const REGION: &str = "garage";

/// A running Garage node with one bucket.
pub struct Garage {
    /// `http://127.0.0.1:PORT` of the S3 API.
    pub endpoint: String,
    /// The bucket the tests use.
    pub bucket: String,
    /// Access key id with read/write on the bucket.
    pub key_id: String,
    /// Its secret.
    pub secret: String,
    child: Child,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

/// The Garage binary: `REFRACT_GARAGE`, or where `.ci/garage.sh` caches it.
pub fn garage_binary() -> PathBuf {
    let path = std::env::var_os("REFRACT_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("refract/garage-2.5.0/bin/garage")
        });
    assert!(
        path.is_file(),
        "garage not found at {} — run .ci/garage.sh (make test does) or set REFRACT_GARAGE",
        path.display()
    );
    path
}

impl Garage {
    /// Start a node, lay it out, create bucket `originals` and a key allowed on it.
    pub fn start() -> Garage {
        let bin = garage_binary();
        let dir = tempfile::tempdir().unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let secret: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
            .collect();
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
                d = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(&bin)
            .args(["-c", config.to_str().unwrap(), "server"])
            .env("RUST_LOG", "garage=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("garage starts");
        let mut garage = Garage {
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: "originals".into(),
            key_id: String::new(),
            secret: String::new(),
            child,
            config,
            _dir: dir,
        };
        // The node answers its CLI once the RPC layer is up.
        let started = Instant::now();
        let node_id = loop {
            let out = garage.cli(&["node", "id", "-q"]);
            if out.status.success() {
                let id = String::from_utf8(out.stdout).unwrap();
                break id.trim().split('@').next().unwrap().to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "garage did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        garage.ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id]);
        garage.ok(&["layout", "apply", "--version", "1"]);
        garage.ok(&["bucket", "create", &garage.bucket.clone()]);
        let key = garage.ok(&["key", "create", "refract-test"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no '{name}' in `garage key create` output:\n{key}"))
        };
        garage.key_id = field("Key ID");
        garage.secret = field("Secret key");
        garage.ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &garage.bucket.clone(),
            "--key",
            "refract-test",
        ]);
        garage
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(garage_binary())
            .args(["-c", self.config.to_str().unwrap()])
            .args(args)
            .env("RUST_LOG", "garage=warn")
            .output()
            .unwrap()
    }

    /// Run a CLI command until it succeeds (a fresh node can refuse commands for a moment while
    /// its layout settles, longer on a loaded machine); fail after 30 s.
    fn ok(&self, args: &[&str]) -> String {
        let started = Instant::now();
        loop {
            let out = self.cli(args);
            if out.status.success() {
                return String::from_utf8(out.stdout).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "garage {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A builder for this node with valid credentials.
    pub fn builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_region(REGION)
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .with_allow_http(true)
    }

    /// Store `bytes` under `key`, written by curl (see [`Garage::put_with_curl`]).
    pub async fn put(&self, key: &str, bytes: Vec<u8>) {
        let (garage, key) = (self.clone_handle(), key.to_owned());
        tokio::task::spawn_blocking(move || garage.put_with_curl(&key, &bytes))
            .await
            .unwrap();
    }

    /// What [`Garage::put_with_curl`] needs, without the process.
    fn clone_handle(&self) -> CurlPut {
        CurlPut {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            key_id: self.key_id.clone(),
            secret: self.secret.clone(),
        }
    }

    /// The environment a `refract` process needs to reach the bucket.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }
}

impl Garage {
    /// Kill the server (the S3 endpoint refuses connections afterwards).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the stopped node again on the same ports and data, and wait until its S3 API
    /// answers.
    pub fn restart(&mut self) {
        self.child = Command::new(garage_binary())
            .args(["-c", self.config.to_str().unwrap(), "server"])
            .env("RUST_LOG", "garage=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("garage starts");
        self.ok(&["bucket", "info", &self.bucket.clone()]);
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "garage S3 API did not return"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Store `bytes` under `key` with curl's own S3 signing (`--aws-sigv4`), an S3 client
    /// independent of Refract's: a key mangled on Refract's side cannot be hidden by the same
    /// mangling on the way in (as it was while fixtures went through `object_store`).
    pub fn put_with_curl(&self, key: &str, bytes: &[u8]) {
        self.clone_handle().put_with_curl(key, bytes);
    }

    /// The object under `key`, read by curl (an S3 client independent of Refract's).
    pub async fn get(&self, key: &str) -> Vec<u8> {
        let (garage, key) = (self.clone_handle(), key.to_owned());
        tokio::task::spawn_blocking(move || garage.get_with_curl(&key))
            .await
            .unwrap()
    }

    /// Keys of the objects under `prefix`, listed by curl (an S3 client independent of
    /// Refract's object_store).
    pub async fn list(&self, prefix: &str) -> Vec<String> {
        let (garage, prefix) = (self.clone_handle(), prefix.to_owned());
        tokio::task::spawn_blocking(move || garage.list_with_curl(&prefix))
            .await
            .unwrap()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enough of a [`Garage`] to PUT and list with curl from a blocking task.
struct CurlPut {
    endpoint: String,
    bucket: String,
    key_id: String,
    secret: String,
}

/// The SHA-256 of an empty body (what a signed GET declares).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but S3's unreserved characters is percent-encoded in a URL path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl CurlPut {
    /// Run curl with S3 signing against `url`, with `extra` arguments; its stdout.
    fn signed(&self, url: &str, payload_sha256: &str, extra: &[&std::ffi::OsStr]) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--aws-sigv4"])
            .arg(format!("aws:amz:{REGION}:s3"))
            .arg("--user")
            .arg(format!("{}:{}", self.key_id, self.secret))
            .arg("-H")
            .arg(format!("x-amz-content-sha256: {payload_sha256}"))
            .args(extra)
            .arg(url)
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl {url}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The URL of `key` (each segment percent-encoded).
    fn object_url(&self, key: &str) -> String {
        let encoded: Vec<String> = key
            .split('/')
            .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        format!("{}/{}/{}", self.endpoint, self.bucket, encoded.join("/"))
    }

    fn put_with_curl(&self, key: &str, bytes: &[u8]) {
        use sha2::Digest as _;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let payload = refract::encoding::digest::hex(&sha2::Sha256::digest(bytes));
        let extra = ["-T".as_ref(), file.path().as_os_str()];
        self.signed(&self.object_url(key), &payload, &extra);
    }

    fn get_with_curl(&self, key: &str) -> Vec<u8> {
        self.signed(&self.object_url(key), EMPTY_SHA256, &[])
    }

    /// Keys under `prefix` (ListObjectsV2; one page is plenty for a test).
    fn list_with_curl(&self, prefix: &str) -> Vec<String> {
        let prefix = percent_encoding::utf8_percent_encode(prefix, SEGMENT);
        let url = format!(
            "{}/{}?list-type=2&prefix={prefix}",
            self.endpoint, self.bucket
        );
        let xml = String::from_utf8(self.signed(&url, EMPTY_SHA256, &[])).unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}
