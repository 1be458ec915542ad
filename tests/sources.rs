//! Sources: one conformance suite that every `Source` runs (local directory, S3 on a real Garage,
//! an HTTP origin, the proxy), then the server-level behaviour: mounts, the originals cache,
//! failure semantics (404/502/504/409/422), serving through an outage, and the SSRF defence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use refract::error::Error;
use refract::observe::metrics::Metrics;
use refract::request::Key;
use refract::source::fs::FsSource;
use refract::source::http::HttpSource;
use refract::source::mounts::OriginalsCache;
use refract::source::net::{AllowedHost, NetPolicy};
use refract::source::s3::S3Source;
use refract::source::{Fetched, Mounts, Source, SourceSettings};

use crate::support::fixtures::{gradient_jpeg, quadrants_jpeg};
use crate::support::garage::Garage;
use crate::support::images::decode;
use crate::support::origin::Origin;
use crate::support::{header, metric, refract, spawn_command, TestServer};

/// Byte cap every backend runs the suite with.
const CAP: u64 = 1_000_000;
/// A key with a space, nesting and non-ASCII characters.
const NESTED: &str = "dir one/sub/ünïcødé 猫.jpg";

/// The objects every backend holds for the suite.
fn objects() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.jpg", quadrants_jpeg(64, 48)),
        (NESTED, quadrants_jpeg(32, 32)),
        (
            "large.bin",
            (0..900_000u32).map(|i| (i % 251) as u8).collect(),
        ),
        ("huge.bin", vec![7u8; 1_500_000]),
    ]
}

fn settings(net: NetPolicy) -> SourceSettings {
    SourceSettings {
        max_bytes: CAP,
        timeout: Duration::from_secs(10),
        net,
    }
}

fn loopback() -> NetPolicy {
    NetPolicy {
        allow_private: true,
        ..NetPolicy::default()
    }
}

/// A source under test: how to name an object for it, and a way to make it stall.
struct Backend {
    name: &'static str,
    source: Box<dyn Source>,
    key: Box<dyn Fn(&str) -> String>,
    /// The same kind of source pointed at something that never answers, with the key to ask.
    stalled: Option<(Box<dyn Source>, String)>,
}

async fn body(source: &dyn Source, key: &str) -> Result<Vec<u8>, Error> {
    match source.fetch(key, None).await? {
        Fetched::Body(o) => Ok(o.bytes.to_vec()),
        Fetched::NotModified => panic!("unconditional fetch answered NotModified"),
    }
}

