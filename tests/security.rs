//! Signed URLs, request-size caps, source limits, the transform deadline, load shedding and slow
//! clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use refract::request::signature::sign_url;

use crate::support::fixtures::{gradient_jpeg, quadrants_jpeg};
use crate::support::{corpus, header, TestServer};

const KEY_OLD: &str = "old-signing-key-0123456789";
const KEY_NEW: &str = "new-signing-key-0123456789";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn signed_server() -> TestServer {
    let s = TestServer::start(|c| c.sign_keys.0 = vec![KEY_NEW.into(), KEY_OLD.into()]).await;
    s.put("cat.jpg", &quadrants_jpeg(200, 100));
    s
}

#[tokio::test]
async fn signed_urls_are_required_and_checked() {
    let s = signed_server().await;
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));

    let r = s.get("/cat.jpg?w=50").await;
    assert_eq!(code(&r), (403, "signature_missing".into()));
    let good = sign_url(KEY_NEW.as_bytes(), "/cat.jpg?w=50", None);
    assert_eq!(s.get(&good).await.status(), 200);
    // Rotation: the previous key still verifies.
    let old = sign_url(KEY_OLD.as_bytes(), "/cat.jpg?w=60", None);
    assert_eq!(s.get(&old).await.status(), 200);
    // Tampered parameters, an unknown key, a garbled signature.
    let tampered = good.replace("w=50", "w=5000");
    assert_eq!(
        code(&s.get(&tampered).await),
        (403, "signature_invalid".into())
    );
    let stranger = sign_url(b"some-other-key-0123456789", "/cat.jpg?w=50", None);
    assert_eq!(
        code(&s.get(&stranger).await),
        (403, "signature_invalid".into())
    );
    assert_eq!(code(&s.get("/cat.jpg?w=50&s=xyz").await).0, 403);
    // Health does not need a signature.
    assert_eq!(s.get("/healthz").await.status(), 200);
    assert_eq!(s.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn expiring_urls_stop_working_and_never_outlive_their_expiry_in_caches() {
    let s = signed_server().await;
    let soon = now() + 120;
    let url = sign_url(KEY_NEW.as_bytes(), "/cat.jpg?w=40", Some(soon));
    let r = s.get(&url).await;
    assert_eq!(r.status(), 200);
    let max_age: u64 = header(&r, "cache-control")
        .trim_start_matches("public, max-age=")
        .parse()
        .unwrap();
    assert!((100..=120).contains(&max_age), "max-age {max_age}");

    let past = sign_url(KEY_NEW.as_bytes(), "/cat.jpg?w=40", Some(now() - 1));
    let r = s.get(&past).await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (410, "expired".into())
    );
    // Moving the expiry breaks the signature.
    let moved = url.replace(
        &format!("expires={soon}"),
        &format!("expires={}", soon + 9999),
    );
    assert_eq!(s.get(&moved).await.status(), 403);
}

/// The Python and JavaScript examples sign URLs the server accepts.
#[tokio::test]
async fn example_signers_in_other_languages_agree() {
    let s = signed_server().await;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (program, script) in [("python3", "sign_url.py"), ("node", "sign-url.mjs")] {
        for expires in [None, Some(now() + 600)] {
            let mut cmd = Command::new(program);
            cmd.arg(examples.join(script))
                .arg(KEY_OLD)
                .arg("/cat.jpg?w=30&fm=webp");
            if let Some(t) = expires {
                cmd.arg(t.to_string());
            }
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("{program} is needed: {e}"));
            assert!(out.status.success(), "{program}: {out:?}");
            let url = String::from_utf8(out.stdout).unwrap();
            let url = url.trim();
            assert_eq!(
                url,
                sign_url(KEY_OLD.as_bytes(), "/cat.jpg?w=30&fm=webp", expires)
            );
            assert_eq!(s.get(url).await.status(), 200, "{program}: {url}");
        }
    }
}

/// Send raw bytes and return the status line's code (or "" if the server just closed).
fn raw_status(base: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1).unwrap_or("").to_owned()
}

#[tokio::test]
async fn request_size_caps() {
    let s = TestServer::start(|c| {
        c.max_url_bytes = 1024;
        c.max_header_bytes = 8192;
    })
    .await;
    s.put("cat.jpg", &quadrants_jpeg(40, 40));
    // Long URL: 414.
    let r = s
        .get(&format!("/cat.jpg?w=10&pad={}", "x".repeat(2000)))
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (414, "uri_too_long".into())
    );
    // Too many parameters: 400.
    let many: Vec<String> = (0..80).map(|i| format!("p{i}=1")).collect();
    let r = s.get(&format!("/cat.jpg?{}", many.join("&"))).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("query"));
    // Oversized request head: 431 from the HTTP layer.
    let base = s.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        let big = format!(
            "GET /cat.jpg HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "y".repeat(20_000)
        );
        raw_status(&base, big.as_bytes())
    })
    .await
    .unwrap();
    assert_eq!(status, "431");
    // The server is fine afterwards.
    assert_eq!(s.get("/cat.jpg?w=10").await.status(), 200);
}

