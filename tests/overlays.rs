//! Overlays: `mark` watermarks and `blend` images — where they land, their size and opacity,
//! how blend modes combine, that the overlay's content is part of the variant's identity, and
//! that an overlay gets the same limits and address checks as any original.

use std::time::Duration;

use refract::request::params::BlendMode;
use refract::transform::stylize::blend_mode;

use crate::support::fixtures::{block_png, flat_png, gradient_jpeg, half_transparent_png};
use crate::support::images::{close, decode, pixel};
use crate::support::origin::Origin;
use crate::support::{body, corpus_file, header, metric, TestServer};

const GREY: [u8; 3] = [120, 120, 120];
const RED: [u8; 3] = [255, 0, 0];

/// A server with a 400×300 grey base and a 40×20 red mark.
async fn marked() -> TestServer {
    let s = TestServer::start(|_| {}).await;
    s.put("base.png", &flat_png(400, 300, GREY));
    s.put("brand/logo.png", &flat_png(40, 20, RED));
    s
}

/// Whether the `w`×`h` box at (`x`, `y`) of `png` is `inside` with `around` just outside it.
fn boxed_at(png: &[u8], (x, y, w, h): (u32, u32, u32, u32), inside: [u8; 3], around: [u8; 3]) {
    for (px, py) in [
        (x, y),
        (x + w - 1, y),
        (x, y + h - 1),
        (x + w - 1, y + h - 1),
    ] {
        assert!(
            close(&pixel(png, px, py)[..3], &inside, 2),
            "{px},{py} inside: {:?}",
            pixel(png, px, py)
        );
    }
    for (px, py) in [
        (x.wrapping_sub(1), y),
        (x + w, y + h - 1),
        (x, y.wrapping_sub(1)),
        (x, y + h),
    ] {
        let d = decode(png);
        if px < d.width && py < d.height {
            assert!(
                close(&pixel(png, px, py)[..3], &around, 2),
                "{px},{py} outside: {:?}",
                pixel(png, px, py)
            );
        }
    }
}

#[tokio::test]
async fn a_mark_sits_at_its_place_with_its_size_and_opacity() {
    let s = marked().await;
    let get = |q: &str| {
        let url = format!("/base.png?fm=png&mark=/brand/logo.png&{q}");
        let s = &s;
        async move { body(s, &url).await }
    };
    // imgix's default: bottom right, 5 px from the edges, at its own size.
    boxed_at(&get("").await, (355, 275, 40, 20), RED, GREY);
    // A quarter of the image's width, its height in proportion.
    boxed_at(&get("mark-w=0.25").await, (295, 245, 100, 50), RED, GREY);
    boxed_at(&get("mark-scale=25").await, (295, 245, 100, 50), RED, GREY);
    // Pixels, fitted inside the box (clip), and stretched to it (scale).
    boxed_at(
        &get("mark-w=80&mark-h=80").await,
        (315, 255, 80, 40),
        RED,
        GREY,
    );
    boxed_at(
        &get("mark-w=80&mark-h=80&mark-fit=scale").await,
        (315, 215, 80, 80),
        RED,
        GREY,
    );
    // Aligned elsewhere, padded; or placed.
    boxed_at(
        &get("mark-align=top,left&mark-pad=10").await,
        (10, 10, 40, 20),
        RED,
        GREY,
    );
    boxed_at(
        &get("mark-align=middle,center").await,
        (180, 140, 40, 20),
        RED,
        GREY,
    );
    boxed_at(
        &get("mark-x=100&mark-y=50").await,
        (100, 50, 40, 20),
        RED,
        GREY,
    );
    // dpr doubles the pixel values (pad 5 → 10) on the doubled image.
    let dense = get("w=200&dpr=2").await;
    assert_eq!(decode(&dense).width, 400);
    boxed_at(&dense, (350, 270, 40, 20), RED, GREY);
    // Half opacity: half red over the grey.
    let half = get("mark-alpha=50").await;
    assert!(
        close(&pixel(&half, 370, 285)[..3], &[188, 60, 60], 2),
        "{:?}",
        pixel(&half, 370, 285)
    );
    // Tiled with no gap, the mark covers everything.
    let tiled = get("mark-tile=grid&mark-pad=0").await;
    for (x, y) in [(0, 0), (399, 0), (0, 299), (200, 150), (399, 299)] {
        assert!(close(&pixel(&tiled, x, y)[..3], &RED, 2), "{x},{y}");
    }
    // The mark's own transparency shows the image through (its right half is clear).
    s.put("clear.png", &half_transparent_png(40, 20));
    let clear = body(&s, "/base.png?fm=png&mark=/clear.png").await;
    assert!(close(&pixel(&clear, 390, 285)[..3], &GREY, 2));
    assert!(!close(&pixel(&clear, 360, 285)[..3], &GREY, 10));
    // Base64 of the reference works as the reference (mark64, URL-safe, unpadded).
    let b64 = body(&s, "/base.png?fm=png&mark64=L2JyYW5kL2xvZ28ucG5n").await;
    assert_eq!(b64, get("").await);
    // A watermark on a photo: the output keeps the photo's size.
    s.put("photo.jpg", &gradient_jpeg(640, 480));
    let photo = decode(&body(&s, "/photo.jpg?w=320&mark=/brand/logo.png&mark-w=0.1").await);
    assert_eq!((photo.width, photo.height), (320, 240));
    s.stop().await;
}

