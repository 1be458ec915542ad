//! imgix's rendering parameters beyond the basics, each checked on real responses against an
//! independent computation: the documented formula written out here, or libvips called
//! directly — size rules (`ar`, shares, `min-*`/`max-*`), adjustments (`exp`, `high`, `shad`,
//! `hue`, `vib`, `usm`, `invert`, `sepia`, `duotone`, `px`), encoder settings (`chromasub`,
//! `dpi`), and formats Refract does not offer.

use refract::transform::vips::{self, Image, Interpretation, SaveOptions};

use crate::support::fixtures::{
    block_png, flat_png, gradient_jpeg, half_transparent_png, noise_jpeg, quadrants_jpeg,
    quadrants_png,
};
use crate::support::images::{close, decode, mean_abs_diff, metadata_fields, pixel, pixels};
use crate::support::{body, corpus_file, TestServer};

#[tokio::test]
async fn size_rules_resolve_against_the_original_as_imgix_documents() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    s.put("pano.jpg", &quadrants_jpeg(1000, 100));
    let cases = [
        // The example: the box follows the ratio, not the original's.
        ("/q.jpg?w=400&ar=16:9&fit=crop", (400, 225)),
        ("/q.jpg?h=100&ar=2:1&fit=crop", (200, 100)),
        // No size: cropped (largest box of the ratio inside) or padded (smallest around).
        ("/q.jpg?ar=1:1&fit=crop", (300, 300)),
        ("/q.jpg?ar=2:1&fit=fill", (600, 300)),
        // Both sides given, or a fit that does not read it: ar is ignored.
        ("/q.jpg?w=100&h=100&ar=16:9&fit=crop", (100, 100)),
        ("/q.jpg?w=200&ar=1:1", (200, 150)),
        // Shares of the original, × dpr.
        ("/q.jpg?w=0.5", (200, 150)),
        ("/q.jpg?w=0.25&dpr=2", (200, 150)),
        ("/q.jpg?w=0.5&h=0.25&fit=scale", (200, 75)),
        // min/max with fit=crop: the derived side held within bounds.
        ("/pano.jpg?h=50&fit=crop&max-w=200", (200, 50)),
        ("/pano.jpg?h=50&fit=crop&max-w=800", (500, 50)),
        ("/q.jpg?h=30&fit=crop&min-w=100", (100, 30)),
        ("/q.jpg?h=30&fit=crop&min-w=100&dpr=2", (200, 60)),
        // …and ignored without it.
        ("/pano.jpg?h=50&max-w=200", (500, 50)),
    ];
    for (url, (w, h)) in cases {
        let d = decode(&body(&s, url).await);
        assert_eq!((d.width, d.height), (w, h), "{url}");
    }
    // fill with ar pads with the fill colour: the original is 400×300 in the middle of 600×300.
    let filled = body(&s, "/q.jpg?ar=2:1&fit=fill&fill-color=0000ff&fm=png").await;
    assert!(
        close(&pixel(&filled, 20, 150), &[0, 0, 255], 2),
        "{:?}",
        pixel(&filled, 20, 150)
    );
    assert!(close(&pixel(&filled, 120, 20), &[255, 0, 0], 40));
    // ar crops centre by default and follows crop=: the left edge of a 1:1 crop is red or green.
    let left = body(&s, "/q.jpg?ar=1:1&fit=crop&crop=left").await;
    let right = body(&s, "/q.jpg?ar=1:1&fit=crop&crop=right").await;
    assert!(close(&pixel(&left, 5, 5), &[255, 0, 0], 40));
    assert!(close(&pixel(&right, 295, 5), &[0, 255, 0], 40));
    // Bad values are ignored as imgix ignores them, and named (`--strict-params` refuses them:
    // tests/http.rs).
    for (q, name) in [
        ("ar=16", "ar"),
        ("ar=0:1", "ar"),
        ("w=1.5", "w"),
        ("min-w=0", "min-w"),
    ] {
        let r = s.get(&format!("/q.jpg?{q}&fit=crop")).await;
        assert_eq!(r.status(), 200, "{q}");
        assert_eq!(crate::support::header(&r, "x-refract-ignored"), name, "{q}");
    }
    s.stop().await;
}

