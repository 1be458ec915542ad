//! Upload events: every stored upload publishes `image.uploaded` to a RabbitMQ topic exchange
//! (`--queue amqp://…`, `--events-exchange`, default `refract.events`), so other services —
//! feeds, moderation, search — can react.
//!
//! Durability: the event is first written to a local outbox directory (`--outbox DIR`; one
//! file per event, written to a temporary name, synced, renamed, the directory synced) before
//! the upload is answered. A publisher task sends what the outbox holds with publisher confirms
//! (persistent messages) and deletes each file only once the broker has confirmed it. With the
//! broker away, uploads still succeed and events wait on disk, retried with backoff, across
//! restarts too. Delivery is at least once: a crash between the broker's confirm and the file's
//! deletion sends that event again, with the same `message_id` (the event's `id`) for consumers
//! to drop duplicates by.
//!
//! Each replica has its own outbox directory; two processes must not share one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Routing key of an upload event.
pub const UPLOADED: &str = "image.uploaded";

/// Events sent per batch before their confirms are awaited.
const BATCH: usize = 256;

/// Longest wait between attempts while the broker is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often an idle publisher looks at the outbox anyway (files left by an earlier run).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// `image.uploaded`: what was stored, for other services.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadEvent {
    /// Unique per event (also the AMQP `message_id`).
    pub id: String,
    /// `image.uploaded`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The original's key (its URL path without the leading `/`).
    pub key: String,
    /// Its public URL.
    pub url: String,
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// Format.
    pub format: String,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// When it was stored, Unix seconds.
    pub time: u64,
}

/// Where events go and the outbox they wait in.
pub struct Events {
    url: String,
    exchange: String,
    outbox: PathBuf,
    wake: Arc<Notify>,
    publisher: OnceLock<()>,
    sequence: AtomicU64,
    metrics: Arc<Metrics>,
    /// The publisher stops once this is dropped (with the app).
    alive: Arc<()>,
}

impl Events {
    /// Events for the broker at `url` (`amqp://user:pass@host:port/vhost`), published to the
    /// topic exchange `exchange`, waiting in `outbox` (created if missing).
    pub fn new(
        url: &str,
        exchange: &str,
        outbox: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<Events, String> {
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(format!("--queue {url}: expected an amqp:// URL"));
        }
        std::fs::create_dir_all(outbox)
            .map_err(|e| format!("--outbox {}: {e}", outbox.display()))?;
        Ok(Events {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            outbox: outbox.to_owned(),
            wake: Arc::new(Notify::new()),
            publisher: OnceLock::new(),
            sequence: AtomicU64::new(0),
            metrics,
            alive: Arc::new(()),
        })
    }

    /// Start the publisher (once; inside a Tokio runtime), so events an earlier run left in the
    /// outbox go out without waiting for the next upload.
    pub fn start(&self) {
        self.publisher.get_or_init(|| {
            let publisher = Publisher {
                url: self.url.clone(),
                exchange: self.exchange.clone(),
                outbox: self.outbox.clone(),
                wake: self.wake.clone(),
                metrics: self.metrics.clone(),
                alive: Arc::downgrade(&self.alive),
            };
            tokio::spawn(publisher.run());
        });
    }

    /// Record that `event`'s upload was stored: durably in the outbox, then wake the publisher.
    pub async fn uploaded(&self, mut event: UploadEvent) -> std::io::Result<()> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Sortable by time, unique per process (pid) and event.
        let name = format!("{:020}-{:010}-{:08}", now.as_nanos(), std::process::id(), n);
        event.id = name.clone();
        event.kind = UPLOADED.to_owned();
        let body = serde_json::to_vec(&event).expect("serialisable");
        let outbox = self.outbox.clone();
        tokio::task::spawn_blocking(move || write_durably(&outbox, &name, &body))
            .await
            .map_err(std::io::Error::other)??;
        self.count("queued");
        self.start();
        self.wake.notify_one();
        Ok(())
    }

    /// Events waiting in the outbox.
    pub fn pending(&self) -> usize {
        outbox_files(&self.outbox).len()
    }

    fn count(&self, result: &str) {
        self.metrics.events.with_label_values(&[result]).inc();
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

/// The outbox's events, oldest first.
fn outbox_files(dir: &Path) -> Vec<PathBuf> {
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

/// Sends the outbox to the broker.
struct Publisher {
    url: String,
    exchange: String,
    outbox: PathBuf,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    alive: std::sync::Weak<()>,
}

impl Publisher {
    async fn run(self) {
        let mut link: Option<(Connection, Channel)> = None;
        let mut backoff = Duration::from_millis(100);
        // One outbox, one publisher: it ends with its app (a replica's outbox is its own).
        while self.alive.strong_count() > 0 {
            let files = outbox_files(&self.outbox);
            if files.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                continue;
            }
            if link
                .as_ref()
                .is_none_or(|(c, ch)| !c.status().connected() || !ch.status().connected())
            {
                link = match self.connect().await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, pending = files.len(), "events: broker unreachable; events wait in the outbox");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                };
            }
            let (_, channel) = link.as_ref().expect("connected above");
            match self.send(channel, &files).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "events: publishing failed; retrying");
                    link = None;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn connect(&self) -> lapin::Result<(Connection, Channel)> {
        let connection = Connection::connect(
            &self.url,
            ConnectionProperties::default().with_connection_name("refract-events".into()),
        )
        .await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((connection, channel))
    }

    /// Publish up to [`BATCH`] events, then delete each one the broker confirmed.
    async fn send(&self, channel: &Channel, files: &[PathBuf]) -> lapin::Result<()> {
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
                .with_type(UPLOADED.into());
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    UPLOADED.into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            sent.push((path, confirm));
        }
        for (path, confirm) in sent {
            if confirm.await?.is_ack() {
                let _ = std::fs::remove_file(path);
                self.metrics.events.with_label_values(&["published"]).inc();
            } else {
                self.metrics.events.with_label_values(&["nacked"]).inc();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_lists_whole_events_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        write_durably(dir.path(), "00000000000000000002-1-00000000", b"{}").unwrap();
        write_durably(dir.path(), "00000000000000000001-1-00000000", b"{}").unwrap();
        std::fs::write(dir.path().join(".half.tmp"), b"{").unwrap();
        let files = outbox_files(dir.path());
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("00000000000000000001-1-00000000.json"));
    }
}