#[tokio::test]
async fn blend_images_combine_by_their_mode_at_their_place() {
    let s = TestServer::start(|_| {}).await;
    let (base, over) = ([200u8, 100, 50], [128u8, 255, 0]);
    s.put("base.png", &flat_png(100, 100, base));
    s.put("over.png", &flat_png(100, 100, over));
    s.put("small.png", &flat_png(50, 20, over));
    let unit = |c: [u8; 3]| c.map(|v| f64::from(v) / 255.0);
    for (name, mode) in [
        ("normal", BlendMode::Normal),
        ("multiply", BlendMode::Multiply),
        ("screen", BlendMode::Screen),
        ("overlay", BlendMode::Overlay),
        ("darken", BlendMode::Darken),
        ("lighten", BlendMode::Lighten),
        ("dodge", BlendMode::Dodge),
        ("burn", BlendMode::Burn),
        ("hardlight", BlendMode::HardLight),
        ("softlight", BlendMode::SoftLight),
        ("difference", BlendMode::Difference),
        ("exclusion", BlendMode::Exclusion),
        ("hue", BlendMode::Hue),
        ("saturation", BlendMode::Saturation),
        ("color", BlendMode::Color),
        ("luminosity", BlendMode::Luminosity),
    ] {
        let out = body(
            &s,
            &format!("/base.png?fm=png&blend=/over.png&blend-mode={name}"),
        )
        .await;
        let expected = blend_mode(mode, unit(base), unit(over)).map(|v| (v * 255.0).round() as u8);
        assert!(
            close(&pixel(&out, 50, 50)[..3], &expected, 2),
            "{name}: {:?} vs {expected:?}",
            pixel(&out, 50, 50)
        );
    }
    // blend-size=inherit: a small blend image covers the whole image.
    let inherit = body(
        &s,
        "/base.png?fm=png&blend=/small.png&blend-mode=normal&blend-size=inherit",
    )
    .await;
    for (x, y) in [(0, 0), (99, 99), (50, 50)] {
        assert!(close(&pixel(&inherit, x, y)[..3], &over, 2), "{x},{y}");
    }
    // Placed: 20×20 at the top left; the rest untouched. Centred by default.
    let placed = body(
        &s,
        "/base.png?fm=png&blend=/over.png&blend-mode=normal&blend-w=20&blend-h=20&blend-align=top,left",
    )
    .await;
    boxed_at(&placed, (0, 0, 20, 20), over, base);
    let centred = body(&s, "/base.png?fm=png&blend=/small.png&blend-mode=normal").await;
    boxed_at(&centred, (25, 40, 50, 20), over, base);
    let at = body(
        &s,
        "/base.png?fm=png&blend=/small.png&blend-mode=normal&blend-x=10&blend-y=70",
    )
    .await;
    boxed_at(&at, (10, 70, 50, 20), over, base);
    // blend-alpha mixes the result in.
    let half = body(
        &s,
        "/base.png?fm=png&blend=/over.png&blend-mode=normal&blend-alpha=50",
    )
    .await;
    assert!(
        close(&pixel(&half, 50, 50)[..3], &[164, 178, 25], 2),
        "{:?}",
        pixel(&half, 50, 50)
    );
    // A colour still blends as a colour, also as blend-color.
    let colour = body(&s, "/base.png?fm=png&blend=ff0000&blend-mode=normal").await;
    assert!(close(&pixel(&colour, 5, 5)[..3], &RED, 2));
    assert_eq!(
        colour,
        body(&s, "/base.png?fm=png&blend-color=ff0000&blend-mode=normal").await
    );
    s.stop().await;
}

