//! Every metric Refract exports — names, help texts and labels in one place — and the guard that
//! records a request when it is dropped, so cancelled requests are counted too.
//!
//! Labels stay low-cardinality: status codes, formats, stages, cache results, error codes; never a
//! key or a URL. Reading the dashboards: a growing `queue` stage and `refract_queue_depth` mean
//! "needs more CPU"; a growing `fetch` stage means "sources got slow"; a falling
//! `refract_cache_requests_total{result="hit"}` share with evictions rising means "cache too
//! small".
//!
//! libvips evaluates lazily: decoding and resizing happen while the encoder pulls pixels, so the
//! `encode` stage holds most pixel work and `transform` only the planning and pipeline set-up.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::error::Error;
use crate::observe::access_log::{AccessLog, Entry};
use crate::observe::analytics::{Analytics, Served};
use crate::observe::Lookup;

/// Latency buckets (seconds): from a cache hit (~µs) to a heavy AVIF encode (tens of seconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The registry and every metric in it.
pub struct Metrics {
    registry: Registry,
    /// `refract_requests_total{status,format}`: every image request, errors included.
    pub requests: IntCounterVec,
    /// `refract_request_duration_seconds`: time from routing to response.
    pub request_duration: Histogram,
    /// `refract_stage_duration_seconds{stage}`: `store`, `queue`, `fetch`, `transform`, `encode`.
    pub stages: HistogramVec,
    /// `refract_cache_requests_total{result}`: `hit`, `miss`, `coalesced`.
    pub cache_requests: IntCounterVec,
    /// `refract_cache_bytes`: bytes held by the render cache (sampled at scrape).
    pub cache_bytes: IntGauge,
    /// `refract_cache_entries`: variants held (sampled at scrape).
    pub cache_entries: IntGauge,
    /// `refract_cache_evictions_total`: variants dropped for size or age.
    pub cache_evictions: IntCounter,
    /// `refract_access_log_dropped_total`: access-log lines dropped because stdout did not keep
    /// up (serving never waits for the log).
    pub access_log_dropped: IntCounter,
    /// `refract_response_bytes_total{format}`: body bytes served.
    pub response_bytes: IntCounterVec,
    /// `refract_source_bytes_total`: bytes fetched from sources.
    pub source_bytes: IntCounter,
    /// `refract_source_fetches_total{source,result}`: fetches from stores by kind (`file`, `s3`,
    /// `http`, `proxy`) and result (`ok`, `not_modified`, or an error code such as `not_found`,
    /// `source_failed`, `source_timeout`).
    pub source_fetches: IntCounterVec,
    /// `refract_originals_cache_total{result}`: originals-cache lookups: `hit`, `miss`,
    /// `coalesced`, `revalidated` (store said unchanged), `changed`, `stale` (served while the
    /// store failed).
    pub originals_cache: IntCounterVec,
    /// `refract_masters_total{result}`: decode-once masters: `built`, `hit` (a variant scaled
    /// from a master), `cold` (first render of an original: no master yet), `too_large`
    /// (the variant is bigger than the master: rendered from the original).
    pub masters: IntCounterVec,
    /// `refract_transforms_in_flight`: transforms holding a permit.
    pub transforms_in_flight: IntGauge,
    /// `refract_queue_depth`: requests waiting for a permit (sampled at scrape).
    pub queue_depth: IntGauge,
    /// `refract_rejected_total{reason}`: `shed`, `timeout`, `limits`, `signature`,
    /// `origin_header`, `source_not_allowed`.
    pub rejected: IntCounterVec,
    /// `refract_errors_total{code}`: error answers by stable code.
    pub errors: IntCounterVec,
    /// `refract_vips_memory_bytes`: pixel memory libvips holds (sampled at scrape).
    pub vips_memory: IntGauge,
    /// `refract_variant_store_pending_writes`: renders accepted for the variant store and not
    /// yet written (sampled at scrape).
    pub store_pending: IntGauge,
    /// `refract_uploads_total{result}`: uploads by outcome (`created`, `exists`, or an error code).
    pub uploads: IntCounterVec,
    /// `refract_variant_store_total{result}`: the durable variant store: reads (`hit`, `miss`,
    /// `corrupt`, `read_error`), writes (`written`, `write_error`, `dropped` when the write
    /// queue was full) and objects `purged`.
    pub variant_store: IntCounterVec,
    /// `refract_learned_total{op,result}`: learned results (`op` `mask`, `upscale`) a render
    /// asked for: `memory`, `store` (found), `inline` (computed while the request waited),
    /// `deferred` (a job queued, the plain render served), `pending` (already queued),
    /// `refused` (not possible: the reason is in the log), `failed`.
    pub learned: IntCounterVec,
    /// `refract_model_runs_total{model}`: inferences run (`foreground`, `upscale`).
    pub model_runs: IntCounterVec,
    /// `refract_model_loaded{model,file}`: 1 for each model checked at start.
    pub model_loaded: prometheus::IntGaugeVec,
    /// `refract_background_jobs_total{kind,result}`: background work (`kind` `eager`) by
    /// outcome: `queued`, `dropped` (queue full), `done`, `failed`.
    pub background_jobs: IntCounterVec,
    /// `refract_outbox_total{lane,result}`: messages for RabbitMQ (`lane` `events`, `jobs`):
    /// `queued` (on disk), `published` (confirmed by the broker), `nacked`, `write_failed`.
    pub outbox: IntCounterVec,
    /// `refract_purge_broadcasts_total{result}`: purges `announced` to the other replicas (or
    /// `announce_failed`), and `received` from them; `refined_received`: a variant another
    /// replica refined, dropped from memory.
    pub purges: IntCounterVec,
    /// `refract_params_ignored_total{param}`: values imgix would ignore, ignored (by canonical
    /// parameter name; repeats count once per request).
    pub params_ignored: IntCounterVec,
    /// `refract_purge_listener_up`: 1 while this replica's purge queue is bound to the broker
    /// (purges announced now reach it), 0 while it reconnects (or without `--queue`).
    pub purge_listener_up: IntGauge,
    /// Label series of the answered-image path, resolved once each.
    served: ServedSeries,
}

