//! The whole shared corpus through the server: every file gets a real image or a clear 4xx —
//! never a 5xx, a hang or a wrong Content-Type. Fails loudly when the corpus is missing.

use std::path::Path;
use std::sync::Arc;

use refract::encoding::format::Format;
use tokio::sync::Semaphore;

use crate::support::{corpus, header, TestServer};

fn files(dir: &Path, out: &mut Vec<String>, root: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out, root);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

fn url_path(rel: &str) -> String {
    rel.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Files (or folders) that are refused on purpose: hostile inputs; SVG (loader disabled); AVIF sequences and a multi-page TIFF with
/// mixed sample formats that this libvips cannot read; the PngSuite text files.
const EXPECTED_4XX: &[&str] = &[
    "hostile/",
    "formats/svg/",
    "animated/libavif-colors-animated-8bpc.avif",
    "animated/pillow-star.avifs",
    "formats/tiff/skimage-multipage_rgb.tif",
    "formats/pngsuite/PngSuite.",
];

#[tokio::test]
async fn every_corpus_file_gets_an_image_or_a_clear_4xx() {
    let root = corpus();
    let mut all = Vec::new();
    files(&root, &mut all, &root);
    let images: Vec<String> = all
        .into_iter()
        .filter(|f| !f.ends_with(".md") && !f.ends_with("SHA256SUMS"))
        .collect();
    assert!(
        images.len() > 300,
        "corpus looks incomplete: {} files",
        images.len()
    );

    let s = Arc::new(TestServer::start_at(&root, |_| {}).await);
    let gate = Arc::new(Semaphore::new(4));
    let mut tasks = Vec::new();
    for (i, file) in images.iter().enumerate() {
        // Rotate through output formats so every encoder meets every kind of input.
        let fm = ["jpg", "png", "webp", "avif", "auto", "gif"][i % 6];
        let url = format!("/{}?w=160&h=160&fm={fm}", url_path(file));
        let (s, gate, file) = (s.clone(), gate.clone(), file.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let r = s
                .get_with(&url, &[("accept", "image/avif,image/webp,*/*")])
                .await;
            let status = r.status().as_u16();
            let content_type = header(&r, "content-type");
            let code = header(&r, "x-refract-error");
            let body = r.bytes().await.unwrap();
            (file, status, content_type, code, body)
        }));
    }
    let mut ok = 0;
    let mut failures = Vec::new();
    for task in tasks {
        let (file, status, content_type, code, body) = task.await.unwrap();
        match status {
            200 => {
                let sniffed = Format::sniff(&body).map(Format::mime);
                if sniffed != Some(content_type.as_str()) {
                    failures.push(format!("{file}: says {content_type}, is {sniffed:?}"));
                }
                ok += 1;
            }
            400..=499 => {
                let expected_4xx = EXPECTED_4XX.iter().any(|p| file.starts_with(p));
                if !expected_4xx {
                    failures.push(format!(
                        "{file}: {status} {code} for a file that should render"
                    ));
                }
            }
            _ => failures.push(format!("{file}: {status} {code}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ok > 250, "only {ok} files rendered");
}

#[tokio::test]
async fn photos_alpha_and_exif_folders_all_render() {
    let root = corpus();
    let s = TestServer::start_at(&root, |_| {}).await;
    for folder in ["photos", "alpha", "exif"] {
        let mut list = Vec::new();
        files(&root.join(folder), &mut list, &root);
        for file in list {
            let r = s.get(&format!("/{}?w=120", url_path(&file))).await;
            assert_eq!(r.status(), 200, "{file}: {}", header(&r, "x-refract-error"));
        }
    }
}