/// The contract of `Source`, checked the same way for every implementation.
async fn conformance(b: Backend) {
    let name = b.name;
    let source = b.source.as_ref();
    let key = |k: &str| (b.key)(k);
    for (k, bytes) in objects().into_iter().filter(|(k, _)| *k != "huge.bin") {
        source.check_key(&key(k)).unwrap();
        assert_eq!(body(source, &key(k)).await.unwrap(), bytes, "{name}: {k}");
    }
    assert_eq!(
        body(source, &key("missing.jpg")).await,
        Err(Error::NotFound),
        "{name}: missing"
    );
    assert_eq!(
        body(source, &key("dir one/missing.jpg")).await,
        Err(Error::NotFound),
        "{name}: missing nested"
    );
    assert_eq!(
        body(source, &key("huge.bin")).await,
        Err(Error::SourceTooLarge { limit: CAP }),
        "{name}: over the byte cap"
    );
    // Revalidation: the version just fetched is current.
    let Fetched::Body(first) = source.fetch(&key("a.jpg"), None).await.unwrap() else {
        panic!("{name}: no body");
    };
    assert!(!first.validator.is_empty(), "{name}: no validator");
    assert_eq!(
        source
            .fetch(&key("a.jpg"), Some(&first.validator))
            .await
            .unwrap(),
        Fetched::NotModified,
        "{name}: revalidation"
    );
    // A store that never answers is cut off at the fetch timeout.
    if let Some((stalled, k)) = b.stalled {
        let mounts = Mounts::new(
            vec![("/".into(), stalled)],
            OriginalsCache {
                max_bytes: 0,
                revalidate_after: Duration::ZERO,
                ttl: Duration::from_secs(1),
            },
            Duration::from_secs(1),
            Arc::new(Metrics::new()),
        )
        .unwrap();
        let started = Instant::now();
        let key = Key::routed(&k).unwrap();
        assert_eq!(
            mounts.fetch(&key).await,
            Err(Error::SourceTimeout),
            "{name}: stall"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{name}: slow");
    }
}

/// A TCP listener that accepts connections and never answers.
async fn stall() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

fn write_objects(dir: &std::path::Path) {
    for (k, bytes) in objects() {
        let path = dir.join(k);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[tokio::test]
async fn conformance_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_objects(dir.path());
    conformance(Backend {
        name: "file",
        source: Box::new(FsSource::new(dir.path(), CAP).unwrap()),
        key: Box::new(str::to_owned),
        // A local disk has no stall to provoke; its timeout is the same Mounts code as the rest.
        stalled: None,
    })
    .await;
}

#[tokio::test]
async fn conformance_s3_on_garage() {
    let garage = Garage::start();
    for (k, bytes) in objects() {
        garage.put(&format!("base/{k}"), bytes).await;
    }
    let url = format!("s3://{}/base/", garage.bucket);
    let source = S3Source::open(&url, &settings(loopback()), garage.builder(), true).unwrap();
    let stalled_endpoint = format!("http://{}", stall().await);
    let stalled = S3Source::open(
        &url,
        &settings(loopback()),
        garage.builder().with_endpoint(stalled_endpoint),
        true,
    )
    .unwrap();
    conformance(Backend {
        name: "s3",
        source: Box::new(source),
        key: Box::new(str::to_owned),
        stalled: Some((Box::new(stalled), "a.jpg".into())),
    })
    .await;

    // Refused credentials are the store failing (502), not a missing image.
    let wrong = S3Source::open(
        &url,
        &settings(loopback()),
        garage.builder().with_secret_access_key("not-the-secret"),
        true,
    )
    .unwrap();
    assert!(
        matches!(body(&wrong, "a.jpg").await, Err(Error::SourceFailed(_))),
        "wrong secret"
    );
}

#[tokio::test]
async fn conformance_http_origin() {
    let dir = tempfile::tempdir().unwrap();
    write_objects(dir.path());
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let source = HttpSource::origin(&format!("{}/", origin.url()), &settings(loopback())).unwrap();
    let stalled =
        HttpSource::origin(&format!("{}/__slow/", origin.url()), &settings(loopback())).unwrap();
    conformance(Backend {
        name: "http",
        source: Box::new(source),
        key: Box::new(str::to_owned),
        stalled: Some((Box::new(stalled), "a.jpg".into())),
    })
    .await;
}

#[tokio::test]
async fn conformance_proxy() {
    let dir = tempfile::tempdir().unwrap();
    write_objects(dir.path());
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let port = origin.port();
    let source = HttpSource::proxy(&settings(source_net(port))).unwrap();
    let url = move |k: &str| format!("http://images.test:{port}/{k}");
    let stalled_key = url("__slow/a.jpg");
    let stalled = HttpSource::proxy(&settings(source_net(port))).unwrap();
    conformance(Backend {
        name: "proxy",
        source: Box::new(source),
        key: Box::new(url),
        stalled: Some((Box::new(stalled), stalled_key)),
    })
    .await;
}

/// Loopback allowed, and `images.test:PORT` (pinned to 127.0.0.1) the one allowed host.
fn source_net(port: u16) -> NetPolicy {
    let mut net = loopback();
    net.allow_hosts = vec![AllowedHost::parse(&format!("images.test:{port}")).unwrap()];
    net.pins
        .insert("images.test".into(), "127.0.0.1".parse().unwrap());
    net
}

/// `/s3/…` served from a real Garage bucket by the real binary, next to a local root.
#[tokio::test]
async fn the_binary_serves_s3_and_local_mounts_side_by_side() {
    let mut garage = Garage::start();
    garage
        .put("cats/cat one.jpg", gradient_jpeg(400, 300))
        .await;
    garage
        .put("cats/never-asked.jpg", gradient_jpeg(40, 30))
        .await;
    // Keys another S3 client wrote, with non-ASCII and characters S3 allows but
    // `object_store` would escape.
    garage.put_with_curl("dir/a b/é.jpg", &quadrants_jpeg(80, 60));
    garage.put_with_curl("dir/a b/e.jpg", &quadrants_jpeg(80, 60));
    garage.put_with_curl("dir/50%~[off].jpg", &quadrants_jpeg(80, 60));
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("dog.jpg"), quadrants_jpeg(200, 100)).unwrap();
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
        .args(["--root", root.path().to_str().unwrap()])
        .args(["--source", &format!("/s3=s3://{}/", garage.bucket)])
        .args(["--source-timeout", "2s"])
        .envs(garage.env())
        .stdout(std::process::Stdio::null());
    let (mut child, addr, startup) = spawn_command(cmd);
    let log = startup.join("\n");
    assert!(log.contains("s3://originals/"), "{log}");
    assert!(
        !log.contains(&garage.secret),
        "secret in the start-up log: {log}"
    );
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move { client.get(path).send().await.unwrap() }
    };
    let r = get(format!("http://{addr}/s3/cats/cat%20one.jpg?w=100&fm=webp")).await;
    assert_eq!(r.status(), 200);
    let img = decode(&r.bytes().await.unwrap());
    assert_eq!((img.width, img.height), (100, 75));
    let r = get(format!("http://{addr}/dog.jpg?w=50")).await;
    assert_eq!(r.status(), 200);
    for path in [
        "dir/a%20b/%C3%A9.jpg",
        "dir/a%20b/e.jpg",
        "dir/50%25~%5Boff%5D.jpg",
    ] {
        let r = get(format!("http://{addr}/s3/{path}?w=40")).await;
        assert_eq!(r.status(), 200, "{path}: {}", header(&r, "x-refract-error"));
        assert_eq!(decode(&r.bytes().await.unwrap()).width, 40);
    }
    let r = get(format!("http://{addr}/s3/cats/missing.jpg?w=100")).await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (404, "not_found".into())
    );
    let m = get(format!("http://{addr}/metrics"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &m,
            "refract_source_fetches_total",
            &[("source", "s3"), ("result", "ok")]
        ),
        4.0
    );
    assert_eq!(
        metric(
            &m,
            "refract_source_fetches_total",
            &[("source", "s3"), ("result", "not_found")]
        ),
        1.0
    );
    // Stop the S3 server mid-test: cached variants still 200; an original never fetched
    // fails fast with a 5xx instead of hanging.
    garage.stop();
    let r = get(format!("http://{addr}/s3/cats/cat%20one.jpg?w=100&fm=webp")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-refract-cache"), "hit");
    let started = Instant::now();
    let r = get(format!("http://{addr}/s3/cats/never-asked.jpg?w=10")).await;
    let status = r.status().as_u16();
    assert!(
        [502, 503, 504].contains(&status),
        "{status} {}",
        header(&r, "x-refract-error")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get(format!("http://{addr}/healthz")).await.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// S3 answers `403 InvalidObjectState` for objects in Glacier/Deep Archive until restored:
/// a 409 with its own code, at once, not a hang or a generic 502.
#[tokio::test]
async fn an_archived_s3_object_is_a_clear_409() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
        .args(["--source", "/archive=s3://__s3archived/"])
        .env("AWS_ENDPOINT_URL", origin.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdout(std::process::Stdio::null());
    let (mut child, addr, _) = spawn_command(cmd);
    let started = Instant::now();
    let r = reqwest::get(format!("http://{addr}/archive/2019/old.jpg?w=100"))
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (409, "source_archived".into())
    );
    assert!(r.text().await.unwrap().contains("restored"));
    assert!(started.elapsed() < Duration::from_secs(5));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// An HTTP origin mounted at `/web`: one fetch for many widths, 502 for its failures, 504 when
/// it is slow, and cached images keep being served while it is down.
#[tokio::test]
async fn http_origin_failures_and_outage() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), gradient_jpeg(800, 600)).unwrap();
    std::fs::write(dir.path().join("b.jpg"), gradient_jpeg(300, 200)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let base = format!("{}/", origin.url());
    let s = TestServer::start(|c| {
        c.sources.push(("/web".into(), base));
        c.net.allow_private = true;
        c.source_timeout = Duration::from_secs(1);
        c.max_source_bytes = 1_000_000;
    })
    .await;
    for w in [100, 200, 300, 400, 500] {
        let r = s.get(&format!("/web/a.jpg?w={w}")).await;
        assert_eq!(r.status(), 200, "w={w}");
        assert_eq!(decode(&r.bytes().await.unwrap()).width, w);
    }
    assert_eq!(origin.hits(), 1, "five widths, one fetch of the original");
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));
    let r = s.get("/web/missing.jpg?w=10").await;
    assert_eq!(code(&r), (404, "not_found".into()));
    let r = s.get("/web/__status/500?w=10").await;
    assert_eq!(code(&r), (502, "source_failed".into()));
    let r = s.get("/web/__status/403?w=10").await;
    assert_eq!(code(&r), (502, "source_failed".into()));
    let started = Instant::now();
    let r = s.get("/web/__slow/a.jpg?w=10").await;
    assert_eq!(code(&r), (504, "source_timeout".into()));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body over the cap is cut off while streaming, with no Content-Length to warn.
    let r = s.get("/web/__stream/2000000?w=10").await;
    assert_eq!(code(&r), (422, "source_too_large".into()));

    origin.stop();
    let r = s.get("/web/a.jpg?w=300").await;
    assert_eq!(
        r.status(),
        200,
        "cached variant served while the origin is down"
    );
    assert_eq!(header(&r, "x-refract-cache"), "hit");
    let r = s.get("/web/b.jpg?w=100").await;
    assert_eq!(code(&r), (502, "source_failed".into()));
    assert_eq!(s.get("/healthz").await.status(), 200);
    assert_eq!(s.get("/readyz").await.status(), 200);
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_errors_total", &[("code", "source_timeout")]),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "refract_source_fetches_total",
            &[("source", "http"), ("result", "source_failed")]
        ),
        3.0
    );
    s.stop().await;
}

