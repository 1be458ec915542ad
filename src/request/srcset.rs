//! Building URLs the way a page uses them: one URL per width for `<img srcset>`, signed when the
//! origin requires signatures. Used by `refract srcset` and the `--demo` page; the server side
//! of the URL API is in [`crate::request`].

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::request::signature;

/// Widths `refract srcset` and the demo use when none are given: phone to large desktop, each
/// step about 1.5× the last, so a browser never fetches much more than it needs.
pub const DEFAULT_WIDTHS: [u32; 6] = [320, 480, 640, 960, 1280, 1920];

/// Escaped in a key's path segments: everything but RFC 3986 unreserved characters, so the URL
/// a browser sends is byte-for-byte the one that was signed.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `/{key}` with each segment percent-encoded (`photos/summer trip.jpg` →
/// `/photos/summer%20trip.jpg`).
pub fn path_for(key: &str) -> String {
    key.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{}", utf8_percent_encode(s, SEGMENT)))
        .collect()
}

/// How to build the URLs.
#[derive(Debug, Clone, Default)]
pub struct UrlBuilder {
    /// Prepended to every path, e.g. `https://img.example.com` (empty for relative URLs).
    pub base: String,
    /// Extra query parameters, already encoded (`fm=auto&q=70`); may be empty.
    pub params: String,
    /// Signing key, when the origin runs with `--sign-key`.
    pub sign_key: Option<String>,
    /// The origin's `--sign-scheme`.
    pub scheme: signature::Scheme,
    /// Signed URLs expire at this UNIX time.
    pub expires: Option<u64>,
}

impl UrlBuilder {
    /// The URL of `key` with `extra` parameters (e.g. `w=640`) before the builder's own.
    pub fn url(&self, key: &str, extra: &str) -> String {
        let path = path_for(key);
        let query: Vec<&str> = [extra, self.params.as_str()]
            .into_iter()
            .filter(|q| !q.is_empty())
            .collect();
        let path_and_query = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let signed = match &self.sign_key {
            Some(k) => {
                signature::sign_url_with(self.scheme, k.as_bytes(), &path_and_query, self.expires)
            }
            None => path_and_query,
        };
        format!("{}{signed}", self.base.trim_end_matches('/'))
    }

    /// A `srcset` value: `URL 320w, URL 640w, …`.
    pub fn srcset(&self, key: &str, widths: &[u32]) -> String {
        widths
            .iter()
            .map(|w| format!("{} {w}w", self.url(key, &format!("w={w}"))))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(
            path_for("photos/summer trip.jpg"),
            "/photos/summer%20trip.jpg"
        );
        assert_eq!(path_for("a&b/c?d#e.jpg"), "/a%26b/c%3Fd%23e.jpg");
        assert_eq!(path_for("ünï.jpg"), "/%C3%BCn%C3%AF.jpg");
    }

    #[test]
    fn srcset_lists_every_width_and_signs_each_url() {
        let plain = UrlBuilder {
            params: "fm=auto".into(),
            ..UrlBuilder::default()
        };
        assert_eq!(
            plain.srcset("cat.jpg", &[320, 640]),
            "/cat.jpg?w=320&fm=auto 320w, /cat.jpg?w=640&fm=auto 640w"
        );
        let signed = UrlBuilder {
            base: "https://img.example.com/".into(),
            sign_key: Some("0123456789abcdef".into()),
            ..plain
        };
        let url = signed.url("cat.jpg", "w=320");
        assert!(url.starts_with("https://img.example.com/cat.jpg?w=320&fm=auto&s="));
        let verifier = signature::Verifier::new(&["0123456789abcdef".to_owned()]).unwrap();
        let path_and_query = url.trim_start_matches("https://img.example.com");
        let (path, query) = path_and_query.split_once('?').unwrap();
        assert!(verifier.verify(path, Some(query), 0).is_ok());
    }
}