/// Output formats' label values, in slot order for [`ServedSeries`].
const FORMAT_LABELS: [&str; 6] = ["jpg", "pjpg", "png", "webp", "avif", "gif"];

/// The series an answered image counts in — `requests{200|304, format}`,
/// `response_bytes{format}`, `cache_requests{result}` — each looked up by label the first time
/// it is used and kept, so a cache hit hashes no labels (a `with_label_values` per metric per
/// hit showed in profiles). Series appear in `/metrics` when first used, as before.
#[derive(Default)]
struct ServedSeries {
    requests: [[OnceLock<IntCounter>; FORMAT_LABELS.len()]; 2],
    bytes: [OnceLock<IntCounter>; FORMAT_LABELS.len()],
    lookups: [OnceLock<IntCounter>; 4],
}

fn format_slot(format: &str) -> Option<usize> {
    FORMAT_LABELS.iter().position(|f| *f == format)
}

impl Metrics {
    /// Create and register every metric, plus the process collector (CPU, RSS, open fds).
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let register = |collector: Box<dyn Collector>| {
            registry.register(collector).expect("unique metric name");
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            register(Box::new(c.clone()));
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            register(Box::new(c.clone()));
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            register(Box::new(g.clone()));
            g
        };
        let latency = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let request_duration = Histogram::with_opts(latency(
            "refract_request_duration_seconds",
            "Time to answer an image request, from routing to response.",
        ))
        .expect("valid metric");
        register(Box::new(request_duration.clone()));
        let stages = HistogramVec::new(
            latency(
                "refract_stage_duration_seconds",
                "Time spent per stage of a cache miss: store (reading the variant store), queue \
                 (waiting for a transform slot), fetch (reading the original), transform \
                 (planning), encode (pixel work).",
            ),
            &["stage"],
        )
        .expect("valid metric");
        register(Box::new(stages.clone()));
        #[cfg(target_os = "linux")]
        register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));

        Metrics {
            requests: counter_vec(
                "refract_requests_total",
                "Image requests answered, by HTTP status and output format.",
                &["status", "format"],
            ),
            request_duration,
            stages,
            cache_requests: counter_vec(
                "refract_cache_requests_total",
                "Render-cache lookups: hit, miss (rendered by this request), coalesced (waited \
                 for a concurrent render).",
                &["result"],
            ),
            cache_bytes: gauge("refract_cache_bytes", "Bytes held by the render cache."),
            cache_entries: gauge(
                "refract_cache_entries",
                "Variants held by the render cache.",
            ),
            access_log_dropped: counter(
                "refract_access_log_dropped_total",
                "Access-log lines dropped because stdout did not keep up.",
            ),
            cache_evictions: counter(
                "refract_cache_evictions_total",
                "Variants dropped from the render cache for size or age.",
            ),
            response_bytes: counter_vec(
                "refract_response_bytes_total",
                "Image body bytes sent, by format.",
                &["format"],
            ),
            source_bytes: counter(
                "refract_source_bytes_total",
                "Bytes of originals fetched from sources.",
            ),
            source_fetches: counter_vec(
                "refract_source_fetches_total",
                "Fetches from stores of originals, by source kind and result (ok, not_modified \
                 or an error code).",
                &["source", "result"],
            ),
            originals_cache: counter_vec(
                "refract_originals_cache_total",
                "Originals-cache lookups: hit, miss, coalesced, revalidated, changed, stale \
                 (served while the store failed).",
                &["result"],
            ),
            masters: counter_vec(
                "refract_masters_total",
                "Decode-once masters: built, hit (a variant scaled from a master), cold (an \
                 original's first render), too_large (variant bigger than the master).",
                &["result"],
            ),
            transforms_in_flight: gauge(
                "refract_transforms_in_flight",
                "Transforms holding a permit right now.",
            ),
            queue_depth: gauge(
                "refract_queue_depth",
                "Requests waiting for a transform permit.",
            ),
            rejected: counter_vec(
                "refract_rejected_total",
                "Requests refused to protect the origin: shed (queue full), timeout, limits \
                 (pixels, frames, bytes, URL size), signature, origin_header, source_not_allowed \
                 (SSRF defence).",
                &["reason"],
            ),
            errors: counter_vec(
                "refract_errors_total",
                "Error answers by stable error code.",
                &["code"],
            ),
            store_pending: gauge(
                "refract_variant_store_pending_writes",
                "Renders queued or in flight to the variant store (write-behind backlog).",
            ),
            vips_memory: gauge(
                "refract_vips_memory_bytes",
                "Pixel memory allocated by libvips.",
            ),
            uploads: counter_vec(
                "refract_uploads_total",
                "Uploads by outcome: created, exists, or the error code.",
                &["result"],
            ),
            variant_store: counter_vec(
                "refract_variant_store_total",
                "Durable variant store: reads (hit, miss, corrupt, read_error), writes (written, \
                 write_error, dropped when the write queue was full), objects purged.",
                &["result"],
            ),
            learned: counter_vec(
                "refract_learned_total",
                "Learned results (op: mask, upscale) renders asked for, by result: memory, store, \
                 inline (computed while the request waited), deferred (job queued, plain render \
                 served), pending (already queued), refused, failed.",
                &["op", "result"],
            ),
            model_runs: counter_vec(
                "refract_model_runs_total",
                "Model inferences run, by model (foreground, upscale).",
                &["model"],
            ),
            model_loaded: {
                let g = prometheus::IntGaugeVec::new(
                    prometheus::Opts::new(
                        "refract_model_loaded",
                        "1 for each learned model checked at start (model: foreground, upscale).",
                    ),
                    &["model", "file"],
                )
                .expect("valid metric");
                register(Box::new(g.clone()));
                g
            },
            background_jobs: counter_vec(
                "refract_background_jobs_total",
                "Background jobs (kind: eager) by result: queued, dropped (queue full), done, \
                 failed.",
                &["kind", "result"],
            ),
            outbox: counter_vec(
                "refract_outbox_total",
                "Messages for RabbitMQ by lane (events, jobs) and result: queued (on disk), \
                 published (confirmed by the broker), nacked, write_failed.",
                &["lane", "result"],
            ),
            purges: counter_vec(
                "refract_purge_broadcasts_total",
                "Purges announced to other replicas (announced, announce_failed) and received \
                 from them (received; refined_received: a variant refined elsewhere).",
                &["result"],
            ),
            params_ignored: counter_vec(
                "refract_params_ignored_total",
                "Requests with a parameter value imgix would ignore (unreadable, or overridden by \
                 a later copy), ignored, by parameter.",
                &["param"],
            ),
            purge_listener_up: gauge(
                "refract_purge_listener_up",
                "1 while this replica hears other replicas' purges (its queue is bound to the \
                 broker); 0 while it reconnects, and without --queue.",
            ),
            served: ServedSeries::default(),
            registry,
        }
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("text format is UTF-8")
    }

    /// Record the time one stage of a miss took.
    pub fn stage(&self, stage: Stage, took: Duration) {
        self.stages
            .with_label_values(&[stage.as_str()])
            .observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Stages of a cache miss, as `refract_stage_duration_seconds{stage}` names them.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Waiting for a transform permit.
    Queue,
    /// Reading the original from its source.
    Fetch,
    /// Header checks, geometry, building the libvips pipeline.
    Transform,
    /// Encoding, which pulls (decodes, resizes) the pixels.
    Encode,
    /// Reading the durable variant store.
    Store,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Queue => "queue",
            Stage::Fetch => "fetch",
            Stage::Transform => "transform",
            Stage::Encode => "encode",
            Stage::Store => "store",
        }
    }
}

