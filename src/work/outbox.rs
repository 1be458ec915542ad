//! The durable local outbox: messages for RabbitMQ are written to disk before the request that
//! made them is answered, and a publisher task sends them with publisher confirms (persistent
//! messages), deleting each file only once the broker has confirmed it. With the broker away,
//! requests still succeed and messages wait on disk (`--outbox DIR`), retried with backoff,
//! across restarts too.
//!
//! Lanes: one subdirectory per kind of message — `events` (upload events to the topic exchange
//! `--events-exchange`) and `jobs` (background jobs to the `refract.jobs` queue). Each file is one
//! message: written to a temporary name, synced, renamed, the directory synced.
//!
//! Delivery is at least once: a crash between the broker's confirm and the file's deletion sends
//! that message again, with the same `message_id` (its file name) for consumers to drop
//! duplicates by. Each replica has its own outbox; two processes must not share one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, ExchangeKind};
use tokio::sync::Notify;

use crate::observe::metrics::Metrics;
use crate::work::broker::Broker;

/// Messages sent per batch before their confirms are awaited.
const BATCH: usize = 256;

/// Longest wait between attempts while the broker is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often an idle publisher looks at the outbox anyway (files left by an earlier run).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Where one kind of message goes.
#[derive(Debug, Clone)]
pub struct Lane {
    /// Its subdirectory and metric label: `events`, `jobs`.
    pub name: &'static str,
    /// Exchange published to (`""`: the default exchange, straight to a queue).
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// The `type` property of its messages.
    pub kind: &'static str,
    /// What the lane needs declared before publishing.
    pub topology: Topology,
}

/// What a lane declares on the broker.
#[derive(Debug, Clone, Copy)]
pub enum Topology {
    /// A durable topic exchange (upload events).
    TopicExchange,
    /// The jobs queue and its dead-letter queue, retrying a job this many times.
    Jobs {
        /// Deliveries before a job is dead-lettered.
        attempts: u32,
    },
}

/// The outbox and its publisher.
pub struct Outbox {
    dir: PathBuf,
    lanes: Vec<Lane>,
    broker: Arc<Broker>,
    wake: Arc<Notify>,
    publisher: OnceLock<()>,
    sequence: AtomicU64,
    metrics: Arc<Metrics>,
    /// The publisher stops once this is dropped (with the app).
    alive: Arc<()>,
}

impl Outbox {
    /// An outbox in `dir` (created with a subdirectory per lane) publishing through `broker`.
    pub fn new(
        dir: &Path,
        lanes: Vec<Lane>,
        broker: Arc<Broker>,
        metrics: Arc<Metrics>,
    ) -> Result<Outbox, String> {
        for lane in &lanes {
            std::fs::create_dir_all(dir.join(lane.name))
                .map_err(|e| format!("--outbox {}: {e}", dir.display()))?;
        }
        Ok(Outbox {
            dir: dir.to_owned(),
            lanes,
            broker,
            wake: Arc::new(Notify::new()),
            publisher: OnceLock::new(),
            sequence: AtomicU64::new(0),
            metrics,
            alive: Arc::new(()),
        })
    }

    /// Whether it has a lane called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.lanes.iter().any(|l| l.name == name)
    }

    /// Start the publisher (once; inside a Tokio runtime), so what an earlier run left goes out
    /// without waiting for a new message.
    pub fn start(&self) {
        self.publisher.get_or_init(|| {
            let publisher = Publisher {
                dir: self.dir.clone(),
                lanes: self.lanes.clone(),
                broker: self.broker.clone(),
                wake: self.wake.clone(),
                metrics: self.metrics.clone(),
                alive: Arc::downgrade(&self.alive),
            };
            tokio::spawn(publisher.run());
        });
    }

    /// A new message id: sortable by time, unique per process and message.
    pub fn next_id(&self) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{:020}-{:010}-{:08}", now.as_nanos(), std::process::id(), n)
    }

    /// Keep `body` (with message id `id`) for `lane`, durably, then wake the publisher.
    pub async fn put(&self, lane: &'static str, id: String, body: Vec<u8>) -> std::io::Result<()> {
        let dir = self.dir.join(lane);
        tokio::task::spawn_blocking(move || write_durably(&dir, &id, &body))
            .await
            .map_err(std::io::Error::other)??;
        self.metrics
            .outbox
            .with_label_values(&[lane, "queued"])
            .inc();
        self.start();
        self.wake.notify_one();
        Ok(())
    }

    /// Messages of `lane` waiting to be confirmed.
    pub fn pending(&self, lane: &str) -> usize {
        files(&self.dir.join(lane)).len()
    }
}

