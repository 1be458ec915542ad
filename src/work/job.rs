//! A unit of background work ([`Job`]) and how it is done ([`Runner`]): eager renders after an
//! upload, refinements of first renders. The same jobs run embedded ([`super::background`]) or
//! from RabbitMQ ([`super::queue`]). Jobs are idempotent: done twice, they store the same object
//! under the same name.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::observe::Metrics;
use crate::render::Renderer;
use crate::request::{AcceptClass, Hints};
use crate::work::broker::Broker;

/// A unit of background work.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Render the `--eager` variants of the original under `key`.
    Eager {
        /// The original's key (as in its URL path, without the leading slash).
        key: String,
    },
    /// Compute a learned result (a mask, an upscaled original) for the original under `key`
    /// and put it in the variant store, unless it is there already.
    Learned {
        /// The original's key.
        key: String,
        /// The SHA-256 (hex) of the original the request saw.
        digest: String,
        /// What to compute.
        op: crate::transform::learned::Op,
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
            Job::Learned { .. } => "learned",
            Job::Refine { .. } => "refine",
        }
    }
}

/// How long background work waits before looking again when requests are queued for a permit.
const YIELD: Duration = Duration::from_millis(20);

/// What background work needs, and no more: the render handle (held weakly, so work never keeps
/// a stopped app alive), the broker to announce refinements on, the `--eager` queries, metrics.
#[derive(Clone)]
pub struct Runner {
    renderer: Weak<Renderer>,
    broker: Option<Arc<Broker>>,
    eager: Arc<[String]>,
    metrics: Arc<Metrics>,
}

impl Runner {
    /// A runner rendering through `renderer`; `eager`: the query strings rendered after each
    /// upload (e.g. `w=640&fm=auto`).
    pub fn new(
        renderer: Weak<Renderer>,
        broker: Option<Arc<Broker>>,
        eager: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> Runner {
        Runner {
            renderer,
            broker,
            eager: eager.into(),
            metrics,
        }
    }

    /// The renderer, unless the app that owns it has stopped.
    pub fn renderer(&self) -> Option<Arc<Renderer>> {
        self.renderer.upgrade()
    }

    /// Whether uploads have eager renders to queue (`--eager`).
    pub fn has_eager(&self) -> bool {
        !self.eager.is_empty()
    }

    /// Count a job of `kind` in `refract_background_jobs_total`.
    pub fn count(&self, kind: &str, result: &str) {
        self.metrics
            .background_jobs
            .with_label_values(&[kind, result])
            .inc();
    }

    /// Do `job` with `renderer` (here, or in a worker that took it from the queue).
    pub async fn run(&self, renderer: &Renderer, job: &Job) -> Result<(), Error> {
        match job {
            Job::Eager { key } => self.eager(renderer, key).await,
            Job::Learned { key, digest, op } => {
                let digest = crate::encoding::digest::from_hex(digest).ok_or_else(|| {
                    Error::Internal(format!("learned job with a bad digest {digest}"))
                })?;
                renderer.learn(key, digest, *op).await
            }
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
                let request = renderer.request(path, query.as_deref(), hints)?;
                yield_to_requests(renderer).await;
                let cache_key = renderer.refine(&request, accept).await?;
                // The other replicas drop their first render from memory and take the store's.
                if let Some(broker) = &self.broker {
                    if let Err(e) = broker.announce_refined(&cache_key).await {
                        tracing::warn!(key = %cache_key, error = %e, "refined variant not announced");
                    }
                }
                Ok(())
            }
        }
    }

    /// Render every `--eager` variant of `key`: for `fm=auto`, once per Accept class.
    async fn eager(&self, renderer: &Renderer, key: &str) -> Result<(), Error> {
        for query in self.eager.iter() {
            // Built as a request's is (presets, bounds), so the eager variant is the one requests
            // ask for.
            let request = renderer.request(&format!("/{key}"), Some(query), Hints::default())?;
            let classes: &[AcceptClass] = if request.varies_on_accept() {
                &[AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Legacy]
            } else {
                &[AcceptClass::Legacy]
            };
            for &accept in classes {
                yield_to_requests(renderer).await;
                renderer.render(&request, accept).await.0?;
            }
        }
        Ok(())
    }
}

/// Background work is the lowest priority: wait while any request waits for a transform permit.
async fn yield_to_requests(renderer: &Renderer) {
    while renderer.queue_depth() > 0 {
        tokio::time::sleep(YIELD).await;
    }
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
