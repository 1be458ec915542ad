//! The `--demo` page at `/`: every image under `--root` as a responsive `<img srcset sizes>`, one
//! `<picture>` with explicit formats, and one image sized by client hints — so a newcomer running
//! `make run` sees negotiation, DPR and width selection work in their own browser. File names are
//! untrusted: they are percent-encoded into URLs and HTML-escaped everywhere they appear.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::srcset::{UrlBuilder, DEFAULT_WIDTHS};

/// Most images listed.
pub const MAX_IMAGES: usize = 100;

/// Extensions listed (what Refract decodes).
const EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "webp", "gif", "avif", "tif", "tiff", "heif",
];

/// `sizes` for the gallery: full width on narrow screens, 640 CSS px otherwise.
const SIZES: &str = "(max-width: 700px) 100vw, 640px";

/// `Accept-CH` the page sends, so the browser attaches these hints to its image requests.
pub const ACCEPT_CH: &str = "Sec-CH-DPR, Sec-CH-Width";

/// Escape text for HTML content and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Keys of the images under `root` (recursive, sorted, at most [`MAX_IMAGES`]). Hidden files and
/// folders are skipped; symlinks are not followed.
pub fn list_images(root: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && is_image(name) {
                let rel = entry.path();
                let Ok(rel) = rel.strip_prefix(root) else {
                    continue;
                };
                if let Some(key) = rel.to_str() {
                    keys.push(key.to_owned());
                }
            }
        }
    }
    keys.sort();
    keys.truncate(MAX_IMAGES);
    keys
}

fn is_image(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// The page for `keys`, with URLs from `urls` (which signs them when keys are configured).
pub fn page(keys: &[String], urls: &UrlBuilder) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Refract demo</title>\n<style>\n\
         body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 680px; \
         padding: 1rem; color: #222; background: #fafafa; }\n\
         img { display: block; width: 100%; height: auto; background: #eee; }\n\
         figure { margin: 0 0 2rem; } figcaption, code { font-size: 0.85rem; color: #555; }\n\
         code { word-break: break-all; }\n</style>\n</head>\n<body>\n<h1>Refract</h1>\n\
         <p>Each image is an <code>&lt;img srcset sizes&gt;</code>: the browser picks the width \
         its screen needs, and <code>fm=auto</code> lets Refract answer AVIF, WebP or JPEG by \
         its <code>Accept</code> header.</p>\n",
    );
    if keys.is_empty() {
        html.push_str("<p>No images under the root yet: add some and reload.</p>\n");
    }
    for key in keys {
        let name = escape(key);
        let src = escape(&urls.url(key, "w=640"));
        let srcset = escape(&urls.srcset(key, &DEFAULT_WIDTHS));
        let _ = write!(
            html,
            "<figure>\n<img src=\"{src}\" srcset=\"{srcset}\" sizes=\"{SIZES}\" alt=\"{name}\">\n\
             <figcaption>{name} — <code>{src}</code></figcaption>\n</figure>\n"
        );
    }
    if let Some(first) = keys.first() {
        let name = escape(first);
        let source = |fm: &str| {
            let with_format = UrlBuilder {
                params: format!("fm={fm}"),
                ..urls.clone()
            };
            escape(&with_format.srcset(first, &DEFAULT_WIDTHS))
        };
        let _ = write!(
            html,
            "<h2><code>&lt;picture&gt;</code></h2>\n<p>The same choice made in markup: AVIF, \
             then WebP, then JPEG.</p>\n<figure>\n<picture>\n\
             <source type=\"image/avif\" srcset=\"{}\" sizes=\"{SIZES}\">\n\
             <source type=\"image/webp\" srcset=\"{}\" sizes=\"{SIZES}\">\n\
             <img src=\"{}\" srcset=\"{}\" sizes=\"{SIZES}\" alt=\"{name}\">\n</picture>\n\
             <figcaption>{name}</figcaption>\n</figure>\n",
            source("avif"),
            source("webp"),
            escape(
                &UrlBuilder {
                    params: "fm=jpg".into(),
                    ..urls.clone()
                }
                .url(first, "w=640")
            ),
            source("jpg"),
        );
        let hinted = escape(&urls.url(first, "ch=dpr,width"));
        let _ = write!(
            html,
            "<h2>Client hints</h2>\n<p>One URL, no width in it: <code>ch=dpr,width</code> lets \
             the browser's <code>Sec-CH-Width</code> (from <code>sizes</code>) and \
             <code>Sec-CH-DPR</code> choose the size.</p>\n<figure>\n\
             <img src=\"{hinted}\" sizes=\"320px\" style=\"width:320px\" alt=\"{name}\">\n\
             <figcaption><code>{hinted}</code></figcaption>\n</figure>\n"
        );
    }
    html.push_str("</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_names_are_escaped_and_encoded() {
        let keys = vec!["a<b>\"c'&.jpg".to_owned()];
        let html = page(&keys, &UrlBuilder::default());
        assert!(!html.contains("<b>"));
        assert!(!html.contains("c'&"));
        assert!(html.contains("a&lt;b&gt;&quot;c&#39;&amp;.jpg"));
        assert!(html.contains("/a%3Cb%3E%22c%27%26.jpg?w=640"));
    }

    #[test]
    fn lists_images_recursively_skipping_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.hidden")).unwrap();
        for f in [
            "b.jpg",
            "a.PNG",
            "notes.txt",
            "sub/c.webp",
            "sub/.hidden/d.jpg",
            ".e.jpg",
        ] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        assert_eq!(list_images(dir.path()), ["a.PNG", "b.jpg", "sub/c.webp"]);
    }
}
