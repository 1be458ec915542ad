//! Observation, in one room: every Prometheus metric ([`metrics`]), per-image request analytics
//! ([`analytics`]) and the access log ([`access_log`]). The server enters through one door, the
//! [`metrics::RequestGuard`] that records a request when it is dropped; the layers below (source,
//! transform, store, cache) only count into [`metrics::Metrics`].
//!
//! May import: `error`, `encoding`. Imported by every room above it; imports none of them.

pub mod access_log;
pub mod analytics;
pub mod metrics;

use std::sync::Arc;

pub use access_log::AccessLog;
pub use analytics::Analytics;
pub use metrics::{Metrics, RequestGuard};

/// How the render cache answered a lookup (an observation: the cache reports it, metrics,
/// analytics and the access log record it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Already cached.
    Hit,
    /// Rendered by this request.
    Miss,
    /// Rendered by a concurrent request for the same variant, which this one waited for.
    Coalesced,
    /// Read from the durable variant store (rendered earlier, by this or another replica).
    Store,
}

impl Lookup {
    /// Lower-case name, for headers, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Coalesced => "coalesced",
            Lookup::Store => "store",
        }
    }
}

/// The observation part of an app: the metrics registry, the analytics table and the access log,
/// built once and shared.
pub struct Observe {
    /// Every metric.
    pub metrics: Arc<Metrics>,
    /// Per-image request statistics (`/analytics`).
    pub analytics: Analytics,
    /// One line per request.
    pub access_log: AccessLog,
}
