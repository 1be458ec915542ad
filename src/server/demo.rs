//! The `--demo` page at `/`: every image under `--root` as a responsive `<img srcset sizes>`, one
//! `<picture>` with explicit formats, and one image sized by client hints — so a newcomer running
//! `make run` sees negotiation, DPR and width selection work in their own browser. File names are
//! untrusted: they are percent-encoded into URLs and HTML-escaped everywhere they appear. A
//! playground at the end builds URLs from controls and shows what each one serves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::request::srcset::{UrlBuilder, DEFAULT_WIDTHS};

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

pub use crate::encoding::markup::escape;

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
         code { word-break: break-all; }\n\
         #pg-form label { display: inline-block; margin: 0 0.8rem 0.4rem 0; font-size: 0.85rem; }\n\
         #pg-out pre { white-space: pre-wrap; font-size: 0.8rem; }\n</style>\n</head>\n<body>\n<h1>Refract</h1>\n\
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
    playground(&mut html, keys, urls.sign_key.is_some());
    html.push_str("</body>\n</html>\n");
    html
}

/// The playground's controls: `(imgix parameter, label, kind)`, where kind is `number`, `text`,
/// `check` (the value 1 when ticked) or a `|`-separated list of choices (the first: unset).
const CONTROLS: &[(&str, &str, &str)] = &[
    ("w", "width", "number"),
    ("h", "height", "number"),
    ("dpr", "dpr", "|1|2|3"),
    ("ar", "aspect ratio", "text"),
    ("fit", "fit", "|clip|crop|fill|max|min|scale"),
    ("crop", "crop", "|top|bottom|left|right|entropy|edges"),
    ("fm", "format", "|auto|jpg|webp|avif|png|gif|json|blurhash"),
    ("q", "quality", "number"),
    ("sat", "saturation", "number"),
    ("bri", "brightness", "number"),
    ("con", "contrast", "number"),
    ("exp", "exposure", "number"),
    ("hue", "hue", "number"),
    ("vib", "vibrance", "number"),
    ("blur", "blur", "number"),
    ("sharp", "sharpen", "number"),
    ("sepia", "sepia", "number"),
    ("px", "pixellate", "number"),
    ("invert", "invert", "check"),
    ("mask", "mask", "|ellipse"),
    ("border", "border", "text"),
];

