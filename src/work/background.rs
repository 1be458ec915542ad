//! Background work, embedded: an in-process bounded queue and one low-priority worker inside
//! `refract serve` — nothing to install. Today it renders an upload's configured variants
//! eagerly (`--eager`), into the memory cache and the variant store, so the first visitor of
//! each gets a hit.
//!
//! Priority: the worker renders through the same transform permits as requests, and before each
//! render waits until no request is queued for a permit, so background work never delays a
//! request beyond the one render it may have started. The queue is bounded
//! (`--background-queue`): when it is full a job is dropped and counted, and the upload that
//! asked for it is unaffected (its variants then render on first request, as without `--eager`).
//!
//! The worker starts with the first job (the app may be built outside a runtime) and ends when
//! the app is dropped: it holds the app weakly between jobs.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::{App, WeakApp};
use crate::error::Error;
use crate::request::{AcceptClass, Hints};

pub use crate::work::jobs::Job;

/// The embedded queue and its worker.
pub struct Background {
    eager: Vec<String>,
    capacity: usize,
    queue: OnceLock<mpsc::Sender<Job>>,
}

/// How long the worker waits before looking again when requests are queued for a permit.
const YIELD: Duration = Duration::from_millis(20);

impl Background {
    /// `eager`: the query strings rendered after each upload (e.g. `w=640&fm=auto`); `capacity`:
    /// jobs that may wait.
    pub fn new(eager: Vec<String>, capacity: usize) -> Background {
        Background {
            eager,
            capacity: capacity.max(1),
            queue: OnceLock::new(),
        }
    }

    /// Queue the eager renders of a newly stored original (nothing when `--eager` is unset).
    pub async fn uploaded(&self, app: &App, key: &str) {
        if self.eager.is_empty() {
            return;
        }
        self.submit(
            app,
            Job::Eager {
                key: key.to_owned(),
            },
        )
        .await;
    }

    /// Queue `job`. With `--queue`, through RabbitMQ: on disk in the outbox when this returns,
    /// for any worker. Embedded, it never waits: a full queue drops the job, counted as
    /// `dropped`.
    pub async fn submit(&self, app: &App, job: Job) {
        let kind = job.kind();
        if let Some(outbox) = app.outbox().filter(|o| o.has("jobs")) {
            let body = serde_json::to_vec(&job).expect("serialisable");
            let result = match outbox.put("jobs", outbox.next_id(), body).await {
                Ok(()) => "queued",
                Err(e) => {
                    tracing::error!(error = %e, ?job, "job not written to the outbox");
                    "dropped"
                }
            };
            count(app, kind, result);
            return;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(self.capacity);
            tokio::spawn(work(app.downgrade(), rx));
            tx
        });
        let result = match queue.try_send(job) {
            Ok(()) => "queued",
            Err(_) => "dropped",
        };
        count(app, kind, result);
    }

    /// The `--eager` query strings.
    pub fn eager(&self) -> &[String] {
        &self.eager
    }
}

/// Background work is the lowest priority: wait while any request waits for a transform permit.
async fn yield_to_requests(app: &App) {
    while app.queue_depth() > 0 {
        tokio::time::sleep(YIELD).await;
    }
}

/// Count a job of `kind` in `refract_background_jobs_total`.
pub(crate) fn count(app: &App, kind: &str, result: &str) {
    app.metrics()
        .background_jobs
        .with_label_values(&[kind, result])
        .inc();
}

async fn work(app: WeakApp, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        let Some(app) = app.upgrade() else { break };
        match run(&app, &job).await {
            Ok(()) => count(&app, job.kind(), "done"),
            Err(e) => {
                tracing::warn!(?job, error = %e, "background job failed");
                count(&app, job.kind(), "failed");
            }
        }
    }
}

/// Do `job` (here, or in a worker that took it from the queue).
pub async fn run(app: &App, job: &Job) -> Result<(), Error> {
    match job {
        Job::Eager { key } => eager(app, key).await,
        Job::Refine {
            path,
            query,
            accept,
            dpr,
            width,
            save_data,
        } => {
            let hints = Hints {
                dpr: *dpr,
                width: *width,
                save_data: *save_data,
            };
            let accept = AcceptClass::from_name(accept).ok_or_else(|| {
                Error::Internal(format!("refine job with an unknown accept class {accept}"))
            })?;
            let request = app.request(path, query.as_deref(), hints)?;
            yield_to_requests(app).await;
            app.refine(&request, accept).await
        }
    }
}

/// Render every `--eager` variant of `key`: for `fm=auto`, once per Accept class.
async fn eager(app: &App, key: &str) -> Result<(), Error> {
    for query in app.background().eager() {
        // Built as a request's is (presets, bounds), so the eager variant is the one requests ask for.
        let request = app.request(&format!("/{key}"), Some(query), Hints::default())?;
        let classes: &[AcceptClass] = if request.varies_on_accept() {
            &[AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Legacy]
        } else {
            &[AcceptClass::Legacy]
        };
        for &accept in classes {
            yield_to_requests(app).await;
            app.render(&request, accept).await.0?;
        }
    }
    Ok(())
}
