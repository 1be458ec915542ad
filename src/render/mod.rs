//! Rendering a variant: the in-memory cache of rendered variants with request coalescing
//! ([`cache`]).

pub mod cache;
