//! Decode-once masters: a hot original is decoded once, its further sizes are scaled from that
//! master and look the same as renders from the original, and the quality guard and the bytes
//! check keep the master out of the renders it must not serve.

use crate::support::fixtures::{gradient_jpeg, quadrants_jpeg};
use crate::support::images::{decode, mean_abs_diff};
use refract::transform::vips::Image;

use crate::support::{body, corpus, metric, TestServer};

/// A 4 MP camera JPEG with an ICC profile: small enough to be its own master, whole.
const PHOTO: &str = "/kde-ColorfulCups-2560x1600.jpg";

async fn masters(s: &TestServer, result: &str) -> f64 {
    let text = s.get("/metrics").await.text().await.unwrap();
    metric(&text, "refract_masters_total", &[("result", result)])
}

#[tokio::test]
async fn a_hot_original_is_decoded_once_and_its_sizes_match_direct_renders() {
    let photos = corpus().join("photos");
    let mastered = TestServer::start_at(&photos, |_| {}).await;
    let direct = TestServer::start_at(&photos, |c| c.master_cache_size = 0).await;

    // First render: cold, straight from the original. Second: the original is hot, its master
    // is built and this render already comes from it.
    body(&mastered, &format!("{PHOTO}?w=500&fm=png")).await;
    assert_eq!(masters(&mastered, "cold").await, 1.0);
    assert_eq!(masters(&mastered, "built").await, 0.0);
    body(&mastered, &format!("{PHOTO}?w=400&fm=png")).await;
    assert_eq!(masters(&mastered, "built").await, 1.0);
    assert_eq!(masters(&mastered, "hit").await, 1.0);

    // Every later size, crop and format: from the master, and the same picture as a render
    // from the original (lossless PNG, so only the scaling differs).
    let queries = [
        "w=160&fm=png",
        "w=640&fm=png",
        "w=1280&fm=png",
        "w=2000&fm=png",
        "w=300&h=300&fit=crop&fm=png",
        "w=600&h=200&fit=crop&crop=bottom,right&fm=png",
        "w=800&blur=5&fm=png",
        // imgix's size rules, adjustments and framing work on the scaled image: master-safe.
        "w=0.25&fm=png",
        "w=400&ar=16:9&fit=crop&fm=png",
        "w=300&h=300&fit=crop&crop=focalpoint&fp-x=0.3&fp-z=2&fm=png",
        "w=500&sepia=60&hue=40&exp=20&vib=30&fm=png",
        "w=400&border=6,f00&border-radius=20&mask=ellipse&fm=png",
        "w=400&h=400&fit=fill&fill=blur&fm=png",
    ];
    for query in queries {
        let url = format!("{PHOTO}?{query}");
        let (ours, reference) = (body(&mastered, &url).await, body(&direct, &url).await);
        let (a, b) = (decode(&ours), decode(&reference));
        assert_eq!((a.width, a.height), (b.width, b.height), "{query}");
        let diff = mean_abs_diff(&ours, &reference);
        assert!(diff < 1.0, "{query}: mean difference {diff:.2} levels");
    }
    assert_eq!(masters(&mastered, "hit").await, 1.0 + queries.len() as f64);
    assert_eq!(masters(&mastered, "built").await, 1.0, "decoded once");

    // Steps that need the original's own geometry do not use the master.
    body(&mastered, &format!("{PHOTO}?w=300&orient=90")).await;
    body(
        &mastered,
        &format!("{PHOTO}?w=300&h=300&fit=crop&crop=entropy"),
    )
    .await;
    assert_eq!(masters(&mastered, "hit").await, 1.0 + queries.len() as f64);
    // Nothing of this happens with masters off.
    assert_eq!(
        masters(&direct, "built").await + masters(&direct, "hit").await,
        0.0
    );
}

#[tokio::test]
async fn a_size_bigger_than_the_master_renders_from_the_original() {
    // 6 MP: over the 5 MP master budget, so its master is a half-scale decode, 1500 × 1000.
    let s = TestServer::start(|_| {}).await;
    s.put("big.jpg", &gradient_jpeg(3000, 2000));
    body(&s, "/big.jpg?w=700").await;
    body(&s, "/big.jpg?w=800").await;
    assert_eq!(masters(&s, "built").await, 1.0);
    let big = body(&s, "/big.jpg?w=2000&fm=png").await;
    assert_eq!(decode(&big).width, 2000);
    assert_eq!(masters(&s, "too_large").await, 1.0);
    assert_eq!(
        masters(&s, "hit").await,
        1.0,
        "only the 800 came from the master"
    );
}

