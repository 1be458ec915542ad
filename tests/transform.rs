//! What the pixels look like: fits and crops, orientation, colour, alpha, metadata, and refusing
//! broken originals — checked by decoding real responses.

use refract::encoding::format::Format;
use refract::transform::vips::Image;

use crate::support::fixtures::{half_transparent_png, quadrants_jpeg, QUADRANT_COLOURS};
use crate::support::images::{close, decode, mean_abs_diff, metadata_fields, pixel};
use crate::support::{body, corpus, corpus_file, header, TestServer};

const RED: [u8; 3] = QUADRANT_COLOURS[0];
const GREEN: [u8; 3] = QUADRANT_COLOURS[1];
const BLUE: [u8; 3] = QUADRANT_COLOURS[2];
const WHITE: [u8; 3] = QUADRANT_COLOURS[3];

#[tokio::test]
async fn every_fit_gives_the_imgix_dimensions() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    let cases = [
        ("w=200", (200, 150)),
        ("h=150", (200, 150)),
        ("w=200&h=200", (200, 150)),
        ("w=200&h=200&fit=clip", (200, 150)),
        ("w=800&h=800&fit=clip", (800, 600)),
        ("w=800&h=800&fit=max", (400, 300)),
        ("w=200&h=200&fit=crop", (200, 200)),
        ("w=200&h=200&fit=cover", (200, 200)),
        ("w=800&h=800&fit=min", (300, 300)),
        ("w=100&h=200&fit=min", (100, 200)),
        ("w=120&h=333&fit=scale", (120, 333)),
        ("w=200&h=200&fit=fill", (200, 200)),
        ("w=1000&h=1000&fit=fillmax", (1000, 1000)),
        ("w=100&dpr=2", (200, 150)),
        ("w=100&h=100&fit=crop&dpr=3", (300, 300)),
        ("", (400, 300)),
    ];
    for (q, (w, h)) in cases {
        let d = decode(&body(&s, &format!("/q.jpg?{q}")).await);
        assert_eq!((d.width, d.height), (w, h), "{q}");
    }
}

#[tokio::test]
async fn crop_gravity_and_focal_point_choose_the_window() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    // Covering 300x300 from 400x300 leaves 100 px to cut horizontally. The source's red/green
    // border is at x=200: x=140 of the output is red when the window starts at 0 or 50, green
    // when it starts at 100.
    let at = |b: &bytes::Bytes| pixel(b, 140, 20);
    let left = body(&s, "/q.jpg?w=300&h=300&fit=crop&crop=left").await;
    let right = body(&s, "/q.jpg?w=300&h=300&fit=crop&crop=right").await;
    let center = body(&s, "/q.jpg?w=300&h=300&fit=crop").await;
    let focal = body(
        &s,
        "/q.jpg?w=300&h=300&fit=crop&crop=focalpoint&fp-x=1&fp-y=0",
    )
    .await;
    assert!(close(&at(&left), &RED, 40), "{:?}", at(&left));
    assert!(close(&at(&center), &RED, 40), "{:?}", at(&center));
    assert!(close(&at(&right), &GREEN, 40), "{:?}", at(&right));
    assert!(close(&at(&focal), &GREEN, 40), "{:?}", at(&focal));
    // A tall crop (cutting vertically): bottom keeps blue/white at the top rows.
    let bottom = body(&s, "/q.jpg?w=100&h=300&fit=crop&crop=bottom,left").await;
    let d = decode(&bottom);
    assert_eq!((d.width, d.height), (100, 300));
    assert!(close(&pixel(&bottom, 10, 5), &RED, 40));
    assert!(close(&pixel(&bottom, 10, 295), &BLUE, 40));
    // Smart crops run and give the box.
    for mode in ["entropy", "edges"] {
        let d = decode(&body(&s, &format!("/q.jpg?w=150&h=150&fit=crop&crop={mode}")).await);
        assert_eq!((d.width, d.height), (150, 150), "{mode}");
    }
}

#[tokio::test]
async fn fill_pads_with_the_fill_colour() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 200));
    let b = body(&s, "/q.jpg?w=200&h=200&fit=fill&fill-color=000000&fm=png").await;
    // 400x200 → 200x100 centred on 200x200: rows 0–49 are padding.
    assert!(close(&pixel(&b, 100, 10), &[0, 0, 0], 0));
    assert!(close(&pixel(&b, 10, 60), &RED, 10));
    // The default fill is transparent white: PNG keeps it transparent.
    let b = body(&s, "/q.jpg?w=200&h=200&fit=fill&fm=png").await;
    assert_eq!(decode(&b).bands, 4);
    assert_eq!(pixel(&b, 100, 10)[3], 0);
    assert_eq!(pixel(&b, 10, 60)[3], 255);
}

