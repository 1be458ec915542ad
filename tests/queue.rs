//! RabbitMQ (`--queue`), against a real broker on loopback: every stored upload publishes
//! `image.uploaded`, read here with another AMQP client (pika); with the broker stopped, uploads
//! still answer 201 and their events wait in the outbox until it is back — none lost. A purge on
//! one replica clears another's memory through the broadcast.

use std::time::{Duration, Instant};

use refract::config::UploadConfig;
use refract::upload::Authenticator;
use sha2::{Digest, Sha256};

use crate::support::fixtures::gradient_jpeg;
use crate::support::rabbitmq::Rabbit;
use crate::support::{metric, TestServer};

const SECRET: &str = "events-secret-0123456789abcdef-0123456789";

fn token() -> String {
    crate::support::upload_token(SECRET)
}

/// Uploads on (to the root, JWT with `SECRET`), as the queue tests need them.
fn accept_uploads(c: &mut refract::Config) {
    let auth = Authenticator::new(Some(SECRET), None, None, None, None).unwrap();
    c.upload = Some(UploadConfig {
        auth,
        to: String::new(),
        max_bytes: 20 << 20,
        public_url: Some("https://img.example.com".into()),
    });
}

async fn server(rabbit: &Rabbit, outbox: &std::path::Path) -> TestServer {
    let (url, outbox) = (rabbit.url.clone(), outbox.to_owned());
    TestServer::start(move |c| {
        accept_uploads(c);
        c.queue = Some(url);
        c.outbox = Some(outbox);
    })
    .await
}

async fn upload(s: &TestServer, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = s
        .client
        .post(format!("{}/upload", s.base))
        .header("content-type", "image/jpeg")
        .bearer_auth(token())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Drain until `n` messages arrived (the publisher sends asynchronously) or 30 s pass.
fn drain(rabbit: &Rabbit, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(rabbit.take("test-consumer"));
        if got.len() < n {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upload_publishes_an_event_and_none_is_lost_while_the_broker_is_away() {
    let mut rabbit = tokio::task::spawn_blocking(Rabbit::start).await.unwrap();
    rabbit.bind_events("test-consumer");
    let outbox = tempfile::tempdir().unwrap();
    let s = server(&rabbit, outbox.path()).await;

    // One upload: its event, with what a consumer needs, checked against the bytes sent.
    let photo = gradient_jpeg(320, 200);
    let (status, answer) = upload(&s, photo.clone()).await;
    assert_eq!(status, 201);
    let rabbit_ref = &rabbit;
    let got = tokio::task::block_in_place(|| drain(rabbit_ref, 1));
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["key"], "image.uploaded");
    assert_eq!(m["persistent"], true);
    let e = &m["event"];
    assert_eq!(e["type"], "image.uploaded");
    assert_eq!(e["key"], answer["key"]);
    assert_eq!(e["url"], answer["url"]);
    assert_eq!(
        (e["width"].as_u64(), e["height"].as_u64()),
        (Some(320), Some(200))
    );
    assert_eq!(e["format"], "jpg");
    assert_eq!(e["bytes"].as_u64(), Some(photo.len() as u64));
    let sha = Sha256::digest(&photo);
    assert_eq!(e["sha256"].as_str().unwrap(), hex(&sha));
    assert_eq!(
        m["id"], e["id"],
        "message_id is the event id, for de-duplication"
    );
    // The same bytes again: already stored (200), no new event.
    assert_eq!(upload(&s, photo).await.0, 200);

    // The broker goes away: uploads still succeed, their events wait in the outbox.
    tokio::task::block_in_place(|| rabbit.stop());
    let mut keys = Vec::new();
    for i in 0..12 {
        let (status, answer) = upload(&s, gradient_jpeg(100 + i, 80)).await;
        assert_eq!(status, 201, "upload {i} with the broker down");
        keys.push(answer["key"].as_str().unwrap().to_owned());
    }
    let outbox = s.app.fleet().outbox().expect("outbox configured");
    assert_eq!(outbox.pending("events"), 12, "every event is on disk");
    // Back: every event arrives, once.
    tokio::task::block_in_place(|| rabbit.start_again());
    let rabbit_ref = &rabbit;
    let got = tokio::task::block_in_place(|| drain(rabbit_ref, 12));
    let mut published: Vec<String> = got
        .iter()
        .map(|m| m["event"]["key"].as_str().unwrap().to_owned())
        .collect();
    published.sort();
    keys.sort();
    assert_eq!(published, keys, "every upload's event, none twice");
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox.pending("events") > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        outbox.pending("events"),
        0,
        "the outbox empties once confirmed"
    );
    let m = s.app.metrics_text().await;
    let events = |result| {
        metric(
            &m,
            "refract_outbox_total",
            &[("lane", "events"), ("result", result)],
        )
    };
    assert_eq!(events("queued"), 13.0);
    assert_eq!(events("published"), 13.0);
    s.stop().await;
}

/// Events an earlier run left in the outbox (the broker was away when it stopped) are published
/// by the next run, without a new upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_in_the_outbox_go_out_after_a_restart() {
    let mut rabbit = tokio::task::spawn_blocking(Rabbit::start).await.unwrap();
    rabbit.bind_events("test-consumer");
    let outbox = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| rabbit.stop());
    let first = server(&rabbit, outbox.path()).await;
    let (status, answer) = upload(&first, gradient_jpeg(90, 60)).await;
    assert_eq!(status, 201);
    first.stop().await;
    assert_eq!(
        std::fs::read_dir(outbox.path().join("events"))
            .unwrap()
            .count(),
        1
    );
    tokio::task::block_in_place(|| rabbit.start_again());
    let second = server(&rabbit, outbox.path()).await;
    let rabbit_ref = &rabbit;
    let got = tokio::task::block_in_place(|| drain(rabbit_ref, 1));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["event"]["key"], answer["key"]);
    second.stop().await;
}

