//! A fleet that keeps serving through faults, under load. All on loopback: two `refract serve`
//! replicas over one Garage (originals and the variant store) and one RabbitMQ (upload events,
//! purge broadcasts), behind Varnish running the project's VCL over both replicas. A load
//! generator drives hits, misses (new variants), uploads and purges through Varnish while, in
//! turn, one replica is killed (`kill -9`) and restarted, Garage is stopped for 10 s, and RabbitMQ
//! is stopped for 10 s.
//!
//! Asserted: every GET through Varnish answered 200 (retried on the other replica or served from
//! cache; none 5xx, none cut off); every acknowledged upload is in the bucket, byte for byte (read
//! by curl), and its `image.uploaded` event reaches a consumer (pika) once the broker is back, with
//! one message id per upload (a redelivery carries the same id); every variant in the store is
//! whole (its record parsed here, its image decoded); after the faults, one purge reaches both
//! replicas' memory, the store and Varnish.
//!
//! Printed: requests and errors by kind, GET p99 in each phase, and how long each fault took to
//! recover from. `REFRACT_FAULT_ROUNDS=N` repeats the three faults N times and
//! `REFRACT_FAULT_SETTLE=SECS` sets the calm between them (`make bench-faults` soaks with both).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::edge::Varnish;
use crate::support::fixtures::gradient_jpeg;
use crate::support::garage::Garage;
use crate::support::images::decode;
use crate::support::rabbitmq::Rabbit;
use crate::support::{free_port, metric, refract, upload_token};

const SECRET: &str = "fleet-under-faults-secret-0123456789abcdef";
const ADMIN: &str = "fleet-under-faults-admin-token";
/// Originals the hits and misses read (uploads are written, never read back through the fleet).
const SEEDS: usize = 6;
/// Where originals live in the bucket (the replicas' `/` mount; uploads land here too).
const ORIGINALS: &str = "o/";
/// The variant store's prefix in the same bucket.
const VARIANTS: &str = "v/";
const CHROME: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
const SAFARI: &str = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";

