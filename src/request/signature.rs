//! Signed URLs: `s` = HMAC-SHA256 over the path and query, so that only URLs the site issued are
//! rendered (an unsigned origin lets anyone spend its CPU on arbitrary parameter combinations).
//!
//! # Canonical form (what a client signs)
//!
//! ```text
//! message = PATH                      if the query, without s, is empty
//! message = PATH "?" QUERY_WITHOUT_S  otherwise
//! s       = lowercase hex of HMAC-SHA256(key, message)
//! ```
//!
//! `PATH` is the path exactly as sent, percent-encoding and all (`/photos/summer%20trip.jpg`).
//! `QUERY_WITHOUT_S` is the raw query with every `s=…` pair removed: split on `&`, drop pairs
//! whose name is exactly `s`, join the rest with `&` in their original order. Nothing is decoded
//! or re-sorted, so a client signs the very string it puts in the URL and appends `&s=…` (or
//! `?s=…`). An optional `expires=UNIX_SECONDS` pair is part of the signed query; after that time
//! the URL answers 410, and no response to it is cacheable beyond that time.
//!
//! Several keys may be configured (key rotation): a URL signed with any of them verifies.
//!
//! # imgix's scheme (`--sign-scheme imgix`)
//!
//! For a migration from imgix, URLs signed by imgix's own libraries (`secureURLToken` in
//! `@imgix/js-core` and the others) verify unchanged: `s` = lowercase hex of
//! MD5(token ‖ message), the same message as above. It is weaker than the default: MD5 is
//! broken as a hash (collisions are cheap), and a secret prefix on a Merkle–Damgård hash is open
//! to length extension — from one signed message, the signature of that message with bytes
//! appended can be computed without the key. HMAC-SHA256 has neither problem, so it stays the default; use imgix's only while
//! URLs signed by imgix's libraries are still in pages and caches.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

/// The current time in UNIX seconds, the clock `expires` is compared with.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The outcome of a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The URL's `expires` time (UNIX seconds), if it has one.
    pub expires: Option<u64>,
}

/// The raw query split into pairs, `s` pairs separated out.
fn split_query(query: Option<&str>) -> (Vec<&str>, Vec<&str>) {
    let mut kept = Vec::new();
    let mut signatures = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("s", value)) => signatures.push(value),
            None if pair == "s" => signatures.push(""),
            _ => kept.push(pair),
        }
    }
    (kept, signatures)
}

/// The string that is signed for `path` and `query` (see the module docs).
pub fn canonical_message(path: &str, query: Option<&str>) -> String {
    let (kept, _) = split_query(query);
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// How `s` is computed from the key and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scheme {
    /// HMAC-SHA256 (the default).
    #[default]
    Hmac,
    /// imgix's: MD5 of the token followed by the message.
    Imgix,
}

impl Scheme {
    /// The signature bytes of `message` under `key`.
    fn mac(self, key: &[u8], message: &str) -> Vec<u8> {
        match self {
            Scheme::Hmac => {
                let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
                mac.update(message.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            Scheme::Imgix => {
                let mut md5 = Md5::new();
                md5.update(key);
                md5.update(message.as_bytes());
                md5.finalize().to_vec()
            }
        }
    }
}

/// Lowercase hex HMAC-SHA256 of `message` under `key`.
pub fn sign(key: &[u8], message: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    crate::encoding::digest::hex(&mac.finalize().into_bytes())
}

/// Sign `path_and_query` (e.g. `/cat.jpg?w=400`), optionally expiring at `expires` (UNIX
/// seconds): returns the URL with `expires` (replacing any) and `s` (replacing any) appended.
pub fn sign_url(key: &[u8], path_and_query: &str, expires: Option<u64>) -> String {
    sign_url_with(Scheme::Hmac, key, path_and_query, expires)
}

/// As [`sign_url`], with either scheme.
pub fn sign_url_with(
    scheme: Scheme,
    key: &[u8],
    path_and_query: &str,
    expires: Option<u64>,
) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let (mut kept, _) = split_query(query);
    let expires_pair;
    if let Some(t) = expires {
        kept.retain(|p| p.split_once('=').map_or(*p, |(k, _)| k) != "expires");
        expires_pair = format!("expires={t}");
        kept.push(&expires_pair);
    }
    let query = kept.join("&");
    let message = canonical_message(path, Some(&query));
    let signature = crate::encoding::digest::hex(&scheme.mac(key, &message));
    if query.is_empty() {
        format!("{path}?s={signature}")
    } else {
        format!("{path}?{query}&s={signature}")
    }
}

/// Verifies signed URLs against a set of keys.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<Vec<u8>>,
    scheme: Scheme,
}