/// The playground script: builds the URL from the controls (in their order, unset ones left
/// out), fetches it, and shows the result, its type, bytes and time. The state is kept in the
/// page's `#hash` (an imgix query), so a playground URL can be shared.
const PLAYGROUND_JS: &str = r#"
(function () {
  var form = document.getElementById('pg-form');
  var image = document.getElementById('pg-image');
  var out = document.getElementById('pg-out');
  var urlBox = document.getElementById('pg-url');
  var status = document.getElementById('pg-status');
  var controls = form.querySelectorAll('[data-param]');
  function query() {
    var parts = [];
    controls.forEach(function (c) {
      var v = c.type === 'checkbox' ? (c.checked ? '1' : '') : c.value.trim();
      if (v !== '') parts.push(encodeURIComponent(c.dataset.param) + '=' + encodeURIComponent(v));
    });
    var extra = document.getElementById('pg-extra').value.trim().replace(/^[?&]+/, '');
    if (extra) parts.push(extra);
    return parts.join('&');
  }
  function load(hash) {
    var params = new URLSearchParams(hash.replace(/^#/, ''));
    var known = {};
    controls.forEach(function (c) {
      var v = params.get(c.dataset.param);
      known[c.dataset.param] = true;
      if (v === null) return;
      if (c.type === 'checkbox') c.checked = v === '1' || v === 'true'; else c.value = v;
    });
    var img = params.get('image');
    if (img !== null) image.value = img;
    var rest = [];
    params.forEach(function (v, k) {
      if (!known[k] && k !== 'image') rest.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    });
    document.getElementById('pg-extra').value = rest.join('&');
  }
  var pending = 0;
  function render() {
    var q = query();
    var url = image.value + (q ? '?' + q : '');
    urlBox.textContent = url;
    history.replaceState(null, '', '#image=' + encodeURIComponent(image.value) + (q ? '&' + q : ''));
    var ticket = ++pending;
    var started = performance.now();
    fetch(url).then(function (r) {
      return r.blob().then(function (body) {
        if (ticket !== pending) return;
        var ms = Math.round(performance.now() - started);
        var type = r.headers.get('content-type') || '';
        out.textContent = '';
        if (r.ok && type.indexOf('image/') === 0) {
          var el = document.createElement('img');
          el.src = URL.createObjectURL(body);
          el.alt = 'result';
          out.appendChild(el);
        } else {
          var pre = document.createElement('pre');
          body.text().then(function (t) { pre.textContent = t; });
          out.appendChild(pre);
        }
        status.textContent = r.status + ' · ' + type + ' · ' + body.size + ' bytes · ' +
          ms + ' ms · cache ' + (r.headers.get('x-refract-cache') || '-');
        status.dataset.done = '1';
      });
    }).catch(function (e) { status.textContent = 'failed: ' + e; });
  }
  load(location.hash);
  form.addEventListener('input', render);
  form.addEventListener('change', render);
  render();
})();
"#;

/// The `Content-Security-Policy` of the demo page: this origin's images (and the playground's
/// `blob:` results), the inline style, the playground script by its hash, and fetches to this
/// origin only.
pub fn content_security_policy() -> String {
    use sha2::{Digest, Sha256};
    let hash = crate::encoding::digest::base64(&Sha256::digest(PLAYGROUND_JS.as_bytes()));
    format!(
        "default-src 'none'; img-src 'self' blob:; style-src 'unsafe-inline'; \
         script-src 'sha256-{hash}'; connect-src 'self'"
    )
}

/// The playground section: pick an image, set parameters, see the URL, the result, its
/// format, bytes and time. Signed deployments get a note instead: the page cannot sign.
fn playground(html: &mut String, keys: &[String], signed: bool) {
    html.push_str("<h2>Playground</h2>\n");
    if signed {
        html.push_str(
            "<p>This origin requires signed URLs, and the page cannot sign them: build URLs \
             with <code>refract sign</code>.</p>\n",
        );
        return;
    }
    let Some(first) = keys.first() else {
        return;
    };
    html.push_str(
        "<p>Change a parameter and see the URL, the image, and what was served. Any imgix \
         parameter goes in <em>more</em>.</p>\n<form id=\"pg-form\" onsubmit=\"return false\">\n\
         <label>image <select id=\"pg-image\">",
    );
    for key in keys {
        let path = escape(&crate::request::srcset::path_for(key));
        let selected = if key == first { " selected" } else { "" };
        let _ = write!(
            html,
            "<option value=\"{path}\"{selected}>{}</option>",
            escape(key)
        );
    }
    html.push_str("</select></label>\n");
    for (param, label, kind) in CONTROLS {
        let field = match *kind {
            "number" => format!("<input type=\"number\" data-param=\"{param}\" size=\"5\">"),
            "text" => format!("<input type=\"text\" data-param=\"{param}\" size=\"8\">"),
            "check" => format!("<input type=\"checkbox\" data-param=\"{param}\">"),
            choices => {
                let options: String = choices
                    .split('|')
                    .map(|c| {
                        format!(
                            "<option value=\"{c}\">{}</option>",
                            if c.is_empty() { "-" } else { c }
                        )
                    })
                    .collect();
                format!("<select data-param=\"{param}\">{options}</select>")
            }
        };
        let _ = writeln!(html, "<label>{label} {field}</label>");
    }
    html.push_str(
        "<label>more <input type=\"text\" id=\"pg-extra\" size=\"24\" \
         placeholder=\"fp-x=0.3&amp;fp-y=0.6\"></label>\n</form>\n\
         <p><code id=\"pg-url\"></code></p>\n<p id=\"pg-status\">…</p>\n\
         <div id=\"pg-out\"></div>\n<script>",
    );
    html.push_str(PLAYGROUND_JS);
    html.push_str("</script>\n");
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
