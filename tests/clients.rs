//! Real clients: the demo page (escaped, every URL served), `refract srcset`, client hints and
//! Save-Data, imgix's own JavaScript client and a Next.js loader building URLs that the server
//! answers at the right width and format, and headless Chromium loading the demo at DPR 1 and 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::fixtures::gradient_jpeg;
use crate::support::images::{decode, pixels};
use crate::support::{header, refract, run_ok, spawn_command, TestServer};
use refract::encoding::format::Format;

const AVIF_ACCEPT: &str = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";

/// `src` and every `srcset` candidate in `html`, unescaped.
fn image_urls(html: &str) -> Vec<(String, Option<u32>)> {
    let unescape = |s: &str| s.replace("&amp;", "&");
    let attr = |tag_rest: &str, name: &str| -> Option<String> {
        let start = tag_rest.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag_rest[start..].find('"')? + start;
        Some(unescape(&tag_rest[start..end]))
    };
    let mut urls = Vec::new();
    let is_tag = |t: &str, name: &str| {
        t.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(char::is_whitespace))
    };
    for tag in html
        .split('<')
        .filter(|t| is_tag(t, "img") || is_tag(t, "source"))
    {
        if let Some(src) = attr(tag, "src") {
            urls.push((src, None));
        }
        if let Some(srcset) = attr(tag, "srcset") {
            // Our URLs never contain a comma; candidates may be separated by newlines.
            for candidate in srcset.split(',') {
                let (url, descriptor) = candidate.trim().rsplit_once(char::is_whitespace).unwrap();
                let width = descriptor.strip_suffix('w').map(|w| w.parse().unwrap());
                urls.push((url.to_owned(), width));
            }
        }
    }
    urls
}