/// `--queue` with uploads needs an outbox: a clear start-up error, not lost events.
#[tokio::test]
async fn queue_without_an_outbox_is_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let mut config = refract::Config::for_root(root.path());
    let auth = Authenticator::new(Some(SECRET), None, None, None, None).unwrap();
    config.upload = Some(UploadConfig {
        auth,
        to: String::new(),
        max_bytes: 1 << 20,
        public_url: None,
    });
    config.queue = Some("amqp://127.0.0.1:1/%2f".into());
    let err = refract::App::new(config).err().expect("refused");
    assert!(err.contains("--outbox"), "{err}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How `url` was answered: `hit`, `miss`, ….
async fn cache(s: &TestServer, url: &str) -> String {
    crate::support::header(&s.get(url).await, "x-refract-cache")
}

/// A purge on one replica clears another replica's memory cache through the broadcast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_replica_clears_the_others_memory() {
    const ADMIN: &str = "an-admin-token-for-queue-tests";
    let rabbit = tokio::task::spawn_blocking(Rabbit::start).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.jpg"), gradient_jpeg(300, 200)).unwrap();
    std::fs::write(root.path().join("b.jpg"), gradient_jpeg(200, 300)).unwrap();
    let replica = || {
        let url = rabbit.url.clone();
        TestServer::start_at(root.path(), move |c| {
            c.queue = Some(url);
            c.admin_token = refract::config::Secrets(vec![ADMIN.into()]);
        })
    };
    let (a, b) = (replica().await, replica().await);
    for s in [&a, &b] {
        listening(s, "replica not listening for purges").await;
    }
    // Both replicas hold both images in memory.
    for s in [&a, &b] {
        for url in ["/a.jpg?w=50", "/b.jpg?w=50"] {
            cache(s, url).await;
            assert_eq!(cache(s, url).await, "hit");
        }
    }
    let r = a
        .client
        .post(format!("{}/admin/purge", a.base))
        .bearer_auth(ADMIN)
        .body(r#"{"path":"/a.jpg"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // B drops a.jpg's variants on A's word (the broadcast is asynchronous: wait for it), and
    // keeps b.jpg's.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = b.app.metrics_text().await;
        if metric(
            &m,
            "refract_purge_broadcasts_total",
            &[("result", "received")],
        ) >= 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "B never heard of the purge");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cache(&b, "/a.jpg?w=50").await, "miss");
    assert_eq!(cache(&b, "/b.jpg?w=50").await, "hit");
    assert_eq!(cache(&a, "/a.jpg?w=50").await, "miss");
    // A does not act on its own announcement twice.
    let m = a.app.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "refract_purge_broadcasts_total",
            &[("result", "announced")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "refract_purge_broadcasts_total",
            &[("result", "received")]
        ),
        0.0
    );
    a.stop().await;
    b.stop().await;
}