/// sRGB-encoded byte → linear light.
fn linear(v: u8) -> f64 {
    let v = f64::from(v) / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light → sRGB-encoded byte.
fn encoded(v: f64) -> u8 {
    let v = if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[tokio::test]
async fn adjustments_match_their_formulas() {
    let s = TestServer::start(|_| {}).await;
    let c = [200u8, 100, 50];
    s.put("c.png", &flat_png(32, 32, c));
    s.put("black.png", &flat_png(32, 32, [0, 0, 0]));
    s.put("white.png", &flat_png(32, 32, [255, 255, 255]));
    s.put("grey.png", &flat_png(32, 32, [128, 128, 128]));
    let at = |b: &bytes::Bytes| pixel(b, 16, 16)[..3].to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/c.png?invert=true", vec![55, 155, 205]),
        ("/c.png?inv=1", vec![55, 155, 205]),
        // One stop up in linear light.
        ("/grey.png?exp=100", vec![encoded(linear(128) * 2.0); 3]),
        ("/grey.png?exp=-100", vec![encoded(linear(128) / 2.0); 3]),
        // Highlights: the upper half compressed towards mid-grey (white → 0.75 at −100).
        ("/white.png?high=-100", vec![191; 3]),
        ("/white.png?high=-50", vec![223; 3]),
        // Shadows: the lower half lifted (black → 0.25 at 100).
        ("/black.png?shad=100", vec![64; 3]),
        // Sepia: the classic matrix, mixed by strength.
        (
            "/c.png?sepia=100",
            [
                [0.393, 0.769, 0.189],
                [0.349, 0.686, 0.168],
                [0.272, 0.534, 0.131],
            ]
            .iter()
            .map(|row: &[f64; 3]| {
                let v = row[0] * 200.0 + row[1] * 100.0 + row[2] * 50.0;
                v.min(255.0).round() as u8
            })
            .collect(),
        ),
        // Duotone: black and white become its two colours.
        ("/black.png?duotone=000080,FA8072", vec![0, 0, 128]),
        ("/white.png?duotone=000080,FA8072", vec![250, 128, 114]),
        (
            "/white.png?duotone=000080,FA8072&duotone-alpha=50",
            vec![253, 192, 185],
        ),
        // Vibrance leaves greys grey.
        ("/grey.png?vib=100", vec![128; 3]),
        // blend (a colour) by its mode's formula, mixed in by blend-alpha: multiply is the
        // product, screen 1 − (1 − a)(1 − b), normal at 50% the average; overlay is imgix's
        // default mode (c=200,100,50 → channel by channel below/above mid-grey).
        ("/c.png?blend=0000ff&blend-mode=multiply", vec![0, 0, 50]),
        (
            "/c.png?blend=808080&bm=screen",
            [200.0, 100.0, 50.0]
                .iter()
                .map(|v: &f64| (255.0 - (255.0 - v) * (255.0 - 128.0) / 255.0).round() as u8)
                .collect(),
        ),
        (
            "/c.png?blend=000&blend-mode=normal&blend-alpha=50",
            vec![100, 50, 25],
        ),
        (
            "/c.png?blend=808080",
            [200.0, 100.0, 50.0]
                .iter()
                .map(|v: &f64| {
                    let (b, s) = (v / 255.0, 128.0 / 255.0);
                    let o = if b <= 0.5 {
                        2.0 * b * s
                    } else {
                        1.0 - 2.0 * (1.0 - b) * (1.0 - s)
                    };
                    (o * 255.0).round() as u8
                })
                .collect(),
        ),
    ];
    for (url, want) in cases {
        let out = body(&s, &format!("{url}&fm=png")).await;
        assert!(
            close(&at(&out), &want, 1),
            "{url}: {:?} vs {want:?}",
            at(&out)
        );
    }
    // Vibrance moves a dull colour away from its luma, hue by libvips's own LCh.
    let dull = at(&body(&s, "/c.png?vib=100&fm=png").await);
    assert!(dull[0] > 200 && dull[2] < 50, "{dull:?}");
    vips::init().unwrap();
    let direct = Image::from_pixels(&flat_png_pixels(c), 32, 32, 3)
        .unwrap()
        .colourspace(Interpretation::LCH)
        .and_then(|lch| lch.linear(&[1.0, 1.0, 1.0], &[0.0, 0.0, 120.0]))
        .and_then(|lch| lch.colourspace(Interpretation::Srgb))
        .and_then(|rgb| rgb.to_uchar())
        .unwrap()
        .pixels()
        .unwrap();
    let hue = at(&body(&s, "/c.png?hue=120&fm=png").await);
    assert!(
        close(&hue, &direct[..3], 1),
        "{hue:?} vs {:?}",
        &direct[..3]
    );
    assert!(hue[1] > hue[0], "orange turned towards green: {hue:?}");
    assert_eq!(
        at(&body(&s, "/c.png?hue=-240&fm=png").await),
        hue,
        "-240° is +120°"
    );
    s.stop().await;
}

fn flat_png_pixels(rgb: [u8; 3]) -> Vec<u8> {
    (0..32 * 32).flat_map(|_| rgb).collect()
}

#[tokio::test]
async fn detail_filters_change_edges_the_documented_way() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(200, 200));
    s.put("g.jpg", &gradient_jpeg(300, 200));
    // Pixellate: every 10×10 block is one colour (the left column of blocks straddles nothing:
    // the red/green border at x=100 is a block edge).
    let (px, w, h, b) = pixels(&body(&s, "/g.jpg?px=10&fm=png").await);
    for by in (0..h).step_by(10) {
        for bx in (0..w).step_by(10) {
            let first = &px[((by * w + bx) * b) as usize..][..b as usize];
            for y in by..(by + 10).min(h) {
                for x in bx..(bx + 10).min(w) {
                    let p = &px[((y * w + x) * b) as usize..][..b as usize];
                    assert_eq!(p, first, "block at {bx},{by}");
                }
            }
        }
    }
    // Unsharp mask: a harder edge than none (the step across the red/blue border), and a
    // negative amount softens it.
    let step = |b: &bytes::Bytes| {
        let (a, z) = (pixel(b, 50, 97), pixel(b, 50, 102));
        i32::from(a[0]) - i32::from(z[0])
    };
    let plain = body(&s, "/q.jpg?w=200&fm=png").await;
    let sharp = body(&s, "/q.jpg?w=200&usm=100&usmrad=3&fm=png").await;
    let soft = body(&s, "/q.jpg?w=200&usm=-100&usmrad=3&fm=png").await;
    assert!(
        step(&soft) < step(&plain),
        "{} vs {}",
        step(&soft),
        step(&plain)
    );
    let overshoot = pixel(&sharp, 50, 95);
    let flat = pixel(&plain, 50, 95);
    assert!(overshoot != flat, "usm changes pixels near the edge");
    s.stop().await;
}

#[tokio::test]
async fn animations_keep_frames_only_for_per_frame_filters() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "loop.gif",
        &corpus_file("animated/sharp-animated-loop-3.gif"),
    );
    let frames = |b: &bytes::Bytes| {
        vips::init().unwrap();
        Image::header(b).unwrap().pages()
    };
    // Colour formulas work frame by frame: every frame kept.
    for q in [
        "invert=1",
        "sepia=50",
        "exp=30",
        "hue=90",
        "w=0.5",
        "ar=1:1&fit=crop",
    ] {
        let out = body(&s, &format!("/loop.gif?{q}")).await;
        assert_eq!(frames(&out), 10, "{q}");
    }
    // Pixellation's blocks and halftone cells would straddle frames, and framing needs per-frame
    // geometry: the first frame, as a still.
    for q in [
        "px=8",
        "htn=50",
        "border=2,000",
        "mask=ellipse",
        "pad-left=3",
    ] {
        let out = body(&s, &format!("/loop.gif?{q}")).await;
        assert_eq!(frames(&out), 1, "{q}");
    }
    s.stop().await;
}

