//! Turning an original's bytes into a rendered variant: [`Processor`] runs the [`pipeline`] on
//! the blocking pool under a permit (so CPU work never sits on the async workers and never
//! exceeds the configured concurrency), and hashes the result for its ETag.
//!
//! Layout: [`plan`] is pure geometry; [`pipeline`] lists the steps ([`load`], [`resize`],
//! [`colour`], [`crop`], [`pad`], [`flatten`], [`encode`]), one module each; [`vips`] is the only
//! module that touches libvips.

pub mod colour;
pub mod crop;
pub mod describe;
pub mod encode;
pub mod enhance;
pub mod faces;
pub mod filters;
pub mod flatten;
pub mod icc;
pub mod learned;
pub mod load;
pub mod master;
pub mod models;
pub mod orient;
pub mod overlay;
pub mod pad;
pub mod pipeline;
pub mod plan;
pub mod quantise;
pub mod region;
pub mod resize;
pub mod rotate;
pub mod shape;
pub mod stylize;
pub mod text;
pub mod vips;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, TryAcquireError};

use crate::encoding::digest::LazyDigest;
use crate::encoding::format::Format;
use crate::error::Error;
use crate::observe::metrics::{Metrics, Stage};
use crate::request::Variant;
use plan::Size;
use vips::VipsError;

/// Limits applied to every original before its pixels are decoded, and to every output.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest width × height × frames a header may declare.
    pub max_pixels: u64,
    /// Largest number of frames a header may declare.
    pub max_frames: u32,
    /// Largest output width or height.
    pub max_dimension: u32,
    /// How long a transform's decode may run before it is abandoned.
    pub deadline: Duration,
    /// Input formats accepted (`--formats`); anything else is `415 unsupported_format`.
    pub inputs: crate::encoding::format::Inputs,
    /// `fm=json` includes the `{GPS}` group (`--json-gps`).
    pub json_gps: bool,
}

/// A finished variant, as cached and served.
#[derive(Debug)]
pub struct Rendered {
    /// Encoded image bytes (shared, never copied when served).
    pub body: Bytes,
    /// Their format.
    pub format: Format,
    /// Pixel size.
    pub size: Size,
    /// Size of the original, in bytes (for bandwidth analytics).
    pub original_bytes: u64,
    /// Strong ETag, quotes included: a hash of the bytes, so it is stable across restarts and
    /// replicas for the same output, and changes whenever the bytes do.
    pub etag: String,
    /// The original's purge key (see [`crate::store::purge_tag`]), sent in `Surrogate-Key`,
    /// `Cache-Tag` and `xkey` so a CDN can drop every variant of one original at once. Set
    /// once per variant by [`crate::render::Renderer::render`], never per response: held as a ready header
    /// value, so a hit copies no bytes for it.
    pub purge_tag: hyper::header::HeaderValue,
    /// The encoder settings it was made with.
    pub tier: encode::Tier,
    /// Times it was served from a cache (memory or store) since this copy was made: a first
    /// render this hot is refined (`--refine-after`).
    pub served: AtomicU32,
    /// A stand-in while a learned result is computed elsewhere (the plain render of a
    /// `bg-remove` or `upscale`): served with a first render's short max-age, never cached,
    /// stored or kept ready.
    pub provisional: bool,
}

impl Clone for Rendered {
    fn clone(&self) -> Rendered {
        Rendered {
            body: self.body.clone(),
            format: self.format,
            size: self.size,
            original_bytes: self.original_bytes,
            etag: self.etag.clone(),
            purge_tag: self.purge_tag.clone(),
            tier: self.tier,
            served: AtomicU32::new(self.served.load(Ordering::Relaxed)),
            provisional: self.provisional,
        }
    }
}

/// Version of the pipeline's output: bump it whenever a change alters the pixels or bytes any
/// request renders (a step, an encoder default), so variants in the durable store made by the
/// old code are never served for the new (the store's object names include it, with the libvips
/// version).
pub const PIPELINE_VERSION: u32 = 2;

/// The strong ETag of an encoded body, quotes included: the first 128 bits of its SHA-256.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut etag = String::with_capacity(34);
    etag.push('"');
    etag.push_str(&crate::encoding::digest::hex(&digest[..16]));
    etag.push('"');
    etag
}