/// A replica wired to a real broker, with a file variant store and an outbox of its own, and
/// `refract worker`s sharing its root, store and broker.
struct Fleet {
    rabbit: Rabbit,
    root: tempfile::TempDir,
    store: tempfile::TempDir,
    outbox: tempfile::TempDir,
}

impl Fleet {
    async fn start() -> Fleet {
        Fleet {
            rabbit: tokio::task::spawn_blocking(Rabbit::start).await.unwrap(),
            root: tempfile::tempdir().unwrap(),
            store: tempfile::tempdir().unwrap(),
            outbox: tempfile::tempdir().unwrap(),
        }
    }

    fn store_url(&self) -> String {
        format!("file://{}", self.store.path().display())
    }

    /// The serving replica: `--queue`, `--outbox`, `--variant-store`, then `tweak`.
    async fn replica(
        &self,
        tweak: impl FnOnce(&mut refract::Config) + Send + 'static,
    ) -> TestServer {
        let (url, outbox, store_url) = (
            self.rabbit.url.clone(),
            self.outbox.path().to_owned(),
            self.store_url(),
        );
        TestServer::start_at(self.root.path(), move |c| {
            c.queue = Some(url);
            c.outbox = Some(outbox);
            c.variant_store = Some(store_url);
            tweak(c);
        })
        .await
    }

    /// The arguments of a worker on the same root, store and broker, then `extra`.
    fn worker_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--root",
            &self.root.path().to_string_lossy(),
            "--variant-store",
            &self.store_url(),
            "--queue",
            &self.rabbit.url,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    }
}