#[tokio::test]
async fn encoder_parameters_reach_the_file() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(64, 64));
    vips::init().unwrap();
    let subsampling = |b: &bytes::Bytes| {
        Image::header(b)
            .unwrap()
            .get_string(c"jpeg-chroma-subsample")
            .unwrap_or_default()
    };
    // libvips's default below q90 is 4:2:0; chromasub=444 asks for full colour (and 422,
    // which its encoder cannot write, gets full colour too, never less).
    assert_eq!(subsampling(&body(&s, "/g.jpg?q=75&fm=jpg").await), "4:2:0");
    assert_eq!(
        subsampling(&body(&s, "/g.jpg?q=75&fm=jpg&chromasub=444").await),
        "4:4:4"
    );
    assert_eq!(
        subsampling(&body(&s, "/g.jpg?q=75&fm=jpg&chromasub=422").await),
        "4:4:4"
    );
    assert_eq!(
        subsampling(&body(&s, "/g.jpg?q=95&fm=jpg&chromasub=420").await),
        "4:2:0"
    );
    // dpi is written into the JPEG and PNG headers (pixels per mm in libvips).
    for fm in ["jpg", "png"] {
        let out = body(&s, &format!("/g.jpg?dpi=300&fm={fm}")).await;
        let (x, y) = Image::header(&out).unwrap().resolution();
        assert!(
            (x * 25.4 - 300.0).abs() < 1.0 && (y * 25.4 - 300.0).abs() < 1.0,
            "{fm}: {x}"
        );
    }
    // Formats imgix offers that Refract does not write: a 400 naming fm, never another format.
    for fm in ["mp4", "webm", "jxr", "jp2"] {
        let r = s.get(&format!("/g.jpg?fm={fm}")).await;
        assert_eq!(r.status(), 400, "{fm}");
        assert!(
            r.text()
                .await
                .unwrap()
                .starts_with(&format!("unsupported_param: fm={fm}")),
            "{fm}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn borders_padding_and_masks_frame_the_image() {
    let s = TestServer::start(|_| {}).await;
    s.put("c.png", &flat_png(100, 60, [200, 100, 50]));
    let c = [200, 100, 50];
    // border=size,colour around the image; inside a w×h box it takes room from the image.
    let out = body(&s, "/c.png?border=10,0000ff&fm=png").await;
    let d = decode(&out);
    assert_eq!((d.width, d.height, d.bands), (120, 80, 4));
    assert_eq!(pixel(&out, 5, 40), vec![0, 0, 255, 255]);
    assert_eq!(pixel(&out, 60, 40), vec![200, 100, 50, 255]);
    let boxed = decode(&body(&s, "/c.png?w=100&h=60&fit=fill&border=10,00f&fm=png").await);
    assert_eq!((boxed.width, boxed.height), (100, 60));
    // Per-side widths override the one from border.
    let sided = decode(&body(&s, "/c.png?border=10,00f&border-left=0&border-top=2&fm=png").await);
    assert_eq!((sided.width, sided.height), (110, 72));
    // Outer radius: the frame's corner pixel is transparent (PNG), white when flattened (JPEG).
    let round = body(&s, "/c.png?border=10,0000ff&border-radius=20&fm=png").await;
    assert_eq!(pixel(&round, 0, 0)[3], 0);
    assert_eq!(pixel(&round, 60, 0), vec![0, 0, 255, 255]);
    let flat = body(&s, "/c.png?border=10,0000ff&border-radius=20&fm=jpg").await;
    assert!(
        close(&pixel(&flat, 0, 0), &[255, 255, 255], 60),
        "{:?}",
        pixel(&flat, 0, 0)
    );
    // Inner radius: the image's own corner shows the border colour.
    let inner = body(&s, "/c.png?border=10,0000ff&border-radius-inner=15&fm=png").await;
    assert_eq!(pixel(&inner, 10, 10), vec![0, 0, 255, 255]);
    assert_eq!(pixel(&inner, 60, 40), vec![200, 100, 50, 255]);
    // pad-* sides, in bg.
    let padded = body(&s, "/c.png?pad-left=20&pad-top=5&bg=000&fm=png").await;
    let d = decode(&padded);
    assert_eq!((d.width, d.height), (120, 65));
    assert_eq!(pixel(&padded, 10, 30)[..3], [0, 0, 0]);
    assert_eq!(pixel(&padded, 119, 64)[..3], c);
    let mixed = decode(&body(&s, "/c.png?pad=10&pad-right=0&fm=png").await);
    assert_eq!((mixed.width, mixed.height), (110, 80));
    // mask=ellipse: corners transparent, centre opaque; mask-bg fills outside.
    let ellipse = body(&s, "/c.png?mask=ellipse&fm=png").await;
    assert_eq!(pixel(&ellipse, 0, 0)[3], 0);
    assert_eq!(pixel(&ellipse, 50, 30), vec![200, 100, 50, 255]);
    assert_eq!(
        pixel(&ellipse, 50, 1)[3],
        255,
        "touches the top edge midpoint"
    );
    let backed = body(&s, "/c.png?mask=ellipse&mask-bg=00ff00&fm=png").await;
    assert_eq!(pixel(&backed, 0, 0), vec![0, 255, 0, 255]);
    // transparency=grid: transparent parts over a checkerboard, opaque; default light grey and
    // white squares of 4 px (× dpr), or the given colours and size.
    s.put("half.png", &half_transparent_png(80, 40));
    let grid = body(&s, "/half.png?transparency=grid&fm=png").await;
    assert_eq!(decode(&grid).bands, 3);
    assert_eq!(pixel(&grid, 40, 0), vec![0xD0, 0xD7, 0xDD]);
    assert_eq!(pixel(&grid, 44, 0), vec![255, 255, 255]);
    assert_eq!(
        pixel(&grid, 5, 5),
        vec![255, 0, 0],
        "opaque parts untouched"
    );
    let custom = body(
        &s,
        "/half.png?transparency=grid&grid-colors=f00,00f&grid-size=5&dpr=2&fm=png",
    )
    .await;
    assert_eq!(pixel(&custom, 40, 0), vec![255, 0, 0]);
    assert_eq!(pixel(&custom, 50, 0), vec![0, 0, 255], "5 px × dpr 2");
    let corners = body(&s, "/c.png?mask=corners&corner-radius=0,20,0,0&fm=png").await;
    assert_eq!(pixel(&corners, 0, 0)[3], 255);
    assert_eq!(pixel(&corners, 99, 0)[3], 0);
    s.stop().await;
}

#[tokio::test]
async fn fill_blur_zoom_and_trim_color_change_the_frame_as_documented() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    // fill=blur: the frame around the image is the image itself, blurred, opaque — not
    // fill-color. The 400×300 image in a 400×400 frame: bands of 50 px above and below.
    let out = body(
        &s,
        "/q.jpg?w=400&h=400&fit=fill&fill=blur&fill-color=00ff00&fm=png",
    )
    .await;
    let d = decode(&out);
    assert_eq!((d.width, d.height, d.bands), (400, 400, 3));
    let top_left = pixel(&out, 10, 10);
    assert!(
        top_left[0] > 150 && top_left[1] < 120,
        "red-ish backdrop: {top_left:?}"
    );
    assert!(close(&pixel(&out, 100, 120), &[255, 0, 0], 40));
    assert!(close(&pixel(&out, 300, 320), &[255, 255, 255], 40));
    // fp-z: zoomed 2× on the top-left quadrant's centre, a 100×100 crop is all red.
    let zoomed = body(
        &s,
        "/q.jpg?w=100&h=100&fit=crop&crop=focalpoint&fp-x=0.25&fp-y=0.25&fp-z=2&fm=png",
    )
    .await;
    let (px, ..) = pixels(&zoomed);
    assert!(px.chunks(3).all(|p| close(p, &[255, 0, 0], 40)));
    let unzoomed = body(
        &s,
        "/q.jpg?w=100&h=100&fit=crop&crop=focalpoint&fp-x=0.25&fp-y=0.25&fm=png",
    )
    .await;
    assert!(close(&pixel(&unzoomed, 99, 99), &[255, 255, 255], 40));
    // trim=color: a green frame around a red block is cut; the corner colour does not matter.
    s.put(
        "framed.png",
        &block_png(120, 90, [0, 255, 0], (30, 20, 40, 30, [255, 0, 0])),
    );
    let trimmed = decode(&body(&s, "/framed.png?trim=color&trim-color=00ff00&fm=png").await);
    assert_eq!((trimmed.width, trimmed.height), (40, 30));
    // trim-pad: bg around the trimmed image, scaled with it.
    let padded = body(
        &s,
        "/framed.png?trim=color&trim-color=0f0&trim-pad=5&bg=00f&fm=png",
    )
    .await;
    assert_eq!((decode(&padded).width, decode(&padded).height), (50, 40));
    assert_eq!(pixel(&padded, 1, 1)[..3], [0, 0, 255]);
    assert_eq!(pixel(&padded, 25, 20)[..3], [255, 0, 0]);
    // Without trim-color, the top-left pixel's colour (green here).
    let cornered = decode(&body(&s, "/framed.png?trim=color&fm=png").await);
    assert_eq!((cornered.width, cornered.height), (40, 30));
    // …only that colour: trimming white finds nothing to cut.
    let kept = decode(&body(&s, "/framed.png?trim=color&trim-color=fff&fm=png").await);
    assert_eq!((kept.width, kept.height), (120, 90));
    // …and on a transparent image: a clear frame around an opaque red block is cut, by the
    // corner's colour or a given one (was a 500: libvips refused a four-value background).
    vips::init().unwrap();
    let rgba: Vec<u8> = (0..90u32)
        .flat_map(|y| {
            (0..120u32).flat_map(move |x| {
                let inside = (30..70).contains(&x) && (20..50).contains(&y);
                if inside {
                    [255, 0, 0, 255]
                } else {
                    [0, 0, 0, 0]
                }
            })
        })
        .collect();
    let clear = Image::from_pixels(&rgba, 120, 90, 4)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap()
        .to_vec();
    s.put("clear.png", &clear);
    for q in [
        "trim=color",
        "trim=color&trim-color=fff",
        "trim=color&trim-color=0000",
    ] {
        let d = decode(&body(&s, &format!("/clear.png?{q}&fm=png")).await);
        assert_eq!((d.width, d.height), (40, 30), "{q}");
    }
    // trim=auto walks in while rows are near the corner colour and flat: a checkered frame
    // (greys 100 and 140: every row and column differs from the corner by 20 on average, with a
    // spread of 20) stays at the defaults
    // (trim-md 11, trim-sd 10) and goes with both raised.
    vips::init().unwrap();
    let striped: Vec<u8> = (0..90u32)
        .flat_map(|y| {
            (0..120u32).flat_map(move |x| {
                if (30..70).contains(&x) && (20..50).contains(&y) {
                    [255, 0, 0]
                } else if (x + y) % 2 == 0 {
                    [100, 100, 100]
                } else {
                    [140, 140, 140]
                }
            })
        })
        .collect();
    let striped = Image::from_pixels(&striped, 120, 90, 3)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap();
    s.put("striped.png", &striped);
    let kept = decode(&body(&s, "/striped.png?trim=auto&fm=png").await);
    assert_eq!((kept.width, kept.height), (120, 90));
    let cut = decode(&body(&s, "/striped.png?trim=auto&trim-md=25&trim-sd=25&fm=png").await);
    assert_eq!((cut.width, cut.height), (40, 30));
    s.stop().await;
}