/// Write `body` as `dir/name.json`: whole or not at all, and on disk before returning.
fn write_durably(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(format!("{name}.json")))?;
    std::fs::File::open(dir)?.sync_all()
}

/// A lane's messages, oldest first.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Declare what `lane` publishes into.
pub async fn declare(channel: &Channel, topology: Topology, exchange: &str) -> lapin::Result<()> {
    match topology {
        Topology::TopicExchange => {
            crate::work::broker::declare_exchange(channel, exchange, ExchangeKind::Topic).await
        }
        Topology::Jobs { attempts } => crate::work::broker::declare_jobs(channel, attempts).await,
    }
}

/// Sends the outbox to the broker.
struct Publisher {
    dir: PathBuf,
    lanes: Vec<Lane>,
    broker: Arc<Broker>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    alive: Weak<()>,
}

impl Publisher {
    async fn run(self) {
        let mut channel: Option<Channel> = None;
        let mut backoff = Duration::from_millis(100);
        while self.alive.strong_count() > 0 {
            let waiting: Vec<(&Lane, Vec<PathBuf>)> = self
                .lanes
                .iter()
                .map(|l| (l, files(&self.dir.join(l.name))))
                .filter(|(_, f)| !f.is_empty())
                .collect();
            if waiting.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                continue;
            }
            if channel.as_ref().is_none_or(|c| !c.status().connected()) {
                channel = match self.open().await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        let pending: usize = waiting.iter().map(|(_, f)| f.len()).sum();
                        tracing::warn!(error = %e, pending, "outbox: broker unreachable; messages wait on disk");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                };
            }
            let open = channel.as_ref().expect("opened above");
            let mut failed = false;
            for (lane, files) in &waiting {
                if let Err(e) = self.send(open, lane, files).await {
                    tracing::warn!(error = %e, lane = lane.name, "outbox: publishing failed; retrying");
                    failed = true;
                    break;
                }
            }
            if failed {
                channel = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = Duration::from_millis(100);
            }
        }
    }

    async fn open(&self) -> lapin::Result<Channel> {
        let channel = self.broker.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        for lane in &self.lanes {
            declare(&channel, lane.topology, &lane.exchange).await?;
        }
        Ok(channel)
    }

    /// Publish up to [`BATCH`] of a lane's messages, then delete each one the broker confirmed.
    async fn send(&self, channel: &Channel, lane: &Lane, files: &[PathBuf]) -> lapin::Result<()> {
        let mut sent = Vec::new();
        for path in files.iter().take(BATCH) {
            let Ok(body) = std::fs::read(path) else {
                continue;
            };
            let id = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(id.as_str().into())
                .with_app_id(self.broker.replica().into())
                .with_type(lane.kind.into());
            let confirm = channel
                .basic_publish(
                    lane.exchange.as_str().into(),
                    lane.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            sent.push((path, confirm));
        }
        for (path, confirm) in sent {
            let result = if confirm.await?.is_ack() {
                let _ = std::fs::remove_file(path);
                "published"
            } else {
                "nacked"
            };
            self.metrics
                .outbox
                .with_label_values(&[lane.name, result])
                .inc();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_lists_whole_messages_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        write_durably(dir.path(), "00000000000000000002-1-00000000", b"{}").unwrap();
        write_durably(dir.path(), "00000000000000000001-1-00000000", b"{}").unwrap();
        std::fs::write(dir.path().join(".half.tmp"), b"{").unwrap();
        let files = files(dir.path());
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("00000000000000000001-1-00000000.json"));
    }
}
