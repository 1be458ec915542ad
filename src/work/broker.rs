//! RabbitMQ (`--queue amqp://…`) for what replicas tell each other: one connection per process,
//! shared by its channels and opened again when it drops.
//!
//! Purge broadcast: a purge on one replica (`POST /admin/purge`, a delete) drops that
//! original's variants from its own memory and the variant store, then announces the key on the
//! fanout exchange `refract.purge`; every replica listens on a queue of its own (exclusive,
//! deleted with its connection) and drops the key's variants from its memory cache. Best effort
//! by nature: a replica that is disconnected at that moment keeps its copies until
//! `--cache-ttl`; the variant store, shared, is already clean. The same exchange carries
//! "refined" announcements: a variant re-encoded in the background (`--refine`) is dropped from
//! every replica's memory, so the next request takes the refined one from the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::observe::Metrics;
use crate::render::Renderer;

/// The jobs queue (see [`crate::work::queue`]).
pub const QUEUE: &str = "refract.jobs";

/// Where jobs go after their last failed attempt.
pub const DEAD: &str = "refract.jobs.dead";

/// Fanout exchange purges are announced on.
pub const PURGE_EXCHANGE: &str = "refract.purge";

/// `type` of a purge announcement (the body is an original's key).
const PURGED: &str = "purge";

/// `type` of a refinement announcement (the body is a variant's cache key).
const REFINED: &str = "refined";

/// Longest wait between attempts while the broker is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Longest a connection (TCP, AMQP handshake) or a new channel may take: a broker that accepts
/// connections while it boots but never answers must not hold the shared connection's lock (and
/// every publisher and listener behind it) for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A process's link to RabbitMQ.
pub struct Broker {
    url: String,
    replica: String,
    connection: tokio::sync::Mutex<Option<Connection>>,
    listening: AtomicBool,
    connect_timeout: Duration,
}

impl Broker {
    /// The broker at `url` (`amqp://user:pass@host:5672/%2f`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Broker, String> {
        if !url.starts_with("amqp://") {
            return Err(format!("--queue {url}: expected an amqp:// URL"));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Ok(Broker {
            url: url.to_owned(),
            replica: format!("{}-{nanos:x}", std::process::id()),
            connection: tokio::sync::Mutex::new(None),
            listening: AtomicBool::new(false),
            connect_timeout: CONNECT_TIMEOUT,
        })
    }