impl Verifier {
    /// A verifier for `keys` under the default scheme; `None` when there are none (signatures
    /// not required).
    pub fn new(keys: &[String]) -> Option<Verifier> {
        Self::with_scheme(keys, Scheme::Hmac)
    }

    /// A verifier for `keys` under `scheme`.
    pub fn with_scheme(keys: &[String], scheme: Scheme) -> Option<Verifier> {
        if keys.is_empty() {
            return None;
        }
        Some(Verifier {
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            scheme,
        })
    }

    /// Check the raw `path` and `query` of a request at time `now` (UNIX seconds).
    pub fn verify(&self, path: &str, query: Option<&str>, now: u64) -> Result<Verified, Error> {
        let (kept, signatures) = split_query(query);
        let signature = match signatures.as_slice() {
            [] => return Err(Error::SignatureMissing),
            [one] => decode_hex(one, self.scheme).ok_or(Error::SignatureInvalid)?,
            _ => return Err(Error::SignatureInvalid),
        };
        let message = canonical_message(path, query);
        let valid = self.keys.iter().any(|key| match self.scheme {
            Scheme::Hmac => {
                let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
                mac.update(message.as_bytes());
                mac.verify_slice(&signature).is_ok() // constant-time comparison
            }
            Scheme::Imgix => constant_time_eq(&self.scheme.mac(key, &message), &signature),
        });
        if !valid {
            return Err(Error::SignatureInvalid);
        }
        let expires = match kept.iter().find_map(|p| p.strip_prefix("expires=")) {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| Error::bad_param("expires", "expected UNIX seconds"))?,
            ),
        };
        if expires.is_some_and(|t| now >= t) {
            return Err(Error::Expired);
        }
        Ok(Verified { expires })
    }
}

