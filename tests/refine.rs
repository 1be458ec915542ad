//! Fast first, small forever (`--refine`): a variant's first render is quick and served with a
//! short `Cache-Control`; once it proves hot (or at once with `--refine all`) it is re-encoded in
//! the background for bytes, replaces the stored object, and is served from then on with the
//! full max-age — by this replica and by a new one reading the store.

use std::time::{Duration, Instant};

use refract::config::Refine;

use crate::support::fixtures::noise_jpeg;
use crate::support::{header, metric, TestServer};

const URL: &str = "/p.jpg?w=480&fm=avif";

async fn replica(root: &std::path::Path, store: &std::path::Path, refine: Refine) -> TestServer {
    let store = format!("file://{}", store.display());
    TestServer::start_at(root, move |c| {
        c.refine = refine;
        c.refine_after = 2;
        c.variant_store = Some(store);
    })
    .await
}

/// Status-free summary of a GET: cache, tier, Cache-Control, ETag, body.
async fn get(s: &TestServer, url: &str) -> (String, String, String, String, bytes::Bytes) {
    let r = s.get(url).await;
    assert_eq!(r.status(), 200);
    (
        header(&r, "x-refract-cache"),
        header(&r, "x-refract-tier"),
        header(&r, "cache-control"),
        header(&r, "etag"),
        r.bytes().await.unwrap(),
    )
}

/// Poll until `url` is served refined (at most 60 s: an effort-4 AVIF in a debug build).
async fn until_refined(
    s: &TestServer,
    url: &str,
) -> (String, String, String, String, bytes::Bytes) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = get(s, url).await;
        if got.1 == "refined" {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "never refined: {:?}",
            (&got.0, &got.1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_hot_first_render_is_refined_in_the_background() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("p.jpg"), noise_jpeg(1200, 800, 7)).unwrap();
    let s = replica(root.path(), store.path(), Refine::Hot).await;
    // First render: fast, and short-lived in caches.
    let (cache, tier, control, first_etag, first) = get(&s, URL).await;
    assert_eq!((cache.as_str(), tier.as_str()), ("miss", "first"));
    assert_eq!(control, "public, max-age=3600, stale-while-revalidate=3600");
    // Served twice from memory (--refine-after 2): the refinement is queued.
    for _ in 0..2 {
        let (cache, tier, ..) = get(&s, URL).await;
        assert_eq!((cache.as_str(), tier.as_str()), ("hit", "first"));
    }
    let (_, _, control, etag, refined) = until_refined(&s, URL).await;
    assert_eq!(control, "public, max-age=31557600");
    assert_ne!(
        etag, first_etag,
        "a new ETag: the CDN's revalidation picks it up"
    );
    assert!(
        refined.len() < first.len(),
        "refined {} bytes against the first render's {}",
        refined.len(),
        first.len()
    );
    let m = s.app.metrics_text().await;
    let jobs = |result| {
        metric(
            &m,
            "refract_background_jobs_total",
            &[("kind", "refine"), ("result", result)],
        )
    };
    assert_eq!((jobs("queued"), jobs("done")), (1.0, 1.0));
    // Not refined again however hot it stays.
    for _ in 0..4 {
        get(&s, URL).await;
    }
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "refract_background_jobs_total",
            &[("kind", "refine"), ("result", "queued")]
        ),
        1.0
    );
    s.app
        .renderer()
        .origin()
        .store()
        .unwrap()
        .flush(Duration::from_secs(30))
        .await;
    s.stop().await;
    // The store holds the refined render: a new replica serves it without rendering.
    let fresh = replica(root.path(), store.path(), Refine::Hot).await;
    let (cache, tier, control, etag2, body) = get(&fresh, URL).await;
    assert_eq!((cache.as_str(), tier.as_str()), ("store", "refined"));
    assert_eq!(
        (control, etag2, body),
        ("public, max-age=31557600".to_owned(), etag, refined)
    );
    fresh.stop().await;
}

#[tokio::test]
async fn refine_all_refines_every_first_render_and_off_renders_once() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("p.jpg"), noise_jpeg(900, 600, 3)).unwrap();
    let all = replica(root.path(), store.path(), Refine::All).await;
    let (cache, tier, ..) = get(&all, URL).await;
    assert_eq!((cache.as_str(), tier.as_str()), ("miss", "first"));
    until_refined(&all, URL).await;
    all.stop().await;
    // Off: one render with the standard settings and the full max-age.
    let off = TestServer::start_at(root.path(), |c| c.refine = Refine::Off).await;
    let r = off.get("/p.jpg?w=300&fm=avif").await;
    assert_eq!(header(&r, "x-refract-tier"), "");
    assert_eq!(header(&r, "cache-control"), "public, max-age=31557600");
    off.stop().await;
}

/// Refinement is the default (issue 31): an AVIF or WebP variant is rendered fast first and
/// refined once hot, while JPEG — the same encoder settings in every tier — is final at once:
/// the full max-age, kept ready, never queued for refinement.
#[tokio::test]
async fn by_default_webp_and_avif_are_refined_and_jpeg_is_final_at_once() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("p.jpg"), noise_jpeg(900, 600, 5)).unwrap();
    let s = TestServer::start_at(root.path(), |c| c.refine_after = 2).await;
    assert_eq!(s.app.config().refine, Refine::Hot);
    for url in ["/p.jpg?w=300&fm=webp", "/p.jpg?w=300&fm=avif"] {
        let (cache, tier, control, ..) = get(&s, url).await;
        assert_eq!((cache.as_str(), tier.as_str()), ("miss", "first"), "{url}");
        assert_eq!(control, "public, max-age=3600, stale-while-revalidate=3600");
    }
    let jpeg = "/p.jpg?w=300&fm=jpg";
    for expected in ["miss", "hit", "hit", "hit"] {
        let (cache, tier, control, ..) = get(&s, jpeg).await;
        assert_eq!((cache.as_str(), tier.as_str()), (expected, ""));
        assert_eq!(control, "public, max-age=31557600");
    }
    let m = s.app.metrics_text().await;
    let queued = metric(
        &m,
        "refract_background_jobs_total",
        &[("kind", "refine"), ("result", "queued")],
    );
    assert_eq!(
        queued, 0.0,
        "nothing refined: the WebP and AVIF were served once"
    );
    // The WebP, served twice more, is refined: smaller, with the full max-age.
    let (.., first) = get(&s, "/p.jpg?w=300&fm=webp").await;
    get(&s, "/p.jpg?w=300&fm=webp").await;
    let (_, _, control, _, refined) = until_refined(&s, "/p.jpg?w=300&fm=webp").await;
    assert_eq!(control, "public, max-age=31557600");
    assert!(refined.len() < first.len());
    s.stop().await;
}