/// Wait (at most 20 s) until `s` listens for the broker's broadcasts.
async fn listening(s: &TestServer, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.app.fleet().broker().unwrap().listening() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `refract worker`, its log lines streamed to the test.
struct Worker {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Worker {
    fn start(args: &[&str]) -> Worker {
        use std::io::BufRead as _;
        let mut child = crate::support::refract()
            .arg("worker")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let worker = Worker { child, lines };
        worker.wait_for("jobs: consuming");
        worker
    }

    /// Wait (at most 60 s) for a log line containing `text`; every line seen on the way.
    fn wait_for(&self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("worker never logged '{text}'; saw {seen:#?}"),
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every stored variant under `dir` (whole objects, temporaries aside).
fn stored(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
                count += 1;
            }
        }
    }
    count
}

/// An upload with `--eager` becomes a job in RabbitMQ; a worker renders it into the shared
/// variant store, and the first GET is a store hit. Killed (-9) in the middle of the job, the
/// worker leaves it unacknowledged: the broker gives it to the next worker, and the variant is
/// stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_jobs_go_to_a_worker_and_survive_its_death() {
    let fleet = Fleet::start().await;
    let (rabbit, store) = (&fleet.rabbit, &fleet.store);
    // Big enough that the render takes a while (a 12 MP original to a 3000-px AVIF).
    const EAGER: &str = "w=3000&fm=avif";
    let s = fleet
        .replica(|c| {
            accept_uploads(c);
            c.eager = vec![EAGER.into()];
        })
        .await;
    let args = fleet.worker_args(&["--eager", EAGER]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut first = tokio::task::block_in_place(|| Worker::start(&args));
    let (status, answer) = upload(&s, gradient_jpeg(4000, 3000)).await;
    assert_eq!(status, 201);
    let key = answer["key"].as_str().unwrap().to_owned();
    // The job reaches the worker; kill it before it can finish.
    let seen = tokio::task::block_in_place(|| first.wait_for("job started"));
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    assert!(
        !seen.iter().any(|l| l.contains("job done")),
        "the job finished before the kill: {seen:#?}"
    );
    assert_eq!(
        stored(store.path()),
        0,
        "nothing stored by the killed worker"
    );
    // The next worker gets it again and finishes it.
    let second = tokio::task::block_in_place(|| Worker::start(&args));
    let seen = tokio::task::block_in_place(|| second.wait_for("job done"));
    assert!(
        seen.iter()
            .any(|l| l.contains("job started") && l.contains("redelivered=true")),
        "{seen:#?}"
    );
    assert_eq!(stored(store.path()), 1, "the variant, stored once");
    // The first visitor gets the stored render.
    let r = s.get(&format!("/{key}?{EAGER}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(crate::support::header(&r, "x-refract-cache"), "store");
    // Nothing dead-lettered.
    let dead = rabbit.pika(
        "c = pika.BlockingConnection(URL)\nq = c.channel().queue_declare('refract.jobs.dead', durable=True, passive=True)\nprint(q.method.message_count)",
    );
    assert_eq!(dead.trim(), "0");
    drop(second);
    s.stop().await;
}

/// A job that keeps failing is dead-lettered after `--job-attempts` deliveries; a message that
/// is not a job at all, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_job_lands_in_the_dead_letter_queue() {
    let rabbit = tokio::task::spawn_blocking(Rabbit::start).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_string_lossy();
    let args = [
        "--root",
        &root_arg,
        "--queue",
        &rabbit.url,
        "--eager",
        "w=10",
        "--job-attempts",
        "3",
    ];
    let worker = tokio::task::block_in_place(|| Worker::start(&args));
    // Published by another client, as any producer could.
    rabbit.pika(
        r#"
c = pika.BlockingConnection(URL)
ch = c.channel()
props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
ch.basic_publish("", "refract.jobs", b'{"kind":"eager","key":"missing.jpg"}', props)
ch.basic_publish("", "refract.jobs", b'not json', props)
c.close()
"#,
    );
    let dead = |rabbit: &Rabbit| {
        rabbit.pika(
            "c = pika.BlockingConnection(URL)\nq = c.channel().queue_declare('refract.jobs.dead', durable=True, passive=True)\nprint(q.method.message_count)",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while dead(&rabbit).trim() != "2" {
        assert!(Instant::now() < deadline, "jobs never dead-lettered");
        std::thread::sleep(Duration::from_millis(250));
    }
    let messages = rabbit.pika(
        "c = pika.BlockingConnection(URL)\nch = c.channel()\nwhile True:\n    m, p, b = ch.basic_get('refract.jobs.dead', auto_ack=True)\n    if m is None: break\n    print(b.decode())",
    );
    let mut bodies: Vec<&str> = messages.lines().collect();
    bodies.sort();
    assert_eq!(
        bodies,
        vec!["not json", r#"{"kind":"eager","key":"missing.jpg"}"#]
    );
    // Three tries of the poisoned job, then no more.
    std::thread::sleep(Duration::from_millis(500));
    let mut tries = 0;
    while let Ok(line) = worker.lines.try_recv() {
        tries += usize::from(line.contains("job failed"));
    }
    assert_eq!(tries, 3, "--job-attempts 3");
}

/// `--refine` through RabbitMQ: the serving replica queues the refinement of a hot first render,
/// a worker refines it into the shared store and announces it, and the serving replica drops
/// its first render from memory and serves the refined one from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refines_and_the_serving_replica_picks_it_up() {
    let fleet = Fleet::start().await;
    std::fs::write(
        fleet.root.path().join("p.jpg"),
        crate::support::fixtures::noise_jpeg(900, 600, 5),
    )
    .unwrap();
    let s = fleet
        .replica(|c| {
            c.refine = refract::config::Refine::Hot;
            c.refine_after = 1;
        })
        .await;
    let args = fleet.worker_args(&["--refine", "hot"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let worker = tokio::task::block_in_place(|| Worker::start(&args));
    listening(&s, "not listening for announcements").await;
    const URL: &str = "/p.jpg?w=400&fm=avif";
    let tier = |r: &reqwest::Response| {
        (
            crate::support::header(r, "x-refract-cache"),
            crate::support::header(r, "x-refract-tier"),
        )
    };
    assert_eq!(tier(&s.get(URL).await), ("miss".into(), "first".into()));
    assert_eq!(tier(&s.get(URL).await), ("hit".into(), "first".into()));
    let seen = tokio::task::block_in_place(|| worker.wait_for("job done"));
    assert!(seen.iter().any(|l| l.contains("Refine")), "{seen:#?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = tier(&s.get(URL).await);
        if got == ("store".into(), "refined".into()) {
            break;
        }
        if Instant::now() >= deadline {
            let m = s.app.metrics_text().await;
            let more: Vec<String> = worker.lines.try_iter().collect();
            panic!(
                "still {got:?}\n{}\n{more:#?}\n{seen:#?}",
                m.lines()
                    .filter(|l| l.contains("purge") || l.contains("refract_cache"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}

/// `serve --consume`: the serving process takes the jobs it (or any replica) queued — the
/// same eager render, without a separate worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_can_consume_its_own_jobs() {
    let fleet = Fleet::start().await;
    let store = &fleet.store;
    let s = fleet
        .replica(|c| {
            accept_uploads(c);
            c.eager = vec!["w=64&fm=webp".into()];
            c.consume = true;
        })
        .await;
    let (status, answer) = upload(&s, gradient_jpeg(300, 200)).await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(store.path()) == 0 {
        assert!(Instant::now() < deadline, "the eager job never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The variant is written behind while the job finishes: the job is counted done after.
    let done = || async {
        metric(
            &s.app.metrics_text().await,
            "refract_background_jobs_total",
            &[("kind", "eager"), ("result", "done")],
        )
    };
    while done().await < 1.0 {
        assert!(Instant::now() < deadline, "the eager job never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done().await, 1.0);
    let key = answer["key"].as_str().unwrap();
    let r = s.get(&format!("/{key}?w=64&fm=webp")).await;
    assert_eq!(
        crate::support::header(&r, "x-refract-cache"),
        "hit",
        "rendered into this replica's memory by its own consumer"
    );
    s.stop().await;
}

/// A learned result too dear to wait for goes to a worker through RabbitMQ: the serving
/// replica answers the plain image at once (a provisional first render) and queues the job
/// through its outbox; `refract worker` computes the mask into the shared store; the replica's
/// next answer is the background-removed image — its mask read from the store, no model run
/// on the replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_computes_a_deferred_mask_and_the_replica_serves_it() {
    let fleet = Fleet::start().await;
    std::fs::write(
        fleet.root.path().join("d.png"),
        crate::support::corpus_file("alpha/pillow-transparent.png"),
    )
    .unwrap();
    let s = fleet.replica(|c| c.learned_inline = Duration::ZERO).await;
    let args = fleet.worker_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let worker = tokio::task::block_in_place(|| Worker::start(&args));
    const URL: &str = "/d.png?bg-remove=true&w=150&fm=png";
    let first = s.get(URL).await;
    assert_eq!(first.status(), 200);
    assert_eq!(crate::support::header(&first, "x-refract-tier"), "first");
    let seen = tokio::task::block_in_place(|| worker.wait_for("job done"));
    assert!(seen.iter().any(|l| l.contains("Learned")), "{seen:#?}");
    let r = s.get(URL).await;
    assert_eq!(r.status(), 200);
    assert_eq!(crate::support::header(&r, "x-refract-tier"), "");
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[]),
        0.0,
        "the replica ran a model"
    );
    assert_eq!(
        metric(
            &m,
            "refract_learned_total",
            &[("op", "mask"), ("result", "store")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "refract_outbox_total",
            &[("lane", "jobs"), ("result", "published")]
        ),
        1.0
    );
    s.stop().await;
}
