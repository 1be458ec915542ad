//! The render cache: hits skip the transform, concurrent misses coalesce, errors are not cached,
//! memory stays within its byte budget.

use crate::support::fixtures::{gradient_jpeg, quadrants_jpeg};
use crate::support::{header, TestServer};

#[tokio::test]
async fn a_hit_does_not_transform_again() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(600, 400));
    let first = s.get("/g.jpg?w=300").await;
    assert_eq!(header(&first, "x-refract-cache"), "miss");
    let etag = header(&first, "etag");
    assert_eq!(s.app.renderer().transforms(), 1);
    // Same variant, spelled differently: unknown params, defaults, parameter order.
    for url in [
        "/g.jpg?w=300",
        "/g.jpg?ixlib=js-3.8&w=300",
        "/g.jpg?dpr=1&w=300&fit=clip",
    ] {
        let r = s.get(url).await;
        assert_eq!(header(&r, "x-refract-cache"), "hit", "{url}");
        assert_eq!(header(&r, "etag"), etag, "{url}");
    }
    assert_eq!(s.app.renderer().transforms(), 1);
    // Same pixels at DPR 2 are a different variant: a lower default quality (imgix's
    // variable-quality table), so fewer bytes.
    let dense = s.get("/g.jpg?w=150&dpr=2").await;
    assert_eq!(header(&dense, "x-refract-cache"), "miss");
    let dense_len = dense.bytes().await.unwrap().len();
    let plain_len = first.bytes().await.unwrap().len();
    assert!(dense_len < plain_len, "{dense_len} vs {plain_len}");
}

#[tokio::test]
async fn concurrent_identical_misses_cost_one_transform() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(2400, 1600));
    let url = format!("{}/g.jpg?w=1200&fm=webp", s.base);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = s.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let r = client.get(&url).send().await.unwrap();
                let cache = header(&r, "x-refract-cache");
                let etag = header(&r, "etag");
                (
                    r.status().as_u16(),
                    cache,
                    etag,
                    r.bytes().await.unwrap().len(),
                )
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().all(|r| r.0 == 200));
    assert!(results.iter().all(|r| r.2 == results[0].2), "one rendering");
    assert_eq!(
        results.iter().filter(|r| r.1 == "miss").count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        s.app.renderer().transforms(),
        1,
        "8 concurrent misses, one transform"
    );
}

#[tokio::test]
async fn failures_are_not_cached() {
    let s = TestServer::start(|_| {}).await;
    assert_eq!(s.get("/later.jpg?w=10").await.status(), 404);
    s.put("later.jpg", &quadrants_jpeg(40, 40));
    let r = s.get("/later.jpg?w=10").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-refract-cache"), "miss");
}

#[tokio::test]
async fn the_cache_stays_within_its_byte_budget() {
    let budget = 50_000u64;
    let s = TestServer::start(|c| c.cache_size = budget).await;
    s.put("g.jpg", &gradient_jpeg(1200, 800));
    let mut served = 0u64;
    for w in (300..=1200).step_by(100) {
        let body = s.get(&format!("/g.jpg?w={w}")).await.bytes().await.unwrap();
        assert!(
            (body.len() as u64) < budget,
            "each variant must fit the budget"
        );
        served += body.len() as u64;
    }
    s.app.renderer().cache().sync().await;
    assert!(
        served > budget,
        "the test must overflow the budget ({served})"
    );
    let held = s.app.renderer().cache().weighted_size();
    assert!(held <= budget, "cache holds {held} bytes, budget {budget}");
    assert!(s.app.renderer().cache().entry_count() >= 1);
}