/// Records one image request when dropped — in the metrics (status, format, duration, bytes,
/// error code) and in the access log. A request dropped before it was answered (the client went
/// away) is recorded with status 499, nginx's "client closed request".
pub struct RequestGuard<'a> {
    metrics: &'a Metrics,
    access_log: &'a AccessLog,
    /// The request's method and target (path and query), borrowed from the request.
    method: &'a str,
    target: &'a str,
    source: &'static str,
    started: Instant,
    status: u16,
    format: &'static str,
    bytes: u64,
    cache: Option<&'static str>,
    /// Parameters ignored, comma-separated (empty: none; allocated only when there are some).
    ignored: String,
}

impl<'a> RequestGuard<'a> {
    /// Start timing a request (`target`, its path and query, is logged); the source is `none`
    /// until [`RequestGuard::source`] names it.
    pub fn new(
        metrics: &'a Metrics,
        access_log: &'a AccessLog,
        method: &'a str,
        target: &'a str,
    ) -> RequestGuard<'a> {
        RequestGuard {
            metrics,
            access_log,
            method,
            target,
            source: "none",
            started: Instant::now(),
            status: 499,
            format: "none",
            bytes: 0,
            cache: None,
            ignored: String::new(),
        }
    }

    /// The URL gave values imgix would ignore (`names`, canonical): counted per parameter in
    /// `refract_params_ignored_total`, and listed in the access log.
    pub fn ignored(&mut self, names: &[&'static str]) {
        if names.is_empty() {
            return;
        }
        for name in names {
            self.metrics.params_ignored.with_label_values(&[name]).inc();
        }
        self.ignored = names.join(",");
    }

    /// The kind of store the request was routed to (`file`, `s3`, `http`, `proxy`).
    pub fn source(&mut self, kind: &'static str) {
        self.source = kind;
    }

    /// How the render cache answered.
    pub fn cache(&mut self, lookup: Lookup) {
        self.cache = Some(lookup.as_str());
        let metrics = self.metrics;
        metrics.served.lookups[lookup as usize]
            .get_or_init(|| metrics.cache_requests.with_label_values(&[lookup.as_str()]))
            .inc();
    }

    /// The request was answered with an image (`status` 200 or 304): recorded here for the
    /// metrics and the access log (on drop), and in `analytics` now — the one place a served
    /// image is observed.
    pub fn image(&mut self, status: u16, analytics: &Analytics, served: Served<'_>) {
        self.status = status;
        self.format = served.format.name();
        self.bytes = served.bytes;
        analytics.record(served);
    }

    /// The request was answered with an error whose body is `body` bytes (the access log's
    /// `bytes`; image bytes alone are counted in `refract_response_bytes_total`).
    pub fn error(&mut self, error: &Error, body: u64) {
        self.status = error.status();
        self.bytes = body;
        self.metrics.errors.with_label_values(&[error.code()]).inc();
        let reason = match error {
            Error::Overloaded => Some("shed"),
            Error::Timeout => Some("timeout"),
            Error::TooManyPixels { .. }
            | Error::TooManyFrames { .. }
            | Error::SourceTooLarge { .. }
            | Error::UriTooLong { .. } => Some("limits"),
            Error::SignatureMissing | Error::SignatureInvalid | Error::Expired => Some("signature"),
            Error::OriginHeader => Some("origin_header"),
            Error::SourceNotAllowed(_) => Some("source_not_allowed"),
            _ => None,
        };
        if let Some(reason) = reason {
            self.metrics.rejected.with_label_values(&[reason]).inc();
        }
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        let duration = self.started.elapsed();
        self.access_log.write(&Entry {
            method: self.method,
            path: self.target,
            status: self.status,
            bytes: self.bytes,
            duration,
            cache: self.cache,
            format: (self.format != "none").then_some(self.format),
            source: self.source,
            ignored: &self.ignored,
        });
        let metrics = self.metrics;
        let status_slot = match self.status {
            200 => Some(0),
            304 => Some(1),
            _ => None,
        };
        match (status_slot, format_slot(self.format)) {
            (Some(s), Some(f)) => metrics.served.requests[s][f]
                .get_or_init(|| {
                    let status = status_label(self.status);
                    metrics.requests.with_label_values(&[&status, self.format])
                })
                .inc(),
            _ => metrics
                .requests
                .with_label_values(&[&status_label(self.status), self.format])
                .inc(),
        }
        metrics.request_duration.observe(duration.as_secs_f64());
        // An error's body is logged, not counted as image bytes.
        if self.bytes > 0 && self.format != "none" {
            match format_slot(self.format) {
                Some(f) => metrics.served.bytes[f]
                    .get_or_init(|| metrics.response_bytes.with_label_values(&[self.format]))
                    .inc_by(self.bytes),
                None => metrics
                    .response_bytes
                    .with_label_values(&[self.format])
                    .inc_by(self.bytes),
            }
        }
    }
}

