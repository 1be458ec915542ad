//! [`App`]: a running origin, composed of a few parts with one job each, built once from a
//! [`Config`] and cheap to clone into every connection. No globals: tests build one per
//! temporary directory.
//!
//! | part | its job |
//! |---|---|
//! | [`Renderer`] | from a URL to a rendered variant: sources and variant store ([`crate::render::Origin`]), caches, coalescing, transforms |
//! | [`Fleet`] | background work and the other replicas: jobs, outbox, RabbitMQ |
//! | [`Observe`] | metrics, analytics, the access log |
//! | [`Uploads`] | `POST /upload`, when on |
//!
//! Callers take the part they use; the app itself only composes what spans parts (a purge is
//! the renderer's and the fleet's), and says whether it is ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::error::Error;
use crate::observe::{AccessLog, Analytics, Metrics, Observe};
use crate::render::Renderer;
use crate::request::Key;
use crate::store::Purged;
use crate::transform::vips::{self, Version};
use crate::transform::Limits;
use crate::upload::Uploads;
use crate::work::Fleet;

/// A running origin's state. Clone it freely: clones share everything.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The only strong handle: background work holds it weakly, so it stops with the app.
    renderer: Arc<Renderer>,
    fleet: Fleet,
    observe: Observe,
    uploads: Option<Uploads>,
    accepting: AtomicBool,
    vips: Version,
}

impl App {
    /// Build the origin: initialise libvips (once per process), open the sources and the
    /// variant store, size the caches and the transform permits, connect the fleet.
    pub fn new(config: Config) -> Result<App, String> {
        let vips = vips::init().map_err(|e| format!("libvips failed to start: {e}"))?;
        let metrics = Arc::new(Metrics::new());
        // The same limits bound what is rendered and what is uploaded.
        let limits = Limits {
            max_pixels: config.max_pixels,
            max_frames: config.max_frames,
            max_dimension: config.max_dimension,
            deadline: config.transform_timeout,
            inputs: config.formats,
            json_gps: config.json_gps,
        };
        let renderer = Arc::new(Renderer::new(&config, limits, vips, metrics.clone())?);
        let uploads = match &config.upload {
            None => None,
            Some(u) => {
                if !renderer.origin().mounts().writable(&u.to) {
                    return Err(format!(
                        "--upload-to /{}: no file or s3 source is mounted there",
                        u.to
                    ));
                }
                Some(Uploads {
                    auth: u.auth.clone(),
                    max_bytes: u.max_bytes,
                    prefix: u.to.clone(),
                    urls: crate::request::srcset::UrlBuilder {
                        base: u.public_url.clone().unwrap_or_default(),
                        sign_key: config.sign_keys.0.first().cloned(),
                        scheme: config.sign_scheme,
                        ..Default::default()
                    },
                    limits,
                    locks: crate::upload::lock_stripes(),
                })
            }
        };
        // A bad --eager query is a start-up error, not a failed job after every upload.
        for query in &config.eager {
            crate::request::ImageRequest::with_presets(
                Key::new("eager-check.jpg").map_err(|e| e.to_string())?,
                Some(query),
                // A typo in the configuration is an error, however lenient URLs are.
                crate::request::ParamLimits {
                    max_dimension: config.max_dimension,
                    strict: true,
                },
                crate::request::Hints::default(),
                &config.presets,
            )
            .map_err(|e| format!("--eager {query}: {e}"))?;
        }
        let fleet = Fleet::new(
            &config,
            uploads.is_some(),
            Arc::downgrade(&renderer),
            metrics.clone(),
        )?;
        let observe = Observe {
            analytics: Analytics::new(config.analytics_top),
            access_log: AccessLog::new(
                config.log_format,
                config.access_log,
                metrics.access_log_dropped.clone(),
            ),
            metrics,
        };
        Ok(App {
            inner: Arc::new(Inner {
                config,
                renderer,
                fleet,
                observe,
                uploads,
                accepting: AtomicBool::new(true),
                vips,
            }),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The render path: request building, caches, sources, variant store, transforms.
    pub fn renderer(&self) -> &Renderer {
        &self.inner.renderer
    }

    /// Background work and the other replicas.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    /// Metrics, analytics and the access log.
    pub fn observe(&self) -> &Observe {
        &self.inner.observe
    }

    /// The upload endpoint, when `--upload` is on.
    pub fn uploads(&self) -> Option<&Uploads> {
        self.inner.uploads.as_ref()
    }

    /// Drop every variant of the original `key`: from this replica's memory and from the
    /// variant store; with `--queue`, the other replicas are told to drop theirs from memory
    /// (without it, their memory keeps them until `--cache-ttl`).
    pub async fn purge(&self, key: &Key) -> Result<Purged, Error> {
        let purged = self.inner.renderer.purge(key).await?;
        self.inner.fleet.announce_purge(key.as_str()).await;
        Ok(purged)
    }

    /// Every metric in the Prometheus text format, with sampled gauges brought up to date.
    pub async fn metrics_text(&self) -> String {
        self.inner.renderer.sample().await;
        self.inner.observe.metrics.encode()
    }

    /// The libvips version in use.
    pub fn vips_version(&self) -> Version {
        self.inner.vips
    }

    /// Whether the origin should receive traffic (`/readyz`): false once shutdown has begun.
    pub fn is_ready(&self) -> bool {
        self.inner.accepting.load(Ordering::Relaxed)
    }

    /// Mark the origin as shutting down: `/readyz` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.accepting.store(false, Ordering::Relaxed);
    }
}
