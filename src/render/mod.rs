//! Rendering, the one path from a URL to a rendered variant: the request built as the server
//! builds it (routing, presets, bounds), the memory cache with request coalescing ([`cache`]),
//! the variant store and the sources behind it ([`origin`]), and the transform processor.
//! [`Renderer`] is the handle the server and background work both render through.
//!
//! May import: `config`, `error`, `observe`, `encoding`, `request`, `source`, `store`,
//! `transform`. Not here: what the fleet is told (purges and refinements announced, jobs queued:
//! `work`), HTTP (`server`).

pub mod cache;
pub mod learned;
pub mod origin;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::Instrument as _;

use crate::config::{Config, Refine};
use crate::encoding::format::Format;
use crate::error::Error;
use crate::observe::{Lookup, Metrics};
use crate::request::params::{FormatChoice, Overlay, Overlays};
use crate::request::signature::Verifier;
use crate::request::{AcceptClass, Bounds, Hints, ImageRequest, Key, ParamLimits, Presets};
use crate::source::mounts::{FetchedOriginal, OriginalsCache};
use crate::source::{Mounts, SourceSettings};
use crate::store::{Location, Purged, VariantStore};
use crate::transform::encode::Tier;
use crate::transform::master::Masters;
use crate::transform::overlay::{Layer, Layers};
use crate::transform::vips::Version;
use crate::transform::{Limits, Processor, Rendered};
use bytes::Bytes;

pub use cache::RenderCache;
pub use learned::Learned;
pub use origin::Origin;

use learned::Prepared;

/// Renders variants: from the memory cache, else the variant store, else fetched and
/// transformed (once, however many ask at the same moment).
pub struct Renderer {
    origin: Origin,
    cache: RenderCache,
    processor: Processor,
    verifier: Option<Verifier>,
    presets: Presets,
    bounds: Bounds,
    limits: ParamLimits,
    /// What a render that is not a refinement is encoded as: standard, or first with `--refine`.
    first: Tier,
    /// Refinement renders allowed at once (`--refine-cpu`).
    refining: tokio::sync::Semaphore,
    /// Learned results per original (`bg-remove`, `crop=auto`, `upscale`).
    learned: Learned,
    metrics: Arc<Metrics>,
}

impl Renderer {
    /// Open the sources and the variant store, size the caches and the transform permits, and
    /// point text rendering at the configured fonts. `limits` bound what is rendered (the same
    /// bound uploads); `vips` names the pipeline in the variant store's records.
    pub fn new(
        config: &Config,
        limits: Limits,
        vips: Version,
        metrics: Arc<Metrics>,
    ) -> Result<Renderer, String> {
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
        let cache = RenderCache::new(
            config.cache_size,
            config.cache_ttl,
            metrics.cache_evictions.clone(),
        );
        // Fonts for `txt`: the built-in set and --fonts, before anything renders text.
        let mut fonts = vec![crate::transform::text::builtin_fonts()];
        fonts.extend(config.fonts.iter().cloned());
        crate::transform::text::use_fonts(&fonts);
        // The learned models: a directory named with --models must be sound (a start-up error
        // names the file); the built-in one missing (no `make deps`) turns the operations off.
        let models = match &config.models {
            None => Err("--models off".to_owned()),
            Some(dir) => crate::transform::models::Models::open(dir, config.learned_threads),
        };
        match &models {
            Err(e) if config.models_named => return Err(format!("--models: {e}")),
            Err(e) => tracing::warn!(error = %e, "learned operations are off"),
            Ok(m) => {
                for info in m.loaded() {
                    tracing::info!(
                        model = info.role.name(),
                        file = %info.file.display(),
                        bytes = info.bytes,
                        "learned model checked"
                    );
                }
            }
        }
        let learned = Learned::new(models, config.learned_inline, limits, metrics.clone());
        let processor = Processor::new(
            config.max_concurrency,
            config.max_queue,
            limits,
            Masters::new(config.master_cache_size, metrics.masters.clone()),
            metrics.clone(),
        );
        Ok(Renderer {
            origin: Origin::new(mounts, store),
            cache,
            processor,
            verifier: Verifier::with_scheme(&config.sign_keys.0, config.sign_scheme),
            presets: config.presets.clone(),
            bounds: config.bounds.clone(),
            limits: ParamLimits {
                max_dimension: config.max_dimension,
                strict: config.strict_params,
            },
            first: match config.refine {
                Refine::Off => Tier::Standard,
                Refine::Hot | Refine::All => Tier::First,
            },
            refining: tokio::sync::Semaphore::new(config.refine_permits),
            learned,
            metrics,
        })
    }