#[tokio::test]
async fn an_overlay_is_an_original_with_the_same_limits() {
    let s = marked().await;
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));
    // Missing: a 400 naming the parameter.
    let r = s.get("/base.png?mark=/nope.png").await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    assert!(r.text().await.unwrap().contains("mark"));
    // An absolute URL no source serves (with or without parameters of its own), a scheme that
    // is never fetched, a fragment.
    for q in [
        "mark=https://example.com/logo.png",
        "mark=https://example.com/logo.png%3Fw%3D10",
        "mark=file:///etc/passwd",
        "mark=/brand/logo.png%23x",
        "blend=ftp://example.com/x.png",
    ] {
        let r = s.get(&format!("/base.png?{q}")).await;
        assert_eq!(code(&r), (400, "bad_param".into()), "{q}");
    }
    // A decompression bomb as the mark: refused before it is decoded, as an original would be.
    s.put(
        "bomb.png",
        &corpus_file("hostile/bombs/thumbor-16383x16383.png"),
    );
    let direct = s.get("/bomb.png?w=10").await;
    let r = s.get("/base.png?mark=/bomb.png").await;
    assert_eq!(code(&r), code(&direct));
    assert!((400..500).contains(&r.status().as_u16()), "{:?}", code(&r));
    // Not an image at all: the answer a request for it gets.
    s.put("text.png", b"hello, not an image");
    let r = s.get("/base.png?mark=/text.png").await;
    assert_eq!(code(&r), code(&s.get("/text.png").await));
    assert!((400..500).contains(&r.status().as_u16()), "{:?}", code(&r));
    // Nothing else is affected.
    assert_eq!(s.get("/base.png?w=10").await.status(), 200);
    s.stop().await;
}

/// A mark URL through the proxy source: its allow-list and address checks hold; a private
/// address is refused.
#[tokio::test]
async fn a_mark_url_goes_through_the_proxy_and_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logo.png"), flat_png(40, 20, RED)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let port = origin.port();
    let configure = |allow_private: bool| {
        move |c: &mut refract::Config| {
            c.sources.push(("/remote".into(), "proxy://".into()));
            c.net.allow_private = allow_private;
            c.net.allow_hosts.push(
                refract::source::net::AllowedHost::parse(&format!("logos.test:{port}")).unwrap(),
            );
            c.net
                .pins
                .insert("logos.test".into(), "127.0.0.1".parse().unwrap());
        }
    };
    let s = TestServer::start(configure(true)).await;
    s.put("base.png", &flat_png(400, 300, GREY));
    let url = format!("http://logos.test:{port}/logo.png");
    let out = body(&s, &format!("/base.png?fm=png&mark={url}")).await;
    boxed_at(&out, (355, 275, 40, 20), RED, GREY);
    // Not on the allow-list.
    let r = s
        .get(&format!("/base.png?mark=http://other.test:{port}/logo.png"))
        .await;
    assert_eq!(r.status(), 403);
    // A query on a URL only the proxy fetches is the remote's, not parameters for us: refused.
    let r = s.get(&format!("/base.png?mark={url}%3Fw%3D80")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("URL space"));
    s.stop().await;
    // The same name resolving to a private address, without --allow-private-sources.
    let strict = TestServer::start(configure(false)).await;
    strict.put("base.png", &flat_png(400, 300, GREY));
    let r = strict.get(&format!("/base.png?mark={url}")).await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (403, "source_not_allowed".into())
    );
    strict.stop().await;
}

