//! Learned results per original — the foreground mask behind `bg-remove` and `crop=auto`, the
//! upscaled image behind `upscale` — found, computed or deferred, once per original.
//!
//! A render that needs one looks in memory, then in the variant store (shared by replicas:
//! another replica's result is used as is, no model runs), and only then computes it: inline
//! when its estimated cost is within `--learned-inline` and the model's permit comes free
//! within that time; otherwise a job is queued (embedded, or on a worker through RabbitMQ;
//! once per original while it is pending) and the request gets the plain render as a
//! provisional first render. Jobs are idempotent: a result already stored is not computed again.
//!
//! Not here: running the models ([`crate::transform::models`]), the pixels
//! ([`crate::transform::learned`]), queueing jobs (`work`, which connects [`Learned::connect`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::encoding::format::Format;
use crate::error::Error;
use crate::observe::Metrics;
use crate::request::{Crop, Params};
use crate::store::{Location, VariantStore};
use crate::transform::learned::{self as pixels, Inputs, Mask, Op, UpscalePlan};
use crate::transform::models::{Models, Role};
use crate::transform::plan::Size;
use crate::transform::{Limits, Rendered};

/// The largest upscaled image (the model's output, resized to factor × the original): 16 MP.
/// imgix allows 4× up to 2048² originals (67 MP); on CPU, at 2–3 s of one core per output
/// megapixel, Refract stops at 16 MP: 4× for originals up to 1 MP, 2× up to 4 MP.
pub const UPSCALE_MAX_PIXELS: u64 = 16_000_000;

/// The largest input the upscaler is given: 1 MP (16 MP out of the 4× model). A larger
/// original within [`UPSCALE_MAX_PIXELS`] is shrunk for the model, and its output resized up.
pub const UPSCALE_MAX_INPUT: u64 = 1_000_000;

/// How long a job's "pending" mark keeps a replica from queueing the same job again (a job
/// lost with a worker is queued again after this).
const PENDING_FOR: Duration = Duration::from_secs(600);

/// Masks kept in memory (about 100 KB each for U²-NetP).
const MASKS: u64 = 512;

/// Bytes of upscaled originals kept in memory.
const UPSCALED_BYTES: u64 = 64 << 20;

/// Where a learned result stands for one render.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Here.
    Ready(T),
    /// Being computed in the background.
    Pending,
    /// Not possible for this original (the reason).
    Refused(String),
}

impl<T> Outcome<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Ready(t) => Outcome::Ready(f(t)),
            Outcome::Pending => Outcome::Pending,
            Outcome::Refused(why) => Outcome::Refused(why),
        }
    }
}

/// A deferred computation: what a job carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// The original's key (its URL path without the leading slash).
    pub key: String,
    /// The original's SHA-256, so the job computes for the bytes the request saw.
    pub digest: [u8; 32],
    /// What to compute.
    pub op: Op,
}

/// What the learned operations a request asks for came to.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The mask, for the pipeline.
    pub inputs: Inputs,
    /// The upscaled original and its factor: rendered from instead of the original.
    pub upscaled: Option<(Bytes, u32)>,
    /// An operation is on its way: the render is provisional.
    pub pending: bool,
    /// An operation asked for cannot be done (the first reason): the render is final but not
    /// stored (a replica with the models must not find it).
    pub refused: Option<String>,
}

impl Prepared {
    /// Take `outcome` for `param`: the result, or note that the render is provisional
    /// (pending) or not to be stored (refused) — or, when the URL turned the fallback off
    /// (`strict`), imgix's 423 / 422.
    fn settle<T>(
        &mut self,
        outcome: Outcome<T>,
        param: &'static str,
        strict: bool,
    ) -> Result<Option<T>, Error> {
        match outcome {
            Outcome::Ready(t) => return Ok(Some(t)),
            Outcome::Pending if strict => return Err(Error::LearnedPending(param)),
            Outcome::Pending => self.pending = true,
            Outcome::Refused(why) if strict => return Err(Error::learned_refused(param, why)),
            Outcome::Refused(why) => {
                self.refused.get_or_insert(why);
            }
        }
        Ok(None)
    }
}

