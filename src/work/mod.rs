//! Background work and what replicas tell each other: the embedded queue ([`background`]),
//! RabbitMQ ([`broker`]), the durable outbox ([`outbox`]), jobs and how they are done
//! ([`job`]), the RabbitMQ jobs queue and its consumer ([`queue`]), upload events ([`events`]).
//! [`Fleet`] composes them for the app.
//!
//! Work is given what it needs at construction — a weak render handle
//! ([`crate::render::Renderer`]), metrics, the configuration — never the app, and never calls
//! back up into `app` or `server`. The request path only enqueues.
//!
//! May import: `config`, `error`, `observe`, `request`, `render` (and what it re-exports).

pub mod background;
pub mod broker;
pub mod events;
pub mod job;
pub mod outbox;
pub mod queue;

use std::sync::{Arc, Weak};

use crate::config::{Config, Refine};
use crate::observe::{Lookup, Metrics};
use crate::render::Renderer;
use crate::request::{AcceptClass, Hints};
use crate::transform::Rendered;

use background::Background;
use broker::Broker;
use events::UploadEvent;
use job::{Job, Runner};
use outbox::Outbox;

/// The fleet part of an app: the RabbitMQ link and the outbox (with `--queue`), and the
/// embedded queue otherwise; it queues jobs, publishes upload events and announces purges.
pub struct Fleet {
    runner: Runner,
    background: Arc<Background>,
    outbox: Option<Arc<Outbox>>,
    broker: Option<Arc<Broker>>,
    refine: Refine,
    refine_after: u32,
    metrics: Arc<Metrics>,
}

impl Fleet {
    /// Connect what the configuration asks for. `uploads`: whether this process takes uploads
    /// (their events and eager jobs go through the outbox). With a runtime, start listening for
    /// other replicas' purges and, with `--consume` (`refract worker`), taking jobs.
    pub fn new(
        config: &Config,
        uploads: bool,
        renderer: Weak<Renderer>,
        metrics: Arc<Metrics>,
    ) -> Result<Fleet, String> {
        let broker = config
            .queue
            .as_deref()
            .map(Broker::new)
            .transpose()?
            .map(Arc::new);
        // What this process sends RabbitMQ goes through the outbox: upload events, and the eager
        // renders uploads ask for (jobs for the workers).
        let mut lanes = Vec::new();
        if uploads {
            lanes.push(events::lane(&config.events_exchange));
        }
        if (uploads && !config.eager.is_empty())
            || config.refine != Refine::Off
            || config.models.is_some()
        {
            lanes.push(queue::lane(config.job_attempts));
        }
        // Upload events must not be lost: with --queue, uploads need the outbox. Refinement
        // (on by default) goes through it when there is one, else runs on this replica.
        if broker.is_some() && uploads && !config.worker && config.outbox.is_none() {
            return Err(
                "--queue with --upload needs --outbox DIR (a persistent directory: \
                 upload events and jobs wait there until the broker confirms them)"
                    .into(),
            );
        }
        let outbox = match (&broker, config.outbox.as_deref()) {
            (Some(broker), Some(dir)) if !lanes.is_empty() && !config.worker => {
                let outbox = Outbox::new(dir, lanes, broker.clone(), metrics.clone())?;
                // Started now when there is a runtime (what an earlier run left goes out at
                // once), else with the first message.
                if tokio::runtime::Handle::try_current().is_ok() {
                    outbox.start();
                }
                Some(Arc::new(outbox))
            }
            _ => None,
        };
        let runner = Runner::new(
            renderer.clone(),
            broker.clone(),
            config.eager.clone(),
            metrics.clone(),
        );
        // Other replicas' purges: listened for from now on when there is a runtime (serve,
        // worker, tests); an app built outside one (benches) does not listen.
        if let (Some(broker), Ok(_)) = (&broker, tokio::runtime::Handle::try_current()) {
            broker.listen_for_purges(renderer.clone(), metrics.clone());
            // `refract worker` and `serve --consume`: take background jobs from the queue.
            if config.consume {
                queue::consume(
                    runner.clone(),
                    broker.clone(),
                    config.worker_prefetch,
                    config.job_attempts,
                );
            }
        }
        let background = Arc::new(Background::new(runner.clone(), config.background_queue));
        // Learned results too dear to compute while a request waits: queued as jobs, here or
        // (with --queue and an outbox) for any worker.
        if let Some(renderer) = renderer.upgrade() {
            let (background, outbox, runner) = (background.clone(), outbox.clone(), runner.clone());
            renderer.learned().connect(move |deferred| {
                let job = Job::Learned {
                    key: deferred.key,
                    digest: crate::encoding::digest::hex(&deferred.digest),
                    op: deferred.op,
                };
                let (background, outbox, runner) =
                    (background.clone(), outbox.clone(), runner.clone());
                tokio::spawn(async move {
                    submit(&background, outbox.as_deref(), &runner, job).await;
                });
            });
        }
        Ok(Fleet {
            background,
            runner,
            outbox,
            broker,
            refine: config.refine,
            refine_after: config.refine_after,
            metrics,
        })
    }

