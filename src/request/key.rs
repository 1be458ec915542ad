//! Object keys: the decoded path of a request, checked so that no key can name anything outside
//! the store it is looked up in.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::Error;

/// Longest key accepted, in bytes (S3's limit is 1024).
pub const MAX_KEY_BYTES: usize = 1024;

/// Longest key whose tail is a URL (see [`Key::routed`]).
pub const MAX_ROUTED_KEY_BYTES: usize = 3072;

/// A validated object key: relative, `/`-separated, no empty, `.` or `..` segments, no
/// backslashes, NULs or control characters. Safe to join onto a directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

/// The key of imgix's typesetting endpoint (`/~text?txt=…`): text rendered as an image, with
/// no original behind it. Reserved: a file of that name under a root mount is not served.
const TYPESET: &str = "~text";

impl Key {
    /// The typesetting endpoint's key (`/~text`).
    pub fn typeset() -> Key {
        Key(TYPESET.to_owned())
    }

    /// Whether this is the typesetting endpoint's key.
    pub fn is_typeset(&self) -> bool {
        self.0 == TYPESET
    }

    /// Build a key from a raw (percent-encoded) URL path such as `/photos/cat%20one.jpg`.
    pub fn from_url_path(path: &str) -> Result<Key, Error> {
        let decoded = percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| Error::BadPath("not valid UTF-8 after percent-decoding".into()))?;
        Key::new(decoded.trim_start_matches('/'))
    }

    /// Validate an already-decoded key.
    pub fn new(key: &str) -> Result<Key, Error> {
        if key.is_empty() {
            return Err(Error::BadPath("empty key".into()));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::BadPath(format!("longer than {MAX_KEY_BYTES} bytes")));
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return Err(Error::BadPath("control character or backslash".into()));
        }
        for segment in key.split('/') {
            match segment {
                "" => return Err(Error::BadPath("empty path segment".into())),
                "." | ".." => return Err(Error::BadPath("'.' or '..' segment".into())),
                _ => {}
            }
        }
        Ok(Key(key.to_owned()))
    }

    /// A key whose tail is an absolute URL (a proxy mount's key, `remote/https://host/a.jpg`).
    /// Such keys are never joined onto a directory, and the proxy source has already checked
    /// the URL, so only length and control characters are checked here.
    pub fn routed(key: &str) -> Result<Key, Error> {
        if key.is_empty() {
            return Err(Error::BadPath("empty key".into()));
        }
        if key.len() > MAX_ROUTED_KEY_BYTES {
            return Err(Error::BadPath(format!(
                "longer than {MAX_ROUTED_KEY_BYTES} bytes"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::BadPath("control character".into()));
        }
        Ok(Key(key.to_owned()))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_decode() {
        assert_eq!(
            Key::from_url_path("/photos/cat%20one.jpg")
                .unwrap()
                .as_str(),
            "photos/cat one.jpg"
        );
        assert_eq!(
            Key::from_url_path("/a/b.c.jpg").unwrap().as_str(),
            "a/b.c.jpg"
        );
        assert_eq!(
            Key::from_url_path("/.well/x.jpg").unwrap().as_str(),
            ".well/x.jpg"
        );
    }

    #[test]
    fn traversal_in_any_spelling_is_refused() {
        for path in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a/%2e/b",
            "/a//b",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/a%00.jpg",
            "/",
            "",
            "/%ff%fe",
        ] {
            assert!(Key::from_url_path(path).is_err(), "{path} accepted");
        }
    }

    #[test]
    fn overlong_keys_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_KEY_BYTES + 1));
        assert!(Key::from_url_path(&long).is_err());
    }
}
