//! Hits answered from a ready response (src/server/hot.rs) by Refract's own HTTP/1.1 loop
//! (src/server/conn.rs): the same bytes and headers routing gives, counted the same, never
//! stale after a purge, and a connection that mixes hits, misses, pipelining and uploads.

use std::time::Duration;

use crate::conformance::{get, Raw, Strict};
use crate::support::fixtures::quadrants_jpeg;
use crate::support::{metric, TestServer};

/// Responses are read off raw connections by the conformance suite's strict reader.
type Answer = Strict;

/// Headers that must be the same on a routed hit and a ready one (all but `Date`).
fn comparable(a: &Answer) -> Vec<(String, String)> {
    let mut h: Vec<_> = a
        .headers
        .iter()
        .filter(|(n, _)| n != "date")
        .cloned()
        .collect();
    h.sort();
    h
}

#[tokio::test]
async fn a_ready_hit_is_the_routed_hit_byte_for_byte_and_is_counted() {
    // Final renders only: a first render (`--refine`, the default, for AVIF and WebP) is routed
    // until it is refined, so that its serves are counted (tests/refine.rs).
    let s = TestServer::start(|c| c.refine = refract::config::Refine::Off).await;
    s.put("cat.jpg", &quadrants_jpeg(64, 48));
    let path = "/cat.jpg?w=32&fm=auto";
    let chrome = "Accept: image/avif,image/webp,*/*\r\n";
    let (first, routed, ready, legacy, hits) = tokio::task::spawn_blocking({
        let (base, site) = (s.base.clone(), s.site.clone());
        move || {
            let mut c = Raw::open(&base);
            c.send(&get(path, chrome));
            let first = c.read(false).unwrap(); // miss: routed, leaves a ready response
                                                // The same request through a HEAD-then-GET on a fresh connection is routed (HEAD
                                                // is never ready) and shows the routed headers of a hit.
            let mut c2 = Raw::open(&base);
            c2.send(&format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n{chrome}\r\n").into_bytes());
            let routed = c2.read(true).unwrap();
            let before = site.hot.len();
            c.send(&get(path, chrome));
            let ready = c.read(false).unwrap();
            // Another Accept class is its own entry: a different format, never the AVIF.
            c.send(&get(path, ""));
            let legacy = c.read(false).unwrap();
            c.send(&get(path, ""));
            let _ = c.read(false).unwrap();
            (first, routed, ready, legacy, before)
        }
    })
    .await
    .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-refract-cache"), Some("miss"));
    assert!(hits >= 1, "the miss left a ready response");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.header("x-refract-cache"), Some("hit"));
    assert_eq!(ready.body, first.body, "same bytes");
    assert_eq!(ready.header("content-type"), Some("image/avif"));
    // Routed HEAD and ready GET carry the same headers (Date aside).
    assert_eq!(comparable(&ready), comparable(&routed));
    let date = ready.header("date").unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert_eq!(legacy.header("content-type"), Some("image/jpeg"));
    assert_ne!(legacy.body, ready.body);

    // Counted as routing counts a hit: metrics and analytics.
    let text = s.app.metrics_text().await;
    let hit_count = metric(&text, "refract_cache_requests_total", &[("result", "hit")]);
    assert!(hit_count >= 2.0, "{hit_count}");
    assert!(
        metric(
            &text,
            "refract_requests_total",
            &[("status", "200"), ("format", "avif")]
        ) >= 2.0
    );
    assert!(s.app.observe().analytics.to_json().contains("\"cat.jpg\""));
}

