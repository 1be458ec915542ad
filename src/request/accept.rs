//! Content negotiation for `fm=auto`: which modern formats the client's `Accept` header allows.

/// What a client can decode, reduced to the classes that change our output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptClass {
    /// Accepts AVIF (we send AVIF).
    Avif,
    /// Accepts WebP but not AVIF (we send WebP).
    Webp,
    /// Neither: we send JPEG, or PNG for images with alpha.
    Legacy,
}

impl AcceptClass {
    /// Its name in jobs: `avif`, `webp`, `legacy`.
    pub fn name(self) -> &'static str {
        match self {
            AcceptClass::Avif => "avif",
            AcceptClass::Webp => "webp",
            AcceptClass::Legacy => "legacy",
        }
    }

    /// The class called `name`.
    pub fn from_name(name: &str) -> Option<AcceptClass> {
        [AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Legacy]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// Classify an `Accept` header value. Only explicit `image/avif` / `image/webp` entries
    /// count (wildcards do not: browsers send `image/*` without being able to decode AVIF), and
    /// `q=0` means "not acceptable".
    pub fn from_header(accept: Option<&str>) -> AcceptClass {
        let Some(accept) = accept else {
            return AcceptClass::Legacy;
        };
        let (mut avif, mut webp) = (false, false);
        for entry in accept.split(',') {
            let mut parts = entry.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if media.eq_ignore_ascii_case("image/avif") {
                avif = true;
            } else if media.eq_ignore_ascii_case("image/webp") {
                webp = true;
            }
        }
        if avif {
            AcceptClass::Avif
        } else if webp {
            AcceptClass::Webp
        } else {
            AcceptClass::Legacy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_browser_headers() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        let safari15 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";
        let old = "image/png,image/*;q=0.8,*/*;q=0.5";
        assert_eq!(AcceptClass::from_header(Some(chrome)), AcceptClass::Avif);
        assert_eq!(AcceptClass::from_header(Some(safari15)), AcceptClass::Webp);
        assert_eq!(AcceptClass::from_header(Some(old)), AcceptClass::Legacy);
        assert_eq!(AcceptClass::from_header(Some("*/*")), AcceptClass::Legacy);
        assert_eq!(AcceptClass::from_header(None), AcceptClass::Legacy);
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(
            AcceptClass::from_header(Some("image/avif;q=0, image/webp")),
            AcceptClass::Webp
        );
        assert_eq!(
            AcceptClass::from_header(Some("IMAGE/AVIF ; q=0.5")),
            AcceptClass::Avif
        );
    }
}