#[tokio::test]
async fn frame_and_pixel_limits_count_every_frame() {
    let s = TestServer::start_at(&corpus(), |c| c.max_pixels = 2_000_000).await;
    // 1024 frames of 1x1: refused on frame count before any decode.
    let r = s.get("/hostile/bombs/weserv-1024-pages.gif?w=10").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (422, "too_many_frames".into())
    );
    let r = s
        .get("/animated/thumbor-Rotating_earth_large.gif?w=10")
        .await;
    assert_eq!(
        header(&r, "x-refract-error"),
        "too_many_pixels",
        "frames × size counted"
    );
    let s = TestServer::start_at(&corpus(), |c| c.max_frames = 2000).await;
    assert_eq!(
        s.get("/hostile/bombs/weserv-1024-pages.gif?w=10")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_decode_past_the_deadline_is_abandoned_and_frees_its_slot() {
    let s = TestServer::start_at(&corpus().join("photos"), |c| {
        c.transform_timeout = Duration::from_millis(1);
        c.max_concurrency = 1;
    })
    .await;
    let started = Instant::now();
    let r = s.get("/mate-Elephants_3840x2160.jpg?w=3800&fm=png").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (503, "timeout".into())
    );
    assert_eq!(header(&r, "retry-after"), "5");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The only transform slot was given back: a normal server on the same files still works,
    // and this one answers its next request (small enough to finish before any tile check).
    let ok = TestServer::start_at(&corpus().join("photos"), |c| c.max_concurrency = 1).await;
    assert_eq!(
        ok.get("/mate-Elephants_3840x2160.jpg?w=3800&fm=png")
            .await
            .status(),
        200
    );
    let tiny = s.get("/pillow-hopper.jpg?w=8").await;
    assert!(
        matches!(tiny.status().as_u16(), 200 | 503),
        "{}",
        tiny.status()
    );
    assert_eq!(s.app.renderer().queue_depth(), 0);
}

#[tokio::test]
async fn overload_is_shed_with_retry_after_and_hits_are_still_served() {
    let s = TestServer::start(|c| {
        c.max_concurrency = 1;
        c.max_queue = 2;
    })
    .await;
    s.put("big.jpg", &gradient_jpeg(3000, 2000));
    // A cached variant, to be requested during the flood.
    assert_eq!(s.get("/big.jpg?w=100").await.status(), 200);

    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let client = s.client.clone();
            let url = format!("{}/big.jpg?w={}&fm=png", s.base, 2000 + i);
            tokio::spawn(async move {
                let r = client.get(url).send().await.unwrap();
                (r.status().as_u16(), header(&r, "retry-after"))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let hit = s.get("/big.jpg?w=100").await;
    assert_eq!(header(&hit, "x-refract-cache"), "hit");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a hit waited behind transforms"
    );

    let mut ok = 0;
    let mut shed = 0;
    for task in tasks {
        let (status, retry_after) = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("nothing hangs")
            .unwrap();
        match status {
            200 => ok += 1,
            503 => {
                assert_eq!(retry_after, "1");
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed >= 1, "nothing was shed ({ok} ok)");
    assert!(
        ok >= 3,
        "one running + two queued should succeed ({ok} ok, {shed} shed)"
    );
    assert_eq!(s.app.renderer().queue_depth(), 0);
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_starve_others() {
    let s = TestServer::start(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.max_connections = 64;
    })
    .await;
    s.put("cat.jpg", &quadrants_jpeg(40, 40));
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Twenty clients that send half a request head and stall.
    let slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /cat.jpg HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    assert_eq!(s.get("/cat.jpg?w=10").await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    // Each slow connection is answered (408) or closed once the header timeout passes.
    let closed = tokio::task::spawn_blocking(move || {
        slow.into_iter()
            .map(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = Vec::new();
                c.read_to_end(&mut buf).is_ok()
            })
            .filter(|closed| *closed)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 20, "every stalled client was disconnected");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_connection_limit_closes_extra_connections_until_slots_free_up() {
    let s = TestServer::start(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.max_connections = 4;
    })
    .await;
    s.put("cat.jpg", &quadrants_jpeg(40, 40));
    let addr = s.base.trim_start_matches("http://").to_owned();
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /cat.jpg HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth connection is closed at once, without an answer.
    let base = s.base.clone();
    let fifth = tokio::task::spawn_blocking(move || {
        raw_status(&base, b"GET /cat.jpg?w=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .unwrap();
    assert_eq!(fifth, "", "over the limit: closed without a response");
    // Once the header timeout cuts the stalled ones, real clients get through again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.get("/cat.jpg?w=5").await.status(), 200);
    drop(stalled);
}

#[tokio::test]
async fn require_header_keeps_clients_from_bypassing_the_cdn() {
    let s = TestServer::start(|c| {
        c.require_headers.0 = vec![("x-origin-verify".into(), "cdn-secret-123".into())]
    })
    .await;
    s.put("cat.jpg", &quadrants_jpeg(40, 40));
    let r = s.get("/cat.jpg?w=10").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (403, "origin_header".into())
    );
    let r = s
        .get_with("/cat.jpg?w=10", &[("x-origin-verify", "cdn-secret-12")])
        .await;
    assert_eq!(r.status(), 403);
    let r = s
        .get_with("/cat.jpg?w=10", &[("X-Origin-Verify", "cdn-secret-123")])
        .await;
    assert_eq!(r.status(), 200);
    // Probes and scrapes do not carry the CDN's secret.
    assert_eq!(s.get("/healthz").await.status(), 200);
    assert_eq!(s.get("/metrics").await.status(), 200);
}