#[tokio::test]
async fn noise_reduction_halftone_and_colour_quantisation() {
    let s = TestServer::start(|_| {}).await;
    let noisy = noise_jpeg(64, 64, 7);
    s.put("n.jpg", &noisy);
    s.put("g.jpg", &gradient_jpeg(200, 100));
    s.put("grey.png", &flat_png(40, 40, [102, 102, 102]));
    // nr=100 is the 3×3 median, computed here by libvips directly on the decoded original.
    vips::init().unwrap();
    let median = Image::load_random(&noisy)
        .unwrap()
        .median(3)
        .unwrap()
        .to_uchar()
        .unwrap();
    let mpx = median.pixels().unwrap();
    let expected = Image::from_pixels(&mpx, 64, 64, 3)
        .unwrap()
        .save(SaveOptions::Png { compression: 1 })
        .unwrap();
    let out = body(&s, "/n.jpg?nr=100&nrs=0&fm=png").await;
    assert!(
        mean_abs_diff(&out, &expected) < 0.5,
        "{}",
        mean_abs_diff(&out, &expected)
    );
    // nr=50 lies halfway between the original and the median.
    let original = body(&s, "/n.jpg?fm=png").await;
    let half = body(&s, "/n.jpg?nr=50&nrs=0&fm=png").await;
    let (d_orig, d_med) = (
        mean_abs_diff(&half, &original),
        mean_abs_diff(&half, &expected),
    );
    assert!(
        (d_orig - d_med).abs() < 2.0 && d_orig > 5.0,
        "{d_orig} {d_med}"
    );
    // nrs sharpens after: differs from nr alone.
    let sharpened = body(&s, "/n.jpg?nr=50&nrs=80&fm=png").await;
    assert!(mean_abs_diff(&sharpened, &half) > 1.0);
    // Halftone: 10 px cells (htn=44) of dots: dark centres, white corners.
    let dots = body(&s, "/grey.png?htn=44&fm=png").await;
    assert!(pixel(&dots, 5, 5)[0] < 20 && pixel(&dots, 0, 0)[0] > 235);
    assert!(pixel(&dots, 15, 25)[0] < 20 && pixel(&dots, 10, 20)[0] > 235);
    // colorquant: at most N colours in PNG and GIF, and a JPEG made from the reduced image.
    let distinct = |b: &bytes::Bytes| {
        let (px, _, _, bands) = pixels(b);
        let mut seen: Vec<&[u8]> = px.chunks(bands as usize).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    assert!(distinct(&body(&s, "/g.jpg?fm=png").await) > 1000);
    for n in [2, 8, 64] {
        for fm in ["png", "gif"] {
            let out = body(&s, &format!("/g.jpg?colorquant={n}&fm={fm}")).await;
            assert!(distinct(&out) <= n, "{fm} {n}: {}", distinct(&out));
            assert!(distinct(&out) >= n / 2, "{fm} {n}: {}", distinct(&out));
        }
    }
    s.stop().await;
}

/// Decode the four base-83 characters of a BlurHash's DC term into sRGB.
fn blurhash_dc(hash: &str) -> [u8; 3] {
    const B83: &str =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
    let v = hash[2..6]
        .chars()
        .fold(0u32, |acc, c| acc * 83 + B83.find(c).unwrap() as u32);
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[tokio::test]
async fn descriptions_answer_with_json_css_and_blurhash() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.png", &quadrants_png(200, 100));
    s.put(
        "photo.jpg",
        &corpus_file("photos/mate-Elephants_3840x2160.jpg"),
    );
    s.put(
        "dog.jpg",
        &corpus_file("photos/libavif-dog_exif_extended_xmp_icc.jpg"),
    );
    // fm=json: the original's metadata in imgix's names.
    let r = s.get("/photo.jpg?fm=json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        crate::support::header(&r, "content-type"),
        "application/json"
    );
    let meta: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(meta["PixelWidth"], 3840);
    assert_eq!(meta["PixelHeight"], 2160);
    assert_eq!(meta["ContentType"], "image/jpeg");
    assert_eq!(meta["ColorModel"], "RGB");
    assert_eq!(meta["Depth"], 8);
    assert_eq!(meta["Orientation"], 1);
    assert_eq!(meta["{TIFF}"]["Make"], "SONY", "{meta}");
    assert!(meta["{Exif}"]["FNumber"].is_number(), "{meta}");
    let dog: serde_json::Value =
        serde_json::from_slice(&body(&s, "/dog.jpg?fm=json").await).unwrap();
    assert_eq!(
        (dog["Orientation"].clone(), dog["PixelWidth"].clone()),
        (6.into(), 4032.into())
    );
    // libvips's "value (description, type, …)" text reduced to the value, as a number where
    // it is one.
    assert_eq!(dog["{Exif}"]["ApertureValue"], 1.7, "{dog}");
    assert_eq!(dog["{TIFF}"]["Orientation"], 6.0, "{dog}");
    // palette=json: the quadrants' four colours, most common first, as imgix writes them.
    let r = s.get("/q.png?palette=json&colors=4").await;
    assert_eq!(
        crate::support::header(&r, "content-type"),
        "application/json"
    );
    let palette: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let mut hexes: Vec<String> = palette["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hex"].as_str().unwrap().to_owned())
        .collect();
    hexes.sort();
    assert_eq!(
        hexes,
        ["#0000ff", "#00ff00", "#ff0000", "#ffffff"],
        "{palette}"
    );
    assert_eq!(
        palette["colors"][0]["red"].as_f64().map(|v| v <= 1.0),
        Some(true)
    );
    let luminance = palette["average_luminance"].as_f64().unwrap();
    let expected = (0.2126 + 0.7152 + 0.0722 + 1.0) / 4.0;
    assert!(
        (luminance - expected).abs() < 0.02,
        "{luminance} vs {expected}"
    );
    assert!(
        palette["dominant_colors"]["vibrant"]["hex"].is_string(),
        "{palette}"
    );
    // …with size and crop parameters: the left 100×100 of the quadrants is red over blue.
    let left: serde_json::Value = serde_json::from_slice(
        &body(
            &s,
            "/q.png?w=100&h=100&fit=crop&crop=left&palette=json&colors=2",
        )
        .await,
    )
    .unwrap();
    let mut hexes: Vec<&str> = left["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hex"].as_str().unwrap())
        .collect();
    hexes.sort();
    assert_eq!(hexes, ["#0000ff", "#ff0000"], "{left}");
    // palette=css with a prefix.
    let r = s.get("/q.png?palette=css&colors=2&prefix=hero").await;
    assert_eq!(
        crate::support::header(&r, "content-type"),
        "text/css; charset=utf-8"
    );
    let css = r.text().await.unwrap();
    assert!(
        css.contains(".hero-fg-1 { color:#") && css.contains(".hero-bg-2 {"),
        "{css}"
    );
    // fm=blurhash: 4×3 components; its DC term is the image's mean colour (in linear light),
    // computed here from the pixels.
    let r = s.get("/q.png?fm=blurhash").await;
    assert_eq!(
        crate::support::header(&r, "content-type"),
        "text/plain; charset=utf-8"
    );
    let hash = r.text().await.unwrap();
    assert_eq!(hash.len(), 28, "{hash}");
    let (px, ..) = pixels(&body(&s, "/q.png?fm=png").await);
    let mean: Vec<u8> = (0..3)
        .map(|c| {
            let sum: f64 = px.chunks(3).map(|p| linear(p[c])).sum();
            encoded(sum / (px.len() / 3) as f64)
        })
        .collect();
    assert!(
        close(&blurhash_dc(&hash), &mean, 3),
        "{:?} vs {mean:?}",
        blurhash_dc(&hash)
    );
    // Cached like images.
    let again = s.get("/q.png?fm=blurhash").await;
    assert_eq!(crate::support::header(&again, "x-refract-cache"), "hit");
    // Bad values are ignored, and named.
    for (q, name) in [
        ("palette=xml", "palette"),
        ("palette=css&prefix=1x", "prefix"),
        ("palette=json&colors=17", "colors"),
    ] {
        let r = s.get(&format!("/q.png?{q}")).await;
        assert_eq!(r.status(), 200, "{q}");
        assert_eq!(crate::support::header(&r, "x-refract-ignored"), name, "{q}");
    }
    s.stop().await;
}

