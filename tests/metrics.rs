//! Prometheus metrics: the exposition passes `promtool check metrics`, and the counters add up
//! to what was actually served.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::fixtures::quadrants_jpeg;
use crate::support::{corpus, free_port, header, metric, spawn_refract_logged, TestServer};

async fn scrape(s: &TestServer) -> String {
    let r = s.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn the_exposition_passes_promtool() {
    let s = TestServer::start(|_| {}).await;
    s.put("cat.jpg", &quadrants_jpeg(100, 100));
    for url in [
        "/cat.jpg?w=10",
        "/cat.jpg?w=10",
        "/nope.jpg",
        "/cat.jpg?w=0",
    ] {
        s.get(url).await;
    }
    let text = scrape(&s).await;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is needed; make test installs it");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool:\n{report}"
    );
    for name in [
        "refract_requests_total",
        "refract_request_duration_seconds_bucket",
        "refract_stage_duration_seconds_bucket",
        "refract_cache_requests_total",
        "refract_cache_bytes",
        "refract_cache_entries",
        "refract_cache_evictions_total",
        "refract_response_bytes_total",
        "refract_source_bytes_total",
        "refract_transforms_in_flight",
        "refract_queue_depth",
        "refract_errors_total",
        "refract_vips_memory_bytes",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn counters_add_up_to_what_was_served() {
    let s = TestServer::start(|_| {}).await;
    s.put("cat.jpg", &quadrants_jpeg(300, 200));
    let before = scrape(&s).await;
    let requests = |t: &str| metric(t, "refract_requests_total", &[]);

    let mut body_bytes = 0usize;
    let mut hits = 0;
    let mut misses = 0;
    for url in [
        "/cat.jpg?w=100",
        "/cat.jpg?w=100",
        "/cat.jpg?w=120&fm=webp",
        "/cat.jpg?w=100",
        "/cat.jpg?w=120&fm=webp",
    ] {
        let r = s.get(url).await;
        match header(&r, "x-refract-cache").as_str() {
            "hit" => hits += 1,
            "miss" => misses += 1,
            other => panic!("{other}"),
        }
        body_bytes += r.bytes().await.unwrap().len();
    }
    assert_eq!(s.get("/missing.jpg").await.status(), 404);
    assert_eq!(s.get("/cat.jpg?mask=https://x/m.png").await.status(), 400);

    let after = scrape(&s).await;
    assert_eq!(requests(&after) - requests(&before), 7.0);
    assert_eq!(
        metric(&after, "refract_requests_total", &[("status", "404")]),
        1.0
    );
    assert_eq!(
        metric(&after, "refract_requests_total", &[("status", "400")]),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "refract_requests_total",
            &[("status", "200"), ("format", "webp")]
        ),
        2.0
    );
    assert_eq!(
        metric(&after, "refract_errors_total", &[("code", "not_found")]),
        1.0
    );
    assert_eq!(
        metric(&after, "refract_errors_total", &[("code", "bad_param")]),
        1.0
    );
    assert_eq!(
        metric(&after, "refract_cache_requests_total", &[("result", "hit")]),
        f64::from(hits)
    );
    // The 404 also went through the cache (a miss that failed).
    assert_eq!(
        metric(
            &after,
            "refract_cache_requests_total",
            &[("result", "miss")]
        ),
        f64::from(misses + 1)
    );
    assert_eq!(
        metric(&after, "refract_response_bytes_total", &[]),
        body_bytes as f64
    );
    let original = std::fs::metadata(s.root.join("cat.jpg")).unwrap().len();
    assert_eq!(
        metric(&after, "refract_source_bytes_total", &[]),
        original as f64,
        "two misses, one fetch: the second rendered from the originals cache"
    );
    assert_eq!(
        metric(
            &after,
            "refract_originals_cache_total",
            &[("result", "hit")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "refract_source_fetches_total",
            &[("source", "file"), ("result", "ok")]
        ),
        1.0
    );
    for stage in ["queue", "transform", "encode"] {
        let count = metric(
            &after,
            "refract_stage_duration_seconds_count",
            &[("stage", stage)],
        );
        assert!(count >= 2.0, "{stage}: {count}");
    }
    assert!(metric(&after, "refract_cache_entries", &[]) >= 2.0);
    assert_eq!(metric(&after, "refract_queue_depth", &[]), 0.0);
    assert_eq!(metric(&after, "refract_transforms_in_flight", &[]), 0.0);
}

#[tokio::test]
async fn metrics_can_move_off_the_public_port() {
    let (mut child, addr, startup) = spawn_refract_logged(
        &corpus().join("photos"),
        &["--metrics-listen", "127.0.0.1:0"],
    );
    let metrics_addr = startup
        .iter()
        .find_map(|l| l.split("metrics_listen=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("metrics address logged")
        .to_owned();
    let client = reqwest::Client::new();
    let public = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "not on the public port");
    let r = client
        .get(format!("http://{addr}/pillow-hopper.jpg?w=20"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, "refract_requests_total", &[("status", "200")]),
        1.0
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn analytics_ranks_the_most_requested_original_first() {
    let s = TestServer::start(|c| c.admin_token.0 = vec!["let-me-in".into()]).await;
    s.put("a.jpg", &quadrants_jpeg(300, 200));
    s.put("b.jpg", &quadrants_jpeg(200, 200));
    let mut served = 0;
    for url in [
        "/a.jpg?w=100",
        "/b.jpg?w=100&dpr=2&fm=webp",
        "/a.jpg?w=100",
        "/a.jpg?w=100",
    ] {
        served += s.get(url).await.bytes().await.unwrap().len();
    }
    assert_eq!(s.get("/analytics").await.status(), 401);
    let r = s
        .get_with("/analytics", &[("authorization", "Bearer wrong")])
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .get_with("/analytics", &[("authorization", "Bearer let-me-in")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let json = r.text().await.unwrap();
    let a_original = std::fs::metadata(s.root.join("a.jpg")).unwrap().len();
    let b_original = std::fs::metadata(s.root.join("b.jpg")).unwrap().len();
    assert!(
        json.starts_with(r#"{"top":[{"key":"a.jpg","requests":3,"#),
        "{json}"
    );
    assert!(json.contains(r#"{"key":"b.jpg","requests":1,"#), "{json}");
    assert!(
        json.contains(&format!(r#""bytes_served":{served}"#)),
        "{json}"
    );
    assert!(
        json.contains(&format!(
            r#""bytes_original":{}"#,
            3 * a_original + b_original
        )),
        "{json}"
    );
    assert!(json.contains(r#""webp":{"requests":1,"#), "{json}");
    assert!(json.contains(r#""dpr":{"1":3,"2":1}"#), "{json}");
    assert!(json.contains(r#""<=320":4"#), "{json}");
    assert!(json.contains(r#""cache_hit_ratio":0.5"#), "{json}");
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_origin() {
    // With a variant store, so its series exist for the dashboard's queries.
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let s = TestServer::start(move |c| c.variant_store = Some(url)).await;
    s.put("cat.jpg", &quadrants_jpeg(100, 100));
    for _ in 0..3 {
        assert_eq!(s.get("/cat.jpg?w=20").await.status(), 200);
    }
    // An error and a rejection, so every labelled series the dashboard reads exists.
    assert_eq!(s.get("/nope.jpg").await.status(), 404);
    let long = format!("/cat.jpg?w=20&x={}", "y".repeat(10_000));
    assert_eq!(s.get(&long).await.status(), 414);
    // The shipped example config, pointed at this server and scraping every second.
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/prometheus.yml"),
    )
    .unwrap();
    let target = s.base.trim_start_matches("http://");
    let config = example
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace(
            "          - refract-1.internal:9464\n          - refract-2.internal:9464",
            &format!("          - {target}"),
        );
    assert!(config.contains(target), "example config changed shape");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package) is needed; make test installs it");

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=sum(refract_requests_total%7Bstatus%3D%22200%22%7D)"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let answer = loop {
        if let Ok(r) = s.client.get(&query).send().await {
            let body = r.text().await.unwrap_or_default();
            if body.contains(r#""status":"success""#) && body.contains(r#""value":["#) {
                break body;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus never returned refract_requests_total"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert!(answer.contains(r#","3"]"#), "{answer}");

    // Every query of the shipped Grafana dashboard is valid PromQL over metrics we export.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/refract.json"),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"expr\": \""))
        .map(|e| {
            e.trim_end_matches(',')
                .trim_end_matches('"')
                .replace("\\\"", "\"")
        })
        .collect();
    assert!(exprs.len() >= 15, "dashboard has {} queries", exprs.len());
    for expr in &exprs {
        let url = format!("http://127.0.0.1:{port}/api/v1/query");
        let body = s
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", expr)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains(r#""status":"success""#), "{expr}: {body}");
        for name in expr.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if name.starts_with("refract_") || name.starts_with("process_") {
                let metric = name.trim_end_matches("_bucket");
                assert!(
                    answer_has_metric(&scrape(&s).await, metric),
                    "dashboard uses {metric}, which /metrics does not export"
                );
            }
        }
    }
    prometheus.kill().unwrap();
    prometheus.wait().unwrap();
}

fn answer_has_metric(exposition: &str, name: &str) -> bool {
    exposition
        .lines()
        .any(|l| l.starts_with(&format!("# TYPE {name} ")))
}

/// Run the binary, make `urls` requests, stop it, and return its stdout (the access log).
async fn access_log_of(extra: &[&str], urls: &[&str]) -> String {
    use std::io::Read;
    let (mut child, addr, _) =
        crate::support::spawn_refract_with(&corpus().join("photos"), extra, Stdio::piped());
    for url in urls {
        reqwest::get(format!("http://{addr}{url}")).await.unwrap();
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    out
}

#[tokio::test]
async fn the_access_log_has_one_json_line_per_request() {
    let urls = [
        "/pillow-hopper.jpg?w=20",
        "/pillow-hopper.jpg?w=20",
        "/nope.jpg?w=1",
    ];
    let log = access_log_of(&[], &urls).await;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    for line in &lines {
        assert!(
            line.starts_with("{\"ts\":\"20") && line.ends_with('}'),
            "{line}"
        );
        for field in [
            "\"method\":\"GET\"",
            "\"duration_ms\":",
            "\"source\":\"file\"",
            "\"bytes\":",
        ] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
    }
    assert!(lines[0].contains("\"path\":\"/pillow-hopper.jpg?w=20\",\"status\":200"));
    assert!(lines[0].contains("\"cache\":\"miss\",\"format\":\"jpg\""));
    assert!(lines[1].contains("\"cache\":\"hit\""));
    assert!(lines[2].contains("\"status\":404") && lines[2].contains("\"format\":null"));
    // A 4xx with a body logs the body's size, as any answer does.
    let error = refract::Error::NotFound;
    let body = format!("{}: {}\n", error.code(), error.public_message());
    let logged: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(logged["bytes"], body.len() as u64, "{}", lines[2]);

    let text = access_log_of(&["--log-format", "text"], &urls[..1]).await;
    assert!(text.contains(" GET /pillow-hopper.jpg?w=20 200 "), "{text}");
    let quiet = access_log_of(&["--access-log", "false"], &urls[..1]).await;
    assert!(quiet.is_empty(), "{quiet}");
}