/// One `refract serve` process on a fixed port, so Varnish finds it again after a restart; its
/// diagnostics go to a log file kept for failure messages.
struct Replica {
    port: u16,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    outbox: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn new(garage: &Garage, rabbit: &Rabbit, logs: &Path, name: &str) -> Replica {
        let port = free_port();
        let outbox = tempfile::tempdir().unwrap();
        let args = [
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--source",
            &format!("/=s3://{}/{ORIGINALS}", garage.bucket),
            "--variant-store",
            &format!("s3://{}/{}", garage.bucket, VARIANTS.trim_end_matches('/')),
            "--upload",
            "--public-url",
            "https://img.example.com",
            "--queue",
            &rabbit.url,
            "--outbox",
            &outbox.path().to_string_lossy(),
            "--access-log",
            "false",
            "--log-level",
            "warn",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let mut env = garage.env();
        env.push(("REFRACT_JWT_SECRET", SECRET.into()));
        env.push(("REFRACT_ADMIN_TOKEN", ADMIN.into()));
        Replica {
            port,
            args,
            env,
            outbox,
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = refract()
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("refract serve starts");
        self.child = Some(child);
    }

    /// `kill -9`: no shutdown, no flush, connections reset.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Wait (at most 60 s) until `/readyz` answers 200.
    async fn ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = client.get(format!("{}/readyz", self.base())).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica on {} never ready:\n{}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Upload events still waiting in this replica's outbox (not yet confirmed by the broker).
    fn pending_events(&self) -> usize {
        std::fs::read_dir(self.outbox.path().join("events"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count()
    }

    async fn metrics(&self, client: &reqwest::Client) -> String {
        let r = client.get(format!("{}/metrics", self.base())).send().await;
        match r {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the load generator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// A URL Varnish holds (unless a purge just dropped it).
    Hit,
    /// A variant never asked for before: rendered by a replica.
    Miss,
    /// `POST /upload`.
    Upload,
    /// `POST /admin/purge` on a replica, then `PURGE` by xkey on Varnish.
    Purge,
}

/// How a request ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    Status(u16),
    /// No (whole) answer: `connect`, `timeout`, `body` (cut off) or `request`.
    Failed(&'static str),
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::Status(s) if (200..300).contains(s))
    }

    fn label(&self) -> String {
        match self {
            Outcome::Status(s) => s.to_string(),
            Outcome::Failed(k) => (*k).to_owned(),
        }
    }
}

fn failure(e: &reqwest::Error) -> Outcome {
    Outcome::Failed(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    })
}

struct Sample {
    kind: Kind,
    /// When it was sent, from the start of the load.
    at: Duration,
    took: Duration,
    outcome: Outcome,
    what: String,
}

/// One upload: the SHA-256 of the bytes sent, and the answer's key when it was 2xx.
struct Sent {
    sha256: String,
    at: Duration,
    outcome: Outcome,
    key: Option<String>,
}

/// The load generator's shared state: where to send, when it started, what happened.
struct Load {
    edge: String,
    client: reqwest::Client,
    start: Instant,
    stop: AtomicBool,
    samples: Mutex<Vec<Sample>>,
    uploads: Mutex<Vec<Sent>>,
}

impl Load {
    fn record(&self, kind: Kind, at: Duration, took: Duration, outcome: Outcome, what: String) {
        self.samples.lock().unwrap().push(Sample {
            kind,
            at,
            took,
            outcome,
            what,
        });
    }

    async fn get(&self, kind: Kind, path: &str, accept: &str) {
        let at = self.start.elapsed();
        let began = Instant::now();
        let sent = self
            .client
            .get(format!("{}{path}", self.edge))
            .header("accept", accept)
            .send()
            .await;
        let outcome = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(body) if status != 200 || !body.is_empty() => Outcome::Status(status),
                    Ok(_) => Outcome::Failed("body"),
                    Err(e) => failure(&e),
                }
            }
            Err(e) => failure(&e),
        };
        self.record(kind, at, began.elapsed(), outcome, path.to_owned());
    }

    async fn upload(&self, body: Vec<u8>) {
        let sha256 = refract::encoding::digest::hex(&Sha256::digest(&body));
        let at = self.start.elapsed();
        let began = Instant::now();
        let sent = self
            .client
            .post(format!("{}/upload", self.edge))
            .header("content-type", "image/jpeg")
            .bearer_auth(upload_token(SECRET))
            .body(body)
            .send()
            .await;
        let (outcome, key) = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(body) => {
                        let answer: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let key = answer["key"].as_str().map(str::to_owned);
                        match key {
                            None if (200..300).contains(&status) => (Outcome::Failed("body"), None),
                            key => (Outcome::Status(status), key),
                        }
                    }
                    Err(e) => (failure(&e), None),
                }
            }
            Err(e) => (failure(&e), None),
        };
        let key = key.filter(|_| outcome.ok());
        self.record(
            Kind::Upload,
            at,
            began.elapsed(),
            outcome.clone(),
            sha256.clone(),
        );
        self.uploads.lock().unwrap().push(Sent {
            sha256,
            at,
            outcome,
            key,
        });
    }

    /// Purge `path` the way a purge job does: `POST /admin/purge` (through Varnish, to a
    /// replica; the store and every replica's memory), then `PURGE` by the answered key on
    /// Varnish. Recorded as one request: its outcome is the first step that failed.
    async fn purge(&self, path: &str) -> Outcome {
        let at = self.start.elapsed();
        let began = Instant::now();
        let admin = self
            .client
            .post(format!("{}/admin/purge", self.edge))
            .bearer_auth(ADMIN)
            .body(serde_json::json!({ "path": path }).to_string())
            .send()
            .await;
        let outcome = match admin {
            Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                Ok(answer) => {
                    let key = answer["purge_key"].as_str().unwrap_or_default().to_owned();
                    let edge = self
                        .client
                        .request(
                            reqwest::Method::from_bytes(b"PURGE").unwrap(),
                            format!("{}/", self.edge),
                        )
                        .header("xkey-purge", key)
                        .send()
                        .await;
                    match edge {
                        Ok(r) => Outcome::Status(r.status().as_u16()),
                        Err(e) => failure(&e),
                    }
                }
                Err(e) => failure(&e),
            },
            Ok(r) => Outcome::Status(r.status().as_u16()),
            Err(e) => failure(&e),
        };
        self.record(
            Kind::Purge,
            at,
            began.elapsed(),
            outcome.clone(),
            path.into(),
        );
        outcome
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