#[tokio::test]
async fn a_replaced_original_never_renders_from_its_old_master() {
    // Revalidate the original on every use, so a replaced file is seen at once.
    let s = TestServer::start(|c| c.originals_revalidate_after = std::time::Duration::ZERO).await;
    let direct = TestServer::start_at(&s.root, |c| c.master_cache_size = 0).await;
    s.put("swap.jpg", &quadrants_jpeg(800, 600));
    body(&s, "/swap.jpg?w=300").await;
    body(&s, "/swap.jpg?w=200").await;
    assert_eq!(masters(&s, "built").await, 1.0);

    // A different picture under the same key (a gradient, not four flat quadrants).
    std::fs::remove_file(s.root.join("swap.jpg")).unwrap();
    s.put("swap.jpg", &gradient_jpeg(800, 600));
    let url = "/swap.jpg?w=250&fm=png";
    let (ours, reference) = (body(&s, url).await, body(&direct, url).await);
    let diff = mean_abs_diff(&ours, &reference);
    assert!(
        diff < 1.0,
        "rendered from the old master: {diff:.1} levels off"
    );
    assert_eq!(
        masters(&s, "built").await,
        2.0,
        "a new master for the new bytes"
    );
}

/// Mean absolute difference (levels per sample, 8-bit sRGB) between an encoded render and
/// `ideal` pixels of the same size.
fn error_against(render: &[u8], ideal: &[u8]) -> f64 {
    let img = Image::header(render).unwrap().to_srgb8(false).unwrap();
    let px = img.pixels().unwrap();
    assert_eq!(px.len(), ideal.len(), "sizes differ");
    let total: u64 = px
        .iter()
        .zip(ideal)
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    total as f64 / px.len() as f64
}

/// Every photo and colour-managed original of the corpus (CMYK, wide gamut, 16-bit, grey, EXIF
/// orientation), small and mid-sized: scaled from its master, a render is as close to the ideal
/// downscale (the whole original decoded at full resolution, then resized once) as the direct
/// render, whose shrink-on-load decode is itself an approximation. This is the masters' quality
/// guard, checked on real images.
#[tokio::test]
async fn renders_from_masters_are_as_close_to_the_ideal_as_direct_renders() {
    let mut worse = Vec::new();
    let (mut total_master, mut total_direct, mut n) = (0.0, 0.0, 0);
    for dir in ["photos", "color"] {
        let root = corpus().join(dir);
        let mastered = TestServer::start_at(&root, |_| {}).await;
        let direct = TestServer::start_at(&root, |c| c.master_cache_size = 0).await;
        let mut files: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        for file in files {
            let original = std::fs::read(root.join(&file)).unwrap();
            // Make the original hot: these two build its master.
            let warm = mastered.get(&format!("/{file}?w=40&fm=png")).await;
            if warm.status() != 200 {
                continue; // not renderable at all (e.g. HEIC): nothing to compare
            }
            mastered.get(&format!("/{file}?w=41&fm=png")).await;
            for width in [96, 320] {
                let url = format!("/{file}?w={width}&fm=png");
                let (ours, reference) = (body(&mastered, &url).await, body(&direct, &url).await);
                let size = decode(&reference);
                let ideal = Image::load_random(&original)
                    .and_then(|i| i.autorot())
                    .and_then(|i| i.thumbnail_image(size.width, size.height))
                    .and_then(|i| i.to_srgb8(false))
                    .and_then(|i| i.pixels())
                    .unwrap();
                let (m, d) = (
                    error_against(&ours, &ideal),
                    error_against(&reference, &ideal),
                );
                total_master += m;
                total_direct += d;
                n += 1;
                // A master is a two-step downscale; for a wide-gamut original (AdobeRGB, kept
                // in its own space until the final scale, as a direct render does) the steps
                // differ by up to ~0.6 of a level at thumbnail sizes. Beyond 0.75 is a real loss.
                if m > d + 0.75 {
                    worse.push(format!(
                        "{dir}/{file} w={width}: master {m:.2}, direct {d:.2}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "mean error against the ideal over {n} renders: master {:.2}, direct {:.2} levels",
        total_master / f64::from(n),
        total_direct / f64::from(n)
    );
    assert!(n > 50, "only {n} renders compared");
    assert!(
        total_master <= total_direct,
        "masters further from the ideal on average"
    );
    assert!(
        worse.is_empty(),
        "renders from masters further from the ideal:\n{}",
        worse.join("\n")
    );
}
