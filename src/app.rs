//! [`App`]: everything a running origin owns — configuration, the source of originals, the cache,
//! the transform processor — built once from a [`Config`] and cheap to clone into every
//! connection. No globals: tests build one per temporary directory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::Instrument as _;

use crate::config::Config;
use crate::error::Error;
use crate::observe::access_log::AccessLog;
use crate::observe::analytics::Analytics;
use crate::observe::metrics::Metrics;
use crate::observe::Lookup;
use crate::render::cache::RenderCache;
use crate::request::params::{Overlay, Overlays};
use crate::request::signature::Verifier;
use crate::request::{AcceptClass, ImageRequest, Key, ParamLimits};
use crate::source::mounts::OriginalsCache;
use crate::source::{Mounts, SourceSettings};
use crate::store::{Purged, VariantStore};
use crate::transform::encode::Tier;
use crate::transform::master::Masters;
use crate::transform::overlay::{Layer, Layers};
use crate::transform::vips::{self, Version};
use crate::transform::{Limits, Processor, Rendered};

/// A running origin's state. Clone it freely: clones share everything.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    mounts: Mounts,
    cache: RenderCache,
    processor: Processor,
    verifier: Option<Verifier>,
    metrics: Arc<Metrics>,
    analytics: Analytics,
    access_log: AccessLog,
    uploads: Option<crate::upload::Uploads>,
    store: Option<VariantStore>,
    /// `Cache-Control` of image responses (made once: hits format nothing).
    cache_control: hyper::header::HeaderValue,
    /// `Cache-Control` of first renders (`--refine`): short, so a CDN comes back for the refined.
    first_cache_control: hyper::header::HeaderValue,
    accepting: AtomicBool,
    vips: Version,
    background: crate::work::background::Background,
    outbox: Option<crate::work::outbox::Outbox>,
    broker: Option<Arc<crate::work::broker::Broker>>,
    /// Refinement renders allowed at once (`--refine-cpu`).
    refining: tokio::sync::Semaphore,
    /// Responses kept ready for hits (see [`crate::server::hot`]).
    hot: crate::server::hot::HotResponses,
}

/// A handle on the app that does not keep it alive (for background workers).
pub struct WeakApp(std::sync::Weak<Inner>);

impl WeakApp {
    /// The app, unless it has been dropped.
    pub fn upgrade(&self) -> Option<App> {
        self.0.upgrade().map(|inner| App { inner })
    }
}

