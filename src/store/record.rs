//! How one variant is laid out as a stored object: a magic line, the length of a small JSON head
//! (format, size, ETag, tier, the variant key it renders), then the encoded image. Everything a
//! response needs is in the object, so a variant served from the store is byte-identical, with
//! the same ETag, to the render that wrote it.
//!
//! Reading checks everything it can: the magic, the lengths, the variant key, and the body
//! against its ETag (a hash of the bytes) — an object that fails any check is treated as absent,
//! never served.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::encoding::format::Format;
use crate::transform::encode::Tier;
use crate::transform::plan::Size;
use crate::transform::Rendered;

/// First bytes of every stored variant (the version of this layout).
const MAGIC: &[u8] = b"RFV1\n";

/// Largest head accepted when reading (a head is ~200 bytes).
const MAX_HEAD: usize = 16 * 1024;

/// What a stored variant says about itself.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Head {
    /// The variant's cache key (what it renders).
    key: String,
    /// `fm=` name of the encoding.
    format: String,
    width: u32,
    height: u32,
    original_bytes: u64,
    etag: String,
    /// Which encoder settings made it: `standard`, `first` or `refined`.
    tier: String,
}

/// The stored object for `rendered`, the render of variant `key`.
pub fn encode(key: &str, rendered: &Rendered) -> Bytes {
    let head = Head {
        key: key.to_owned(),
        format: rendered.format.name().to_owned(),
        width: rendered.size.width,
        height: rendered.size.height,
        original_bytes: rendered.original_bytes,
        etag: rendered.etag.clone(),
        tier: rendered.tier.name().to_owned(),
    };
    let head = serde_json::to_vec(&head).expect("serialisable");
    let mut out = BytesMut::with_capacity(MAGIC.len() + 4 + head.len() + rendered.body.len());
    out.put_slice(MAGIC);
    out.put_u32_le(u32::try_from(head.len()).expect("small head"));
    out.put_slice(&head);
    out.put_slice(&rendered.body);
    out.freeze()
}

/// The variant in a stored object, if the object is whole, renders `key`, and its body matches
/// its ETag. The body shares `object`'s memory.
pub fn decode(key: &str, object: &Bytes) -> Result<Rendered, String> {
    let (stored_key, rendered) = inspect(object)?;
    if stored_key != key {
        return Err(format!("object renders {stored_key}, not {key}"));
    }
    Ok(rendered)
}

/// The variant key a stored object renders and the variant, if the object is whole and its body
/// matches its ETag.
pub fn inspect(object: &Bytes) -> Result<(String, Rendered), String> {
    let rest = object
        .strip_prefix(MAGIC)
        .ok_or("not a stored variant (magic)")?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("truncated head length")?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_HEAD || len > rest.len() {
        return Err(format!(
            "head of {len} bytes in a {}-byte object",
            object.len()
        ));
    }
    let head: Head =
        serde_json::from_slice(&rest[..len]).map_err(|e| format!("unreadable head: {e}"))?;
    let format = Format::from_name(&head.format).ok_or("unknown format")?;
    let tier = Tier::from_name(&head.tier).ok_or("unknown tier")?;
    let start = object.len() - (rest.len() - len);
    let body = object.slice(start..);
    let etag = crate::transform::etag_of(&body);
    if etag != head.etag {
        return Err("body does not match its ETag".into());
    }
    let rendered = Rendered {
        body,
        format,
        size: Size {
            width: head.width,
            height: head.height,
        },
        original_bytes: head.original_bytes,
        etag,
        purge_tag: hyper::header::HeaderValue::from_static(""),
        tier,
        served: std::sync::atomic::AtomicU32::new(0),
        provisional: false,
    };
    Ok((head.key, rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(body: &'static [u8]) -> Rendered {
        let body = Bytes::from_static(body);
        Rendered {
            etag: crate::transform::etag_of(&body),
            body,
            format: Format::Webp,
            size: Size {
                width: 64,
                height: 48,
            },
            original_bytes: 1234,
            purge_tag: hyper::header::HeaderValue::from_static(""),
            tier: Tier::Refined,
            served: std::sync::atomic::AtomicU32::new(0),
            provisional: false,
        }
    }

    #[test]
    fn round_trip_is_byte_identical() {
        let r = rendered(b"RIFF....WEBPVP8 fake body");
        let object = encode("a.jpg?w=64&fm=webp", &r);
        let back = decode("a.jpg?w=64&fm=webp", &object).unwrap();
        assert_eq!(back.body, r.body);
        assert_eq!(back.etag, r.etag);
        assert_eq!(back.format, r.format);
        assert_eq!(back.size, r.size);
        assert_eq!(back.original_bytes, 1234);
        assert_eq!(back.tier, Tier::Refined);
    }

    #[test]
    fn anything_partial_or_foreign_is_refused() {
        let r = rendered(b"0123456789abcdef");
        let object = encode("k?w=1", &r);
        // Every truncation fails (a partial write can never be served).
        for cut in 0..object.len() {
            assert!(
                decode("k?w=1", &object.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        // Another variant's object, or a flipped body byte.
        assert!(decode("k?w=2", &object).is_err());
        let mut flipped = object.to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode("k?w=1", &Bytes::from(flipped)).is_err());
        assert!(decode("k?w=1", &Bytes::from_static(b"hello")).is_err());
    }
}