#[tokio::test]
async fn cs_writes_the_profile_imgix_names_and_nothing_else() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "dog.jpg",
        &corpus_file("photos/libavif-dog_exif_extended_xmp_icc.jpg"),
    );
    vips::init().unwrap();
    let icc = |b: &bytes::Bytes| {
        let img = Image::header(b).unwrap();
        img.has_field(c"icc-profile-data")
            .then(|| refract_icc(&img))
    };
    // Default (origin) and strip: untagged sRGB, every kind of metadata stripped.
    for q in ["", "&cs=strip", "&cs=origin"] {
        let out = body(&s, &format!("/dog.jpg?w=200{q}")).await;
        assert!(
            metadata_fields(&out).is_empty(),
            "{q}: {:?}",
            metadata_fields(&out)
        );
    }
    // srgb: libvips's own sRGB profile, and still no EXIF or XMP.
    let srgb = vips::builtin_profile(c"srgb").unwrap();
    for fm in ["jpg", "png", "webp", "avif"] {
        let out = body(&s, &format!("/dog.jpg?w=200&cs=srgb&fm={fm}")).await;
        assert_eq!(metadata_fields(&out), ["icc"], "{fm}");
        assert_eq!(icc(&out).as_deref(), Some(&srgb[..]), "{fm}");
    }
    // tinysrgb: the compact profile, which a colour engine reads as sRGB within a few levels.
    let out = body(&s, "/dog.jpg?w=200&cs=tinysrgb&fm=png").await;
    let tiny = icc(&out).unwrap();
    assert_eq!(tiny.len(), 448);
    let img = Image::header(&out).unwrap();
    let (w, h) = (img.width(), img.height());
    let imported = img.thumbnail_image(w, h).unwrap().pixels().unwrap();
    let (raw, ..) = pixels(&out);
    let worst = raw
        .iter()
        .zip(&imported)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 12, "gamma 2.2 against sRGB's curve: {worst}");
    // GIF has no place for a profile; Adobe RGB (imgix writes it) is refused by name.
    assert!(metadata_fields(&body(&s, "/dog.jpg?w=50&cs=srgb&fm=gif").await).is_empty());
    let r = s.get("/dog.jpg?cs=adobergb1998").await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("unsupported_param: cs=adobergb1998"));
    s.stop().await;
}

