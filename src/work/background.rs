//! Background work, embedded: an in-process bounded queue and one low-priority worker inside
//! `refract serve` — nothing to install. It renders an upload's configured variants eagerly
//! (`--eager`), into the memory cache and the variant store, so the first visitor of each gets a
//! hit, and refines first renders (`--refine`).
//!
//! Priority: the worker renders through the same transform permits as requests, and before each
//! render waits until no request is queued for a permit, so background work never delays a
//! request beyond the one render it may have started. The queue is bounded
//! (`--background-queue`): when it is full a job is dropped and counted, and the upload that
//! asked for it is unaffected (its variants then render on first request, as without `--eager`).
//!
//! The worker starts with the first job (the app may be built outside a runtime) and ends when
//! the renderer is dropped with the app: it holds it weakly between jobs.

use std::sync::OnceLock;

use tokio::sync::mpsc;

use crate::work::job::{Job, Runner};

/// The embedded queue and its worker.
pub struct Background {
    runner: Runner,
    capacity: usize,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Background {
    /// A queue of at most `capacity` waiting jobs, done by `runner`.
    pub fn new(runner: Runner, capacity: usize) -> Background {
        Background {
            runner,
            capacity: capacity.max(1),
            queue: OnceLock::new(),
        }
    }

    /// Queue `job`; it never waits: a full queue drops the job, counted as `dropped`.
    pub fn submit(&self, job: Job) {
        let kind = job.kind();
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(self.capacity);
            tokio::spawn(work(self.runner.clone(), rx));
            tx
        });
        let result = match queue.try_send(job) {
            Ok(()) => "queued",
            Err(_) => "dropped",
        };
        self.runner.count(kind, result);
    }
}

async fn work(runner: Runner, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        let Some(renderer) = runner.renderer() else {
            break;
        };
        match runner.run(&renderer, &job).await {
            Ok(()) => runner.count(job.kind(), "done"),
            Err(e) => {
                tracing::warn!(?job, error = %e, "background job failed");
                runner.count(job.kind(), "failed");
            }
        }
    }
}