/// Equal bytes, compared without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_hex(s: &str, scheme: Scheme) -> Option<Vec<u8>> {
    let len = match scheme {
        Scheme::Hmac => 64,
        Scheme::Imgix => 32,
    };
    if s.len() != len {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef-test-key";

    /// `printf %s 'aFr29alvW8yCBmHTmh5ehN1XG1MTxwBl/bridge.jpg?w=500' | md5sum`.
    const IMGIX_BRIDGE: &str = "836f9bb5a2a8840f40342805c85f8897";

    fn verifier(keys: &[&str]) -> Verifier {
        Verifier::new(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn check(v: &Verifier, url: &str, now: u64) -> Result<Verified, Error> {
        let (path, query) = url
            .split_once('?')
            .map_or((url, None), |(p, q)| (p, Some(q)));
        v.verify(path, query, now)
    }

    #[test]
    fn canonical_form_drops_only_s_and_keeps_order_and_encoding() {
        assert_eq!(
            canonical_message("/a%20b.jpg", Some("w=1&s=abc&fm=auto&ss=2")),
            "/a%20b.jpg?w=1&fm=auto&ss=2"
        );
        assert_eq!(canonical_message("/a.jpg", Some("s=abc")), "/a.jpg");
        assert_eq!(canonical_message("/a.jpg", None), "/a.jpg");
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 test case 2 from RFC 4231.
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signed_urls_verify_and_tampering_fails() {
        let v = verifier(&[KEY]);
        let url = sign_url(KEY.as_bytes(), "/cat.jpg?w=400&fm=auto", None);
        assert!(url.starts_with("/cat.jpg?w=400&fm=auto&s="));
        assert_eq!(check(&v, &url, 0), Ok(Verified { expires: None }));
        let tampered = url.replace("w=400", "w=4000");
        assert_eq!(check(&v, &tampered, 0), Err(Error::SignatureInvalid));
        assert_eq!(check(&v, "/cat.jpg?w=400", 0), Err(Error::SignatureMissing));
        let (unsigned, sig) = url.split_once("&s=").unwrap();
        let upper = format!("{unsigned}&s={}", sig.to_ascii_uppercase());
        assert_eq!(
            check(&v, &upper, 0),
            Ok(Verified { expires: None }),
            "hex case-insensitive"
        );
        assert_eq!(
            check(&v, &format!("{url}&s=00"), 0),
            Err(Error::SignatureInvalid)
        );
        assert_eq!(check(&v, "/cat.jpg?s=zz", 0), Err(Error::SignatureInvalid));
        let no_query = sign_url(KEY.as_bytes(), "/cat.jpg", None);
        assert_eq!(check(&v, &no_query, 0), Ok(Verified { expires: None }));
    }

    #[test]
    fn a_signed_url_with_a_malformed_expiry_is_a_bad_param_not_a_bad_signature() {
        // Found by the verify_signature fuzz target.
        let v = verifier(&[KEY]);
        let url = sign_url(KEY.as_bytes(), "/?%&&expires=%", None);
        assert_eq!(check(&v, &url, 0).unwrap_err().code(), "bad_param");
    }

    #[test]
    fn imgix_signatures_verify_under_the_imgix_scheme_only() {
        // Token, path and query concatenated and hashed by md5sum (see IMGIX_BRIDGE).
        let token = "aFr29alvW8yCBmHTmh5ehN1XG1MTxwBl";
        let url = sign_url_with(Scheme::Imgix, token.as_bytes(), "/bridge.jpg?w=500", None);
        assert_eq!(url, format!("/bridge.jpg?w=500&s={IMGIX_BRIDGE}"));
        let imgix = Verifier::with_scheme(&[token.to_owned()], Scheme::Imgix).unwrap();
        assert!(check(&imgix, &url, 0).is_ok());
        assert_eq!(
            check(&imgix, &url.replace("w=500", "w=501"), 0),
            Err(Error::SignatureInvalid)
        );
        // An HMAC verifier refuses it (wrong length), and an imgix one refuses HMAC URLs.
        assert_eq!(
            check(&verifier(&[token]), &url, 0),
            Err(Error::SignatureInvalid)
        );
        let hmac = sign_url(token.as_bytes(), "/bridge.jpg?w=500", None);
        assert_eq!(check(&imgix, &hmac, 0), Err(Error::SignatureInvalid));
    }

    #[test]
    fn rotation_accepts_any_listed_key() {
        let old = "old-key-0123456789";
        let new = "new-key-0123456789";
        let url = sign_url(old.as_bytes(), "/a.jpg?w=1", None);
        assert!(check(&verifier(&[new, old]), &url, 0).is_ok());
        assert_eq!(
            check(&verifier(&[new]), &url, 0),
            Err(Error::SignatureInvalid)
        );
    }

    #[test]
    fn expiry_is_signed_and_enforced() {
        let v = verifier(&[KEY]);
        let url = sign_url(KEY.as_bytes(), "/a.jpg?w=1&expires=5", Some(1000));
        assert!(url.contains("expires=1000") && !url.contains("expires=5"));
        assert_eq!(
            check(&v, &url, 999),
            Ok(Verified {
                expires: Some(1000)
            })
        );
        assert_eq!(check(&v, &url, 1000), Err(Error::Expired));
        let extended = url.replace("expires=1000", "expires=9999");
        assert_eq!(check(&v, &extended, 0), Err(Error::SignatureInvalid));
    }
}