    /// The RabbitMQ link, with `--queue`.
    pub fn broker(&self) -> Option<&Broker> {
        self.broker.as_deref()
    }

    /// The outbox of messages for RabbitMQ (with `--queue` and `--upload`).
    pub fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_deref()
    }

    /// Queue `job`. With `--queue`, through RabbitMQ: on disk in the outbox when this returns,
    /// for any worker. Embedded, it never waits: a full queue drops the job, counted as
    /// `dropped`.
    pub async fn submit(&self, job: Job) {
        submit(&self.background, self.outbox.as_deref(), &self.runner, job).await;
    }

    /// A new original was stored under `key`: queue its eager renders (`--eager`) and, with
    /// `--queue`, keep its `image.uploaded` event for publishing.
    pub async fn uploaded(&self, key: &str, event: UploadEvent) {
        if self.runner.has_eager() {
            self.submit(Job::Eager {
                key: key.to_owned(),
            })
            .await;
        }
        let Some(outbox) = &self.outbox else {
            return;
        };
        if let Err(e) = events::publish(outbox, event).await {
            // Stored, but its event could not be kept: say so loudly.
            self.metrics
                .outbox
                .with_label_values(&["events", "write_failed"])
                .inc();
            tracing::error!(key, error = %e, "upload event not written to the outbox");
        }
    }

    /// Note that `rendered`, a first render, was served for this request (`lookup` says how),
    /// and queue its refinement when it is due (`--refine`, `--refine-after`).
    pub async fn served_first(
        &self,
        path: &str,
        query: Option<&str>,
        hints: Hints,
        accept: AcceptClass,
        rendered: &Rendered,
        lookup: Lookup,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let due = match self.refine {
            Refine::Off => false,
            Refine::All => lookup == Lookup::Miss,
            Refine::Hot => {
                matches!(lookup, Lookup::Hit | Lookup::Store)
                    && rendered.served.fetch_add(1, Relaxed) + 1 == self.refine_after
            }
        };
        if due {
            let job = Job::Refine {
                path: path.to_owned(),
                query: query.map(str::to_owned),
                accept: accept.name().to_owned(),
                dpr: hints.dpr,
                width: hints.width,
                save_data: hints.save_data,
            };
            self.submit(job).await;
        }
    }

    /// Tell the other replicas (with `--queue`) to drop the original `key`'s variants from their
    /// memory; without it, their memory keeps them until `--cache-ttl`.
    pub async fn announce_purge(&self, key: &str) {
        let Some(broker) = &self.broker else {
            return;
        };
        let result = match broker.announce_purge(key).await {
            Ok(()) => "announced",
            Err(e) => {
                tracing::warn!(%key, error = %e, "purge not announced to the other replicas");
                "announce_failed"
            }
        };
        self.metrics.purges.with_label_values(&[result]).inc();
    }
}

/// Queue `job`: through the outbox when it has a jobs lane (RabbitMQ), else embedded.
async fn submit(background: &Background, outbox: Option<&Outbox>, runner: &Runner, job: Job) {
    let Some(outbox) = outbox.filter(|o| o.has("jobs")) else {
        background.submit(job);
        return;
    };
    let body = serde_json::to_vec(&job).expect("serialisable");
    let result = match outbox.put("jobs", outbox.next_id(), body).await {
        Ok(()) => "queued",
        Err(e) => {
            tracing::error!(error = %e, ?job, "job not written to the outbox");
            "dropped"
        }
    };
    runner.count(job.kind(), result);
}