impl App {
    /// Build the origin: initialise libvips (once per process), open the source, size the cache
    /// and the transform permits.
    pub fn new(config: Config) -> Result<App, String> {
        let vips = vips::init().map_err(|e| format!("libvips failed to start: {e}"))?;
        let metrics = Arc::new(Metrics::new());
        let settings = SourceSettings {
            max_bytes: config.max_source_bytes,
            timeout: config.source_timeout,
            net: config.net.clone(),
        };
        let sources = config
            .sources
            .iter()
            .map(|(prefix, url)| {
                let source = crate::source::open(url, &settings)
                    .map_err(|e| format!("--source {prefix}={url}: {e}"))?;
                Ok((prefix.clone(), source))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mounts = Mounts::new(
            sources,
            OriginalsCache {
                max_bytes: config.originals_cache_size,
                revalidate_after: config.originals_revalidate_after,
                ttl: config.cache_ttl,
            },
            config.source_timeout,
            metrics.clone(),
        )?;
        let cache = RenderCache::new(
            config.cache_size,
            config.cache_ttl,
            metrics.cache_evictions.clone(),
        );
        // Fonts for `txt`: the built-in set and --fonts, before anything renders text.
        let mut fonts = vec![crate::transform::text::builtin_fonts()];
        fonts.extend(config.fonts.iter().cloned());
        crate::transform::text::use_fonts(&fonts);
        // The same limits bound what is rendered and what is uploaded.
        let limits = Limits {
            max_pixels: config.max_pixels,
            max_frames: config.max_frames,
            max_dimension: config.max_dimension,
            deadline: config.transform_timeout,
            inputs: config.formats,
            json_gps: config.json_gps,
        };
        let processor = Processor::new(
            config.max_concurrency,
            config.max_queue,
            limits,
            Masters::new(config.master_cache_size, metrics.masters.clone()),
            metrics.clone(),
        );
        let verifier = Verifier::with_scheme(&config.sign_keys.0, config.sign_scheme);
        let uploads = match &config.upload {
            None => None,
            Some(u) => {
                if !mounts.writable(&u.to) {
                    return Err(format!(
                        "--upload-to /{}: no file or s3 source is mounted there",
                        u.to
                    ));
                }
                Some(crate::upload::Uploads {
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
        let broker = config
            .queue
            .as_deref()
            .map(crate::work::broker::Broker::new)
            .transpose()?
            .map(Arc::new);
        // What this process sends RabbitMQ goes through the outbox: upload events, and the eager
        // renders uploads ask for (jobs for the workers).
        let mut lanes = Vec::new();
        if uploads.is_some() {
            lanes.push(crate::work::events::lane(&config.events_exchange));
        }
        if (uploads.is_some() && !config.eager.is_empty())
            || config.refine != crate::config::Refine::Off
        {
            lanes.push(crate::work::jobs::lane(config.job_attempts));
        }
        let outbox = match &broker {
            Some(broker) if !lanes.is_empty() && !config.worker => {
                let dir = config.outbox.as_deref().ok_or(
                    "--queue with --upload or --refine needs --outbox DIR (a persistent \
                     directory: upload events and jobs wait there until the broker confirms them)",
                )?;
                let outbox =
                    crate::work::outbox::Outbox::new(dir, lanes, broker.clone(), metrics.clone())?;
                // Started now when there is a runtime (what an earlier run left goes out at
                // once), else with the first message.
                if tokio::runtime::Handle::try_current().is_ok() {
                    outbox.start();
                }
                Some(outbox)
            }
            _ => None,
        };
        let store = match &config.variant_store {
            None => None,
            Some(url) => Some(VariantStore::new(
                crate::store::open_backend(url, config.variant_store_timeout)?,
                format!(
                    "libvips {vips}; pipeline {}",
                    crate::transform::PIPELINE_VERSION
                ),
                config.variant_store_timeout,
                metrics.clone(),
            )),
        };
        let analytics = Analytics::new(config.analytics_top);
        let access_log = AccessLog::new(
            config.log_format,
            config.access_log,
            metrics.access_log_dropped.clone(),
        );
        let cache_control = hyper::header::HeaderValue::from_str(
            &crate::server::response::cache_control(config.max_age.as_secs()),
        )
        .expect("digits are a valid header value");
        let first_age = config.first_max_age.as_secs();
        let first_cache_control = hyper::header::HeaderValue::from_str(&format!(
            "public, max-age={first_age}, stale-while-revalidate={first_age}"
        ))
        .expect("digits are a valid header value");
        // A bad --eager query is a start-up error, not a failed job after every upload.
        for query in &config.eager {
            crate::request::ImageRequest::with_presets(
                crate::request::Key::new("eager-check.jpg").map_err(|e| e.to_string())?,
                Some(query),
                ParamLimits {
                    max_dimension: config.max_dimension,
                },
                crate::request::Hints::default(),
                &config.presets,
            )
            .map_err(|e| format!("--eager {query}: {e}"))?;
        }
        let (config_eager, config_background_queue, config_refine_permits) = (
            config.eager.clone(),
            config.background_queue,
            config.refine_permits,
        );
        let app = App {
            inner: Arc::new(Inner {
                config,
                mounts,
                cache,
                processor,
                verifier,
                metrics,
                analytics,
                access_log,
                uploads,
                store,
                cache_control,
                first_cache_control,
                accepting: AtomicBool::new(true),
                vips,
                background: crate::work::background::Background::new(
                    config_eager,
                    config_background_queue,
                ),
                outbox,
                broker,
                refining: tokio::sync::Semaphore::new(config_refine_permits),
                hot: Default::default(),
            }),
        };
        // Other replicas' purges: listened for from now on when there is a runtime (serve,
        // worker, tests); an app built outside one (benches) does not listen.
        if let (Some(broker), Ok(_)) = (&app.inner.broker, tokio::runtime::Handle::try_current()) {
            broker.listen_for_purges(app.downgrade());
            // `refract worker` and `serve --consume`: take background jobs from the queue.
            if app.inner.config.consume {
                crate::work::jobs::consume(
                    &app,
                    broker.clone(),
                    app.inner.config.worker_prefetch,
                    app.inner.config.job_attempts,
                );
            }
        }
        Ok(app)
    }

    /// The RabbitMQ link, with `--queue`.
    pub fn broker(&self) -> Option<&crate::work::broker::Broker> {
        self.inner.broker.as_deref()
    }

    /// A handle that does not keep the app alive.
    pub fn downgrade(&self) -> WeakApp {
        WeakApp(Arc::downgrade(&self.inner))
    }

    /// The outbox of messages for RabbitMQ (with `--queue` and `--upload`).
    pub fn outbox(&self) -> Option<&crate::work::outbox::Outbox> {
        self.inner.outbox.as_ref()
    }

    /// The embedded background queue.
    pub fn background(&self) -> &crate::work::background::Background {
        &self.inner.background
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Limits the URL parser enforces.
    pub fn param_limits(&self) -> ParamLimits {
        ParamLimits {
            max_dimension: self.inner.config.max_dimension,
        }
    }

    /// The rendered variant of `request` for a client of `accept` class: from the memory cache,
    /// else the variant store, else fetched and transformed (once, however many clients ask at
    /// the same moment) and written behind to the store.
    pub async fn render(
        &self,
        request: &ImageRequest,
        accept: AcceptClass,
    ) -> (Result<Arc<Rendered>, Error>, Lookup) {
        let variant = request.variant(accept);
        let cache_key = variant.cache_key();
        let inner = &self.inner;
        let from_store = AtomicBool::new(false);
        let tier = match inner.config.refine {
            crate::config::Refine::Off => Tier::Standard,
            _ => Tier::First,
        };
        let render = async {
            let purge_key = crate::store::purge_tag(variant.key.as_str());
            let original = inner
                .mounts
                .fetch_original(&variant.key)
                .instrument(tracing::debug_span!("fetch", key = %variant.key))
                .await?;
            let layers = fetch_layers(&inner.mounts, &variant.params.overlays).await?;
            let mut rendered = match &inner.store {
                None => {
                    inner
                        .processor
                        .render(original.bytes(), layers, variant, tier)
                        .await?
                }
                Some(store) => {
                    // A changed overlay is a new variant: its content names the location too.
                    let digest = with_layers(original.digest().await?, &layers);
                    let location = store.locate(&cache_key, &purge_key, &digest);
                    match store.get(&location).await {
                        Some(stored) => {
                            from_store.store(true, Ordering::Relaxed);
                            stored
                        }
                        None => {
                            let rendered = inner
                                .processor
                                .render(original.bytes(), layers, variant, tier)
                                .await?;
                            store.put_behind(&location, &rendered);
                            rendered
                        }
                    }
                }
            };
            rendered.purge_tag = hyper::header::HeaderValue::from_str(&purge_key)
                .expect("hex digits are a valid header value");
            Ok(rendered)
        };
        let (result, lookup) = inner.cache.get_or_render(&cache_key, render).await;
        if lookup == Lookup::Miss && from_store.load(Ordering::Relaxed) {
            return (result, Lookup::Store);
        }
        (result, lookup)
    }

    /// Drop every variant of the original `key`: from this replica's memory and from the
    /// variant store; with `--queue`, the other replicas are told to drop theirs from memory
    /// (without it, their memory keeps them until `--cache-ttl`).
    pub async fn purge(&self, key: &Key) -> Result<Purged, Error> {
        self.inner.cache.purge(key.as_str());
        let purge_key = crate::store::purge_tag(key.as_str());
        let stored = match &self.inner.store {
            Some(store) => store.purge(&purge_key).await?,
            None => 0,
        };
        if let Some(broker) = &self.inner.broker {
            let result = match broker.announce_purge(key.as_str()).await {
                Ok(()) => "announced",
                Err(e) => {
                    tracing::warn!(%key, error = %e, "purge not announced to the other replicas");
                    "announce_failed"
                }
            };
            self.inner.metrics.purges.with_label_values(&[result]).inc();
        }
        Ok(Purged { purge_key, stored })
    }

    /// Render `request`'s variant for `accept` again with the refined encoder settings, and put
    /// it in place of the first render: in the variant store (same location, overwritten), in
    /// this replica's memory, and — with `--queue` — out of the other replicas' memory, so their
    /// next request takes the store's.
    pub async fn refine(&self, request: &ImageRequest, accept: AcceptClass) -> Result<(), Error> {
        let inner = &self.inner;
        // Within --refine-cpu: at most that many refinements render at once in this process.
        let _slot = inner
            .refining
            .acquire()
            .await
            .map_err(|_| Error::Internal("refinement permits closed".into()))?;
        let (rendered, cache_key, location) =
            self.render_with(request, accept, Tier::Refined).await?;
        if let (Some(store), Some(location)) = (&inner.store, location) {
            store.put_behind(&location, &rendered);
        }
        inner.cache.replace(&cache_key, Arc::new(rendered)).await;
        if let Some(broker) = &inner.broker {
            if let Err(e) = broker.announce_refined(&cache_key).await {
                tracing::warn!(key = %cache_key, error = %e, "refined variant not announced");
            }
        }
        Ok(())
    }

    /// Render `request`'s variant for `accept` with the encoder settings of `tier`, past every
    /// cache (refinement; the quality bench compares tiers with it), with its cache key and
    /// where the variant store keeps it.
    pub async fn render_with(
        &self,
        request: &ImageRequest,
        accept: AcceptClass,
        tier: Tier,
    ) -> Result<(Rendered, String, Option<crate::store::Location>), Error> {
        let variant = request.variant(accept);
        let cache_key = variant.cache_key();
        let inner = &self.inner;
        let purge_key = crate::store::purge_tag(variant.key.as_str());
        let original = inner.mounts.fetch_original(&variant.key).await?;
        let layers = fetch_layers(&inner.mounts, &variant.params.overlays).await?;
        let digest = with_layers(original.digest().await?, &layers);
        let mut rendered = inner
            .processor
            .render(original.bytes(), layers, variant, tier)
            .await?;
        rendered.purge_tag = hyper::header::HeaderValue::from_str(&purge_key)
            .expect("hex digits are a valid header value");
        let location = inner
            .store
            .as_ref()
            .map(|store| store.locate(&cache_key, &purge_key, &digest));
        Ok((rendered, cache_key, location))
    }

    /// Note that `rendered`, a first render, was served for this request (`lookup` says how),
    /// and queue its refinement when it is due (`--refine`, `--refine-after`).
    pub async fn served_first(
        &self,
        path: &str,
        query: Option<&str>,
        hints: crate::request::Hints,
        accept: AcceptClass,
        rendered: &Rendered,
        lookup: Lookup,
    ) {
        use crate::config::Refine;
        use std::sync::atomic::Ordering::Relaxed;
        let config = &self.inner.config;
        let due = match config.refine {
            Refine::Off => false,
            Refine::All => lookup == Lookup::Miss,
            Refine::Hot => {
                matches!(lookup, Lookup::Hit | Lookup::Store)
                    && rendered.served.fetch_add(1, Relaxed) + 1 == config.refine_after
            }
        };
        if due {
            let job = crate::work::jobs::Job::Refine {
                path: path.to_owned(),
                query: query.map(str::to_owned),
                accept: accept.name().to_owned(),
                dpr: hints.dpr,
                width: hints.width,
                save_data: hints.save_data,
            };
            self.inner.background.submit(self, job).await;
        }
    }

    /// The request a URL path and query make with these client hints: the key routed, presets
    /// expanded, the configured bounds applied (exactly as an image request is built).
    pub fn request(
        &self,
        path: &str,
        query: Option<&str>,
        hints: crate::request::Hints,
    ) -> Result<ImageRequest, Error> {
        let key = self.key(path)?;
        let mut request =
            ImageRequest::with_presets(key, query, self.param_limits(), hints, self.presets())?;
        self.inner.config.bounds.apply(&mut request.params, hints)?;
        Ok(request)
    }

    /// `Cache-Control` for first renders (`--first-max-age`).
    pub fn first_cache_control(&self) -> &hyper::header::HeaderValue {
        &self.inner.first_cache_control
    }

    /// `Cache-Control` for image responses with the configured `--max-age`.
    pub fn image_cache_control(&self) -> &hyper::header::HeaderValue {
        &self.inner.cache_control
    }

    /// The durable variant store, when configured.
    pub fn variant_store(&self) -> Option<&VariantStore> {
        self.inner.store.as_ref()
    }

    /// The configured presets.
    pub fn presets(&self) -> &crate::request::Presets {
        &self.inner.config.presets
    }

    /// The upload endpoint, when `--upload` is on.
    pub fn uploads(&self) -> Option<&crate::upload::Uploads> {
        self.inner.uploads.as_ref()
    }

    /// The mounted sources.
    pub fn mounts(&self) -> &Mounts {
        &self.inner.mounts
    }

    /// The access log.
    pub fn access_log(&self) -> &AccessLog {
        &self.inner.access_log
    }

    /// The key a raw request path names, routed to its source and checked by it.
    pub fn key(&self, raw_path: &str) -> Result<Key, Error> {
        self.inner.mounts.key(raw_path)
    }

    /// Per-image request analytics.
    pub fn analytics(&self) -> &Analytics {
        &self.inner.analytics
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Every metric in the Prometheus text format, with sampled gauges brought up to date
    /// (pending cache writes are applied first, so entry and byte counts are exact).
    pub async fn metrics_text(&self) -> String {
        let m = &self.inner.metrics;
        let cache = &self.inner.cache;
        cache.sync().await;
        m.cache_bytes.set(saturating_i64(cache.weighted_size()));
        m.cache_entries.set(saturating_i64(cache.entry_count()));
        m.queue_depth
            .set(saturating_i64(self.inner.processor.queue_depth() as u64));
        m.vips_memory
            .set(saturating_i64(vips::tracked_memory() as u64));
        m.encode()
    }

    /// The signed-URL verifier, when signing keys are configured.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.inner.verifier.as_ref()
    }

    /// Requests waiting for a transform slot right now.
    pub fn queue_depth(&self) -> usize {
        self.inner.processor.queue_depth()
    }

    /// Responses kept ready for hits.
    pub fn hot(&self) -> &crate::server::hot::HotResponses {
        &self.inner.hot
    }

    /// The cache of rendered variants.
    pub fn cache(&self) -> &RenderCache {
        &self.inner.cache
    }

    /// Transforms completed since start (each cache miss that reached libvips counts once).
    pub fn transforms(&self) -> u64 {
        self.inner.processor.completed()
    }

    /// The libvips version in use.
    pub fn vips_version(&self) -> Version {
        self.inner.vips
    }

    /// A description of the mounted sources, for logs.
    pub fn source_description(&self) -> String {
        self.inner.mounts.describe().join(", ")
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

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Fetch the overlay images `overlays` names, through the mounts (limits, allow-lists and the
/// originals cache as for any original). One that is not there is a 400 naming the parameter.
async fn fetch_layers(mounts: &Mounts, overlays: &Overlays) -> Result<Layers, Error> {
    async fn one(
        mounts: &Mounts,
        param: &'static str,
        overlay: Option<&Overlay>,
    ) -> Result<Option<Layer>, Error> {
        let Some(overlay) = overlay else {
            return Ok(None);
        };
        let key = mounts.overlay_key(param, &overlay.source)?;
        let fetched = mounts.fetch_original(&key).await.map_err(|e| match e {
            Error::NotFound => Error::bad_param(param, format!("{} was not found", overlay.source)),
            other => other,
        })?;
        Ok(Some(Layer {
            bytes: fetched.bytes(),
            digest: fetched.digest().await?,
        }))
    }
    Ok(Layers {
        blend: one(mounts, "blend", overlays.blend.as_ref()).await?,
        mark: one(mounts, "mark", overlays.mark.as_ref()).await?,
    })
}

/// The original's digest, combined with its overlays' when there are any.
fn with_layers(digest: [u8; 32], layers: &Layers) -> [u8; 32] {
    use sha2::Digest as _;
    if layers.blend.is_none() && layers.mark.is_none() {
        return digest;
    }
    let mut hash = sha2::Sha256::new();
    hash.update(digest);
    for layer in [&layers.blend, &layers.mark].into_iter().flatten() {
        hash.update(layer.digest);
    }
    hash.finalize().into()
}
