//! Hashes as text: the lowercase hex that ETags, upload keys, variant-store names and URL
//! signatures are written in, and the Base64 of the demo page's script hash; and
//! [`LazyDigest`], an original's SHA-256 computed at most once, by whoever needs it first.

use std::sync::{Arc, OnceLock};

use sha2::{Digest as _, Sha256};

/// The SHA-256 of one original's bytes, computed at most once and shared by every holder: the
/// originals cache keeps it with the bytes, the variant store names variants by it, face
/// detection caches its findings under it.
#[derive(Clone, Debug, Default)]
pub struct LazyDigest(Arc<OnceLock<[u8; 32]>>);

impl LazyDigest {
    /// The digest, if someone has computed it already.
    pub fn get(&self) -> Option<[u8; 32]> {
        self.0.get().copied()
    }

    /// The digest of `bytes` (which must be the bytes this digest is of), computed now unless
    /// it already was.
    pub fn of(&self, bytes: &[u8]) -> [u8; 32] {
        *self.0.get_or_init(|| sha256(bytes))
    }

    /// Keep `digest`, computed elsewhere, unless one is kept already; returns the kept one.
    pub fn set(&self, digest: [u8; 32]) -> [u8; 32] {
        *self.0.get_or_init(|| digest)
    }
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A SHA-256 back from its 64 lowercase or uppercase [`hex`] digits.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| char::from(c).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// Standard Base64 (RFC 4648, padded) of `bytes`: the encoding of CSP script hashes.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decode Base64 in either alphabet (standard `+/` or URL-safe `-_`, as imgix's `…64`
/// parameters use), padding optional. `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sixth of a byte is no encoding's output.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{hex, LazyDigest};

    #[test]
    fn a_lazy_digest_is_computed_once_and_shared_by_its_clones() {
        let digest = LazyDigest::default();
        let clone = digest.clone();
        assert_eq!(clone.get(), None);
        let sha = digest.of(b"abc");
        assert_eq!(
            hex(&sha),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Kept: other bytes do not change it (the caller vouches they are the same original).
        assert_eq!(clone.of(b"other"), sha);
        assert_eq!(clone.set([0; 32]), sha);
    }

    #[test]
    fn base64_round_trips_in_both_alphabets() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd?"] {
            let standard = super::base64(bytes);
            assert_eq!(super::base64_decode(&standard).as_deref(), Some(bytes));
            let url = standard.replace('+', "-").replace('/', "_");
            assert_eq!(
                super::base64_decode(url.trim_end_matches('=')).as_deref(),
                Some(bytes)
            );
        }
        assert_eq!(
            super::base64_decode("SGVsbG8gd29ybGQ").unwrap(),
            b"Hello world"
        );
        assert!(super::base64_decode("a").is_none());
        assert!(super::base64_decode("ab$c").is_none());
    }

    #[test]
    fn lowercase_two_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), output);
        }
    }
}