impl Rendered {
    /// An encoded image that is not a variant — a learned mask, an upscaled original — in the
    /// shape the variant store keeps.
    pub fn artefact(body: Bytes, format: Format, size: Size) -> Rendered {
        Rendered {
            etag: etag_of(&body),
            body,
            format,
            size,
            original_bytes: 0,
            purge_tag: hyper::header::HeaderValue::from_static(""),
            tier: encode::Tier::Standard,
            served: AtomicU32::new(0),
            provisional: false,
        }
    }

    fn new(output: pipeline::Output) -> Rendered {
        Rendered {
            etag: etag_of(&output.body),
            body: output.body,
            format: output.format,
            size: output.size,
            original_bytes: output.original_bytes,
            purge_tag: hyper::header::HeaderValue::from_static(""),
            tier: output.tier,
            served: AtomicU32::new(0),
            provisional: false,
        }
    }
}

/// Runs transforms: at most `concurrency` at once, each on the blocking pool, with at most
/// `max_queue` requests waiting for a slot; past that, requests are refused at once
/// ([`Error::Overloaded`]) rather than piling up.
pub struct Processor {
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
    max_queue: usize,
    limits: Limits,
    completed: AtomicU64,
    metrics: Arc<Metrics>,
    /// Decoded masters of hot originals (`None`: off).
    masters: Option<Arc<master::Masters>>,
}

/// Counts a transform in `refract_transforms_in_flight` until dropped (even by a panic).
struct InFlight(prometheus::IntGauge);

impl InFlight {
    fn enter(gauge: prometheus::IntGauge) -> InFlight {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A place in the wait queue, given back on drop (also when the waiting request is cancelled).
struct QueueSlot<'a>(&'a AtomicUsize);

impl<'a> QueueSlot<'a> {
    fn take(queued: &'a AtomicUsize, max: usize) -> Option<QueueSlot<'a>> {
        if queued.fetch_add(1, Ordering::AcqRel) >= max {
            queued.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(QueueSlot(queued))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Processor {
    /// A processor allowing `concurrency` simultaneous transforms and `max_queue` waiting.
    pub fn new(
        concurrency: usize,
        max_queue: usize,
        limits: Limits,
        masters: Option<master::Masters>,
        metrics: Arc<Metrics>,
    ) -> Processor {
        Processor {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queued: AtomicUsize::new(0),
            max_queue,
            limits,
            completed: AtomicU64::new(0),
            metrics,
            masters: masters.map(Arc::new),
        }
    }

    /// Render `variant` from `original` (with its overlay images, `layers`). Takes a free permit, or waits in the bounded queue for
    /// one, then runs on the blocking pool. The permit travels with the blocking task, so a
    /// request that is cancelled while its transform runs still holds the slot until the CPU
    /// work really ends (and no longer: the deadline bounds it).
    pub async fn render(
        &self,
        original: Bytes,
        digest: LazyDigest,
        layers: overlay::Layers,
        learned: learned::Inputs,
        variant: Variant,
        tier: encode::Tier,
    ) -> Result<Rendered, Error> {
        let closed = || Error::Internal("transform permits closed".into());
        let queued_at = std::time::Instant::now();
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => {
                let _slot =
                    QueueSlot::take(&self.queued, self.max_queue).ok_or(Error::Overloaded)?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| closed())?
            }
            Err(TryAcquireError::Closed) => return Err(closed()),
        };
        self.metrics.stage(Stage::Queue, queued_at.elapsed());
        let limits = self.limits;
        let masters = self.masters.clone();
        let in_flight = InFlight::enter(self.metrics.transforms_in_flight.clone());
        let span = tracing::debug_span!("transform", key = %variant.key);
        let result = tokio::task::spawn_blocking(move || {
            let (_permit, _in_flight, _span) = (permit, in_flight, span.entered());
            pipeline::render(
                &original,
                &digest,
                &layers,
                &learned,
                &variant,
                tier,
                &limits,
                masters.as_deref(),
            )
        })
        .await
        .map_err(|e| Error::Internal(format!("transform task failed: {e}")))?;
        self.completed.fetch_add(1, Ordering::Relaxed);
        let output = result?;
        self.metrics.stage(Stage::Transform, output.transform_time);
        self.metrics.stage(Stage::Encode, output.encode_time);
        Ok(Rendered::new(output))
    }

    /// Requests waiting for a permit right now.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Transforms run to completion (successful or not) since start.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }
}

/// Map a libvips failure after the header was read: provisionally ours —
/// [`pipeline::render`] re-blames the original if it turns out not to decode. (Unknown formats
/// never get this far: [`load::inspect`] asks libvips's loader search first.)
pub(crate) fn classify(e: VipsError) -> Error {
    Error::Internal(e.to_string())
}
