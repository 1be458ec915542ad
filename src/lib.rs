//! Refract: an on-the-fly image transformation origin.
//!
//! A request flows top to bottom through these modules:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | flags and `REFRACT_*` variables → validated [`config::Config`] |
//! | [`config_file`] | `--config FILE` (TOML) turned into flags |
//! | [`app`] | [`App`]: built once from the config; owns source, cache, processor |
//! | [`server`] | accept loop, the HTTP/1.1 connection loop (hyper for the unusual), ready responses for hits, routes, response headers, graceful shutdown |
//! | [`request`] | URL grammar → typed [`request::ImageRequest`]; `Accept` → one [`request::Variant`]; cache key |
//! | [`cache`] | moka cache of rendered variants, byte-weighted, coalescing concurrent misses |
//! | [`store`] | the durable variant store shared by replicas (S3 or a directory): read-through, write-behind, purge by original |
//! | [`source`] | trait [`source::Source`], its implementations (directory, S3, HTTP, proxy), mounts, the originals cache, the SSRF defence |
//! | [`transform`] | plan (pure geometry), pipeline steps, encode, and the libvips FFI ([`transform::vips`]) |
//! | [`digest`] | hashes as lowercase hex (ETags, upload keys, store names, signatures) |
//! | [`format`](mod@format) | image formats: URL names, MIME types, signatures |
//! | [`error`] | the one [`Error`] type: status, public message, stable code |
//! | [`observe::access_log`] | one line per request on stdout, JSON or text |
//! | [`observe::analytics`] | bounded per-image request statistics for `/analytics` |
//! | [`observe::metrics`] | every Prometheus metric, and the guard that records a request on drop |
//! | [`upload`] | `POST /upload`: JWT check, streaming size cap, header validation, content-addressed atomic store; the bulk uploader |
//! | [`srcset`] | the client side: URLs per width for `srcset`, signed when needed (`refract srcset`, the demo page) |
//! | [`background`] | background jobs (eager renders, refinement): in-process by default |
//! | [`broker`] | RabbitMQ (`--queue`): the shared connection, purge and refinement broadcasts |
//! | [`outbox`] | the durable local outbox: messages on disk until the broker confirms them |
//! | [`events`] | `image.uploaded` events, through the outbox |
//! | [`jobs`] | jobs through RabbitMQ: the queue, its dead letters, the worker's consumer |
//! | [`markup`] | escaping text for HTML, XML and Pango markup |
//!
//! `unsafe` code lives in `transform::vips` (libvips), in `source::fs`'s two file-system calls
//! the standard library lacks (`syncfs`, `linkat`), and, in unit tests only, the allocator that
//! counts allocations (`alloc_count`).

pub mod app;
pub mod config;
pub mod encoding;
pub mod error;
pub mod observe;
pub mod render;
pub mod request;
pub mod server;
pub mod source;
pub mod store;
pub mod transform;
pub mod upload;
pub mod work;

pub use app::App;
pub use config::Config;
pub use error::Error;

#[cfg(test)]
pub mod alloc_count {
    //! Unit tests only: the global allocator counts allocations per thread, so a test can show
    //! that a code path (a ready hit) allocates nothing.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    /// The system allocator, counting.
    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
    // a constant-initialised thread-local with no destructor (it never allocates).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            COUNT.with(|c| c.set(c.get() + 1));
            // SAFETY: the caller's contract is passed on as it is.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            COUNT.with(|c| c.set(c.get() + 1));
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            COUNT.with(|c| c.set(c.get() + 1));
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations (and reallocations) made by this thread so far.
    pub fn allocations() -> u64 {
        COUNT.with(Cell::get)
    }
}
