//! The durable variant store: a variant rendered by one replica is served by another (and after
//! a restart) without a transform, byte-identical with the same ETag; a replaced original is
//! rendered anew; a store outage costs renders, never answers; purges remove every variant of
//! one original and nothing else; header-chosen widths cannot widen the variant space; a
//! killed writer leaves nothing partial.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use refract::store::{purge_tag, record};

use crate::support::fixtures::{gradient_jpeg, quadrants_jpeg};
use crate::support::garage::Garage;
use crate::support::images::decode;
use crate::support::{header, metric, refract, spawn_command, TestServer};

const ADMIN: &str = "an-admin-token-for-tests";

async fn replica(root: &Path, store: &Path) -> TestServer {
    let url = format!("file://{}", store.display());
    TestServer::start_at(root, move |c| {
        c.variant_store = Some(url);
        c.originals_revalidate_after = Duration::ZERO;
        c.admin_token = refract::config::Secrets(vec![ADMIN.into()]);
    })
    .await
}

/// Status, `x-refract-cache`, ETag and body of a GET.
async fn fetch(s: &TestServer, url: &str) -> (u16, String, String, Bytes) {
    let r = s.get(url).await;
    let status = r.status().as_u16();
    let (cache, etag) = (header(&r, "x-refract-cache"), header(&r, "etag"));
    (status, cache, etag, r.bytes().await.unwrap())
}

async fn flush(s: &TestServer) {
    s.app
        .renderer()
        .origin()
        .store()
        .expect("store configured")
        .flush(Duration::from_secs(30))
        .await;
}

/// Every object under `dir` (temporary files aside) is a whole stored variant.
fn check_objects(dir: &Path) -> usize {
    let mut whole = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let object = Bytes::from(std::fs::read(&path).unwrap());
                record::inspect(&object)
                    .unwrap_or_else(|e| panic!("{}: partial or corrupt: {e}", path.display()));
                whole += 1;
            }
        }
    }
    whole
}