/// When a cached original is due for revalidation and the store is down, the cached copy is
/// used: new sizes of a hot image still render during an outage.
#[tokio::test]
async fn a_stale_original_is_used_while_the_store_is_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), gradient_jpeg(400, 300)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let base = format!("{}/", origin.url());
    let s = TestServer::start(|c| {
        c.sources.push(("/web".into(), base));
        c.net.allow_private = true;
        c.originals_revalidate_after = Duration::ZERO;
    })
    .await;
    assert_eq!(s.get("/web/a.jpg?w=100").await.status(), 200);
    assert_eq!(s.get("/web/a.jpg?w=110").await.status(), 200);
    assert_eq!(origin.hits(), 2, "the second render revalidated");
    origin.stop();
    let r = s.get("/web/a.jpg?w=120").await;
    assert_eq!(r.status(), 200);
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 120);
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "refract_originals_cache_total",
            &[("result", "revalidated")]
        ),
        1.0
    );
    assert_eq!(
        metric(&m, "refract_originals_cache_total", &[("result", "stale")]),
        1.0
    );
    s.stop().await;
}

/// The proxy mount and the SSRF defence, against a loopback origin whose names are pinned.
#[tokio::test]
async fn proxy_allow_list_and_ssrf_defence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), gradient_jpeg(300, 200)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let port = origin.port();
    let configure = |allow_private: bool| {
        move |c: &mut refract::Config| {
            c.sources.push(("/remote".into(), "proxy://".into()));
            c.net.allow_private = allow_private;
            for host in ["example.com", "metadata.test"] {
                c.net
                    .allow_hosts
                    .push(AllowedHost::parse(&format!("{host}:{port}")).unwrap());
            }
            c.net
                .allow_hosts
                .push(AllowedHost::parse("169.254.169.254").unwrap());
            for (host, ip) in [
                ("example.com", "127.0.0.1"),
                ("ample.com", "127.0.0.1"),
                ("metadata.test", "169.254.169.254"),
            ] {
                c.net.pins.insert(host.into(), ip.parse().unwrap());
            }
        }
    };
    let s = TestServer::start(configure(true)).await;
    let enc = |u: &str| {
        percent_encoding::utf8_percent_encode(u, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));

    let ok = format!("http://example.com:{port}/a.jpg");
    let r = s.get(&format!("/remote/{}?w=60", enc(&ok))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 60);

    let refused = [
        // Look-alike host: suffix of an allowed name.
        format!("http://ample.com:{port}/a.jpg"),
        // Allowed name, other port.
        format!("http://example.com:{}/a.jpg", port.wrapping_add(1)),
        // Redirect from an allowed host to the metadata endpoint (not allow-listed).
        format!(
            "http://example.com:{port}/__redirect/{}",
            enc("http://169.254.169.254/latest/meta-data/")
        ),
        // Redirect to an allow-listed name that resolves to a link-local address.
        format!(
            "http://example.com:{port}/__redirect/{}",
            enc(&format!("http://metadata.test:{port}/a.jpg"))
        ),
        // The metadata address itself, even though it is on the allow-list.
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        // Credentials in the URL.
        format!("http://user:pw@example.com:{port}/a.jpg"),
        // Not http(s).
        "file:///etc/passwd".to_owned(),
    ];
    for url in &refused {
        let r = s.get(&format!("/remote/{}?w=60", enc(url))).await;
        assert_eq!(code(&r), (403, "source_not_allowed".into()), "{url}");
    }
    let r = s.get("/remote/not-a-url?w=60").await;
    assert_eq!(code(&r), (400, "bad_path".into()));
    // Redirects are followed up to five hops, and no further.
    let chain = |hops: usize| {
        (0..hops).fold(ok.clone(), |url, _| {
            format!("http://example.com:{port}/__redirect/{}", enc(&url))
        })
    };
    let r = s.get(&format!("/remote/{}?w=61", enc(&chain(5)))).await;
    assert_eq!(r.status(), 200, "five redirects");
    let r = s.get(&format!("/remote/{}?w=62", enc(&chain(6)))).await;
    assert_eq!(code(&r), (502, "source_failed".into()), "six redirects");
    let fetched_redirects = origin
        .paths
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.starts_with("/__redirect/"))
        .count();
    assert_eq!(
        fetched_redirects,
        2 + 5 + 6,
        "the refused redirects were requested once and not followed; the chains hop by hop"
    );
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "refract_rejected_total",
            &[("reason", "source_not_allowed")]
        ),
        refused.len() as f64
    );
    s.stop().await;

    // Without --allow-private-sources, a name resolving to loopback is refused too.
    let strict = TestServer::start(configure(false)).await;
    let r = strict.get(&format!("/remote/{}?w=60", enc(&ok))).await;
    assert_eq!(code(&r), (403, "source_not_allowed".into()));
    strict.stop().await;
}

/// An HTTP origin the operator configured on a private address is trusted without
/// `--allow-private-sources`; the proxy source, asked for the same address, stays strict.
#[tokio::test]
async fn a_configured_private_origin_is_trusted_and_the_proxy_is_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), gradient_jpeg(300, 200)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let port = origin.port();
    let base = origin.url();
    let s = TestServer::start(move |c| {
        assert!(!c.net.allow_private);
        c.sources.push(("/web".into(), base));
        c.sources.push(("/remote".into(), "proxy://".into()));
        c.net
            .allow_hosts
            .push(AllowedHost::parse(&format!("127.0.0.1:{port}")).unwrap());
    })
    .await;
    let r = s.get("/web/a.jpg?w=60").await;
    assert_eq!(r.status(), 200, "{}", header(&r, "x-refract-error"));
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 60);
    let proxied = percent_encoding::utf8_percent_encode(
        &format!("http://127.0.0.1:{port}/a.jpg"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let r = s.get(&format!("/remote/{proxied}?w=60")).await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (403, "source_not_allowed".into())
    );
}