#[tokio::test]
async fn the_demo_page_is_escaped_and_every_url_it_lists_is_served() {
    let s = TestServer::start(|c| {
        c.demo = true;
        c.sign_keys = refract::config::Secrets(vec!["demo-signing-key-0123".into()]);
    })
    .await;
    let hostile = "a<b>\"c'&.jpg";
    s.put(hostile, &gradient_jpeg(400, 300));
    s.put("sub dir/ünï.jpg", &gradient_jpeg(300, 200));
    s.put("notes.txt", b"not an image");
    let r = s.get("/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "accept-ch"), "Sec-CH-DPR, Sec-CH-Width");
    assert!(header(&r, "content-security-policy").contains("default-src 'none'"));
    let html = r.text().await.unwrap();
    assert!(!html.contains("<b>"), "file name leaked into the markup");
    assert!(html.contains("a&lt;b&gt;&quot;c&#39;&amp;.jpg"));
    assert!(!html.contains("notes.txt"));
    assert!(html.contains("<picture>"));

    let urls = image_urls(&html);
    assert!(urls.len() > 20, "{urls:?}");
    for (url, width) in &urls {
        assert!(
            url.contains("&s="),
            "demo URLs are signed when signing is on: {url}"
        );
        let r = s.get_with(url, &[("accept", AVIF_ACCEPT)]).await;
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        if let Some(w) = width {
            // fit=clip (the default) scales to the asked width, as imgix does.
            assert_eq!(img.width, *w, "{url}");
        }
        if url.contains("fm=auto") {
            assert_eq!(img.format, Format::Avif, "{url}");
        }
    }
    // Without --demo, `/` is not a page.
    let plain = TestServer::start(|_| {}).await;
    assert_eq!(plain.get("/").await.status(), 400);
}

#[tokio::test]
async fn the_html_example_s_urls_are_all_served() {
    let s = TestServer::start_at(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images"),
        |_| {},
    )
    .await;
    let html = std::fs::read_to_string(example("srcset.html")).unwrap();
    let urls = image_urls(&html);
    assert!(urls.len() >= 10, "{urls:?}");
    for (url, width) in urls {
        let path = url
            .strip_prefix("http://127.0.0.1:8080")
            .expect("points at make run");
        let r = s.get_with(path, &[("accept", AVIF_ACCEPT)]).await;
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        assert_eq!(img.format, Format::Avif, "{url}");
        if let Some(w) = width {
            assert_eq!(img.width, w, "{url}");
        }
    }
}

#[tokio::test]
async fn refract_srcset_prints_signed_candidates_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("photos")).unwrap();
    std::fs::write(
        dir.path().join("photos/cat one.jpg"),
        gradient_jpeg(900, 600),
    )
    .unwrap();
    let key = "srcset-signing-key-0123";
    let out = refract()
        .args(["srcset", "photos/cat one.jpg", "--widths", "320,640"])
        .args(["--sign-key", key, "--params", "fm=webp&q=70"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let srcset = String::from_utf8(out.stdout).unwrap();
    let candidates: Vec<&str> = srcset.trim().split(", ").collect();
    assert_eq!(candidates.len(), 2, "{srcset}");
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
        .args(["--root", dir.path().to_str().unwrap(), "--sign-key", key])
        .stdout(Stdio::null());
    let (mut child, addr, _) = spawn_command(cmd);
    for (candidate, width) in candidates.iter().zip([320u32, 640]) {
        let (url, descriptor) = candidate.rsplit_once(' ').unwrap();
        assert_eq!(descriptor, format!("{width}w"));
        assert!(url.starts_with("/photos/cat%20one.jpg?w="), "{url}");
        let r = reqwest::get(format!("http://{addr}{url}")).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        assert_eq!((img.width, img.format), (width, Format::Webp));
    }
    // Unsigned, the same origin refuses.
    let r = reqwest::get(format!("http://{addr}/photos/cat%20one.jpg?w=320"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn client_hints_choose_the_size_when_the_url_opts_in() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(1200, 800));
    let hints = [("sec-ch-dpr", "2"), ("sec-ch-width", "500")];
    // ch=width: the hinted width (device pixels) snapped up to the width ladder (headers are
    // not signed: they may not pick arbitrary sizes), and Vary names the hints.
    let r = s.get_with("/g.jpg?ch=dpr,width&fm=webp", &hints).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "vary"), "Sec-CH-DPR, Sec-CH-Width");
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 640);
    // ch=dpr with a CSS width: multiplied by the hinted DPR (300), then snapped up (320).
    let r = s.get_with("/g.jpg?w=150&ch=dpr&fm=webp", &hints).await;
    assert_eq!(header(&r, "vary"), "Sec-CH-DPR");
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 320);
    // Without hints the same URL renders at DPR 1.
    let r = s.get("/g.jpg?w=150&ch=dpr&fm=webp").await;
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 150);
    // Without ch=, hints change nothing and the response does not vary on them.
    let r = s.get_with("/g.jpg?w=150&fm=webp", &hints).await;
    assert_eq!(header(&r, "vary"), "");
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 150);
    // auto=format with hints: Accept and the hints, together.
    let r = s
        .get_with(
            "/g.jpg?ch=width&auto=format",
            &[("sec-ch-width", "400"), ("accept", AVIF_ACCEPT)],
        )
        .await;
    assert_eq!(header(&r, "vary"), "Accept, Sec-CH-Width");
    let img = decode(&r.bytes().await.unwrap());
    assert_eq!((img.width, img.format), (480, Format::Avif));
}

#[tokio::test]
async fn save_data_and_auto_compress_and_dpr_lower_the_default_quality() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "p.jpg",
        &crate::support::corpus_file("photos/kde-Path-2560x1600.jpg"),
    );
    let size = |r: reqwest::Response| async move {
        let vary = header(&r, "vary");
        (r.bytes().await.unwrap().len(), vary)
    };
    let (plain, _) = size(s.get("/p.jpg?w=600&fm=jpg").await).await;
    let (compress, vary) = size(s.get("/p.jpg?w=600&fm=jpg&auto=compress").await).await;
    assert_eq!(vary, "Save-Data");
    let (save_data, _) = size(
        s.get_with("/p.jpg?w=600&fm=jpg&auto=compress", &[("save-data", "on")])
            .await,
    )
    .await;
    let (explicit, _) = size(
        s.get_with(
            "/p.jpg?w=600&fm=jpg&auto=compress&q=80",
            &[("save-data", "on")],
        )
        .await,
    )
    .await;
    assert!(
        compress < plain * 9 / 10,
        "auto=compress {compress} vs {plain}"
    );
    assert!(save_data < compress, "Save-Data {save_data} vs {compress}");
    assert!(
        explicit.abs_diff(plain) < plain / 50,
        "an explicit q wins: {explicit} vs {plain}"
    );
    // Save-Data alone (no auto=compress) changes nothing.
    let (alone, _) = size(
        s.get_with("/p.jpg?w=600&fm=jpg", &[("save-data", "on")])
            .await,
    )
    .await;
    assert_eq!(alone, plain);
}