type Sink = Box<dyn Fn(Deferred) + Send + Sync>;

/// Learned results of one process: the models, the memory of results, the permit.
pub struct Learned {
    models: Option<Arc<Models>>,
    /// Why there are no models.
    off: String,
    masks: moka::sync::Cache<[u8; 32], Arc<Mask>>,
    upscaled: moka::sync::Cache<([u8; 32], u32), Bytes>,
    pending: moka::sync::Cache<([u8; 32], Op), ()>,
    /// Originals a computation failed on for their own fault (they do not decode): refused,
    /// not queued again, for as long as a pending mark lasts.
    failed: moka::sync::Cache<([u8; 32], Op), String>,
    /// One inference at a time in this process (its threads: `--learned-cpu`).
    permit: Arc<Semaphore>,
    inline: Duration,
    /// Estimated cost of a mask (µs), then of an upscale per output megapixel (µs): seeded
    /// with this VM's figures, then the last run's.
    mask_cost: AtomicU64,
    upscale_cost: AtomicU64,
    limits: Limits,
    sink: OnceLock<Sink>,
    metrics: Arc<Metrics>,
}

impl Learned {
    /// Learned results from `models` (`Err`: why there are none — every operation is then
    /// refused, and falls back); `inline`: the largest cost computed while a request waits.
    pub fn new(
        models: Result<Models, String>,
        inline: Duration,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Learned {
        let (models, off) = match models {
            Ok(m) => {
                for info in m.loaded() {
                    metrics
                        .model_loaded
                        .with_label_values(&[info.role.name(), &info.file.display().to_string()])
                        .set(1);
                }
                (Some(Arc::new(m)), String::new())
            }
            Err(e) => (None, e),
        };
        Learned {
            models,
            off,
            masks: moka::sync::Cache::new(MASKS),
            upscaled: moka::sync::Cache::builder()
                .max_capacity(UPSCALED_BYTES)
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
            pending: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(PENDING_FOR)
                .build(),
            failed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(PENDING_FOR)
                .build(),
            permit: Arc::new(Semaphore::new(1)),
            inline,
            // `cargo bench --bench learned` on a 2-core AMD EPYC VM, one thread: a mask
            // 0.75–1.25 s with its decode, an upscale 2.2–2.6 s per output megapixel.
            mask_cost: AtomicU64::new(900_000),
            upscale_cost: AtomicU64::new(2_500_000),
            limits,
            sink: OnceLock::new(),
            metrics,
        }
    }

    /// Where deferred computations go (the fleet's queue). Until connected, nothing is deferred:
    /// everything is computed inline (a bench, a tool).
    pub fn connect(&self, sink: impl Fn(Deferred) + Send + Sync + 'static) {
        let _ = self.sink.set(Box::new(sink));
    }

    /// The models, when there are any.
    pub fn models(&self) -> Option<&Models> {
        self.models.as_deref()
    }

    /// Why the learned operations are off, when they are.
    pub fn off_reason(&self) -> Option<&str> {
        self.models.is_none().then_some(self.off.as_str())
    }

    fn count(&self, op: Op, result: &str) {
        self.metrics
            .learned
            .with_label_values(&[op.name(), result])
            .inc();
    }

    /// Whether `params` needs a learned result at all.
    pub fn wanted(params: &Params) -> bool {
        params.learned.bg_remove
            || params.learned.upscale
            || (params.fit.crops() && matches!(params.crop, Crop::Auto { .. }))
    }

    /// Find or compute (or defer) what `params` asks of the original `bytes` (key `key`,
    /// SHA-256 `digest`); `store`: the variant store and the original's purge key.
    pub async fn prepare(
        &self,
        key: &str,
        bytes: &Bytes,
        digest: [u8; 32],
        params: &Params,
        store: Option<(&VariantStore, &str)>,
    ) -> Result<Prepared, Error> {
        let mut prepared = Prepared::default();
        let bg_remove = params.learned.bg_remove;
        let wants_mask =
            bg_remove || (params.fit.crops() && matches!(params.crop, Crop::Auto { .. }));
        // The header, for what only bg-remove and upscale look at (animation, size).
        let source = match bg_remove || params.learned.upscale {
            true => Some(crate::transform::load::inspect(bytes, &self.limits)?),
            false => None,
        };
        if wants_mask {
            // imgix: animations are not background-removed (nor upscaled: see upscale_plan).
            let animated = source.is_some_and(|s| s.frames > 1 && params.frame.is_none());
            let outcome = if bg_remove && animated {
                self.count(Op::Mask, "refused");
                Outcome::Refused("animated originals are not supported".into())
            } else {
                self.mask(key, bytes, digest, store).await?
            };
            // Only bg-remove answers for a missing mask; crop=auto falls back on its own.
            let strict = bg_remove && !params.learned.bg_remove_fallback;
            prepared.inputs.mask = prepared.settle(outcome, "bg-remove", strict)?;
        }
        if let (true, Some(source)) = (params.learned.upscale, &source) {
            let plan = pixels::upscale_plan(
                source,
                params,
                self.limits.max_dimension,
                UPSCALE_MAX_PIXELS,
                UPSCALE_MAX_INPUT,
            );
            let outcome = match plan {
                UpscalePlan::NotNeeded => None,
                UpscalePlan::Refused(why) => Some(Outcome::Refused(why.to_owned())),
                UpscalePlan::Upscale { factor, input } => Some(
                    self.upscale(key, bytes, digest, factor, input, store)
                        .await?
                        .map(|b| (b, factor)),
                ),
            };
            if let Some(outcome) = outcome {
                let strict = !params.learned.upscale_fallback;
                prepared.upscaled = prepared.settle(outcome, "upscale", strict)?;
            }
        }
        Ok(prepared)
    }

    /// Where the variant store keeps `op`'s result for the original `digest`: named per model
    /// file, so a new model computes anew.
    fn location(
        &self,
        store: &VariantStore,
        purge_key: &str,
        digest: &[u8; 32],
        op: Op,
    ) -> Location {
        store.locate(&self.store_key(op), purge_key, digest)
    }

    fn store_key(&self, op: Op) -> String {
        let model = self
            .models
            .as_ref()
            .and_then(|m| m.info(op.role()))
            .map(|i| {
                format!(
                    "{}:{}",
                    i.file.file_name().unwrap_or_default().to_string_lossy(),
                    i.bytes
                )
            })
            .unwrap_or_default();
        match op {
            Op::Mask => format!("~learned/mask/{model}"),
            Op::Upscale { factor } => format!("~learned/upscale{factor}/{model}"),
        }
    }

    async fn mask(
        &self,
        key: &str,
        bytes: &Bytes,
        digest: [u8; 32],
        store: Option<(&VariantStore, &str)>,
    ) -> Result<Outcome<Arc<Mask>>, Error> {
        let op = Op::Mask;
        if let Some(why) = self.unavailable(op) {
            return Ok(Outcome::Refused(why));
        }
        if let Some(mask) = self.masks.get(&digest) {
            self.count(op, "memory");
            return Ok(Outcome::Ready(mask));
        }
        if let Some(why) = self.failed.get(&(digest, op)) {
            self.count(op, "refused");
            return Ok(Outcome::Refused(why));
        }
        if let Some(mask) = self.stored_mask(digest, store).await {
            self.count(op, "store");
            return Ok(Outcome::Ready(mask));
        }
        let estimate = Duration::from_micros(self.mask_cost.load(Ordering::Relaxed));
        if estimate <= self.inline || self.sink.get().is_none() {
            if let Some(mask) = self.compute_mask(bytes, digest, store, self.inline).await? {
                self.count(op, "inline");
                return Ok(Outcome::Ready(mask));
            }
        }
        Ok(self.defer(key, digest, op))
    }

    /// Why `op` cannot run in this process (no models, or none for its role), counted.
    fn unavailable(&self, op: Op) -> Option<String> {
        let why = match &self.models {
            None => format!("learned models are off: {}", self.off),
            Some(models) if models.info(op.role()).is_none() => {
                format!("no {} model is loaded", op.role().name())
            }
            Some(_) => return None,
        };
        self.count(op, "refused");
        Some(why)
    }

    async fn stored_mask(
        &self,
        digest: [u8; 32],
        store: Option<(&VariantStore, &str)>,
    ) -> Option<Arc<Mask>> {
        let (store, purge_key) = store?;
        let stored = store
            .get(&self.location(store, purge_key, &digest, Op::Mask))
            .await?;
        match pixels::decode_mask(&stored.body) {
            Ok(mask) => {
                let mask = Arc::new(mask);
                self.masks.insert(digest, mask.clone());
                Some(mask)
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable stored mask");
                None
            }
        }
    }

    /// Compute the mask under the permit (waiting at most `wait` for it; `None` if it did not
    /// come), keep it in memory and write it to the store.
    async fn compute_mask(
        &self,
        bytes: &Bytes,
        digest: [u8; 32],
        store: Option<(&VariantStore, &str)>,
        wait: Duration,
    ) -> Result<Option<Arc<Mask>>, Error> {
        let Some(permit) = self.acquire(wait).await else {
            return Ok(None);
        };
        let models = self.models.clone().expect("checked by the caller");
        let (bytes2, limits) = (bytes.clone(), self.limits);
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mask = pixels::mask_of(&models, &bytes2, &limits)?;
            let png = pixels::encode_mask(&mask)?;
            Ok::<_, Error>((mask, png))
        })
        .await
        .map_err(|e| Error::Internal(format!("mask task failed: {e}")))?;
        let (mask, png) = self.ran(Op::Mask, digest, result)?;
        self.mask_cost
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mask = Arc::new(mask);
        self.masks.insert(digest, mask.clone());
        if let Some((store, purge_key)) = store {
            let location = self.location(store, purge_key, &digest, Op::Mask);
            let size = Size::new(mask.side, mask.side);
            store
                .put(&location, &Rendered::artefact(png, Format::Png, size))
                .await
                .unwrap_or_else(|e| tracing::warn!(error = %e, "mask not stored"));
        }
        Ok(Some(mask))
    }

    /// Count a model run's outcome; a failure is logged with its detail, and one that is the
    /// original's fault is remembered (the original is refused, not queued again).
    fn ran<T>(&self, op: Op, digest: [u8; 32], result: Result<T, Error>) -> Result<T, Error> {
        self.metrics
            .model_runs
            .with_label_values(&[op.role().name()])
            .inc();
        result.inspect_err(|e| {
            if e.blame() == crate::error::Blame::Source {
                self.count(op, "refused");
                self.failed.insert((digest, op), e.public_message());
                return;
            }
            self.count(op, "failed");
            tracing::error!(op = op.name(), error = %e, "learned model failed");
        })
    }

    async fn acquire(&self, wait: Duration) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if wait.is_zero() {
            return self.permit.clone().try_acquire_owned().ok();
        }
        tokio::time::timeout(wait, self.permit.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Queue the computation (once per original and op while it is pending).
    fn defer<T>(&self, key: &str, digest: [u8; 32], op: Op) -> Outcome<T> {
        let Some(sink) = self.sink.get() else {
            self.count(op, "refused");
            return Outcome::Refused("the learned model is busy".into());
        };
        if self.pending.contains_key(&(digest, op)) {
            self.count(op, "pending");
            return Outcome::Pending;
        }
        self.pending.insert((digest, op), ());
        self.count(op, "deferred");
        sink(Deferred {
            key: key.to_owned(),
            digest,
            op,
        });
        Outcome::Pending
    }

    async fn upscale(
        &self,
        key: &str,
        bytes: &Bytes,
        digest: [u8; 32],
        factor: u32,
        input: Size,
        store: Option<(&VariantStore, &str)>,
    ) -> Result<Outcome<Bytes>, Error> {
        let op = Op::Upscale { factor };
        if let Some(why) = self.unavailable(op) {
            return Ok(Outcome::Refused(why));
        }
        if let Some(up) = self.upscaled.get(&(digest, factor)) {
            self.count(op, "memory");
            return Ok(Outcome::Ready(up));
        }
        if let Some(why) = self.failed.get(&(digest, op)) {
            self.count(op, "refused");
            return Ok(Outcome::Refused(why));
        }
        if let Some(up) = self.stored_upscale(digest, factor, store).await {
            self.count(op, "store");
            return Ok(Outcome::Ready(up));
        }
        let estimate = Duration::from_micros(
            (self.upscale_cost.load(Ordering::Relaxed) as f64 * self.output_mp(input)) as u64,
        );
        if estimate <= self.inline || self.sink.get().is_none() {
            if let Some(up) = self
                .compute_upscale(bytes, digest, factor, input, store, self.inline)
                .await?
            {
                self.count(op, "inline");
                return Ok(Outcome::Ready(up));
            }
        }
        Ok(self.defer(key, digest, op))
    }

    /// Megapixels the upscaler makes from an `input`-sized image.
    fn output_mp(&self, input: Size) -> f64 {
        let k = self
            .models
            .as_ref()
            .and_then(|m| m.info(Role::Upscale))
            .map_or(4, |i| i.scale);
        f64::from(input.width * k) * f64::from(input.height * k) / 1e6
    }

    /// The upscaled original the variant store holds, kept in memory too.
    async fn stored_upscale(
        &self,
        digest: [u8; 32],
        factor: u32,
        store: Option<(&VariantStore, &str)>,
    ) -> Option<Bytes> {
        let (store, purge_key) = store?;
        let op = Op::Upscale { factor };
        let stored = store
            .get(&self.location(store, purge_key, &digest, op))
            .await?;
        self.upscaled.insert((digest, factor), stored.body.clone());
        Some(stored.body)
    }

    #[allow(clippy::too_many_arguments)]
    async fn compute_upscale(
        &self,
        bytes: &Bytes,
        digest: [u8; 32],
        factor: u32,
        input: Size,
        store: Option<(&VariantStore, &str)>,
        wait: Duration,
    ) -> Result<Option<Bytes>, Error> {
        let op = Op::Upscale { factor };
        let Some(permit) = self.acquire(wait).await else {
            return Ok(None);
        };
        let models = self.models.clone().expect("checked by the caller");
        let (bytes2, limits) = (bytes.clone(), self.limits);
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            pixels::upscale_of(&models, &bytes2, factor, input, &limits)
        })
        .await
        .map_err(|e| Error::Internal(format!("upscale task failed: {e}")))?;
        let (body, format, size) = self.ran(op, digest, result)?;
        self.upscale_cost.store(
            (started.elapsed().as_micros() as f64 / self.output_mp(input).max(0.01)) as u64,
            Ordering::Relaxed,
        );
        self.upscaled.insert((digest, factor), body.clone());
        if let Some((store, purge_key)) = store {
            let location = self.location(store, purge_key, &digest, op);
            store
                .put(&location, &Rendered::artefact(body.clone(), format, size))
                .await
                .unwrap_or_else(|e| tracing::warn!(error = %e, "upscale not stored"));
        }
        Ok(Some(body))
    }

    /// A deferred job: compute `op` for the original `bytes` unless memory or the store
    /// already has it (then no model runs), waiting as long as it takes for the permit. Done
    /// when the result is in the store.
    pub async fn learn(
        &self,
        bytes: &Bytes,
        digest: [u8; 32],
        op: Op,
        store: Option<(&VariantStore, &str)>,
    ) -> Result<(), Error> {
        let done = match op {
            Op::Mask => {
                self.masks.contains_key(&digest)
                    || self.stored_mask(digest, store).await.is_some()
                    || self
                        .compute_mask(bytes, digest, store, Duration::MAX)
                        .await?
                        .is_some()
            }
            Op::Upscale { factor } => {
                let source = crate::transform::load::inspect(bytes, &self.limits)?;
                let input = pixels::upscale_input(source.size, UPSCALE_MAX_INPUT);
                self.upscaled.contains_key(&(digest, factor))
                    || self.stored_upscale(digest, factor, store).await.is_some()
                    || self
                        .compute_upscale(bytes, digest, factor, input, store, Duration::MAX)
                        .await?
                        .is_some()
            }
        };
        self.pending.invalidate(&(digest, op));
        if done {
            Ok(())
        } else {
            Err(Error::Internal("learned permit closed".into()))
        }
    }
}