    /// The sources and the variant store.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The memory cache of rendered variants.
    pub fn cache(&self) -> &RenderCache {
        &self.cache
    }

    /// Learned results: the models, and where deferred computations go.
    pub fn learned(&self) -> &Learned {
        &self.learned
    }

    /// The signed-URL verifier, when signing keys are configured.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_ref()
    }

    /// Requests waiting for a transform slot right now.
    pub fn queue_depth(&self) -> usize {
        self.processor.queue_depth()
    }

    /// Transforms completed since start (each cache miss that reached libvips counts once).
    pub fn transforms(&self) -> u64 {
        self.processor.completed()
    }

    /// The request a URL path and query make with these client hints: the key routed, presets
    /// expanded, the configured bounds applied (exactly as an image request is built).
    pub fn request(
        &self,
        path: &str,
        query: Option<&str>,
        hints: Hints,
    ) -> Result<ImageRequest, Error> {
        // imgix's typesetting endpoint: text as an image, no original behind it.
        let key = if path == "/~text" {
            Key::typeset()
        } else {
            self.origin.key(path)?
        };
        let mut request =
            ImageRequest::with_presets(key, query, self.limits, hints, &self.presets)?;
        self.bounds.apply(&mut request.params, hints)?;
        Ok(request)
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
        let from_store = AtomicBool::new(false);
        let render = async {
            let purge_key = crate::store::purge_tag(variant.key.as_str());
            let original = self
                .original(&variant.key)
                .instrument(tracing::debug_span!("fetch", key = %variant.key))
                .await?;
            let layers = self.layers(&variant.params.overlays).await?;
            // With a variant store: its copy when it has one, else rendered and written behind.
            // A changed overlay is a new variant: its content names the location too.
            let stored_at = match self.origin.store() {
                None => None,
                Some(store) => {
                    let digest = origin::with_layers(original.digest().await?, &layers);
                    Some((store, store.locate(&cache_key, &purge_key, &digest)))
                }
            };
            let stored = match &stored_at {
                Some((store, location)) => store.get(location).await,
                None => None,
            };
            let mut rendered = match stored {
                Some(stored) => {
                    from_store.store(true, Ordering::Relaxed);
                    stored
                }
                None => {
                    let mut prepared = self.prepare(&original, &variant, &purge_key).await?;
                    prepared.pending |= layers.provisional();
                    // Only a finished learned result is shared: a stand-in, or a render whose
                    // learned step this replica could not do, stays here.
                    let keep = !prepared.pending && prepared.refused.is_none();
                    let rendered = self
                        .render_prepared(&original, layers, variant, prepared, self.first)
                        .await?;
                    if let (Some((store, location)), true) = (&stored_at, keep) {
                        store.put_behind(location, &rendered);
                    }
                    rendered
                }
            };
            rendered.purge_tag = hyper::header::HeaderValue::from_str(&purge_key)
                .expect("hex digits are a valid header value");
            Ok(rendered)
        };
        let (result, lookup) = self.cache.get_or_render(&cache_key, render).await;
        if lookup == Lookup::Miss && from_store.load(Ordering::Relaxed) {
            return (result, Lookup::Store);
        }
        (result, lookup)
    }

    /// What the learned operations `variant` asks for came to (nothing to do: nothing).
    async fn prepare(
        &self,
        original: &FetchedOriginal,
        variant: &crate::request::Variant,
        purge_key: &str,
    ) -> Result<Prepared, Error> {
        if !Learned::wanted(&variant.params) || variant.key.is_typeset() {
            return Ok(Prepared::default());
        }
        let digest = original.digest().await?;
        let store = self.origin.store().map(|s| (s, purge_key));
        self.learned
            .prepare(
                variant.key.as_str(),
                &original.bytes(),
                digest,
                &variant.params,
                store,
            )
            .await
    }

    /// Transform `variant` with what `prepared` holds: from the upscaled original when there is
    /// one (a `rect` scaled with it), with the mask; a stand-in for a pending result is a
    /// provisional first render.
    async fn render_prepared(
        &self,
        original: &FetchedOriginal,
        layers: Layers,
        variant: crate::request::Variant,
        prepared: Prepared,
        tier: Tier,
    ) -> Result<crate::transform::Rendered, Error> {
        let pending = prepared.pending;
        let tier = if pending { Tier::First } else { tier };
        let (bytes, digest, variant) = match prepared.upscaled {
            None => (original.bytes(), original.lazy_digest(), variant),
            Some((upscaled, factor)) => {
                let mut variant = variant;
                if let Some(r) = variant.params.rect.as_mut() {
                    (r.x, r.y, r.w, r.h) = (r.x * factor, r.y * factor, r.w * factor, r.h * factor);
                }
                (
                    upscaled,
                    crate::encoding::digest::LazyDigest::default(),
                    variant,
                )
            }
        };
        let mut rendered = self
            .processor
            .render(bytes, digest, layers, prepared.inputs, variant, tier)
            .await?;
        rendered.original_bytes = original.bytes().len() as u64;
        if pending {
            // Short max-age for every format (JPEG is otherwise final at once): the CDN comes
            // back for the learned result.
            rendered.tier = Tier::First;
            rendered.provisional = true;
        }
        Ok(rendered)
    }

    /// A deferred learned computation (a job): the original `key` as it is now, unless it no
    /// longer hashes to `digest` (then a later request defers anew); done when the result is
    /// in the variant store.
    pub async fn learn(
        &self,
        key: &str,
        digest: [u8; 32],
        op: crate::transform::learned::Op,
    ) -> Result<(), Error> {
        let key = Key::new(key)?;
        let original = self.origin.original(&key).await?;
        if original.digest().await? != digest {
            tracing::info!(%key, "learned job for an original that has changed: skipped");
            return Ok(());
        }
        let purge_key = crate::store::purge_tag(key.as_str());
        let store = self.origin.store().map(|s| (s, purge_key.as_str()));
        self.learned
            .learn(&original.bytes(), digest, op, store)
            .await
    }

    /// The original under `key`, through the originals cache; for the typesetting endpoint, none
    /// (the pipeline lays out a blank for its text).
    async fn original(&self, key: &Key) -> Result<FetchedOriginal, Error> {
        if key.is_typeset() {
            return Ok(FetchedOriginal::in_memory(Bytes::new()));
        }
        self.origin.original(key).await
    }

    /// The overlay images `overlays` names: each an original as it is — or, when its URL
    /// carries parameters or is the typesetting endpoint, rendered through this origin first
    /// (the same bounds, signing rule, caches and variant store as a request for that URL;
    /// PNG unless it names a format). One level deep: the overlay's own URL may not name an
    /// overlay image. Its rendered bytes are its identity in the variant's.
    async fn layers(&self, overlays: &Overlays) -> Result<Layers, Error> {
        Ok(Layers {
            blend: self.layer("blend", overlays.blend.as_ref()).await?,
            mark: self.layer("mark", overlays.mark.as_ref()).await?,
        })
    }

    async fn layer(
        &self,
        param: &'static str,
        overlay: Option<&Overlay>,
    ) -> Result<Option<Layer>, Error> {
        let Some(overlay) = overlay else {
            return Ok(None);
        };
        let (target, query) = match overlay.source.split_once('?') {
            Some((target, query)) => (target, query),
            None if overlay.source == "/~text" => (overlay.source.as_str(), ""),
            None => return self.origin.layer(param, overlay).await.map(Some),
        };
        let path = self.origin.mounts().overlay_path(param, target)?;
        let query = (!query.is_empty()).then_some(query);
        if let Some(verifier) = &self.verifier {
            verifier
                .verify(&path, query, crate::request::signature::unix_now())
                .map_err(|e| Error::bad_param(param, format!("its URL: {}", e.public_message())))?;
        }
        let mut request = self
            .request(&path, query, Hints::default())
            .map_err(|e| match e {
                Error::BadParam {
                    param: inner,
                    reason,
                }
                | Error::OverLimit {
                    param: inner,
                    reason,
                } => Error::bad_param(param, format!("its URL's {inner}: {reason}")),
                Error::UnsupportedParam(inner) => {
                    Error::bad_param(param, format!("its URL's {inner} is not supported"))
                }
                other => other,
            })?;
        if request.params.overlays.any() {
            return Err(Error::bad_param(
                param,
                "an overlay's URL cannot draw an overlay image itself (one level deep)",
            ));
        }
        if request.params.format == FormatChoice::Source {
            request.params.format = FormatChoice::Fixed(Format::Png);
        }
        // One level deep (checked above), so this recursion ends.
        let (rendered, _) = Box::pin(self.render(&request, AcceptClass::Legacy)).await;
        let rendered = rendered.map_err(|e| match e {
            Error::NotFound => Error::bad_param(param, format!("{} was not found", overlay.source)),
            other => other,
        })?;
        let body = rendered.body.clone();
        let digest = crate::encoding::digest::sha256(&body);
        Ok(Some(Layer {
            bytes: body,
            digest,
            provisional: rendered.provisional,
        }))
    }

    /// Render `request`'s variant for `accept` with the encoder settings of `tier`, past every
    /// cache (refinement; the quality bench compares tiers with it), with its cache key and
    /// where the variant store keeps it.
    pub async fn render_with(
        &self,
        request: &ImageRequest,
        accept: AcceptClass,
        tier: Tier,
    ) -> Result<(Rendered, String, Option<Location>), Error> {
        let variant = request.variant(accept);
        let cache_key = variant.cache_key();
        let purge_key = crate::store::purge_tag(variant.key.as_str());
        let original = self.original(&variant.key).await?;
        let layers = self.layers(&variant.params.overlays).await?;
        let digest = origin::with_layers(original.digest().await?, &layers);
        let prepared = self.prepare(&original, &variant, &purge_key).await?;
        // A refinement of a stand-in would store the stand-in: the learned result comes first.
        if prepared.pending || layers.provisional() {
            return Err(Error::LearnedPending("learned result"));
        }
        let mut rendered = self
            .render_prepared(&original, layers, variant, prepared, tier)
            .await?;
        rendered.purge_tag = hyper::header::HeaderValue::from_str(&purge_key)
            .expect("hex digits are a valid header value");
        let location = self
            .origin
            .store()
            .map(|store| store.locate(&cache_key, &purge_key, &digest));
        Ok((rendered, cache_key, location))
    }

    /// Render `request`'s variant for `accept` again with the refined encoder settings, and put
    /// it in place of the first render: in the variant store (same location, overwritten) and in
    /// this replica's memory. Returns its cache key, for the other replicas to be told.
    pub async fn refine(
        &self,
        request: &ImageRequest,
        accept: AcceptClass,
    ) -> Result<String, Error> {
        // Within --refine-cpu: at most that many refinements render at once in this process.
        let _slot = self
            .refining
            .acquire()
            .await
            .map_err(|_| Error::Internal("refinement permits closed".into()))?;
        let (rendered, cache_key, location) =
            self.render_with(request, accept, Tier::Refined).await?;
        if let (Some(store), Some(location)) = (self.origin.store(), location) {
            store.put_behind(&location, &rendered);
        }
        self.cache.replace(&cache_key, Arc::new(rendered)).await;
        Ok(cache_key)
    }

    /// Drop every variant of the original `key` from this replica's memory and from the variant
    /// store.
    pub async fn purge(&self, key: &Key) -> Result<Purged, Error> {
        self.cache.purge(key.as_str());
        let purge_key = crate::store::purge_tag(key.as_str());
        let stored = match self.origin.store() {
            Some(store) => store.purge(&purge_key).await?,
            None => 0,
        };
        Ok(Purged { purge_key, stored })
    }

    /// Bring the sampled gauges up to date (pending cache writes are applied first, so entry
    /// and byte counts are exact).
    pub async fn sample(&self) {
        let m = &self.metrics;
        self.cache.sync().await;
        m.cache_bytes
            .set(saturating_i64(self.cache.weighted_size()));
        m.cache_entries
            .set(saturating_i64(self.cache.entry_count()));
        m.queue_depth
            .set(saturating_i64(self.processor.queue_depth() as u64));
        if let Some(store) = self.origin.store() {
            m.store_pending
                .set(saturating_i64(store.pending_writes() as u64));
        }
        m.vips_memory.set(saturating_i64(
            crate::transform::vips::tracked_memory() as u64
        ));
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
