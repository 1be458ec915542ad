//! URL → typed request: arbitrary paths and queries must parse or fail cleanly, never panic,
//! and a successful parse must give a cache key that parses again to the same variant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refract::request::{AcceptClass, ImageRequest, ParamLimits};

const LIMITS: ParamLimits = ParamLimits {
    max_dimension: 8192,
    strict: false,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let Ok(request) = ImageRequest::parse(path, query, LIMITS) else {
        return;
    };
    // Invariants of a parsed request.
    if let Some(w) = request.params.width {
        assert!((1..=8192).contains(&w));
    }
    if let Some(h) = request.params.height {
        assert!((1..=8192).contains(&h));
    }
    assert!(!request
        .key
        .as_str()
        .split('/')
        .any(|s| s.is_empty() || s == ".." || s == "."));
    for accept in [AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Legacy] {
        let _ = request.variant(accept).cache_key();
    }
});
