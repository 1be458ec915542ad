//! The `refract` binary itself: flags and environment, `--check-config`, and graceful shutdown on
//! SIGTERM with a request in flight.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{corpus, refract, spawn_refract};

#[test]
fn check_config_validates_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = refract()
        .args(["serve", "--check-config", "--cache-size", "64MiB"])
        .env("REFRACT_ROOT", dir.path())
        .env("REFRACT_MAX_SOURCE_BYTES", "10MB")
        .env("REFRACT_CACHE_TTL", "5m")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration ok"));
    assert!(stdout.contains("cache_size: 67108864"), "{stdout}");
    assert!(stdout.contains("max_source_bytes: 10000000"), "{stdout}");
    assert!(stdout.contains("cache_ttl: 300s"), "{stdout}");

    for (args, complaint) in [
        (vec!["serve", "--check-config"], "--root"),
        (
            vec!["serve", "--check-config", "--root", "/no/such/dir"],
            "not a directory",
        ),
        (
            vec![
                "serve",
                "--check-config",
                "--root",
                ".",
                "--cache-size",
                "lots",
            ],
            "cache-size",
        ),
        (
            vec![
                "serve",
                "--check-config",
                "--root",
                ".",
                "--cache-ttl",
                "soon",
            ],
            "cache-ttl",
        ),
        // A --models directory without the runtime: named in the complaint.
        (
            vec![
                "serve",
                "--check-config",
                "--root",
                ".",
                "--models",
                "/nonexistent-models",
            ],
            "/nonexistent-models/libonnxruntime.so",
        ),
    ] {
        let out = refract().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(complaint), "{args:?}: {stderr}");
    }
    // A corrupt model file beside a sound runtime: refused, the file named.
    let models = tempfile::tempdir().unwrap();
    let builtin = std::path::Path::new(refract::transform::models::BUILTIN_DIR);
    std::os::unix::fs::symlink(
        builtin.join("libonnxruntime.so"),
        models.path().join("libonnxruntime.so"),
    )
    .unwrap();
    std::fs::write(models.path().join("upscale.onnx"), b"\x08\x07 not a model").unwrap();
    let out = refract()
        .args(["serve", "--check-config", "--root", ".", "--models"])
        .arg(models.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("upscale.onnx: not an ONNX model"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let (mut child, addr) = spawn_refract(&corpus().join("photos"), &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A slow miss: a large AVIF from the 8 MP photo.
    let url = format!("http://{addr}/mate-Elephants_3840x2160.jpg?w=3000&fm=avif&q=90");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().len())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();

    let (status, len) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the in-flight request completes");
    assert!(len > 10_000);

    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "clean exit after drain: {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[tokio::test]
async fn sigterm_does_not_wait_forever_for_a_runaway_transform() {
    let (mut child, addr) = spawn_refract(
        &corpus().join("photos"),
        &["--shutdown-timeout", "1s", "--transform-timeout", "120s"],
    );
    // A 36 MP AVIF: about half a minute of encoder time that no deadline can interrupt.
    let url = format!("http://{addr}/mate-Elephants_3840x2160.jpg?w=8000&fm=avif&q=95");
    let in_flight = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(exit.is_some(), "still running 15 s after SIGTERM");
    assert!(took < Duration::from_secs(6), "exit took {took:?}");
    // The abandoned request got no image.
    assert!(!matches!(in_flight.await.unwrap(), Ok(s) if s == 200));
}
