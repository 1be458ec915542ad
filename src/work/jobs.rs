//! Background jobs through RabbitMQ (`--queue`): `refract serve` puts them in the outbox (so a
//! job outlives a broker outage), the outbox publishes them to the durable queue `refract.jobs`,
//! and workers — `refract worker`, or `refract serve --consume` — take them with a bounded
//! prefetch (`--worker-prefetch`) and acknowledge each only after its work is in the variant
//! store. A worker that dies mid-job leaves it unacknowledged, so the broker delivers it again; a
//! job that keeps failing is dead-lettered to `refract.jobs.dead` after `--job-attempts`
//! deliveries (a quorum queue's delivery limit). Jobs are idempotent: an eager render done twice
//! stores the same object under the same name.
//!
//! Without `--queue` the same jobs run in-process ([`crate::work::background`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::Channel;

use crate::app::{App, WeakApp};
use crate::work::broker::Broker;
use crate::work::outbox::{Lane, Topology};

/// The jobs queue.
pub const QUEUE: &str = "refract.jobs";

/// Where jobs go after their last failed attempt.
pub const DEAD: &str = "refract.jobs.dead";

/// Longest wait between attempts while the broker is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long a finished job waits for its variants to be written to the store before it is
/// acknowledged anyway (the store being down costs renders, never answers).
const STORE_FLUSH: Duration = Duration::from_secs(30);

/// A unit of background work.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Render the `--eager` variants of the original under `key`.
    Eager {
        /// The original's key (as in its URL path, without the leading slash).
        key: String,
    },
    /// Render a first-rendered variant again with the refined encoder settings, replacing it
    /// in the variant store (and the memory caches). The request as it came, so the worker
    /// builds the same variant.
    Refine {
        /// The URL path.
        path: String,
        /// The URL query.
        query: Option<String>,
        /// The client's Accept class: `avif`, `webp` or `legacy`.
        accept: String,
        /// `Sec-CH-DPR`.
        dpr: Option<f64>,
        /// `Sec-CH-Width`.
        width: Option<u32>,
        /// `Save-Data: on`.
        save_data: bool,
    },
}

impl Job {
    /// Its kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Eager { .. } => "eager",
            Job::Refine { .. } => "refine",
        }
    }
}

/// The outbox lane jobs travel in: straight to [`QUEUE`] through the default exchange.
pub fn lane(attempts: u32) -> Lane {
    Lane {
        name: "jobs",
        exchange: String::new(),
        routing_key: QUEUE.to_owned(),
        kind: "refract.job",
        topology: Topology::Jobs { attempts },
    }
}

/// Declare the jobs queue (durable, quorum, dead-lettering after `attempts` deliveries) and its
/// dead-letter queue. Publishers and workers declare the same, so either may come first.
pub async fn declare(channel: &Channel, attempts: u32) -> lapin::Result<()> {
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

/// Take jobs from [`QUEUE`] until the app is dropped, reconnecting as needed.
pub fn consume(app: &App, broker: Arc<Broker>, prefetch: u16, attempts: u32) {
    let weak = app.downgrade();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while weak.upgrade().is_some() {
            match take(&weak, &broker, prefetch, attempts).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "jobs: broker unreachable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
}

async fn take(app: &WeakApp, broker: &Broker, prefetch: u16, attempts: u32) -> lapin::Result<()> {
    let channel = broker.channel().await?;
    declare(&channel, attempts).await?;
    channel
        .basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            QUEUE.into(),
            format!("refract-{}", broker.replica()).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = QUEUE, prefetch, "jobs: consuming");
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let Some(app) = app.upgrade() else {
            return Ok(());
        };
        // Each job on its own task: the prefetch bounds how many run at once.
        tokio::spawn(async move {
            let job: Job = match serde_json::from_slice(&delivery.data) {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!(error = %e, "jobs: not a job; dead-lettered");
                    crate::work::background::count(&app, "unknown", "unreadable");
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: false,
                            ..BasicNackOptions::default()
                        })
                        .await;
                    return;
                }
            };
            tracing::info!(?job, redelivered = delivery.redelivered, "job started");
            let result = crate::work::background::run(&app, &job).await;
            if let Some(store) = app.variant_store() {
                store.flush(STORE_FLUSH).await;
            }
            let count = |result: &str| crate::work::background::count(&app, job.kind(), result);
            match result {
                Ok(()) => {
                    count("done");
                    tracing::info!(?job, "job done");
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                Err(e) => {
                    count("failed");
                    tracing::warn!(?job, error = %e, "job failed; the broker delivers it again");
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await;
                }
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_tagged_json() {
        let job = Job::Eager {
            key: "cats/a.jpg".into(),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(text, r#"{"kind":"eager","key":"cats/a.jpg"}"#);
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
    }
}