/// The ICC profile attached to a decoded header.
fn refract_icc(img: &Image<'_>) -> Vec<u8> {
    img.get_blob(c"icc-profile-data").unwrap()
}

/// The row of the original where a full-width crop `out` starts: the offset where its pixels
/// match the original's best (both decoded here with libvips).
fn crop_top(original: &[u8], out: &[u8]) -> u32 {
    vips::init().unwrap();
    let src = Image::load_random(original).unwrap();
    let (sw, sh, sb) = (src.width(), src.height(), src.bands());
    let src = src.pixels().unwrap();
    let (px, w, h, b) = pixels(out);
    assert_eq!((w, b), (sw, sb), "a full-width crop");
    let row = (sw * sb) as usize;
    (0..=sh - h)
        .min_by_key(|t| {
            let window = &src[*t as usize * row..(*t + h) as usize * row];
            window
                .iter()
                .zip(&px)
                .step_by(7)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>()
        })
        .unwrap()
}

#[tokio::test]
async fn crop_faces_keeps_the_face_found_in_the_original() {
    let s = TestServer::start(|_| {}).await;
    // Face rectangles established by eye on these corpus portraits (rows, in pixels of the
    // original): the forehead to the chin.
    for (file, size, face_rows, crop_h) in [
        (
            "photos/thumbor-Giunchedi_Filippo_January_2015_01.jpg",
            (800, 533),
            (60, 310),
            150,
        ),
        ("photos/skimage-astronaut.png", (512, 512), (30, 190), 128),
    ] {
        let bytes = corpus_file(file);
        let name = file.rsplit('/').next().unwrap();
        s.put(name, &bytes);
        let url = format!("/{name}?w={}&h={crop_h}&fit=crop&crop=faces&fm=png", size.0);
        let out = body(&s, &url).await;
        let top = crop_top(&bytes, &out);
        assert!(
            top >= face_rows.0 - 10 && top + crop_h <= face_rows.1 + 10,
            "{name}: window rows {top}..{} outside the face {face_rows:?}",
            top + crop_h
        );
        // The centre crop does not keep the face: faces moved the window.
        let centre = body(&s, &url.replace("crop=faces", "crop=center")).await;
        assert_ne!(crop_top(&bytes, &centre), top, "{name}");
        // Another size of the same original: the faces come from the cache, not a detection.
        let detected = refract::transform::faces::detections();
        body(
            &s,
            &format!("/{name}?w=200&h=40&fit=crop&crop=faces&fm=png"),
        )
        .await;
        assert_eq!(refract::transform::faces::detections(), detected, "{name}");
    }
    // No face: the documented fallback, libvips attention (crop=edges), the same every time.
    s.put("g.jpg", &gradient_jpeg(300, 200));
    let none = body(&s, "/g.jpg?w=100&h=100&fit=crop&crop=faces&fm=png").await;
    let edges = body(&s, "/g.jpg?w=100&h=100&fit=crop&crop=edges&fm=png").await;
    assert_eq!(none, edges);
    s.stop().await;
}