/// A changed logo is a new variant: the variant store names variants by the overlay's content
/// too, so a replica never serves another's render with the old logo.
#[tokio::test]
async fn a_changed_mark_is_a_new_variant() {
    let root = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let replica = || {
        let url = format!("file://{}", store.path().display());
        TestServer::start_at(root.path(), move |c| {
            c.variant_store = Some(url);
            c.originals_revalidate_after = Duration::ZERO;
        })
    };
    let a = replica().await;
    a.put("base.png", &flat_png(400, 300, GREY));
    a.put("logo.png", &flat_png(40, 20, RED));
    let url = "/base.png?fm=png&mark=/logo.png";
    let red = body(&a, url).await;
    a.app
        .renderer()
        .origin()
        .store()
        .unwrap()
        .flush(Duration::from_secs(30))
        .await;
    // Another replica serves the stored render while the logo is the same.
    let b = replica().await;
    let r = b.get(url).await;
    assert_eq!(header(&r, "x-refract-cache"), "store");
    assert_eq!(r.bytes().await.unwrap(), red);
    // The logo changes: a third replica renders anew, with the new logo.
    a.put("logo.png", &flat_png(40, 20, [0, 0, 255]));
    let c = replica().await;
    let r = c.get(url).await;
    assert_ne!(header(&r, "x-refract-cache"), "store");
    let blue = r.bytes().await.unwrap();
    assert!(close(&pixel(&blue, 370, 285)[..3], &[0, 0, 255], 2));
    for s in [a, b, c] {
        s.stop().await;
    }
}