/// The URLs the hit loops ask for (warmed into Varnish before the load), with their Accept.
fn hot_urls() -> Vec<(String, &'static str)> {
    (0..SEEDS)
        .flat_map(|i| {
            [
                (format!("/seed-{i}.jpg?w=320"), "*/*"),
                (format!("/seed-{i}.jpg?w=240&fm=auto"), CHROME),
                (format!("/seed-{i}.jpg?w=240&fm=auto"), SAFARI),
            ]
        })
        .collect()
}

/// `base` with a JPEG comment naming `n` after its SOI marker: still a valid JPEG, and distinct
/// bytes (so a distinct content-addressed upload) for every `n`.
fn unique_jpeg(base: &[u8], n: u64) -> Vec<u8> {
    let text = format!("fleet upload {n}");
    let length = u16::try_from(text.len() + 2).unwrap();
    let mut out = Vec::with_capacity(base.len() + text.len() + 4);
    out.extend_from_slice(&base[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&base[2..]);
    out
}

/// Start the mix: two hit loops, one miss loop (a new width each time, ~8/s), one upload loop
/// (~6/s) and one purge loop (a seed every 2 s).
fn drive(load: &Arc<Load>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let hot = Arc::new(hot_urls());
    for lane in 0..2 {
        let (load, hot) = (load.clone(), hot.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = lane;
            while load.running() {
                let (path, accept) = &hot[n % hot.len()];
                load.get(Kind::Hit, path, accept).await;
                n += 7;
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
        }));
    }
    let l = load.clone();
    tasks.push(tokio::spawn(async move {
        let mut n: u32 = 0;
        while l.running() {
            // Unique per n: widths 64..=863, then the next quality.
            let path = format!(
                "/seed-{}.jpg?w={}&q={}",
                n as usize % SEEDS,
                64 + n % 800,
                60 + n / 800
            );
            l.get(
                Kind::Miss,
                &path,
                if n.is_multiple_of(2) { CHROME } else { "*/*" },
            )
            .await;
            n += 1;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }));
    let l = load.clone();
    tasks.push(tokio::spawn(async move {
        let base = gradient_jpeg(480, 320);
        let mut n = 0;
        while l.running() {
            l.upload(unique_jpeg(&base, n)).await;
            n += 1;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }));
    let l = load.clone();
    tasks.push(tokio::spawn(async move {
        let mut n = 0;
        while l.running() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            l.purge(&format!("/seed-{}.jpg", n % SEEDS)).await;
            n += 1;
        }
    }));
    tasks
}

/// One fault, from its start to its recovery.
struct Phase {
    name: &'static str,
    from: Duration,
    to: Duration,
    /// From the end of the fault (restart, store or broker back) to recovery.
    recovery: Duration,
    recovered_when: &'static str,
}

/// Poll `done` every 100 ms until it holds; how long that took. Fails after `limit`.
async fn until<F, Fut>(what: &str, limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let began = Instant::now();
    while !done().await {
        assert!(began.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    began.elapsed()
}

/// Run `step` on `service` (stopping or starting a process, which blocks) on the blocking pool,
/// so the load generator's tasks keep their threads; the service back.
async fn off_the_runtime<T: Send + 'static>(
    mut service: T,
    step: impl FnOnce(&mut T) + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || {
        step(&mut service);
        service
    })
    .await
    .unwrap()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A stored variant, read as the store's layout says (magic line, head length, JSON head,
/// image), independently of Refract's reader: whole when every length holds and the image
/// decodes at the size its head names.
fn check_record(name: &str, object: &[u8]) -> Result<(), String> {
    let rest = object
        .strip_prefix(b"RFV1\n")
        .ok_or_else(|| format!("{name}: no magic line"))?;
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("{name}: cut before the head's length"))?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() <= length {
        return Err(format!("{name}: cut inside the head"));
    }
    let (head, image) = rest.split_at(length);
    let head: serde_json::Value =
        serde_json::from_slice(head).map_err(|e| format!("{name}: head: {e}"))?;
    let decoded = std::panic::catch_unwind(|| decode(image))
        .map_err(|_| format!("{name}: image does not decode ({} bytes)", image.len()))?;
    let size = (decoded.width, decoded.height);
    let said = (head["width"].as_u64(), head["height"].as_u64());
    if said != (Some(u64::from(size.0)), Some(u64::from(size.1))) {
        return Err(format!("{name}: head says {said:?}, image is {size:?}"));
    }
    Ok(())
}

fn p99(mut took: Vec<Duration>) -> f64 {
    if took.is_empty() {
        return 0.0;
    }
    took.sort();
    let i = ((took.len() as f64) * 0.99).ceil() as usize;
    took[i.clamp(1, took.len()) - 1].as_secs_f64() * 1000.0
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_serves_through_a_killed_replica_a_store_outage_and_a_broker_outage() {
    let rounds = env_number("REFRACT_FAULT_ROUNDS", 1);
    let settle = Duration::from_secs(env_number("REFRACT_FAULT_SETTLE", 5));
    let outage = Duration::from_secs(10);

    let mut garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let mut rabbit = tokio::task::spawn_blocking(Rabbit::start).await.unwrap();
    rabbit.bind_events("fleet-consumer");
    for i in 0..SEEDS {
        let w = 1200 + 40 * u32::try_from(i).unwrap();
        garage
            .put(&format!("{ORIGINALS}seed-{i}.jpg"), gradient_jpeg(w, 800))
            .await;
    }
    let logs = tempfile::tempdir().unwrap();
    let mut replicas: Vec<Replica> = ["replica1", "replica2"]
        .iter()
        .map(|name| Replica::new(&garage, &rabbit, logs.path(), name))
        .collect();
    let direct = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for r in &mut replicas {
        r.start();
    }
    for r in &replicas {
        r.ready(&direct).await;
    }
    let addrs: Vec<String> = replicas.iter().map(Replica::addr).collect();
    let varnish = Varnish::start_many(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    // Warm: every hot URL rendered and in Varnish; both replicas hear purges.
    for (path, accept) in hot_urls() {
        let r = direct
            .get(format!("{}{path}", varnish.base))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "warming {path}");
    }
    for r in &replicas {
        until("purge listener up", Duration::from_secs(30), || async {
            metric(&r.metrics(&direct).await, "refract_purge_listener_up", &[]) == 1.0
        })
        .await;
    }

    let load = Arc::new(Load {
        edge: varnish.base.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        start: Instant::now(),
        stop: AtomicBool::new(false),
        samples: Mutex::new(Vec::new()),
        uploads: Mutex::new(Vec::new()),
    });
    let tasks = drive(&load);
    let mut phases = Vec::new();
    tokio::time::sleep(settle).await;
    for _ in 0..rounds {
        // 1. A replica dies mid-load and comes back 3 s later, empty-handed.
        let from = load.start.elapsed();
        replicas[0].kill();
        until("Varnish marks the killed replica sick", outage, || async {
            !tokio::task::block_in_place(|| varnish.healthy("replica1"))
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(load.start.elapsed() - from))
            .await;
        replicas[0].start();
        let recovery = until(
            "Varnish holds the restarted replica healthy",
            Duration::from_secs(60),
            || async { tokio::task::block_in_place(|| varnish.healthy("replica1")) },
        )
        .await;
        phases.push(Phase {
            name: "replica killed (-9), restarted after 3 s",
            from,
            to: load.start.elapsed(),
            recovery,
            recovered_when: "Varnish's probe holds it healthy",
        });
        tokio::time::sleep(settle).await;

        // 2. The store (originals and variants) goes away for 10 s.
        let from = load.start.elapsed();
        garage = off_the_runtime(garage, |it| it.stop()).await;
        tokio::time::sleep(outage).await;
        let back = load.start.elapsed();
        garage = off_the_runtime(garage, |it| it.restart()).await;
        until(
            "an upload is stored again",
            Duration::from_secs(60),
            || async {
                load.uploads
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|u| u.at >= back && u.outcome.ok())
            },
        )
        .await;
        let recovery = load.start.elapsed() - back;
        phases.push(Phase {
            name: "Garage stopped for 10 s",
            from,
            to: load.start.elapsed(),
            recovery,
            recovered_when: "the next upload is stored",
        });
        tokio::time::sleep(settle).await;

        // 3. The broker goes away for 10 s (uploads keep their events in the outboxes).
        let from = load.start.elapsed();
        rabbit = off_the_runtime(rabbit, |it| it.stop()).await;
        tokio::time::sleep(outage).await;
        let back = Instant::now();
        rabbit = off_the_runtime(rabbit, |it| it.start_again()).await;
        let mut state = String::new();
        let drained = Instant::now();
        loop {
            state.clear();
            let mut done = true;
            for r in &replicas {
                let (pending, up) = (
                    r.pending_events(),
                    metric(&r.metrics(&direct).await, "refract_purge_listener_up", &[]),
                );
                done &= pending == 0 && up == 1.0;
                state += &format!("{}: {pending} events waiting, listener up {up}\n", r.addr());
            }
            if done {
                break;
            }
            assert!(
                drained.elapsed() < Duration::from_secs(90),
                "outboxes not drained or purge listeners not back 90 s after the broker:\n\
                 {state}replica1:\n{}\nreplica2:\n{}",
                replicas[0].log_tail(),
                replicas[1].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        phases.push(Phase {
            name: "RabbitMQ stopped for 10 s",
            from,
            to: load.start.elapsed(),
            recovery: back.elapsed(),
            recovered_when: "outboxes empty, purge listeners bound (broker boot included)",
        });
        tokio::time::sleep(settle).await;
    }
    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let loaded_for = load.start.elapsed();
    let samples = std::mem::take(&mut *load.samples.lock().unwrap());
    let uploads = std::mem::take(&mut *load.uploads.lock().unwrap());

    // Figures first, so a failing run still shows them.
    report(&samples, &uploads, &phases, loaded_for, rounds);

    // Every GET answered 200 through Varnish.
    let bad: Vec<String> = samples
        .iter()
        .filter(|s| matches!(s.kind, Kind::Hit | Kind::Miss) && s.outcome != Outcome::Status(200))
        .map(|s| {
            format!(
                "{:?} {} at {:.1}s: {}",
                s.kind,
                s.what,
                s.at.as_secs_f64(),
                s.outcome.label()
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "GETs through Varnish that were not 200:\n{}\nreplica1:\n{}\nreplica2:\n{}",
        bad.join("\n"),
        replicas[0].log_tail(),
        replicas[1].log_tail()
    );
    let stored: Vec<&Sent> = uploads.iter().filter(|u| u.outcome.ok()).collect();
    assert!(
        stored.len() > 20 && stored.len() < uploads.len(),
        "{} uploads acknowledged of {}: the load or the store outage did not happen",
        stored.len(),
        uploads.len()
    );

    // Every acknowledged upload is in the bucket, byte for byte (read by curl).
    for u in &stored {
        let key = u.key.as_deref().expect("a 2xx upload answers its key");
        let bytes = garage.get(&format!("{ORIGINALS}{key}")).await;
        assert_eq!(
            refract::encoding::digest::hex(&Sha256::digest(&bytes)),
            u.sha256,
            "acknowledged upload {key} is not what was sent"
        );
    }

    // Every acknowledged upload's event reaches the consumer; a message id names one upload.
    let acked: HashSet<&str> = stored.iter().map(|u| u.sha256.as_str()).collect();
    let mut ids_of: HashMap<String, HashSet<String>> = HashMap::new();
    let mut events = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !acked.iter().all(|sha| ids_of.contains_key(*sha)) {
        assert!(
            Instant::now() < deadline,
            "events of {} acknowledged uploads never arrived",
            acked
                .iter()
                .filter(|sha| !ids_of.contains_key(**sha))
                .count()
        );
        for message in rabbit.take("fleet-consumer") {
            let sha = message["event"]["sha256"].as_str().unwrap().to_owned();
            let id = message["id"].as_str().unwrap().to_owned();
            ids_of.entry(sha).or_default().insert(id);
            events += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (sha, ids) in &ids_of {
        assert_eq!(ids.len(), 1, "upload {sha} has events with ids {ids:?}");
    }
    let sent: HashSet<&str> = uploads.iter().map(|u| u.sha256.as_str()).collect();
    assert!(ids_of.keys().all(|sha| sent.contains(sha.as_str())));
    println!(
        "events: {} acknowledged uploads, {} uploads with an event ({} told they failed but \
         stored), {events} deliveries, {} redelivered with the same id",
        acked.len(),
        ids_of.len(),
        ids_of.len() - acked.len(),
        events - ids_of.len()
    );

    // No variant in the store is partial.
    let keys = garage.list(VARIANTS).await;
    assert!(
        !keys.is_empty(),
        "no variant reached the store: the write-behind did not run"
    );
    let mut broken = Vec::new();
    for key in &keys {
        if let Err(e) = check_record(key, &garage.get(key).await) {
            broken.push(e);
        }
    }
    assert!(broken.is_empty(), "partial variants: {broken:#?}");
    println!("variant store: {} variants, every one whole", keys.len());

    // After the faults, one purge reaches both replicas, the store and Varnish.
    let path = "/seed-0.jpg?w=320";
    for r in &replicas {
        for _ in 0..2 {
            let resp = direct
                .get(format!("{}{path}", r.base()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    }
    let cached = |resp: &reqwest::Response, name: &str| crate::support::header(resp, name);
    let edge = direct
        .get(format!("{}{path}", varnish.base))
        .send()
        .await
        .unwrap();
    assert_eq!(edge.status(), 200);
    // The renders above are written behind: let them land, so the purge is what the store
    // holds afterwards (a purge waits for its own replica's writes, not another's).
    until("write-behind drained", Duration::from_secs(30), || async {
        let mut pending = 0.0;
        for r in &replicas {
            pending += metric(
                &r.metrics(&direct).await,
                "refract_variant_store_pending_writes",
                &[],
            );
        }
        pending == 0.0
    })
    .await;
    let heard = |text: &str| {
        metric(
            text,
            "refract_purge_broadcasts_total",
            &[("result", "received")],
        )
    };
    let mut before = 0.0;
    for r in &replicas {
        before += heard(&r.metrics(&direct).await);
    }
    assert!(
        load.purge("/seed-0.jpg").await.ok(),
        "the final purge failed"
    );
    until(
        "the other replica hears the purge",
        Duration::from_secs(20),
        || async {
            let mut now = 0.0;
            for r in &replicas {
                now += heard(&r.metrics(&direct).await);
            }
            now > before
        },
    )
    .await;
    // The store holds none of the original's variants; neither replica answers from memory (a
    // replica may find in the store what the other just rendered again: that is not a leftover).
    let tag = refract::store::purge_tag("seed-0.jpg");
    let left = garage.list(&format!("{VARIANTS}v1/{tag}/")).await;
    assert!(
        left.is_empty(),
        "purged variants left in the store: {left:?}"
    );
    for (i, r) in replicas.iter().enumerate() {
        let resp = direct
            .get(format!("{}{path}", r.base()))
            .send()
            .await
            .unwrap();
        assert_ne!(
            cached(&resp, "x-refract-cache"),
            "hit",
            "replica{} kept the purged variant in memory",
            i + 1
        );
    }
    let edge = direct
        .get(format!("{}{path}", varnish.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cached(&edge, "x-cache"),
        "MISS",
        "Varnish kept the purged variant"
    );
}

/// Print the run's figures: per phase, GETs, their p99, errors by kind, uploads and purges;
/// then the totals.
fn report(
    samples: &[Sample],
    uploads: &[Sent],
    phases: &[Phase],
    loaded_for: Duration,
    rounds: u64,
) {
    println!(
        "\nfleet under faults: {} s of load, {rounds} round(s) of faults, CPU {}",
        loaded_for.as_secs(),
        cpu_model()
    );
    println!(
        "{:<44} {:>6} {:>8} {:>10} {:>16} {:>8} {:>10}",
        "phase", "GETs", "p99 ms", "GET errs", "uploads ok/not", "purges", "recovery"
    );
    let row = |name: &str, inside: &dyn Fn(Duration) -> bool, recovery: String| {
        let here: Vec<&Sample> = samples.iter().filter(|s| inside(s.at)).collect();
        let gets: Vec<&&Sample> = here
            .iter()
            .filter(|s| matches!(s.kind, Kind::Hit | Kind::Miss))
            .collect();
        let errors = gets
            .iter()
            .filter(|s| s.outcome != Outcome::Status(200))
            .count();
        let up = here.iter().filter(|s| s.kind == Kind::Upload);
        let up_ok = up.clone().filter(|s| s.outcome.ok()).count();
        let purges = here.iter().filter(|s| s.kind == Kind::Purge).count();
        println!(
            "{name:<44} {:>6} {:>8.1} {errors:>10} {:>16} {purges:>8} {recovery:>10}",
            gets.len(),
            p99(gets.iter().map(|s| s.took).collect()),
            format!("{up_ok}/{}", up.count() - up_ok),
        );
    };
    let in_fault = |at: Duration| phases.iter().any(|p| at >= p.from && at < p.to);
    row("no fault", &|at| !in_fault(at), String::new());
    for p in phases {
        row(
            p.name,
            &|at| at >= p.from && at < p.to,
            format!("{:.1} s", p.recovery.as_secs_f64()),
        );
    }
    let mut explained = HashSet::new();
    for p in phases.iter().filter(|p| explained.insert(p.name)) {
        println!("  recovery of '{}': until {}", p.name, p.recovered_when);
    }
    let mut by_kind: BTreeMap<(Kind, String), usize> = BTreeMap::new();
    for s in samples {
        *by_kind.entry((s.kind, s.outcome.label())).or_default() += 1;
    }
    let total: usize = by_kind.values().sum();
    let line: Vec<String> = by_kind
        .iter()
        .map(|((kind, outcome), n)| format!("{kind:?} {outcome}: {n}"))
        .collect();
    println!("requests: {total} — {}", line.join(", "));
    let told = uploads.iter().filter(|u| !u.outcome.ok()).count();
    println!(
        "uploads: {} sent, {} acknowledged, {told} told they failed",
        uploads.len(),
        uploads.len() - told
    );
}
