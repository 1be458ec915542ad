//! What an upload costs, step by step, so the load figure in BENCHMARKS.md (uploads/s from
//! `benches/upload-load.sh`) can be explained: which of hashing, header check and the durable
//! write limits it.
//!
//! Run: `cargo bench --bench upload`. Needs the image corpus (`../shared/corpus`, or
//! `REFRACT_CORPUS`). Input: `photos/kde-Grey-2560x1600-grayscale.jpg`, a 234 KB JPEG — the
//! size of a phone photo after client-side resizing.
//!
//! - `upload/sha256`: the content hash that names the key.
//! - `upload/header_check`: the libvips header read with the serving limits (no pixels decoded).
//! - `upload/durable_write`: temp file + write + fsync + rename + directory fsync, through
//!   `FsSource::put`, a new key each time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use refract::source::fs::FsSource;
use refract::source::Source;
use refract::transform::{load, vips, Limits};
use sha2::{Digest, Sha256};

const PHOTO: &str = "photos/kde-Grey-2560x1600-grayscale.jpg";

fn photo() -> Bytes {
    let dir = std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let path = dir.join(PHOTO);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn steps(c: &mut Criterion) {
    vips::init().unwrap();
    let bytes = photo();
    let limits = Limits {
        max_pixels: 50_000_000,
        max_frames: 256,
        max_dimension: 8192,
        deadline: Duration::from_secs(10),
        inputs: refract::encoding::format::Inputs::ALL,
        json_gps: false,
    };
    let mut group = c.benchmark_group("upload");
    group.bench_function("sha256", |b| b.iter(|| Sha256::digest(&bytes)));
    group.bench_function("header_check", |b| {
        b.iter(|| load::inspect(&bytes, &limits).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let store = FsSource::new(dir.path(), u64::MAX).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let next = AtomicU64::new(0);
    group.bench_function("durable_write", |b| {
        b.iter(|| {
            let key = format!(
                "{:02}/{}.jpg",
                next.load(Ordering::Relaxed) % 100,
                next.fetch_add(1, Ordering::Relaxed)
            );
            runtime.block_on(store.put(&key, bytes.clone())).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = steps
}
criterion_main!(benches);