    /// This process's name among the replicas (the `app_id` of what it publishes).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// A new channel on the shared connection (connecting first if it is not up), within
    /// 10 s.
    pub async fn channel(&self) -> lapin::Result<Channel> {
        let mut guard = self.connection.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.status().connected()) {
            match within(self.connect_timeout, c.create_channel()).await {
                Ok(channel) => return Ok(channel),
                // A connection that cannot open a channel is replaced on the next attempt.
                Err(e) => {
                    *guard = None;
                    return Err(e);
                }
            }
        }
        let connection = within(
            self.connect_timeout,
            Connection::connect(
                &self.url,
                ConnectionProperties::default()
                    .with_connection_name(format!("refract-{}", self.replica).into()),
            ),
        )
        .await?;
        let channel = within(self.connect_timeout, connection.create_channel()).await?;
        *guard = Some(connection);
        Ok(channel)
    }

    /// Tell every replica to drop `key`'s variants from memory.
    pub async fn announce_purge(&self, key: &str) -> lapin::Result<()> {
        self.announce(PURGED, key).await
    }

    /// Tell every replica that the variant `cache_key` was refined: they drop their first
    /// render from memory, and their next request takes the refined one from the store.
    pub async fn announce_refined(&self, cache_key: &str) -> lapin::Result<()> {
        self.announce(REFINED, cache_key).await
    }

    async fn announce(&self, kind: &str, key: &str) -> lapin::Result<()> {
        let channel = self.channel().await?;
        declare_purge_exchange(&channel).await?;
        channel
            .basic_publish(
                PURGE_EXCHANGE.into(),
                "".into(),
                BasicPublishOptions::default(),
                key.as_bytes(),
                BasicProperties::default()
                    .with_app_id(self.replica.as_str().into())
                    .with_type(kind.into()),
            )
            .await?;
        let _ = channel.close(200, "done".into()).await;
        Ok(())
    }

    /// Whether this replica's purge queue is bound and consumed (purges announced from now on
    /// reach it).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Listen for other replicas' purges, dropping their keys from `renderer`'s memory, until
    /// the renderer is dropped (the app stopped), reconnecting as needed.
    pub fn listen_for_purges(self: &Arc<Self>, renderer: Weak<Renderer>, metrics: Arc<Metrics>) {
        let broker = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while renderer.upgrade().is_some() {
                if let Err(e) = broker.consume_purges(&renderer, &metrics).await {
                    tracing::warn!(error = %e, "purge broadcast: broker unreachable; retrying");
                }
                broker.listening.store(false, Ordering::Release);
                metrics.purge_listener_up.set(0);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    async fn consume_purges(
        &self,
        renderer: &Weak<Renderer>,
        metrics: &Metrics,
    ) -> lapin::Result<()> {
        let channel = self.channel().await?;
        declare_purge_exchange(&channel).await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                PURGE_EXCHANGE.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        self.listening.store(true, Ordering::Release);
        metrics.purge_listener_up.set(1);
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let Some(renderer) = renderer.upgrade() else {
                return Ok(());
            };
            let own = delivery
                .properties
                .app_id()
                .as_ref()
                .is_some_and(|id| id.as_str() == self.replica);
            let refined = delivery
                .properties
                .kind()
                .as_ref()
                .is_some_and(|k| k.as_str() == REFINED);
            if let (false, Ok(key)) = (own, std::str::from_utf8(&delivery.data)) {
                let result = if refined {
                    renderer.cache().invalidate(key).await;
                    "refined_received"
                } else {
                    renderer.cache().purge(key);
                    "received"
                };
                metrics.purges.with_label_values(&[result]).inc();
                tracing::debug!(key, refined, "memory dropped on another replica's word");
            }
        }
        Ok(())
    }
}

/// `step`, or a timed-out IO error after `limit`.
async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = lapin::Result<T>>,
) -> lapin::Result<T> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("broker did not answer within {limit:?}"),
        )
        .into()),
    }
}

async fn declare_purge_exchange(channel: &Channel) -> lapin::Result<()> {
    declare_exchange(channel, PURGE_EXCHANGE, ExchangeKind::Fanout).await
}

/// Declare a durable exchange (the same arguments everywhere, or the broker refuses).
pub async fn declare_exchange(
    channel: &Channel,
    name: &str,
    kind: ExchangeKind,
) -> lapin::Result<()> {
    channel
        .exchange_declare(
            name.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Declare the jobs queue (durable, quorum, dead-lettering after `attempts` deliveries) and its
/// dead-letter queue. Publishers and workers declare the same, so either may come first.
pub async fn declare_jobs(channel: &Channel, attempts: u32) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(DEAD.into(), durable, FieldTable::default())
        .await?;
    let mut args = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    args.insert(ShortString::from("x-queue-type"), text("quorum"));
    // A quorum queue counts returns; past the limit the job is dead-lettered.
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(i64::from(attempts.saturating_sub(1))),
    );
    args.insert(ShortString::from("x-dead-letter-exchange"), text(""));
    args.insert(ShortString::from("x-dead-letter-routing-key"), text(DEAD));
    channel
        .queue_declare(QUEUE.into(), durable, args)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that accepts connections and never speaks (RabbitMQ booting) is an error after
    /// the connect timeout, not a lock held for ever.
    #[tokio::test]
    async fn a_silent_broker_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = std::thread::spawn(move || {
            let mut sockets = Vec::new();
            for socket in listener.incoming().take(2) {
                sockets.push(socket);
                std::thread::sleep(Duration::from_secs(3));
            }
        });
        let mut broker = Broker::new(&format!("amqp://guest:guest@127.0.0.1:{port}/%2f")).unwrap();
        broker.connect_timeout = Duration::from_millis(300);
        let outcome = tokio::time::timeout(Duration::from_secs(5), broker.channel()).await;
        let error = outcome.expect("channel() returned").unwrap_err();
        assert!(error.to_string().contains("did not answer"), "{error}");
        drop(held);
    }
}
