//! Signature check: arbitrary paths and queries must verify or be refused, never panic; a URL
//! signed by `sign_url` is never refused for its signature. (It may still be refused for what it
//! says: a malformed or past `expires` is a 400 or 410 — the first crash this target found was
//! exactly that invariant stated too strongly.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use refract::request::signature::{sign_url, Verifier};
use refract::Error;

const KEY: &str = "fuzzing-key-0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = Verifier::new(&[KEY.to_string()]).unwrap();
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let _ = verifier.verify(path, query, 1_000);

    // Round trip: what we sign, we accept.
    if !path.starts_with('/') || path.contains('?') {
        return;
    }
    let signed = sign_url(KEY.as_bytes(), text, None);
    let (p, q) = signed.split_once('?').unwrap();
    if let Err(e @ (Error::SignatureInvalid | Error::SignatureMissing)) =
        verifier.verify(p, Some(q), 1_000)
    {
        panic!("{signed}: {e}");
    }
});