#[tokio::test]
async fn replicas_share_renders_and_a_replaced_original_renders_anew() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("cat.jpg"), quadrants_jpeg(400, 300)).unwrap();
    let url = "/cat.jpg?w=100&fm=webp";

    let first = replica(root.path(), store.path()).await;
    let r = first.get(url).await;
    let tag = header(&r, "surrogate-key");
    assert_eq!(tag, purge_tag("cat.jpg"));
    assert_eq!(header(&r, "cache-tag"), tag);
    assert_eq!(header(&r, "xkey"), tag);
    let (cache, etag) = (header(&r, "x-refract-cache"), header(&r, "etag"));
    let body = r.bytes().await.unwrap();
    assert_eq!(cache, "miss");
    flush(&first).await;
    assert_eq!(check_objects(store.path()), 1);

    // A second replica: the stored variant, byte for byte, with no transform.
    let second = replica(root.path(), store.path()).await;
    let (status, cache, etag2, body2) = fetch(&second, url).await;
    assert_eq!((status, cache.as_str()), (200, "store"));
    assert_eq!((etag2, body2), (etag.clone(), body.clone()));
    assert_eq!(second.app.renderer().transforms(), 0);
    // Then from its memory.
    assert_eq!(fetch(&second, url).await.1, "hit");

    // A restart serves it from the store too.
    first.stop().await;
    let restarted = replica(root.path(), store.path()).await;
    let (_, cache, etag3, _) = fetch(&restarted, url).await;
    assert_eq!((cache.as_str(), etag3.as_str()), ("store", etag.as_str()));
    assert_eq!(restarted.app.renderer().transforms(), 0);

    // The original replaced: a replica without it in memory renders the new one; the old
    // variant is never served from the store.
    std::fs::write(root.path().join("cat.jpg"), gradient_jpeg(400, 300)).unwrap();
    let fresh = replica(root.path(), store.path()).await;
    let (status, cache, etag4, body4) = fetch(&fresh, url).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_ne!(etag4, etag);
    assert_ne!(body4, body);
    assert_eq!(decode(&body4).width, 100);
    assert_eq!(fresh.app.renderer().transforms(), 1);
    flush(&fresh).await;
    assert_eq!(check_objects(store.path()), 2);
    let m = second.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_variant_store_total", &[("result", "hit")]),
        1.0
    );
    assert!(
        metric(
            &m,
            "refract_stage_duration_seconds_count",
            &[("stage", "store")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn admin_purge_removes_every_variant_of_one_original_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.jpg"), quadrants_jpeg(400, 300)).unwrap();
    std::fs::write(root.path().join("b.jpg"), quadrants_jpeg(300, 300)).unwrap();
    let s = replica(root.path(), store.path()).await;
    for url in ["/a.jpg?w=50", "/a.jpg?w=60&fm=webp", "/b.jpg?w=50"] {
        assert_eq!(fetch(&s, url).await.0, 200);
    }
    flush(&s).await;
    assert_eq!(check_objects(store.path()), 3);

    let purge = |token: Option<&str>, body: &str| {
        let mut req = s
            .client
            .post(format!("{}/admin/purge", s.base))
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(
        purge(None, r#"{"path":"/a.jpg"}"#).await.unwrap().status(),
        401
    );
    assert_eq!(
        purge(Some("wrong"), r#"{"path":"/a.jpg"}"#)
            .await
            .unwrap()
            .status(),
        401
    );
    let r = purge(Some(ADMIN), "not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let r = purge(
        Some(ADMIN),
        r#"{"path":"https://img.example.com/a.jpg?w=50"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["key"], "a.jpg");
    assert_eq!(report["purge_key"], purge_tag("a.jpg"));
    assert_eq!(report["stored_deleted"], 2);
    assert_eq!(check_objects(store.path()), 1);

    // a's variants render again (memory and store were purged); b's are still hits.
    let before = s.app.renderer().transforms();
    assert_eq!(fetch(&s, "/a.jpg?w=50").await.1, "miss");
    assert_eq!(fetch(&s, "/a.jpg?w=60&fm=webp").await.1, "miss");
    assert_eq!(fetch(&s, "/b.jpg?w=50").await.1, "hit");
    assert_eq!(s.app.renderer().transforms(), before + 2);

    // Without --admin-token there is no purge endpoint to guess a token for.
    let open = TestServer::start_at(root.path(), |_| {}).await;
    let r = open
        .client
        .post(format!("{}/admin/purge", open.base))
        .bearer_auth(ADMIN)
        .body(r#"{"path":"/a.jpg"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn header_chosen_widths_cannot_widen_the_variant_space() {
    let s = TestServer::start(|_| {}).await;
    s.put("wide.jpg", &gradient_jpeg(2400, 1200));
    let ladder = refract::request::srcset::DEFAULT_WIDTHS;
    let mut widths = std::collections::BTreeSet::new();
    for i in 0..500u32 {
        let hint = (1 + i * 5).to_string();
        let r = s
            .get_with("/wide.jpg?ch=width&fm=jpg", &[("sec-ch-width", &hint)])
            .await;
        assert_eq!(r.status(), 200, "{}", header(&r, "x-refract-error"));
        let got = decode(&r.bytes().await.unwrap()).width;
        assert!(ladder.contains(&got), "Sec-CH-Width {hint} gave {got} px");
        widths.insert(got);
    }
    assert_eq!(widths.len(), ladder.len());
    assert!(
        s.app.renderer().transforms() <= ladder.len() as u64,
        "{}",
        s.app.renderer().transforms()
    );

    // A quality list refuses others, or snaps them when configured.
    let strict = TestServer::start_at(&s.root, |c| {
        c.bounds = refract::request::Bounds::new(&ladder, false, &[50, 80], false).unwrap();
    })
    .await;
    let r = strict.get("/wide.jpg?w=50&q=70").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error").as_str()),
        (400, "bad_param")
    );
    assert_eq!(strict.get("/wide.jpg?w=50&q=80").await.status(), 200);
    let snapping = TestServer::start_at(&s.root, |c| {
        c.bounds = refract::request::Bounds::new(&ladder, true, &[50, 80], true).unwrap();
    })
    .await;
    let a = snapping.get("/wide.jpg?w=300&q=70").await;
    let b = snapping.get("/wide.jpg?w=320&q=80").await;
    assert_eq!(header(&a, "etag"), header(&b, "etag"));
    assert_eq!(decode(&a.bytes().await.unwrap()).width, 320);
    assert_eq!(snapping.app.renderer().transforms(), 1);
}

/// The `/metrics` page of a running binary.
async fn metrics_of(client: &reqwest::Client, addr: &str) -> String {
    let r = client.get(format!("http://{addr}/metrics")).send().await;
    r.unwrap().text().await.unwrap()
}

/// `refract_variant_store_total{result}` of a running binary.
async fn store_count(client: &reqwest::Client, addr: &str, result: &str) -> f64 {
    let text = metrics_of(client, addr).await;
    metric(&text, "refract_variant_store_total", &[("result", result)])
}

/// Transforms a running binary has completed (its `transform` stage's count).
async fn transforms(client: &reqwest::Client, addr: &str) -> f64 {
    let text = metrics_of(client, addr).await;
    metric(
        &text,
        "refract_stage_duration_seconds_count",
        &[("stage", "transform")],
    )
}

async fn wait_for(client: &reqwest::Client, addr: &str, result: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store_count(client, addr, result).await < at_least {
        assert!(
            Instant::now() < deadline,
            "{result} never reached {at_least} on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_binaries_share_a_garage_bucket_and_survive_its_outage() {
    let mut garage = Garage::start();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("cat.jpg"), quadrants_jpeg(400, 300)).unwrap();
    let (store_url, env) = (format!("s3://{}/variants", garage.bucket), garage.env());
    let serve = || {
        let mut cmd = refract();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
            .args(["--root", root.path().to_str().unwrap()])
            .args(["--variant-store", &store_url])
            .envs(env.clone())
            .stdout(std::process::Stdio::null());
        spawn_command(cmd)
    };
    let (mut one, addr1, startup) = serve();
    assert!(startup
        .join("\n")
        .contains("variant_store=s3://originals/variants/"));
    let (mut two, addr2, _) = serve();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let get = |addr: &str, query: &str| {
        let url = format!("http://{addr}/cat.jpg?{query}");
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", header(&r, "x-refract-error"));
            (header(&r, "x-refract-cache"), header(&r, "etag"))
        }
    };
    let (cache, etag) = get(&addr1, "w=80&fm=webp").await;
    assert_eq!(cache, "miss");
    wait_for(&client, &addr1, "written", 1.0).await;
    let objects = garage.list("variants/v1").await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(objects[0].starts_with(&format!("variants/v1/{}/", purge_tag("cat.jpg"))));
    // The second process renders nothing: its transform stage never ran.
    assert_eq!(get(&addr2, "w=80&fm=webp").await, ("store".into(), etag));
    assert_eq!(transforms(&client, &addr2).await, 0.0);

    // Garage down: still answered (rendered); the failed read and write are counted.
    garage.stop();
    assert_eq!(get(&addr2, "w=90&fm=webp").await.0, "miss");
    assert!(store_count(&client, &addr2, "read_error").await >= 1.0);
    wait_for(&client, &addr2, "write_error", 1.0).await;

    // Back up: writes resume.
    garage.restart();
    let written = store_count(&client, &addr2, "written").await;
    assert_eq!(get(&addr2, "w=100&fm=webp").await.0, "miss");
    wait_for(&client, &addr2, "written", written + 1.0).await;
    assert_eq!(get(&addr1, "w=100&fm=webp").await.0, "store");

    // A restarted process serves what either stored, rendering nothing.
    let _ = (one.kill(), one.wait());
    let (mut again, addr3, _) = serve();
    assert_eq!(get(&addr3, "w=80&fm=webp").await.0, "store");
    assert_eq!(get(&addr3, "w=100&fm=webp").await.0, "store");
    assert_eq!(transforms(&client, &addr3).await, 0.0);
    let _ = (two.kill(), again.kill());
    let _ = (two.wait(), again.wait());
}

#[tokio::test]
async fn kill_9_during_write_behind_leaves_nothing_partial() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big.jpg"), gradient_jpeg(1600, 1200)).unwrap();
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
        .args(["--root", root.path().to_str().unwrap()])
        .args([
            "--variant-store",
            &format!("file://{}", store.path().display()),
        ])
        .stdout(std::process::Stdio::null());
    let (mut child, addr, _) = spawn_command(cmd);
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..24)
        .map(|i| {
            let url = format!("http://{addr}/big.jpg?w={}&fm=png", 800 + i * 20);
            let client = client.clone();
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    // Kill as soon as the first answers arrive: writes are in flight.
    let mut answered = 0;
    for r in requests {
        if matches!(r.await.unwrap(), Ok(s) if s == 200) {
            answered += 1;
        }
        if answered == 4 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answered >= 4);
    check_objects(store.path());
    // A new process sweeps what the killed one was writing.
    refract::store::file::FileBackend::new(store.path()).unwrap();
    let mut stack = vec![store.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            assert!(!entry.file_name().to_string_lossy().starts_with(".tmp-"));
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}