#[tokio::test]
async fn alpha_is_kept_where_possible_and_flattened_onto_white_for_jpeg() {
    let s = TestServer::start(|_| {}).await;
    s.put("a.png", &half_transparent_png(200, 100));
    let png = body(&s, "/a.png?w=100").await;
    assert_eq!(decode(&png).format, Format::Png, "source format kept");
    assert_eq!(decode(&png).bands, 4);
    let webp = body(&s, "/a.png?w=100&fm=webp").await;
    assert_eq!(decode(&webp).bands, 4);
    let jpg = body(&s, "/a.png?w=100&fm=jpg").await;
    let d = decode(&jpg);
    assert_eq!((d.format, d.bands), (Format::JPEG, 3));
    assert!(
        close(&pixel(&jpg, 90, 10), &WHITE, 12),
        "transparent → white"
    );
    assert!(close(&pixel(&jpg, 10, 10), &RED, 40), "opaque stays");
    let black = body(&s, "/a.png?w=100&fm=jpg&fill-color=000").await;
    assert!(close(&pixel(&black, 90, 10), &[0, 0, 0], 12));
}

#[tokio::test]
async fn exif_orientation_is_applied_for_all_eight_values() {
    let s = TestServer::start_at(&corpus().join("exif"), |_| {}).await;
    for shape in ["Landscape", "Portrait"] {
        let reference = body(&s, &format!("/recurser-{shape}_1.jpg?w=120&fm=png")).await;
        let rd = decode(&reference);
        for n in 2..=8 {
            let url = format!("/recurser-{shape}_{n}.jpg?w=120&fm=png");
            let out = body(&s, &url).await;
            let d = decode(&out);
            assert_eq!((d.width, d.height), (rd.width, rd.height), "{url}");
            let diff = mean_abs_diff(&reference, &out);
            assert!(
                diff < 8.0,
                "{url}: mean difference {diff:.1} from orientation 1"
            );
        }
    }
    // A phone photo with Orientation=6: 4032x3024 stored, 3024x4032 seen.
    let s = TestServer::start_at(&corpus().join("photos"), |_| {}).await;
    let d = decode(&body(&s, "/libavif-dog_exif_extended_xmp_icc.jpg?w=300").await);
    assert_eq!((d.width, d.height), (300, 400));
}

#[tokio::test]
async fn metadata_is_stripped_from_every_format() {
    // EXIF (orientation 6), Extended XMP and an ICC profile in the original.
    let s = TestServer::start_at(&corpus().join("photos"), |_| {}).await;
    let original = corpus_file("photos/libavif-dog_exif_extended_xmp_icc.jpg");
    assert!(!metadata_fields(&original).is_empty());
    for fm in ["jpg", "png", "webp", "avif"] {
        let out = body(
            &s,
            &format!("/libavif-dog_exif_extended_xmp_icc.jpg?w=160&fm={fm}"),
        )
        .await;
        assert_eq!(metadata_fields(&out), Vec::<&str>::new(), "{fm}");
        let raw = &out[..];
        for marker in [&b"Exif\0\0"[..], b"http://ns.adobe.com/xap", b"ICC_PROFILE"] {
            assert!(
                !raw.windows(marker.len()).any(|w| w == marker),
                "{fm} output still contains {:?}",
                String::from_utf8_lossy(marker)
            );
        }
    }
}

#[tokio::test]
async fn colour_spaces_end_up_as_8_bit_srgb() {
    let s = TestServer::start_at(&corpus().join("color"), |_| {}).await;
    for file in [
        "sharp-Channel_digital_image_CMYK_color.jpg",
        "sharp-Channel_digital_image_CMYK_color_no_profile.jpg",
        "libvips-sample-AdobeRGB.jpg",
        "sharp-prophoto.png",
        "sharp-p3.png",
        "widegamut-R2020-sRGB-color-ring.jpg",
    ] {
        let out = body(&s, &format!("/{file}?w=64&fm=png")).await;
        let d = decode(&out);
        assert_eq!(d.width, 64, "{file}");
        assert!(d.bands == 3 || d.bands == 4, "{file}: {} bands", d.bands);
    }
    // Untagged greyscale stays one band (a third of the bytes); a grey ICC profile is
    // imported and exported as sRGB like any other.
    let photos = TestServer::start_at(&corpus().join("photos"), |_| {}).await;
    let grey = body(&photos, "/kde-Grey-2560x1600-grayscale.jpg?w=64").await;
    assert_eq!(decode(&grey).bands, 1);
    let tagged = body(&s, "/sharp-gamma_dalai_lama_gray.jpg?w=64").await;
    assert_eq!(decode(&tagged).bands, 3);
}

