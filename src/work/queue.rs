//! Background jobs through RabbitMQ (`--queue`): `refract serve` puts them in the outbox (so a
//! job outlives a broker outage), the outbox publishes them to the durable queue `refract.jobs`,
//! and workers — `refract worker`, or `refract serve --consume` — take them with a bounded
//! prefetch (`--worker-prefetch`) and acknowledge each only after its work is in the variant
//! store. A worker that dies mid-job leaves it unacknowledged, so the broker delivers it again; a
//! job that keeps failing is dead-lettered to `refract.jobs.dead` after `--job-attempts`
//! deliveries (a quorum queue's delivery limit). Jobs are idempotent: an eager render done twice
//! stores the same object under the same name.
//!
//! Without `--queue` the same jobs run in-process ([`crate::work::background`]); what a job is and
//! how it is done is in [`crate::work::job`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;

use crate::work::broker::{declare_jobs, Broker};
use crate::work::job::{Job, Runner};
use crate::work::outbox::{Lane, Topology};

use crate::work::broker::QUEUE;

/// Longest wait between attempts while the broker is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long a finished job waits for its variants to be written to the store before it is
/// acknowledged anyway (the store being down costs renders, never answers).
const STORE_FLUSH: Duration = Duration::from_secs(30);

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

/// Take jobs from [`QUEUE`] with `runner` until its renderer is dropped (the app stopped),
/// reconnecting as needed.
pub fn consume(runner: Runner, broker: Arc<Broker>, prefetch: u16, attempts: u32) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while runner.renderer().is_some() {
            match take(&runner, &broker, prefetch, attempts).await {
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

async fn take(runner: &Runner, broker: &Broker, prefetch: u16, attempts: u32) -> lapin::Result<()> {
    let channel = broker.channel().await?;
    declare_jobs(&channel, attempts).await?;
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
        let Some(renderer) = runner.renderer() else {
            return Ok(());
        };
        let runner = runner.clone();
        // Each job on its own task: the prefetch bounds how many run at once.
        tokio::spawn(async move {
            let job: Job = match serde_json::from_slice(&delivery.data) {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!(error = %e, "jobs: not a job; dead-lettered");
                    runner.count("unknown", "unreadable");
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
            let result = runner.run(&renderer, &job).await;
            if let Some(store) = renderer.origin().store() {
                store.flush(STORE_FLUSH).await;
            }
            let count = |result: &str| runner.count(job.kind(), result);
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
