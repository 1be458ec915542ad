//! Integration tests: the real server on 127.0.0.1:0, real libvips, real images.
//!
//! Layout: `support/` starts servers and makes fixtures; each module tests one concern.

mod support;

mod architecture;
mod cache;
mod clients;
mod conformance;
mod corpus;
mod edge;
mod faces;
mod faults;
mod generative;
mod golden;
mod hdr;
mod heic;
mod hostile;
mod hot;
mod http;
mod imgix;
mod learned;
mod lifecycle;
mod masters;
mod memory;
mod metrics;
mod operations;
mod overlays;
mod queue;
mod refine;
mod security;
mod sources;
mod store;
mod text;
mod traffic;
mod transform;
mod uploads;