#[tokio::test]
async fn wide_gamut_is_converted_not_just_relabelled() {
    // The P3 ring's saturated colours sit outside sRGB; converting (rather than dropping the
    // profile) leaves no profile behind.
    let s = TestServer::start_at(&corpus().join("color"), |_| {}).await;
    let converted = body(&s, "/widegamut-P3-sRGB-color-ring.jpg?w=200&fm=png").await;
    assert_eq!(metadata_fields(&converted), Vec::<&str>::new());
    assert_eq!(decode(&converted).width, 200);
    // This chart's profile swaps the channels: its stored numbers are not red where it is red
    // (under "RED", at the top), so only a real conversion paints that spot red — at every
    // size, with and without a crop, through a master too (two renders make it hot).
    let file = "widegamut-rgb-to-gbr-test.jpg";
    let original = corpus_file(&format!("color/{file}"));
    let raw = Image::load_random(&original).unwrap();
    let (rw, rh) = (raw.width(), raw.height());
    let stored = raw
        .extract_area(rw / 2, rh / 25, 1, 1)
        .unwrap()
        .pixels()
        .unwrap();
    assert!(
        !(stored[0] > 180 && stored[1] < 90),
        "stored numbers already red: {stored:?}"
    );
    for query in [
        "w=200",
        "w=201",
        "w=200&h=200&fit=crop",
        "w=200&sat=10",
        "w=202",
    ] {
        let png = body(&s, &format!("/{file}?{query}&fm=png")).await;
        let d = decode(&png);
        let top = pixel(&png, d.width / 2, d.height / 25);
        assert!(
            top[0] > 180 && top[1] < 90 && top[2] < 90,
            "{query}: top {top:?} is not red"
        );
    }
}

#[tokio::test]
async fn broken_originals_are_refused_not_half_served() {
    let s = TestServer::start_at(&corpus().join("hostile"), |_| {}).await;
    let cases = [
        ("truncated/libvips-truncated.jpg", "undecodable"),
        ("truncated/sharp-truncated.jpg", "undecodable"),
        ("truncated/sharp-truncated.png", "undecodable"),
        ("truncated/pillow-truncated_image.png", "undecodable"),
        ("corrupt/thumbor-image_invalid.jpg", "unsupported_format"),
        ("corrupt/pillowheif-empty.heic", "unsupported_format"),
        ("corrupt/pillow-broken.png", "undecodable"),
        ("bombs/sharp-giant-image.jpg", "too_many_pixels"),
        ("bombs/thumbor-16383x16383.png", "too_many_pixels"),
        ("bombs/sharp-65536-uint32-limit.png", "too_many_pixels"),
        ("ipx-xss.svg", "unsupported_format"),
        ("bombs/weserv-giant.svg", "unsupported_format"),
    ];
    for (file, code) in cases {
        let r = s.get(&format!("/{file}?w=100")).await;
        assert_eq!(r.status(), 422, "{file}");
        assert_eq!(header(&r, "x-refract-error"), code, "{file}");
        assert_eq!(header(&r, "cache-control"), "public, max-age=60");
    }
}

#[tokio::test]
async fn limits_are_configurable() {
    let s = TestServer::start(|c| {
        c.max_pixels = 10_000;
        c.max_source_bytes = 20_000;
        c.max_dimension = 500;
    })
    .await;
    s.put("small.jpg", &quadrants_jpeg(100, 100));
    s.put("wide.jpg", &quadrants_jpeg(200, 100));
    // The byte cap is checked before anything is decoded: any 30 kB will do.
    s.put("big.jpg", &[0u8; 30_000]);
    assert_eq!(s.get("/small.jpg?w=50").await.status(), 200);
    let r = s.get("/wide.jpg?w=50").await;
    assert_eq!(header(&r, "x-refract-error"), "too_many_pixels");
    let r = s.get("/small.jpg?w=501").await;
    assert_eq!(r.status(), 400);
    // dpr past the cap is clamped, not refused.
    let d = decode(&body(&s, "/small.jpg?w=400&dpr=2").await);
    assert_eq!((d.width, d.height), (500, 500));
    assert_eq!(
        header(&s.get("/big.jpg?w=10").await, "x-refract-error"),
        "source_too_large"
    );
}