/// The npm packages `.ci/test-deps.sh` installs, cached outside the repository.
fn node_modules() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let dir = cache.join("refract/node/node_modules");
    assert!(
        dir.join("@imgix/js-core/package.json").is_file(),
        "@imgix/js-core missing under {}: run .ci/test-deps.sh (make test does)",
        dir.display()
    );
    dir
}

/// Run an example script with node from a folder whose node_modules is the cached one.
fn run_node(example: &Path, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(node_modules(), dir.path().join("node_modules")).unwrap();
    let script = dir.path().join(example.file_name().unwrap());
    std::fs::copy(example, &script).unwrap();
    run_ok(Command::new("node").arg(&script).envs(env.iter().copied()))
}

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(rel)
}

fn srcset_candidates(srcset: &str) -> Vec<(String, String)> {
    srcset
        .split(",\n")
        .map(|c| {
            let (url, descriptor) = c.trim().rsplit_once(' ').unwrap();
            (url.to_owned(), descriptor.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn imgix_js_core_srcsets_are_served_at_their_widths() {
    let s = TestServer::start(|_| {}).await;
    s.put("photos/cat.jpg", &gradient_jpeg(1600, 1000));
    // js-core takes a host name without a port: it builds for refract.test, which stands for
    // this server.
    let out = run_node(
        &example("imgix-js-core.mjs"),
        &[
            ("REFRACT_DOMAIN", "refract.test"),
            ("REFRACT_HTTP", "1"),
            ("REFRACT_KEY", "photos/cat.jpg"),
        ],
    );
    let built: serde_like::Srcsets = serde_like::parse(&out);
    let local = |url: &str| url.replace("http://refract.test", "");
    let fluid = srcset_candidates(&built.fluid);
    assert_eq!(fluid.len(), 4, "{}", built.fluid);
    for (url, descriptor) in &fluid {
        assert!(url.contains("ixlib=js-"), "{url}");
        let width: u32 = descriptor.trim_end_matches('w').parse().unwrap();
        let r = s.get_with(&local(url), &[("accept", AVIF_ACCEPT)]).await;
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        assert_eq!((img.width, img.format), (width, Format::Avif), "{url}");
    }
    let fixed = srcset_candidates(&built.fixed);
    assert_eq!(fixed.len(), 5, "{}", built.fixed);
    for (url, descriptor) in &fixed {
        let dpr: u32 = descriptor.trim_end_matches('x').parse().unwrap();
        assert!(url.contains("q="), "js-core's variable quality: {url}");
        let r = s
            .get_with(&local(url), &[("accept", "image/webp,*/*")])
            .await;
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        assert_eq!((img.width, img.format), (200 * dpr, Format::Webp), "{url}");
    }
    // ar + fit=crop + sat: each width at 16:9, saturated (the gradient's chroma grows).
    let cropped = srcset_candidates(&built.cropped);
    assert_eq!(cropped.len(), 2, "{}", built.cropped);
    for (url, descriptor) in &cropped {
        assert!(url.contains("ar=16%3A9") && url.contains("sat=30"), "{url}");
        let width: u32 = descriptor.trim_end_matches('w').parse().unwrap();
        let r = s.get_with(&local(url), &[("accept", "image/png")]).await;
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        let height = (f64::from(width) * 9.0 / 16.0).round() as u32;
        assert_eq!((img.width, img.height), (width, height), "{url}");
    }
}

#[tokio::test]
async fn imgix_signed_urls_verify_with_the_imgix_sign_scheme() {
    const TOKEN: &str = "aFr29alvW8yCBmHTmh5ehN1XG1MTxwBl";
    let s = TestServer::start(|c| {
        c.sign_keys = refract::config::Secrets(vec![TOKEN.into()]);
        c.sign_scheme = refract::request::signature::Scheme::Imgix;
    })
    .await;
    s.put("photos/cat.jpg", &gradient_jpeg(800, 500));
    let out = run_node(
        &example("imgix-js-core.mjs"),
        &[
            ("REFRACT_DOMAIN", "refract.test"),
            ("REFRACT_HTTP", "1"),
            ("REFRACT_KEY", "photos/cat.jpg"),
            ("REFRACT_TOKEN", TOKEN),
        ],
    );
    let built: serde_like::Srcsets = serde_like::parse(&out);
    let local = |url: &str| url.replace("http://refract.test", "");
    let mut all = srcset_candidates(&built.fluid);
    all.extend(srcset_candidates(&built.cropped));
    for (url, _) in &all {
        assert!(url.contains("&s="), "js-core signed it: {url}");
        let r = s.get(&local(url)).await;
        assert_eq!(r.status(), 200, "{url}");
        // Any change to the signed query is refused.
        let tampered = local(url).replace("fm=auto", "fm=png");
        assert_eq!(s.get(&tampered).await.status(), 403, "{tampered}");
    }
}

#[tokio::test]
async fn the_nextjs_loader_builds_urls_the_server_answers() {
    let s = TestServer::start(|_| {}).await;
    s.put("photos/cat.jpg", &gradient_jpeg(2000, 1000));
    // Next.js calls the loader once per device size; do the same with its default sizes.
    let dir = tempfile::tempdir().unwrap();
    let loader = dir.path().join("refract-loader.mjs");
    std::fs::copy(example("nextjs/refract-loader.js"), &loader).unwrap();
    let driver = dir.path().join("drive.mjs");
    std::fs::write(
        &driver,
        "import loader from './refract-loader.mjs';\n\
         const widths = [640, 750, 828, 1080, 1200, 1920];\n\
         console.log(JSON.stringify(widths.map((width) => [width, \
         loader({ src: '/photos/cat.jpg', width, quality: width > 1000 ? 60 : undefined })])));\n",
    )
    .unwrap();
    let text = run_ok(
        Command::new("node")
            .arg(&driver)
            .env("NEXT_PUBLIC_REFRACT_URL", &s.base),
    );
    let pairs: Vec<(u32, String)> = text
        .trim()
        .trim_start_matches("[[")
        .trim_end_matches("]]")
        .split("],[")
        .map(|p| {
            let (w, url) = p.split_once(',').unwrap();
            (w.parse().unwrap(), url.trim_matches('"').to_owned())
        })
        .collect();
    assert_eq!(pairs.len(), 6, "{text}");
    for (width, url) in pairs {
        assert!(url.starts_with(&s.base), "{url}");
        let r = s
            .client
            .get(&url)
            .header("accept", "image/webp,*/*")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let img = decode(&r.bytes().await.unwrap());
        assert_eq!((img.width, img.format), (width, Format::Webp), "{url}");
    }
}

/// Minimal reader for the example's one-line JSON (two string fields), to keep serde out of the
/// dependency list.
mod serde_like {
    pub struct Srcsets {
        pub fluid: String,
        pub fixed: String,
        pub cropped: String,
    }

    pub fn parse(json: &str) -> Srcsets {
        let field = |name: &str| {
            let start = json.find(&format!("\"{name}\":\"")).unwrap() + name.len() + 4;
            let mut out = String::new();
            let mut chars = json[start..].chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(other) => out.push(other),
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            out
        };
        Srcsets {
            fluid: field("fluid"),
            fixed: field("fixed"),
            cropped: field("cropped"),
        }
    }
}

/// Debian's Chromium, headless, with a fresh profile in `profile` and without the background
/// connections this closed network refuses.
fn headless_chromium(profile: &Path) -> Command {
    let chromium = ["chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium not installed: run .ci/test-deps.sh (make test does)");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// `refract serve --demo` over `root` on a free port, its access log going to a temporary file.
fn demo_server(root: &Path) -> (std::process::Child, String, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--demo"])
        .args(["--root", root.to_str().unwrap()])
        .stdout(Stdio::from(log.reopen().unwrap()));
    let (child, addr, _) = spawn_command(cmd);
    (child, addr, log)
}

/// Headless Chromium (Debian's package) loads the demo page at DPR 1 and 2. From the access log:
/// it got AVIF, and asked for wider images at DPR 2. Screenshots are kept in
/// `target/test-artifacts/` and must not be blank.
#[tokio::test]
async fn chromium_loads_the_demo_at_dpr_1_and_2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    let mut widths = Vec::new();
    for dpr in [1u32, 2] {
        let (mut child, addr, log) = demo_server(&root);
        let profile = tempfile::tempdir().unwrap();
        let shot = artifacts.join(format!("demo-dpr{dpr}.png"));
        let _ = std::fs::remove_file(&shot);
        let status = headless_chromium(profile.path())
            .arg("--hide-scrollbars")
            .arg(format!("--force-device-scale-factor={dpr}"))
            .arg("--window-size=1000,1400")
            .arg("--virtual-time-budget=10000")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("http://{addr}/"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "chromium failed at DPR {dpr}");
        // Let the access log flush its last lines.
        tokio::time::sleep(Duration::from_millis(300)).await;
        child.kill().unwrap();
        child.wait().unwrap();

        let log = std::fs::read_to_string(log.path()).unwrap();
        let images: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("\"path\":\"/") && l.contains("fm=auto"))
            .collect();
        assert!(
            !images.is_empty(),
            "no image requests logged at DPR {dpr}:\n{log}"
        );
        for line in &images {
            assert!(line.contains("\"status\":200"), "{line}");
            assert!(
                line.contains("\"format\":\"avif\""),
                "Chromium got AVIF: {line}"
            );
        }
        let max_w = images
            .iter()
            .filter_map(|l| l.split("w=").nth(1))
            .filter_map(|rest| rest.split(['&', '"']).next()?.parse::<u32>().ok())
            .max()
            .unwrap();
        widths.push(max_w);

        let png = std::fs::read(&shot).expect("screenshot written");
        let (px, w, h, bands) = pixels(&png);
        assert_eq!(w, 1000 * dpr, "screenshot at DPR {dpr}");
        assert!(h > 0);
        // Not blank: plenty of distinct colours (photos), not one background colour.
        let mut colours: Vec<[u8; 3]> = px
            .chunks(bands as usize)
            .step_by(97)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(
            colours.len() > 500,
            "screenshot looks blank: {} colours",
            colours.len()
        );
    }
    assert!(
        widths[1] > widths[0],
        "DPR 2 asked for wider images: {widths:?}"
    );
}

/// The demo's playground in headless Chromium: state from the page's `#hash` fills the controls,
/// the script builds the URL in control order, fetches it and reports what was served.
#[tokio::test]
async fn chromium_runs_the_playground() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let (mut child, addr, log) = demo_server(&root);
    let profile = tempfile::tempdir().unwrap();
    let out = headless_chromium(profile.path())
        .arg("--virtual-time-budget=10000")
        .arg("--dump-dom")
        .arg(format!(
            "http://{addr}/#image=%2Flandscape.jpg&sepia=80&w=300&fm=png&fp-x=0.3"
        ))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    // The URL in control order, the unknown parameter kept under "more".
    let url = "/landscape.jpg?w=300&amp;fm=png&amp;sepia=80&amp;fp-x=0.3";
    assert!(
        dom.contains(&format!("<code id=\"pg-url\">{url}</code>")),
        "{dom}"
    );
    let status = dom
        .split("id=\"pg-status\"")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .unwrap_or_default();
    assert!(status.contains("200 · image/png · "), "{status}");
    let bytes: u64 = status
        .split(" · ")
        .nth(2)
        .and_then(|b| b.trim_end_matches(" bytes").parse().ok())
        .unwrap_or(0);
    assert!(bytes > 1000, "{status}");
    assert!(
        dom.contains("<img src=\"blob:"),
        "the result is shown: {dom}"
    );
    // The server saw exactly that request and answered a PNG.
    let log = std::fs::read_to_string(log.path()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("sepia=80"))
        .unwrap_or_else(|| panic!("no playground request logged:\n{log}"));
    assert!(
        line.contains("\"status\":200") && line.contains("\"format\":\"png\""),
        "{line}"
    );
}