/// An operator fixes which overlays exist: a preset carries the mark, and `--presets-only`
/// refuses a URL that names its own.
#[tokio::test]
async fn presets_carry_watermarks() {
    let presets = |only: bool| {
        move |c: &mut refract::Config| {
            c.presets = refract::request::Presets::new(
                &[(
                    "wm".into(),
                    "mark=/brand/logo.png&mark-align=bottom,right&mark-w=0.2&fm=png".into(),
                )],
                only,
            )
            .unwrap();
        }
    };
    let s = TestServer::start(presets(true)).await;
    s.put("base.png", &flat_png(400, 300, GREY));
    s.put("brand/logo.png", &block_png(40, 20, RED, (0, 0, 0, 0, RED)));
    boxed_at(
        &body(&s, "/base.png?preset=wm").await,
        (315, 255, 80, 40),
        RED,
        GREY,
    );
    let r = s.get("/base.png?mark=/base.png").await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn a_mark_leaves_the_pixels_outside_it_as_the_unmarked_render_has_them() {
    // Photos scaled to lossless outputs, without and then with a 40×20 mark in the top left
    // corner, rendered along the same path: all from the original (masters off), or all from
    // the original's master (masters on, the original warmed up first by another size). A
    // difference reported outside the mark came from comparing a cold original's direct render
    // with a later render from its master (test `masters::renders_from_masters_…` bounds that
    // distance), not from the mark: the mark is drawn on the scaled image and changes only the
    // pixels it covers.
    for masters in [false, true] {
        let s = TestServer::start(|c| {
            if !masters {
                c.master_cache_size = 0;
            }
        })
        .await;
        s.put("path.jpg", &corpus_file("photos/kde-Path-2560x1600.jpg"));
        s.put(
            "cups.jpg",
            &corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"),
        );
        s.put(
            "wallpaper.png",
            &corpus_file("alpha/mate-Arc-Colors-Transparent-Wallpaper.png"),
        );
        s.put("brand/logo.png", &flat_png(40, 20, RED));
        for (original, query) in [
            ("path.jpg", "w=600&fm=png"),
            ("cups.jpg", "w=300&h=300&fit=crop&fm=png"),
            ("wallpaper.png", "w=600&fm=png"),
        ] {
            body(&s, &format!("/{original}?w=100&fm=png")).await;
            let plain = body(&s, &format!("/{original}?{query}")).await;
            let marked = body(
                &s,
                &format!("/{original}?{query}&mark=/brand/logo.png&mark-align=top,left&mark-pad=0"),
            )
            .await;
            let (a, w, h, bands) = crate::support::images::pixels(&plain);
            let (b, w2, h2, bands2) = crate::support::images::pixels(&marked);
            assert_eq!((w, h), (w2, h2), "{original}?{query}");
            // The marked render may gain colour bands (the mark is colour) but never change the
            // pixels the mark does not cover.
            let common = bands.min(bands2).min(3) as usize;
            let (mut worst, mut differ) = (0u8, 0usize);
            for y in 0..h as usize {
                for x in 0..w as usize {
                    if x < 40 && y < 20 {
                        continue;
                    }
                    for c in 0..common {
                        let pa = a[(y * w as usize + x) * bands as usize + c];
                        let pb = b[(y * w as usize + x) * bands2 as usize + c];
                        worst = worst.max(pa.abs_diff(pb));
                        differ += usize::from(pa != pb);
                    }
                }
            }
            assert_eq!(
                (worst, differ),
                (0, 0),
                "{original}?{query}, masters {masters}: unmarked pixels changed (largest \
                 difference, count)"
            );
            assert!(
                close(&pixel(&marked, 5, 5)[..3], &RED, 2),
                "the mark is there"
            );
        }
        let text = s.app.metrics_text().await;
        let count = |result| metric(&text, "refract_masters_total", &[("result", result)]);
        let expected = if masters { 6.0 } else { 0.0 };
        assert_eq!(count("hit"), expected, "the path compared");
    }
}

#[tokio::test]
async fn an_overlay_url_with_parameters_is_rendered_through_the_origin_first() {
    let s = marked().await;
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));
    // The mark's own URL sizes it (w=80: the 40x20 logo at twice its size) and greys it; placed
    // at the top left, it covers 80x40 of the grey base.
    let url = "/base.png?mark=/brand/logo.png%3Fw%3D80%26sat%3D-100&mark-align=top,left\
               &mark-pad=0&fm=png";
    let out = body(&s, url).await;
    let grey_red = pixel(&out, 10, 10);
    assert!(
        grey_red[0].abs_diff(grey_red[1]) < 8 && grey_red[0].abs_diff(grey_red[2]) < 8,
        "desaturated: {grey_red:?}"
    );
    assert!(close(&pixel(&out, 78, 38), &grey_red, 4));
    assert!(close(&pixel(&out, 82, 10), &GREY, 4), "the mark is 80 wide");
    assert!(close(&pixel(&out, 10, 42), &GREY, 4), "the mark is 40 high");
    // Rendered once, through the same cache as a request for it: a second base variant with
    // the same mark renders only the base; and a request for the mark's URL is a hit.
    let before = s.app.renderer().transforms();
    body(&s, &format!("{url}&w=300")).await;
    assert_eq!(s.app.renderer().transforms(), before + 1);
    let r = s.get("/brand/logo.png?w=80&sat=-100&fm=png").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.app.renderer().transforms(),
        before + 1,
        "the mark was cached"
    );
    // Its rendering is the variant's identity: other parameters on the mark, another image.
    let red = body(
        &s,
        "/base.png?mark=/brand/logo.png%3Fw%3D80&mark-align=top,left&mark-pad=0&fm=png",
    )
    .await;
    assert!(close(&pixel(&red, 10, 10), &RED, 4));
    // blend= takes an image with parameters too (flipped: still the same flat colour here, so
    // check only that it renders and covers the base).
    let blended = body(
        &s,
        "/base.png?blend=/brand/logo.png%3Fw%3D400%26h%3D300%26fit%3Dscale&bm=normal&fm=png",
    )
    .await;
    assert!(close(&pixel(&blended, 200, 150), &RED, 4));
    // One level deep: an overlay whose URL draws an overlay is a 400 naming the parameter.
    let r = s
        .get("/base.png?mark=/brand/logo.png%3Fmark%3D/brand/logo.png")
        .await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    assert!(r.text().await.unwrap().contains("one level"));
    // The overlay's own parameters are checked as a request's are: a bad one names both.
    let r = s.get("/base.png?mark=/brand/logo.png%3Fw%3D99999").await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    let text = r.text().await.unwrap();
    assert!(text.contains("mark") && text.contains('w'), "{text}");
    // Missing: a 400 naming the parameter.
    let r = s.get("/base.png?mark=/nope.png%3Fw%3D10").await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    s.stop().await;
}