/// The faces `fm=json&faces=1` reports: (x, y, width, height) in pixels.
async fn reported_faces(s: &TestServer, name: &str) -> Vec<(f64, f64, f64, f64)> {
    let json: serde_json::Value =
        serde_json::from_slice(&body(s, &format!("/{name}?fm=json&faces=1")).await).unwrap();
    json["Faces"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no Faces in {json}"))
        .iter()
        .map(|f| {
            let b = &f["bounds"];
            let n = |k: &str| b[k].as_f64().unwrap();
            (n("x"), n("y"), n("width"), n("height"))
        })
        .collect()
}

#[tokio::test]
async fn fit_facearea_frames_the_face_and_json_reports_it() {
    let s = TestServer::start(|_| {}).await;
    // Faces established by eye on the corpus portraits (x0, y0, x1, y1 in pixels of the
    // original: ear to ear, forehead to chin).
    for (file, (iw, ih), face) in [
        (
            "photos/thumbor-Giunchedi_Filippo_January_2015_01.jpg",
            (800.0, 533.0),
            (300.0, 60.0, 500.0, 310.0),
        ),
        (
            "photos/skimage-astronaut.png",
            (512.0, 512.0),
            (160.0, 40.0, 290.0, 190.0),
        ),
    ] {
        let name = file.rsplit('/').next().unwrap();
        s.put(name, &corpus_file(file));
        let faces = reported_faces(&s, name).await;
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let (x, y, w, h) = faces[0];
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        assert!(
            cx > face.0 && cx < face.2 && cy > face.1 && cy < face.3,
            "{name}: the face found at {faces:?} is not the face at {face:?}"
        );
        // The documented area, worked out here: the face box (facepad 1, imgix's ratio),
        // widened to the box's 1:1, shrunk to fit the image, moved inside it.
        let (mut aw, mut ah) = (w, h);
        (aw, ah) = (aw.max(ah), aw.max(ah));
        let shrink = (iw / aw).min(ih / ah).min(1.0);
        (aw, ah) = (aw * shrink, ah * shrink);
        let ax = (cx - aw / 2.0).clamp(0.0, iw - aw);
        let ay = (cy - ah / 2.0).clamp(0.0, ih - ah);
        let expected = body(
            &s,
            &format!(
                "/{name}?rect={},{},{},{}&w=200&h=200&fit=crop&fm=png",
                ax.round(),
                ay.round(),
                aw.round(),
                ah.round()
            ),
        )
        .await;
        let area = body(&s, &format!("/{name}?fit=facearea&w=200&h=200&fm=png")).await;
        let d = decode(&area);
        assert_eq!((d.width, d.height), (200, 200), "{name}");
        assert!(
            mean_abs_diff(&area, &expected) < 4.0,
            "{name}: facearea is not the area around the face"
        );
        // A wider pad frames more: the face fills less of the output.
        let wide = body(
            &s,
            &format!("/{name}?fit=facearea&facepad=2.5&w=200&h=200&fm=png"),
        )
        .await;
        assert!(
            mean_abs_diff(&wide, &area) > 10.0,
            "{name}: facepad ignored"
        );
        // One face: faceindex=2 does not exist, and the fallback (fit=crop) answers.
        let missing = body(
            &s,
            &format!("/{name}?fit=facearea&faceindex=2&w=200&h=200&fm=png"),
        )
        .await;
        let crop = body(&s, &format!("/{name}?fit=crop&w=200&h=200&fm=png")).await;
        assert_eq!(missing, crop, "{name}");
        let first = body(
            &s,
            &format!("/{name}?fit=facearea&faceindex=1&w=200&h=200&fm=png"),
        )
        .await;
        assert_eq!(first, area, "{name}: face 1 is the only face");
    }
    // No face: the named fallback, the same every time.
    s.put("g.jpg", &gradient_jpeg(300, 200));
    assert!(reported_faces(&s, "g.jpg").await.is_empty());
    let none = body(
        &s,
        "/g.jpg?w=100&h=100&fit=facearea,fill&fill-color=f00&fm=png",
    )
    .await;
    let fill = body(&s, "/g.jpg?w=100&h=100&fit=fill&fill-color=f00&fm=png").await;
    assert_eq!(none, fill);
    let r = s.get("/g.jpg?fit=facearea,nope").await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

/// Values imgix ignores are ignored here too, visibly: the response names them, a metric counts
/// them, and the cache holds one variant for the URL with and without them. Values imgix acts on
/// stay a 400.
#[tokio::test]
async fn values_imgix_ignores_are_ignored_visibly_and_split_nothing() {
    let s = TestServer::start(|_| {}).await;
    s.put("p.jpg", &quadrants_jpeg(400, 300));
    let clean = s.get("/p.jpg?w=200&h=100&fit=crop").await;
    assert_eq!(clean.status(), 200);
    assert_eq!(crate::support::header(&clean, "x-refract-ignored"), "");
    let etag = crate::support::header(&clean, "etag");
    // Production pages send these: each renders as the clean URL, from the same cache entry.
    for (q, named) in [
        ("w=200&h=100&fit=crop&crop=default", "crop"),
        ("w=200&h=100&fit=crop&rot=auto&bri=1.5", "bri, rot"),
        ("w=50&h=100&w=200&fit=crop", "w"),
    ] {
        for round in 0..2 {
            let r = s.get(&format!("/p.jpg?{q}")).await;
            assert_eq!(r.status(), 200, "{q}");
            assert_eq!(
                crate::support::header(&r, "x-refract-ignored"),
                named,
                "{q} #{round}"
            );
            assert_eq!(crate::support::header(&r, "etag"), etag, "{q}");
            assert_eq!(crate::support::header(&r, "x-refract-cache"), "hit", "{q}");
        }
    }
    let m = s.app.metrics_text().await;
    let ignored =
        |p: &str| crate::support::metric(&m, "refract_params_ignored_total", &[("param", p)]);
    assert_eq!(
        (ignored("crop"), ignored("rot"), ignored("w")),
        (2.0, 2.0, 2.0)
    );
    // auto reiterated combines, as imgix documents: WebP for a WebP browser, nothing ignored.
    let r = s
        .get_with(
            "/p.jpg?w=100&auto=format&auto=compress",
            &[("accept", "image/webp,*/*")],
        )
        .await;
    assert_eq!(crate::support::header(&r, "content-type"), "image/webp");
    assert_eq!(crate::support::header(&r, "x-refract-ignored"), "");
    // What imgix would act on is refused: a different image must not be served for a year.
    for q in ["fill=gen&fit=fill&w=9&h=9", "bg-replace=a+desert", "fm=jp2"] {
        let r = s.get(&format!("/p.jpg?{q}")).await;
        assert_eq!(
            (
                r.status().as_u16(),
                crate::support::header(&r, "x-refract-error")
            ),
            (400, "unsupported_param".to_owned()),
            "{q}"
        );
    }
}

/// `fit=clamp` (imgix's "affine clamp"): the image fits the box and the frame is its own edge
/// pixels extended outwards, not a colour; one side given scales proportionally.
#[tokio::test]
async fn fit_clamp_extends_the_edges_into_the_frame() {
    let s = TestServer::start(|_| {}).await;
    // Red top-left, green top-right, blue bottom-left, white bottom-right (400x300).
    s.put("q.jpg", &quadrants_jpeg(400, 300));
    let out = body(&s, "/q.jpg?w=200&h=200&fit=clamp&fm=png").await;
    let d = decode(&out);
    assert_eq!((d.width, d.height), (200, 200));
    // The image is 200x150 at y 25..175; above and below, its first and last rows repeat.
    for (x, y, rgb) in [
        (5, 3, [255, 0, 0]),
        (195, 3, [0, 255, 0]),
        (5, 196, [0, 0, 255]),
        (195, 196, [255, 255, 255]),
        (5, 40, [255, 0, 0]),
    ] {
        let p = pixel(&out, x, y);
        assert!(close(&p[..3], &rgb, 40), "({x},{y}): {p:?}");
    }
    // fill-color plays no part; fit=fill's frame is the colour.
    let filled = body(&s, "/q.jpg?w=200&h=200&fit=fill&bg=000&fm=png").await;
    assert!(close(&pixel(&filled, 5, 3)[..3], &[0, 0, 0], 10));
    // One side: proportional, as any fit.
    let d = decode(&body(&s, "/q.jpg?w=100&fit=clamp").await);
    assert_eq!((d.width, d.height), (100, 75));
}

/// imgix's format precedence: `auto=format` negotiates and `fm` is the fallback for a browser
/// that takes neither AVIF nor WebP; `auto=compress` serves PNG for transparency and JPEG
/// otherwise, over `fm` on stills; a masked avatar is transparent.
#[tokio::test]
async fn auto_format_beats_fm_and_compress_chooses_by_transparency() {
    let s = TestServer::start(|_| {}).await;
    s.put("p.jpg", &quadrants_jpeg(200, 200));
    let format = |accept: &'static str, q: &'static str| {
        let s = &s;
        async move {
            let r = s
                .get_with(&format!("/p.jpg?w=64&{q}"), &[("accept", accept)])
                .await;
            assert_eq!(r.status(), 200, "{q}");
            decode(&r.bytes().await.unwrap()).format
        }
    };
    const CHROME: &str = "image/avif,image/webp,*/*";
    const OLD: &str = "image/png,image/*;q=0.8";
    use refract::encoding::format::Format;
    // fm is the fallback, not the answer.
    assert_eq!(format(CHROME, "auto=format&fm=png").await, Format::Avif);
    assert_eq!(format(OLD, "auto=format&fm=png").await, Format::Png);
    // auto=compress: JPEG for an opaque still whatever fm says; PNG once a mask makes it
    // transparent; with auto=format, negotiation first.
    assert_eq!(format(OLD, "auto=compress&fm=webp").await, Format::JPEG);
    assert_eq!(format(OLD, "auto=compress").await, Format::JPEG);
    assert_eq!(format(OLD, "auto=compress&mask=ellipse").await, Format::Png);
    assert_eq!(
        format(OLD, "auto=compress,format&fm=webp&mask=ellipse").await,
        Format::Png
    );
    assert_eq!(
        format(CHROME, "auto=compress,format&fm=png").await,
        Format::Avif
    );
    // Without auto, fm is the answer.
    assert_eq!(format(CHROME, "fm=png").await, Format::Png);
}