#[tokio::test]
async fn pipelined_requests_mixed_with_misses_heads_and_an_upload_answer_in_order() {
    let s = crate::uploads::upload_server(5_000_000).await;
    s.put("cat.jpg", &quadrants_jpeg(64, 48));
    let token = crate::uploads::token();
    let upload = quadrants_jpeg(20, 20);
    let answers = tokio::task::spawn_blocking({
        let base = s.base.clone();
        move || {
            let mut c = Raw::open(&base);
            // Warm one variant, then send a burst in one write: ready hit, a 404, a HEAD, a
            // new miss, the ready hit again.
            c.send(&get("/cat.jpg?w=16", ""));
            let mut answers = vec![c.read(false).unwrap()];
            let mut burst = Vec::new();
            for (method, path) in [
                ("GET", "/cat.jpg?w=16"),
                ("GET", "/nope.jpg?w=16"),
                ("HEAD", "/cat.jpg?w=16"),
                ("GET", "/cat.jpg?w=8"),
                ("GET", "/cat.jpg?w=16"),
            ] {
                burst.extend_from_slice(
                    format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
                );
            }
            c.send(&burst);
            for head in [false, false, true, false, false] {
                answers.push(c.read(head).unwrap());
            }
            // An upload on the same connection (hyper takes it over), then hits again.
            let mut post = format!(
                "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                upload.len()
            )
            .into_bytes();
            post.extend_from_slice(&upload);
            c.send(&post);
            answers.push(c.read(false).unwrap());
            c.send(&get("/cat.jpg?w=16", ""));
            answers.push(c.read(false).unwrap());
            answers
        }
    })
    .await
    .unwrap();
    let got: Vec<(u16, Option<&str>)> = answers
        .iter()
        .map(|a| (a.status, a.header("x-refract-cache")))
        .collect();
    assert_eq!(
        got,
        vec![
            (200, Some("miss")),
            (200, Some("hit")),
            (404, None),
            (200, Some("hit")),
            (200, Some("miss")),
            (200, Some("hit")),
            (201, None),
            (200, Some("hit")),
        ]
    );
    assert_eq!(answers[1].body, answers[0].body);
    assert!(answers[3].body.is_empty(), "HEAD has no body");
    assert_eq!(
        answers[3].header("content-length"),
        Some(answers[0].body.len().to_string().as_str())
    );
    assert_eq!(answers[7].body, answers[0].body);
}

#[tokio::test]
async fn a_purged_variant_is_never_served_from_a_ready_response() {
    let token = "admin-token-for-tests";
    let s = TestServer::start(|c| c.admin_token.0 = vec![token.into()]).await;
    s.put("cat.jpg", &quadrants_jpeg(64, 48));
    let url = "/cat.jpg?w=24";
    let first = s.get(url).await;
    assert_eq!(first.headers()["x-refract-cache"], "miss");
    let old = first.bytes().await.unwrap();
    for _ in 0..3 {
        assert_eq!(s.get(url).await.headers()["x-refract-cache"], "hit");
    }
    assert!(!s.site.hot.is_empty());
    // After a purge the next answer is a new render, not the ready hit.
    let purge = s
        .client
        .post(format!("{}/admin/purge", s.base))
        .bearer_auth(token)
        .body(r#"{"path": "/cat.jpg"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), 200);
    let after = s.get(url).await;
    assert_eq!(after.headers()["x-refract-cache"], "miss");
    assert_eq!(after.bytes().await.unwrap(), old, "the same render again");
    assert_eq!(s.get(url).await.headers()["x-refract-cache"], "hit");
}

#[tokio::test]
async fn required_headers_are_checked_on_ready_hits_too() {
    let s = TestServer::start(|c| {
        c.require_headers.0 = vec![("x-origin-verify".into(), "cdn-secret".into())]
    })
    .await;
    s.put("cat.jpg", &quadrants_jpeg(40, 40));
    let url = "/cat.jpg?w=10";
    let good = [("x-origin-verify", "cdn-secret")];
    assert_eq!(s.get_with(url, &good).await.status(), 200);
    let hit = s.get_with(url, &good).await;
    assert_eq!(hit.headers()["x-refract-cache"], "hit");
    for bad in [vec![], vec![("x-origin-verify", "cdn-secreT")]] {
        let r = s.get_with(url, &bad).await;
        assert_eq!(r.status(), 403, "{bad:?}");
    }
}

#[tokio::test]
async fn a_client_that_closes_before_its_answer_is_recorded_as_gone_and_leaves_the_queue() {
    // One transform slot, held by a slow render (a large AVIF); a second client queues behind
    // it and hangs up.
    let s = TestServer::start_at(&crate::support::corpus().join("photos"), |c| {
        c.max_concurrency = 1;
    })
    .await;
    let slow = "/mate-Elephants_3840x2160.jpg?w=3800&fm=avif&q=90";
    let holder = tokio::spawn({
        let (client, url) = (s.client.clone(), format!("{}{slow}", s.base));
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = s.base.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Raw::open(&base);
        c.send(&get("/mate-Elephants_3840x2160.jpg?w=3000&fm=avif", ""));
        std::thread::sleep(Duration::from_millis(300));
        // Dropped: the connection closes with the request unanswered.
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = s.app.metrics_text().await;
        let gone = metric(
            &text,
            "refract_requests_total",
            &[("status", "499"), ("format", "none")],
        );
        if gone >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned request was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.app.renderer().queue_depth(), 0, "it left the queue");
    assert_eq!(holder.await.unwrap().unwrap(), 200);
}
