//! The shipped Varnish configuration in front of a real Refract: hits, per-class variants with no
//! cross-contamination, one object for different AVIF-capable Accept strings, coalesced misses,
//! and stale content served while the origin is down.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use refract::encoding::format::Format;

use crate::support::fixtures::quadrants_jpeg;
use crate::support::images::decode;
use crate::support::{header, venv_tool, TestServer};

const CHROME: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
const FIREFOX: &str = "image/avif,image/webp,*/*";
const SAFARI: &str = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";

/// A varnishd running `deploy/varnish/refract.vcl` against one or more replicas.
pub(crate) struct Varnish {
    child: Child,
    pub(crate) base: String,
    dir: tempfile::TempDir,
}

/// The VCL's "replicas" section for `backends` (`host:port` each), named `replica1`, `replica2`,
/// … in order, with the settings (timeouts, probe) of the shipped first backend.
fn replicas_section(shipped: &str, backends: &[&str]) -> String {
    let first = &shipped[shipped
        .find("backend replica1 {")
        .expect("replica1 in the VCL")..];
    let template = &first[..first.find("\n}\n").expect("end of replica1") + 3];
    let mut section = String::from("# BEGIN replicas\n");
    for (i, backend) in backends.iter().enumerate() {
        let (host, port) = backend.rsplit_once(':').unwrap();
        let block = template
            .replace("replica1", &format!("replica{}", i + 1))
            .replace(r#".host = "127.0.0.1";"#, &format!(r#".host = "{host}";"#))
            .replace(r#".port = "8080";"#, &format!(r#".port = "{port}";"#));
        assert!(
            block.contains(port),
            "backend lines in the VCL changed shape"
        );
        section.push_str(&block);
        section.push('\n');
    }
    section.push_str("sub vcl_init {\n    new replicas = directors.shard();\n");
    for i in 1..=backends.len() {
        section.push_str(&format!("    replicas.add_backend(replica{i});\n"));
    }
    section.push_str("    replicas.reconfigure();\n}\n# END replicas\n");
    section
}

impl Varnish {
    /// Varnish in front of one replica at `backend` (`host:port`).
    pub(crate) fn start(backend: &str) -> Varnish {
        Varnish::start_many(&[backend])
    }

    /// Varnish in front of `backends` (`host:port` each), named `replica1`, `replica2`, … .
    pub(crate) fn start_many(backends: &[&str]) -> Varnish {
        let vcl = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/varnish/refract.vcl"),
        )
        .unwrap();
        let begin = vcl
            .find("# BEGIN replicas")
            .expect("BEGIN replicas in the VCL");
        let end = vcl
            .find("# END replicas\n")
            .expect("END replicas in the VCL");
        let patched = format!(
            "{}{}{}",
            &vcl[..begin],
            replicas_section(&vcl[begin..end], backends),
            &vcl[end + "# END replicas\n".len()..]
        );
        let dir = tempfile::tempdir().unwrap();
        let vcl_path = dir.path().join("refract.vcl");
        std::fs::write(&vcl_path, patched).unwrap();
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listen.local_addr().unwrap();
        drop(listen);
        let child = Command::new("varnishd")
            .arg("-F")
            .args(["-j", "none"])
            .arg("-n")
            .arg(dir.path().join("work"))
            .args(["-a", &addr.to_string()])
            .arg("-f")
            .arg(&vcl_path)
            .args(["-s", "malloc,64m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("varnishd (Debian package varnish) is needed; make test installs it");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "varnishd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Varnish {
            child,
            base: format!("http://{addr}"),
            dir,
        }
    }

    /// Whether Varnish's probe holds `replica` (`replica1`, …) healthy, from `varnishadm
    /// backend.list`.
    pub(crate) fn healthy(&self, replica: &str) -> bool {
        let out = Command::new("varnishadm")
            .arg("-n")
            .arg(self.dir.path().join("work"))
            .args(["backend.list", replica])
            .output()
            .expect("varnishadm runs");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .any(|l| l.contains(replica) && l.split_whitespace().any(|w| w == "healthy"))
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str, accept: &str) -> (String, String, Vec<u8>) {
    let r = client
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let cache = header(&r, "x-cache");
    let etag = header(&r, "etag");
    (cache, etag, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn varnish_caches_negotiated_variants_per_class() {
    let s = TestServer::start(|_| {}).await;
    s.put("cat.jpg", &quadrants_jpeg(400, 300));
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let c = &s.client;

    // A fixed-format URL: miss, then hit, whoever asks.
    let url = format!("{}/cat.jpg?w=100", v.base);
    assert_eq!(get(c, &url, CHROME).await.0, "MISS");
    let (cache, _, body) = get(c, &url, SAFARI).await;
    assert_eq!(cache, "HIT");
    assert_eq!(decode(&body).format, Format::JPEG);

    // A negotiated URL: each class gets its own format, never another class's.
    let url = format!("{}/cat.jpg?w=120&fm=auto", v.base);
    let (cache, avif_etag, body) = get(c, &url, CHROME).await;
    assert_eq!(
        (cache.as_str(), decode(&body).format),
        ("MISS", Format::Avif)
    );
    let (cache, webp_etag, body) = get(c, &url, SAFARI).await;
    assert_eq!(
        (cache.as_str(), decode(&body).format),
        ("MISS", Format::Webp)
    );
    let (cache, _, body) = get(c, &url, "*/*").await;
    assert_eq!(
        (cache.as_str(), decode(&body).format),
        ("MISS", Format::JPEG)
    );
    assert_ne!(avif_etag, webp_etag);
    // Another AVIF-capable browser's Accept string shares the AVIF object.
    let (cache, etag, body) = get(c, &url, FIREFOX).await;
    assert_eq!((cache.as_str(), etag.as_str()), ("HIT", avif_etag.as_str()));
    assert_eq!(decode(&body).format, Format::Avif);
    let (cache, etag, _) = get(c, &url, SAFARI).await;
    assert_eq!((cache.as_str(), etag.as_str()), ("HIT", webp_etag.as_str()));
    // 404s are cached briefly (the original may be uploaded soon).
    let missing = format!("{}/nope.jpg?w=10", v.base);
    let first = c.get(&missing).send().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), header(&first, "x-cache")),
        (404, "MISS".into())
    );
    let second = c.get(&missing).send().await.unwrap();
    assert_eq!(
        (second.status().as_u16(), header(&second, "x-cache")),
        (404, "HIT".into())
    );
    // `image/avif;q=0` is not AVIF-capable.
    let (_, _, body) = get(c, &url, "image/avif;q=0,image/webp,*/*").await;
    assert_eq!(decode(&body).format, Format::Webp);
}

#[tokio::test]
async fn concurrent_misses_reach_the_origin_once() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "big.jpg",
        &crate::support::fixtures::gradient_jpeg(2400, 1600),
    );
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let origin_requests = || {
        s.app
            .observe()
            .metrics
            .requests
            .with_label_values(&["200", "webp"])
            .get()
    };
    let before = origin_requests();
    let url = format!("{}/big.jpg?w=1500&fm=webp", v.base);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (s.client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(
        origin_requests() - before,
        1,
        "Varnish coalesced the misses"
    );
}

#[tokio::test]
async fn an_origin_outage_is_covered_by_grace() {
    // Short max-age so the object is stale by the time the origin is gone.
    let s = TestServer::start(|c| c.max_age = Duration::from_secs(1)).await;
    s.put("cat.jpg", &quadrants_jpeg(200, 100));
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let client = s.client.clone();
    let url = format!("{}/cat.jpg?w=50", v.base);
    let (_, etag, _) = get(&client, &url, "*/*").await;
    s.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cache, stale_etag, body) = get(&client, &url, "*/*").await;
    assert_eq!(cache, "HIT", "served from grace");
    assert_eq!(stale_etag, etag);
    assert_eq!(decode(&body).width, 50);
    // Operational endpoints are passed through, never served from cache.
    let r = client
        .get(format!("{}/healthz", v.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "origin is down; health is not cached");
}

fn deploy(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

#[test]
fn the_cloudformation_templates_pass_cfn_lint() {
    let out = Command::new(venv_tool("cfn-lint"))
        .arg(deploy("cloudfront/refract.yaml"))
        .arg(deploy("s3/originals-bucket.yaml"))
        .arg(deploy("s3/variants-bucket.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CloudFront Function in the template, run in Node against real browsers' headers.
#[test]
fn the_cloudfront_function_normalises_accept_like_refract() {
    let template = std::fs::read_to_string(deploy("cloudfront/refract.yaml")).unwrap();
    let start = template.find("// BEGIN accept-normaliser").unwrap();
    let end = template.find("// END accept-normaliser").unwrap();
    let function = &template[start..end];
    let cases = [
        (CHROME, "image/avif,image/webp,*/*"),
        (FIREFOX, "image/avif,image/webp,*/*"),
        (SAFARI, "image/webp,*/*"),
        ("image/avif;q=0,image/webp", "image/webp,*/*"),
        ("*/*", "*/*"),
        ("", "*/*"),
    ];
    let mut script = format!("{function}\nconst out = [];\n");
    for (accept, _) in &cases {
        script.push_str(&format!(
            "out.push(handler({{request: {{headers: {{accept: {{value: {accept:?}}}}}}}}}).headers.accept.value);\n"
        ));
    }
    script.push_str("console.log(JSON.stringify(out));\n");
    let out = crate::support::run_ok(Command::new("node").arg("-e").arg(&script));
    let expected: Vec<String> = cases.iter().map(|(_, want)| format!("{want:?}")).collect();
    assert_eq!(out.trim(), format!("[{}]", expected.join(",")));
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let dir = deploy("k8s");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let out = Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "-k", "1.30.0"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    for file in &files {
        let passed = format!("{} passed ", file.display());
        assert!(report.contains(&passed), "{report}");
    }
    assert!(!report.contains(" failed "), "{report}");
}

/// Every key of the ConfigMap is a real setting, and together they pass `--check-config`.
#[test]
fn the_configmap_is_a_valid_refract_configuration() {
    let configmap = std::fs::read_to_string(deploy("k8s/configmap.yaml")).unwrap();
    let pairs: Vec<(String, String)> = configmap
        .lines()
        .filter_map(|l| l.strip_prefix("  REFRACT_"))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (
                format!("REFRACT_{k}"),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    assert!(pairs.len() >= 8);
    let help = crate::support::refract()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let root = tempfile::tempdir().unwrap();
    let mut check = crate::support::refract();
    check.args(["serve", "--check-config"]);
    for (key, value) in &pairs {
        assert!(
            help.contains(&format!("env: {key}")),
            "{key} is not a refract setting"
        );
        check.env(key, value);
    }
    check.env("REFRACT_ROOT", root.path());
    let out = check.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn one_xkey_purge_drops_every_variant_of_one_original_and_nothing_else() {
    let s = TestServer::start(|_| {}).await;
    s.put("a.jpg", &quadrants_jpeg(400, 300));
    s.put("b.jpg", &quadrants_jpeg(300, 300));
    let v = Varnish::start(s.base.trim_start_matches("http://"));
    let c = &s.client;
    let urls = [
        format!("{}/a.jpg?w=100", v.base),
        format!("{}/a.jpg?w=120&fm=auto", v.base),
        format!("{}/b.jpg?w=100", v.base),
    ];
    for url in &urls {
        assert_eq!(get(c, url, CHROME).await.0, "MISS");
    }
    for url in &urls {
        assert_eq!(get(c, url, CHROME).await.0, "HIT", "{url}");
    }
    // The tag a CDN purges by reaches clients as Surrogate-Key; Varnish's own xkey does not.
    let r = c.get(&urls[0]).send().await.unwrap();
    let tag = header(&r, "surrogate-key");
    assert_eq!(tag, refract::store::purge_tag("a.jpg"));
    assert_eq!(header(&r, "xkey"), "");

    let purge = |key: Option<&str>| {
        let mut req = c.request(
            reqwest::Method::from_bytes(b"PURGE").unwrap(),
            format!("{}/", v.base),
        );
        if let Some(k) = key {
            req = req.header("xkey-purge", k);
        }
        req.send()
    };
    assert_eq!(purge(None).await.unwrap().status(), 400);
    let r = purge(Some(&tag)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-purged"), "2");
    assert_eq!(get(c, &urls[0], CHROME).await.0, "MISS");
    assert_eq!(get(c, &urls[1], CHROME).await.0, "MISS");
    assert_eq!(get(c, &urls[2], CHROME).await.0, "HIT");
}