#[tokio::test]
async fn an_overlay_url_with_parameters_follows_the_signing_rule() {
    use refract::request::signature::sign_url;
    const KEY: &str = "overlay-signing-key-0123456789";
    let s = TestServer::start(|c| c.sign_keys.0 = vec![KEY.into()]).await;
    s.put("base.png", &flat_png(400, 300, GREY));
    s.put("brand/logo.png", &flat_png(40, 20, RED));
    // The page's URL is signed, the mark's own URL is not: refused.
    let unsigned_mark = sign_url(
        KEY.as_bytes(),
        "/base.png?mark=/brand/logo.png%3Fw%3D80",
        None,
    );
    let r = s.get(&unsigned_mark).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("mark"));
    // Both signed, as imgix asks of a mark on a secured source: rendered.
    let mark = sign_url(KEY.as_bytes(), "/brand/logo.png?w=80", None);
    let encoded: String = mark
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('&', "%26")
        .replace('=', "%3D");
    let page = sign_url(
        KEY.as_bytes(),
        &format!("/base.png?mark={encoded}&mark-align=top,left&mark-pad=0&fm=png"),
        None,
    );
    let out = body(&s, &page).await;
    assert!(close(&pixel(&out, 10, 10), &RED, 4));
    s.stop().await;
}

/// An absolute mark URL under an HTTP origin's address, with parameters of its own: rendered
/// through that mount (the origin's URL space), as a request for `/brand/logo.png?…` would be.
#[tokio::test]
async fn a_mark_url_under_an_http_origin_with_parameters_renders_through_its_mount() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logo.png"), flat_png(40, 20, RED)).unwrap();
    let origin = Origin::start(dir.path().to_path_buf()).await;
    let base = format!("{}/", origin.url());
    let s = TestServer::start(|c| {
        c.sources.push(("/brand".into(), base.clone()));
        c.net.allow_private = true;
    })
    .await;
    s.put("base.png", &flat_png(400, 300, GREY));
    let mark = format!("{base}logo.png%3Fw%3D80%26sat%3D-100");
    let out = body(
        &s,
        &format!("/base.png?fm=png&mark={mark}&mark-align=top,left&mark-pad=0"),
    )
    .await;
    let p = pixel(&out, 10, 10);
    assert!(
        p[0].abs_diff(p[1]) < 8 && p[0] < 200,
        "grey, not red: {p:?}"
    );
    assert!(close(&pixel(&out, 82, 10), &GREY, 4), "80 wide");
    s.stop().await;
}