/// A status code as a label, without formatting the common ones.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    match status {
        200 => "200".into(),
        304 => "304".into(),
        400 => "400".into(),
        404 => "404".into(),
        499 => "499".into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_counts_as_499_and_errors_count_by_code() {
        let m = Metrics::new();
        let log = AccessLog::new(
            crate::observe::access_log::LogFormat::Json,
            false,
            m.access_log_dropped.clone(),
        );
        let guard = || RequestGuard::new(&m, &log, "GET", "/x.jpg");
        drop(guard());
        assert_eq!(m.requests.with_label_values(&["499", "none"]).get(), 1);
        let mut g = guard();
        g.error(&Error::Overloaded, 0);
        drop(g);
        assert_eq!(m.requests.with_label_values(&["503", "none"]).get(), 1);
        assert_eq!(m.errors.with_label_values(&["overloaded"]).get(), 1);
        assert_eq!(m.rejected.with_label_values(&["shed"]).get(), 1);
        let mut g = guard();
        let analytics = Analytics::new(10);
        g.image(
            200,
            &analytics,
            Served {
                key: "x.jpg",
                format: crate::encoding::format::Format::Webp,
                dpr: 1.0,
                width: 64,
                bytes: 1234,
                original_bytes: 5000,
                lookup: Lookup::Miss,
            },
        );
        drop(g);
        assert_eq!(m.response_bytes.with_label_values(&["webp"]).get(), 1234);
        assert!(analytics
            .to_json()
            .contains(r#""key":"x.jpg","requests":1"#));
        let text = m.encode();
        assert!(text.contains("refract_requests_total{format=\"webp\",status=\"200\"} 1"));
        assert!(text.contains("refract_request_duration_seconds_bucket"));
    }
}
