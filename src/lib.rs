//! Refract: an on-the-fly image transformation origin.
//!
//! The rooms, top to bottom. Each has one job and imports only rooms below it; a test
//! (`tests/architecture.rs`) fails on any import cycle, between these rooms or between the files
//! inside any of them.
//!
//! | room | its one job | may import |
//! |---|---|---|
//! | [`server`] | HTTP: the accept loop, Refract's own HTTP/1.1 loop for bodiless `GET`/`HEAD` (hyper for the rest), ready responses for hits, routes, responses, graceful shutdown | `app` and below |
//! | [`app`] | [`App`]: the composition of the parts below (renderer, fleet, observation, uploads), built once from the config | everything below |
//! | [`work`] | background work and the other replicas: embedded queue, RabbitMQ, outbox, jobs, events, purge broadcast — on a weak [`render::Renderer`] handle, never the app | `render` and below |
//! | [`upload`] | `POST /upload`: JWT check, streaming size cap, header validation, content-addressed atomic store; the bulk uploader | `source`, `transform`, `request` and below |
//! | [`render`] | the one path from a URL to a rendered variant: request building, the memory cache with coalescing, sources and variant store ([`render::Origin`]), the transform processor, learned results per original ([`render::Learned`]: found, computed inline or deferred) | `store`, `transform`, `source`, `config` and below |
//! | [`config`] | flags, `REFRACT_*` variables and `--config FILE` → validated [`config::Config`]; `--check-config` | the types it validates into: `upload`, `source`, `request`, `observe`, `encoding`; the learned models' built-in directory (`transform::models`) |
//! | [`store`] | the durable variant store shared by replicas (S3 or a directory): read-through, write-behind, purge by original | `source`, `transform` and below |
//! | [`source`] | trait [`source::Source`], its implementations (directory, S3, HTTP, proxy), mounts, the originals cache, the SSRF defence | `request` and below |
//! | [`transform`] | plan (pure geometry), pipeline steps, encode, the libvips FFI ([`transform::vips`]), and the learned models through ONNX Runtime ([`transform::models`]) | `request` and below |
//! | [`request`] | URL grammar → typed [`request::ImageRequest`]; `Accept` → one [`request::Variant`]; cache key; signatures; srcset URLs (the client side) | `encoding`, `error` |
//! | [`observe`] | metrics, analytics, the access log; [`observe::RequestGuard`] is the server's one door | `encoding`, `error` |
//! | [`encoding`] | image formats, digests as hex, markup escaping: small pure helpers | nothing |
//! | [`error`] | the one [`Error`] type: status, public message, stable code | nothing |
//!
//! `unsafe` code lives in `transform::vips` (libvips, and glibc's `mallopt` at start), in
//! `source::fs`'s two file-system calls
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
