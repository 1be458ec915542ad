//! HEIC input: decoded through the system's libheif, upright by HEIF's `irot`, in its own colours
//! (ICC), within the limits, and refusable by the operator.

use refract::encoding::format::{Format, Inputs};
use refract::transform::load;
use refract::transform::vips::{self, Image};

use crate::support::images::{decode, pixel};
use crate::support::{body, corpus, corpus_file, header, heic, metric, TestServer};

/// Two flat halves in wide-gamut colours: left `LEFT`, right `RIGHT`.
const LEFT: [u8; 3] = [200, 60, 40];
const RIGHT: [u8; 3] = [40, 160, 200];

fn halves(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for _ in 0..h {
        for x in 0..w {
            px.extend_from_slice(if x < w / 2 { &LEFT } else { &RIGHT });
        }
    }
    px
}

fn near(a: &[u8], b: &[u8], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= tolerance)
}

#[tokio::test]
async fn heic_is_served_upright_in_its_own_colours_in_every_format() {
    vips::init().unwrap();
    let s = TestServer::start(|_| {}).await;
    // Display P3, as iPhones write it: the profile of a real phone HEIC from the corpus.
    let p3 = heic::icc_of(&corpus_file("formats/heic/pillowheif-pug.heic")).expect("P3 profile");
    let (w, h) = (64, 32);
    // Rotate 90° clockwise (irot): the stored left half becomes the top.
    heic::write(
        &s.root.join("turned.heic"),
        &halves(w, h),
        w,
        h,
        Some(&p3),
        6,
    );
    // The header check (as uploads and renders see it) gives the upright size.
    let limits = refract::transform::Limits {
        max_pixels: 1_000_000,
        max_frames: 1,
        max_dimension: 1000,
        deadline: std::time::Duration::from_secs(5),
        inputs: Inputs::ALL,
        json_gps: false,
    };
    let turned = std::fs::read(s.root.join("turned.heic")).unwrap();
    let info = load::inspect(&turned, &limits).unwrap();
    assert_eq!((info.size.width, info.size.height), (32, 64));
    assert_eq!(info.orientation, 1);
    // Reference: the same pixels and profile as a TIFF, which libvips reads itself.
    let mut tiff = Image::from_pixels(&halves(w, h), w, h, 3).unwrap();
    tiff.set_blob(c"icc-profile-data", &p3);
    std::fs::write(s.root.join("flat.tif"), tiff.save_tiff().unwrap()).unwrap();

    let reference = body(&s, "/flat.tif?fm=png").await;
    let (ref_left, ref_right) = (pixel(&reference, 8, 16), pixel(&reference, 56, 16));
    // The profile matters: P3 colours come out different in sRGB, so a decoder that dropped it
    // would fail the comparisons below.
    assert!(
        !near(&ref_left, &LEFT, 8),
        "P3 → sRGB changed nothing: {ref_left:?}"
    );

    for fm in ["png", "jpg", "webp", "avif", "gif"] {
        let r = s.get(&format!("/turned.heic?fm={fm}")).await;
        assert_eq!(r.status(), 200, "{fm}: {}", header(&r, "x-refract-error"));
        let bytes = r.bytes().await.unwrap();
        assert_eq!(Format::sniff(&bytes).map(Format::name), Some(fm), "{fm}");
        let d = decode(&bytes);
        assert_eq!((d.width, d.height), (32, 64), "{fm}: irot applied once");
        let tolerance = if fm == "png" { 4 } else { 14 };
        let (top, bottom) = (pixel(&bytes, 16, 8), pixel(&bytes, 16, 56));
        assert!(
            near(&top, &ref_left, tolerance),
            "{fm}: top {top:?} vs {ref_left:?}"
        );
        assert!(
            near(&bottom, &ref_right, tolerance),
            "{fm}: bottom {bottom:?} vs {ref_right:?}"
        );
    }
    // No format asked: JPEG (HEIC is not an output), at the requested size.
    let r = s.get("/turned.heic?w=16").await;
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 16);
}

#[tokio::test]
async fn corpus_heic_renders_at_its_size() {
    let s = TestServer::start_at(&corpus().join("formats/heic"), |_| {}).await;
    for (file, w, h) in [
        ("pillowheif-pug.heic", 400, 300),
        ("libheif-example.heic", 400, 267),
        ("thumbor-image.heic", 400, 400),
        ("pillow-hopper.heif", 400, 400),
    ] {
        let png = body(&s, &format!("/{file}?w=400&fm=png")).await;
        let d = decode(&png);
        assert_eq!((d.width, d.height), (w, h), "{file}");
        assert!(d.bands == 3, "{file}: opaque stays opaque");
    }
    // A hot HEIC's later sizes come from its decoded-once master (no HEVC decode again).
    for w in [100, 101, 120] {
        let d = decode(&body(&s, &format!("/pillowheif-pug.heic?w={w}&fm=png")).await);
        assert_eq!(d.width, w);
    }
    let text = s.app.metrics_text().await;
    assert!(metric(&text, "refract_masters_total", &[("result", "hit")]) >= 1.0);
    // The phone photo: a pug before a light, warm wall (top right), not a grey or black frame.
    let pug = body(&s, "/pillowheif-pug.heic?w=64&fm=png").await;
    let wall = pixel(&pug, 56, 4);
    assert!(
        wall.iter().all(|&c| c > 150) && wall[0] > wall[2],
        "{wall:?}"
    );
}

#[tokio::test]
async fn heic_limits_hold_before_decoding_and_the_operator_can_turn_it_off() {
    let dir = corpus().join("formats/heic");
    let small = TestServer::start_at(&dir, |c| c.max_pixels = 1_000_000).await;
    let r = small.get("/pillowheif-pug.heic?w=100").await;
    assert_eq!(r.status(), 422);
    assert_eq!(header(&r, "x-refract-error"), "too_many_pixels");

    let off = TestServer::start_at(&dir, |c| {
        c.formats = Inputs::parse("jpeg,png,webp,gif,avif,tiff").unwrap()
    })
    .await;
    let r = off.get("/thumbor-image.heic?w=100").await;
    assert_eq!(r.status(), 422);
    assert_eq!(header(&r, "x-refract-error"), "unsupported_format");

    let hostile = TestServer::start_at(&corpus().join("hostile"), |_| {}).await;
    for file in [
        "bombs/pillowheif-200MP.heic",
        "truncated/pillowheif-truncated.heic",
        "corrupt/pillowheif-corrupted.heic",
        "corrupt/libheif-clap-overflow-divide-zero.heic",
        "corrupt/libheif-github_15.heic",
    ] {
        let r = hostile.get(&format!("/{file}?w=100")).await;
        assert_eq!(r.status(), 422, "{file}");
    }
}
