//! Image operations, each checked on pixels: filters (greyscale, saturation, brightness,
//! contrast, gamma, tint, blur, sharpen), orientation and mirroring (against libvips's own rot
//! and flip), lossless output, downloads, presets, and a 400 with a reason for every bad value.

use refract::transform::vips::{self, Image, SaveOptions};

use crate::support::fixtures::{block_png, gradient_jpeg, quadrants_png, QUADRANT_COLOURS};
use crate::support::images::{decode, pixel, pixels, turns_on_display};
use crate::support::{body, corpus_file, header, TestServer};

/// The quadrant image (red, green / blue, white) as a lossless PNG.
/// Mean of each band over the whole image.
fn means(bytes: &[u8]) -> Vec<f64> {
    let (px, w, h, bands) = pixels(bytes);
    let n = f64::from(w * h);
    (0..bands as usize)
        .map(|b| {
            px.iter()
                .skip(b)
                .step_by(bands as usize)
                .map(|v| f64::from(*v))
                .sum::<f64>()
                / n
        })
        .collect()
}

/// Standard deviation of the first band.
fn spread(bytes: &[u8]) -> f64 {
    let (px, _, _, bands) = pixels(bytes);
    let values: Vec<f64> = px
        .iter()
        .step_by(bands as usize)
        .map(|v| f64::from(*v))
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

/// Sum of absolute horizontal differences: how much edge there is.
fn edge_energy(bytes: &[u8]) -> f64 {
    let (px, w, h, bands) = pixels(bytes);
    let (w, bands) = (w as usize, bands as usize);
    let mut total = 0.0;
    for y in 0..h as usize {
        for x in 1..w {
            let (a, b) = (px[(y * w + x) * bands], px[(y * w + x - 1) * bands]);
            total += f64::from(a.abs_diff(b));
        }
    }
    total
}

#[tokio::test]
async fn sat_minus_100_is_exact_greyscale_and_sat_plus_raises_chroma() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "p.jpg",
        &corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"),
    );
    let grey = body(&s, "/p.jpg?w=200&sat=-100&fm=png").await;
    let (px, ..) = pixels(&grey);
    assert!(
        px.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]),
        "R=G=B everywhere"
    );
    let chroma = |bytes: &[u8]| {
        let (px, ..) = pixels(bytes);
        px.chunks(3)
            .map(|p| f64::from(*p.iter().max().unwrap() - *p.iter().min().unwrap()))
            .sum::<f64>()
    };
    let plain = body(&s, "/p.jpg?w=200&fm=png").await;
    let vivid = body(&s, "/p.jpg?w=200&sat=60&fm=png").await;
    let dull = body(&s, "/p.jpg?w=200&sat=-60&fm=png").await;
    assert!(chroma(&vivid) > chroma(&plain) * 1.2);
    assert!(chroma(&dull) < chroma(&plain) * 0.6);
}

#[tokio::test]
async fn brightness_contrast_and_gamma_move_the_levels() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(300, 200));
    let mean = |b: &[u8]| means(b).iter().sum::<f64>() / 3.0;
    let plain = body(&s, "/g.jpg?fm=png").await;
    let brighter = body(&s, "/g.jpg?bri=40&fm=png").await;
    let darker = body(&s, "/g.jpg?bri=-40&fm=png").await;
    // bri=40 adds 102 levels (clipped at 255).
    assert!(
        mean(&brighter) > mean(&plain) + 60.0,
        "{} vs {}",
        mean(&brighter),
        mean(&plain)
    );
    assert!(mean(&darker) < mean(&plain) - 60.0);
    let contrasty = body(&s, "/g.jpg?con=50&fm=png").await;
    let flat = body(&s, "/g.jpg?con=-50&fm=png").await;
    // ×1.5 about mid-grey clips a sixth at each end: 1.29× the spread of a uniform ramp.
    assert!(spread(&contrasty) > spread(&plain) * 1.2);
    assert!(spread(&flat) < spread(&plain) * 0.6);
    // Gamma lifts the midtones but keeps black and white.
    let lifted = body(&s, "/g.jpg?gam=60&fm=png").await;
    let mid = |b: &[u8]| pixel(b, 150, 100)[0];
    assert!(
        mid(&lifted) > mid(&plain) + 20,
        "{} vs {}",
        mid(&lifted),
        mid(&plain)
    );
    assert!(pixel(&lifted, 0, 0)[0] < 10);
}

#[tokio::test]
async fn mono_tints_a_greyscale_image() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.png", &quadrants_png(200, 200));
    let red = body(&s, "/q.png?mono=ff0000&fm=png").await;
    let (px, ..) = pixels(&red);
    assert!(
        px.chunks(3).all(|p| p[1] == 0 && p[2] == 0),
        "only the red channel is left"
    );
    // The tint's strength follows luminance: white, then green, red, blue.
    let level = |x, y| pixel(&red, x, y)[0];
    assert!(level(150, 150) > 250);
    assert!(level(150, 150) > level(150, 50));
    assert!(level(150, 50) > level(50, 50));
    assert!(level(50, 50) > level(50, 150));
    let r = s.get("/q.png?monochrome=00ff00&fm=png").await;
    assert_eq!(r.status(), 200, "monochrome is imgix's long name");
}

#[tokio::test]
async fn blur_softens_and_sharp_hardens_edges() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "p.jpg",
        &corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"),
    );
    let plain = body(&s, "/p.jpg?w=400&fm=png").await;
    let blurred = body(&s, "/p.jpg?w=400&blur=40&fm=png").await;
    let sharpened = body(&s, "/p.jpg?w=400&sharp=60&fm=png").await;
    assert_eq!(decode(&blurred).width, 400);
    assert!(edge_energy(&blurred) < edge_energy(&plain) * 0.6);
    assert!(edge_energy(&sharpened) > edge_energy(&plain) * 1.1);
    // The same blur, done by libvips directly on the same resize: the same pixels (±1).
    let reference = Image::thumbnail(
        &corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"),
        vips::ThumbnailOptions {
            width: 400,
            height: 250,
            crop: None,
            no_rotate: false,
            pages: vips::Pages::First,
            to_srgb: false,
        },
    )
    .unwrap()
    .gaussblur(4.0)
    .unwrap()
    .save(SaveOptions::Png { compression: 6 })
    .unwrap();
    let (a, ..) = pixels(&blurred);
    let (b, ..) = pixels(&reference);
    let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 2, "differs from libvips's gaussblur by {worst}");
}

#[tokio::test]
async fn flip_mirrors_exactly_like_libvips() {
    let s = TestServer::start(|_| {}).await;
    let png = quadrants_png(120, 80);
    s.put("q.png", &png);
    let [red, green, blue, white] = QUADRANT_COLOURS;
    for (flip, top_left) in [("h", green), ("v", blue), ("hv", white)] {
        let out = body(&s, &format!("/q.png?flip={flip}&fm=png")).await;
        assert_eq!(pixel(&out, 5, 5), top_left.to_vec(), "flip={flip}");
    }
    let ours = body(&s, "/q.png?flip=h&fm=png").await;
    let theirs = Image::header(&png)
        .unwrap()
        .flip(true)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap();
    assert_eq!(pixels(&ours).0, pixels(&theirs).0, "identical to vips_flip");
    assert_eq!(pixel(&body(&s, "/q.png?fm=png").await, 5, 5), red.to_vec());
}

#[tokio::test]
async fn orient_turns_the_frame_and_overrides_exif() {
    let s = TestServer::start(|_| {}).await;
    let png = quadrants_png(200, 100);
    s.put("q.png", &png);
    let [red, green, blue, white] = QUADRANT_COLOURS;
    for (orient, size, top_left) in [
        ("90", (100, 200), blue),
        ("6", (100, 200), blue),
        ("180", (200, 100), white),
        ("270", (100, 200), green),
        ("2", (200, 100), green),
        ("1", (200, 100), red),
    ] {
        let out = body(&s, &format!("/q.png?orient={orient}&fm=png")).await;
        let img = decode(&out);
        assert_eq!((img.width, img.height), size, "orient={orient}");
        assert_eq!(pixel(&out, 3, 3), top_left.to_vec(), "orient={orient}");
    }
    // Against libvips's rot: orient=90 is a quarter turn clockwise.
    let ours = body(&s, "/q.png?orient=90&fm=png").await;
    let theirs = Image::header(&png)
        .unwrap()
        .rot(1)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap();
    assert_eq!(pixels(&ours).0, pixels(&theirs).0);
    // With w: the box applies to the turned image.
    let img = decode(&body(&s, "/q.png?orient=90&w=50&fm=png").await);
    assert_eq!((img.width, img.height), (50, 100));

    // An original with EXIF orientation 6: by default it is turned upright; orient=1 shows it
    // as stored.
    let exif6 = corpus_file("exif/pillow-hopper_orientation_6.webp");
    let stored = Image::header(&exif6).unwrap();
    let (sw, sh) = (stored.width(), stored.height());
    s.put("e.webp", &exif6);
    let upright = decode(&body(&s, "/e.webp?fm=png").await);
    assert_eq!((upright.width, upright.height), (sh, sw));
    let as_stored = decode(&body(&s, "/e.webp?orient=1&fm=png").await);
    assert_eq!((as_stored.width, as_stored.height), (sw, sh));
}

#[tokio::test]
async fn lossless_webp_and_avif_keep_every_pixel() {
    let s = TestServer::start(|_| {}).await;
    let png = quadrants_png(64, 64);
    s.put("q.png", &png);
    for fm in ["webp", "avif"] {
        let lossless = body(&s, &format!("/q.png?fm={fm}&lossless=1")).await;
        assert_eq!(pixels(&lossless).0, pixels(&png).0, "{fm} lossless=1");
    }
    let lossy = body(&s, "/q.png?fm=webp").await;
    assert_ne!(
        pixels(&lossy).0,
        pixels(&png).0,
        "lossy WebP differs somewhere"
    );
}

#[tokio::test]
async fn dl_answers_as_a_download() {
    let s = TestServer::start(|_| {}).await;
    s.put("g.jpg", &gradient_jpeg(100, 50));
    let r = s.get("/g.jpg?w=50&dl=holiday").await;
    assert_eq!(
        header(&r, "content-disposition"),
        "attachment; filename=\"holiday.jpg\""
    );
    let r = s.get("/g.jpg?w=50&fm=webp&dl=my%22photo%0d.webp").await;
    assert_eq!(
        header(&r, "content-disposition"),
        "attachment; filename=\"my_photo_.webp\""
    );
    let r = s.get("/g.jpg?w=50&dl=").await;
    assert_eq!(header(&r, "content-disposition"), "attachment");
    let r = s.get("/g.jpg?w=50").await;
    assert_eq!(header(&r, "content-disposition"), "");
}

#[tokio::test]
async fn presets_expand_and_presets_only_refuses_the_rest() {
    let presets = |only: bool| {
        move |c: &mut refract::Config| {
            c.presets = refract::request::Presets::new(
                &[("thumb".into(), "w=120&h=120&fit=crop&fm=webp".into())],
                only,
            )
            .unwrap();
        }
    };
    let s = TestServer::start(presets(false)).await;
    s.put("g.jpg", &gradient_jpeg(400, 300));
    let img = decode(&body(&s, "/g.jpg?preset=thumb").await);
    assert_eq!(
        (img.width, img.height, img.format),
        (120, 120, refract::encoding::format::Format::Webp)
    );
    let img = decode(&body(&s, "/g.jpg?preset=thumb&w=60&h=60").await);
    assert_eq!(
        (img.width, img.height),
        (60, 60),
        "URL parameters override the preset"
    );
    assert_eq!(decode(&body(&s, "/g.jpg?w=90").await).width, 90);

    let strict = TestServer::start(presets(true)).await;
    strict.put("g.jpg", &gradient_jpeg(400, 300));
    assert_eq!(
        decode(&body(&strict, "/g.jpg?preset=thumb").await).width,
        120
    );
    for url in ["/g.jpg?w=90", "/g.jpg", "/g.jpg?preset=thumb&w=500"] {
        let r = strict.get(url).await;
        assert_eq!(r.status(), 400, "{url}");
    }
}

#[tokio::test]
async fn every_bad_value_is_a_400_with_its_reason_under_strict_params() {
    let s = TestServer::start(|c| {
        c.strict_params = true;
        c.presets =
            refract::request::Presets::new(&[("thumb".into(), "w=10".into())], false).unwrap();
    })
    .await;
    s.put("g.jpg", &gradient_jpeg(100, 50));
    for (query, reason) in [
        ("blur=abc", "blur: expected a whole number from 0 to 2000"),
        ("blur=2001", "blur:"),
        ("sharp=101", "sharp:"),
        ("sat=-101", "sat: expected a whole number from -100 to 100"),
        ("bri=1.5", "bri:"),
        ("con=--5", "con:"),
        ("gam=x", "gam:"),
        ("mono=zzz", "mono: 'zzz' is not a colour"),
        ("exp=101", "exp: expected a whole number from -100 to 100"),
        ("high=5", "high: expected a whole number from -100 to 0"),
        ("shad=-5", "shad:"),
        ("hue=400", "hue:"),
        ("vib=x", "vib:"),
        (
            "usm=50&usmrad=600",
            "usmrad: expected a number from 0 to 500",
        ),
        ("invert=2", "invert: '2' is not 0, 1, true or false"),
        ("sepia=101", "sepia:"),
        ("px=101", "px:"),
        ("duotone=fff", "duotone: expected two colours"),
        ("duotone=fff,nope", "duotone: 'nope' is not a colour"),
        ("duotone=fff,000&duotone-alpha=101", "duotone-alpha:"),
        (
            "chromasub=411",
            "chromasub: '411' is not one of 420, 422, 444",
        ),
        ("dpi=0", "dpi:"),
        ("ar=4:0&fit=crop", "ar: expected W:H"),
        ("w=0.0", "w:"),
        ("max-w=0&fit=crop", "max-w:"),
        (
            "fm=mp4",
            "fm: 'mp4' is an imgix format Refract does not offer",
        ),
        ("bg=zzz", "fill-color:"),
        ("flip=x", "flip: 'x' is not one of h, v, hv"),
        ("orient=45", "orient: '45' is not one of"),
        ("lossless=2", "lossless:"),
        ("preset=nope", "preset: unknown preset 'nope'"),
        ("rot=45.5.5", "rot: expected a number from 0 to 359.99"),
        ("rect=1,2,3", "rect: expected x,y,w,h"),
        ("rect=0,0,0,10", "rect:"),
        ("trim=edges", "trim: 'edges' is not auto or color"),
        (
            "transparency=checker",
            "transparency: 'checker' is not grid",
        ),
        (
            "transparency=grid&grid-colors=nope",
            "grid-colors: 'nope' is not a colour",
        ),
        ("border=5", "border: expected width,colour"),
        (
            "border=5,f00&border-radius=1,2",
            "border-radius: expected one radius or four",
        ),
        (
            "mask=https://x/m.png",
            "mask: 'https://x/m.png' is not ellipse or corners",
        ),
        ("fill=gen&fit=fill", "fill: 'gen' is not solid or blur"),
        (
            "fp-z=0.5&crop=focalpoint",
            "fp-z: expected a number from 1 to 100",
        ),
        ("pad=-1", "pad:"),
        ("fm=png9", "fm:"),
        ("preset=thumb&preset=thumb", "preset: given more than once"),
    ] {
        let r = s.get(&format!("/g.jpg?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(header(&r, "x-refract-error"), "bad_param", "{query}");
        let text = r.text().await.unwrap();
        assert!(text.contains(reason), "{query}: {text}");
    }
}

#[tokio::test]
async fn rect_crops_the_original_before_scaling() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.png", &quadrants_png(200, 200));
    let [_, green, _, _] = QUADRANT_COLOURS;
    let out = body(&s, "/q.png?rect=100,0,100,100&fm=png").await;
    let img = decode(&out);
    assert_eq!((img.width, img.height), (100, 100));
    let (px, ..) = pixels(&out);
    assert!(px.chunks(3).all(|p| p == green), "only the green quadrant");
    let img = decode(&body(&s, "/q.png?rect=100,0,100,100&w=40&fm=png").await);
    assert_eq!((img.width, img.height), (40, 40));
    // Clamped at the edge; outside is a 400.
    let img = decode(&body(&s, "/q.png?rect=150,150,500,500&fm=png").await);
    assert_eq!((img.width, img.height), (50, 50));
    let r = s.get("/q.png?rect=300,0,10,10").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn trim_recovers_the_inner_image() {
    let s = TestServer::start(|_| {}).await;
    let red = [255, 0, 0];
    s.put(
        "framed.png",
        &block_png(120, 90, [255, 255, 255], (30, 20, 40, 30, red)),
    );
    let out = body(&s, "/framed.png?trim=auto&fm=png").await;
    let img = decode(&out);
    assert_eq!((img.width, img.height), (40, 30));
    let (px, ..) = pixels(&out);
    assert!(px.chunks(3).all(|p| p == red));
    let img = decode(&body(&s, "/framed.png?trim=auto&w=20&fm=png").await);
    assert_eq!((img.width, img.height), (20, 15));
}

#[tokio::test]
async fn rot_turns_within_the_frame_and_fills_the_corners() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.png", &quadrants_png(200, 100));
    let out = body(&s, "/q.png?rot=90&bg=000&fm=png").await;
    let img = decode(&out);
    assert_eq!((img.width, img.height), (200, 100), "same frame");
    assert_eq!(pixel(&out, 5, 50), vec![0, 0, 0], "corner filled with bg");
    assert_eq!(pixel(&out, 195, 50), vec![0, 0, 0]);
    // The centre column is image: a quarter turn clockwise puts blue (bottom-left) top-left.
    let [_, _, blue, _] = QUADRANT_COLOURS;
    let p = pixel(&out, 60, 10);
    assert!(p.iter().zip(blue).all(|(a, b)| a.abs_diff(b) < 40), "{p:?}");
    // A small straightening angle keeps most of the image.
    let img = decode(&body(&s, "/q.png?rot=3.5&fm=jpg").await);
    assert_eq!((img.width, img.height), (200, 100));
}

#[tokio::test]
async fn pad_adds_a_border_in_bg_inside_or_around_the_box() {
    let s = TestServer::start(|_| {}).await;
    s.put("q.png", &quadrants_png(200, 100));
    let [red, ..] = QUADRANT_COLOURS;
    // No box: the border adds to the size.
    let out = body(&s, "/q.png?pad=10&bg=000&fm=png").await;
    let img = decode(&out);
    assert_eq!((img.width, img.height), (220, 120));
    assert_eq!(pixel(&out, 3, 3), vec![0, 0, 0]);
    assert_eq!(pixel(&out, 9, 60), vec![0, 0, 0]);
    assert_eq!(pixel(&out, 12, 12), red.to_vec());
    // imgix's colour keywords (CSS's named colours): bg=grey is 808080.
    for (keyword, rgb) in [
        ("grey", [128, 128, 128]),
        ("RebeccaPurple", [0x66, 0x33, 0x99]),
    ] {
        let out = body(&s, &format!("/q.png?pad=10&bg={keyword}&fm=png")).await;
        assert_eq!(pixel(&out, 3, 3), rgb.to_vec(), "bg={keyword}");
    }
    // bg also fills transparency when the output has none.
    s.put(
        "half.png",
        &crate::support::fixtures::half_transparent_png(100, 50),
    );
    let out = body(&s, "/half.png?bg=ff0000&fm=jpg").await;
    let p = pixel(&out, 90, 25);
    assert!(
        p[0] > 240 && p[1] < 20 && p[2] < 20,
        "transparent half flattened onto bg: {p:?}"
    );
    // A box: the border is inside it.
    let out = body(&s, "/q.png?w=100&pad=10&bg=0000ff&fm=png").await;
    let img = decode(&out);
    assert_eq!((img.width, img.height), (100, 60));
    assert_eq!(pixel(&out, 5, 30), vec![0, 0, 255]);
    assert_eq!(pixel(&out, 95, 30), vec![0, 0, 255]);
}

#[tokio::test]
async fn auto_enhance_stretches_the_levels() {
    let s = TestServer::start(|_| {}).await;
    // A washed-out ramp: levels 100..150 only.
    vips::init().unwrap();
    let (w, h) = (200u32, 50u32);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let v = 100 + ((i % w) * 50 / w) as u8;
            [v, v, v]
        })
        .collect();
    let png = Image::from_pixels(&px, w, h, 3)
        .unwrap()
        .save(SaveOptions::Png { compression: 6 })
        .unwrap();
    s.put("flat.png", &png);
    let out = body(&s, "/flat.png?auto=enhance&fm=png").await;
    let (px, ..) = pixels(&out);
    let (lo, hi) = (px.iter().min().unwrap(), px.iter().max().unwrap());
    assert!(*lo < 10 && *hi > 245, "levels {lo}..{hi}");
    // A full-range image is left alone.
    s.put("q.png", &quadrants_png(64, 64));
    let same = body(&s, "/q.png?auto=enhance&fm=png").await;
    assert_eq!(pixels(&same).0, pixels(&body(&s, "/q.png?fm=png").await).0);
}

#[tokio::test]
async fn png8_and_q_on_png_quantise_to_a_palette() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "p.jpg",
        &corpus_file("photos/kde-ColorfulCups-2560x1600.jpg"),
    );
    let full = body(&s, "/p.jpg?w=300&fm=png").await;
    let png8 = body(&s, "/p.jpg?w=300&fm=png8").await;
    let quantised = body(&s, "/p.jpg?w=300&fm=png&q=60").await;
    let colours = |b: &[u8]| {
        let (px, _, _, bands) = pixels(b);
        let mut c: Vec<&[u8]> = px.chunks(bands as usize).collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    assert!(colours(&full) > 1000);
    assert!(colours(&png8) <= 256, "{}", colours(&png8));
    assert!(colours(&quantised) <= 256);
    assert!(
        png8.len() < full.len() / 2,
        "{} vs {}",
        png8.len(),
        full.len()
    );
    assert_eq!(decode(&png8).format, refract::encoding::format::Format::Png);
}

/// Frames, frame size and loop count of an encoded image.
fn animation(bytes: &[u8]) -> (u32, (u32, u32), Option<i32>) {
    vips::init().unwrap();
    let img = Image::header(bytes).unwrap();
    (
        img.pages(),
        (img.width(), img.height()),
        img.get_int(c"loop"),
    )
}

/// The delay (centiseconds) of each frame of a GIF, from its Graphic Control Extensions.
fn gif_delays(bytes: &[u8]) -> Vec<u16> {
    bytes
        .windows(6)
        .filter(|w| w[0] == 0x21 && w[1] == 0xF9 && w[2] == 0x04)
        .map(|w| u16::from_le_bytes([w[4], w[5]]))
        .collect()
}

#[tokio::test]
async fn animations_stay_animated_with_every_frame_resized() {
    let s = TestServer::start(|_| {}).await;
    s.put(
        "squares.gif",
        &corpus_file("animated/sharp-rotating-squares.gif"),
    );
    s.put(
        "loop3.webp",
        &corpus_file("animated/sharp-animated-loop-3.webp"),
    );
    s.put(
        "loop3.gif",
        &corpus_file("animated/sharp-animated-loop-3.gif"),
    );
    // GIF in, GIF out (the source format): all 10 frames, each 100 px wide.
    let out = body(&s, "/loop3.gif?w=100").await;
    assert_eq!(decode(&out).format, refract::encoding::format::Format::Gif);
    let (frames, size, looped) = animation(&out);
    assert_eq!((frames, size), (10, (100, 77)));
    let source_loop = animation(&corpus_file("animated/sharp-animated-loop-3.gif")).2;
    assert!(source_loop.is_some_and(|l| l > 0));
    assert_eq!(looped, source_loop, "loop count kept");
    let source_delays = gif_delays(&corpus_file("animated/sharp-animated-loop-3.gif"));
    assert_eq!(source_delays.len(), 10);
    assert_eq!(gif_delays(&out), source_delays, "frame delays kept");
    // Each frame cropped alike.
    let out = body(&s, "/loop3.gif?w=60&h=60&fit=crop").await;
    assert_eq!((animation(&out).0, animation(&out).1), (10, (60, 60)));
    // The rotating squares repeat frames: libvips's savers merge identical neighbours (their
    // delays add up), so count distinct frames there rather than the 30 stored.
    let out = body(&s, "/squares.gif?w=40").await;
    assert!(animation(&out).0 > 1);
    assert_eq!(animation(&out).1, (40, 40));
    // To WebP, keeping the loop count (3).
    let out = body(&s, "/loop3.webp?w=100&fm=webp").await;
    let (frames, size, looped) = animation(&out);
    assert_eq!((frames, size.0), (10, 100));
    assert_eq!(looped, Some(3), "loop count kept");
    let out = body(&s, "/loop3.gif?w=100&fm=webp").await;
    assert_eq!(animation(&out).0, 10, "GIF to animated WebP");
    // fm=auto for an AVIF-capable browser: animated WebP (our AVIF is still-only).
    let r = s
        .get_with(
            "/loop3.gif?w=100&fm=auto",
            &[("accept", "image/avif,image/webp,*/*")],
        )
        .await;
    let out = r.bytes().await.unwrap();
    assert_eq!(decode(&out).format, refract::encoding::format::Format::Webp);
    assert_eq!(animation(&out).0, 10);
    // Formats that cannot animate get the first frame; frame=N picks another, as a still.
    let out = body(&s, "/squares.gif?w=40&fm=jpg").await;
    assert_eq!((animation(&out).0, animation(&out).1), (1, (40, 40)));
    let first = body(&s, "/squares.gif?w=40&fm=png&frame=1").await;
    let eighth = body(&s, "/squares.gif?w=40&fm=png&frame=8").await;
    assert_eq!(animation(&eighth).0, 1);
    assert_ne!(pixels(&first).0, pixels(&eighth).0, "a different frame");
    let gif_still = body(&s, "/squares.gif?w=40&frame=8").await;
    assert_eq!(animation(&gif_still).0, 1);
    // A step that needs per-frame geometry gives a still rather than a broken animation.
    let out = body(&s, "/squares.gif?w=40&rot=10").await;
    assert_eq!(animation(&out).0, 1);
}

#[tokio::test]
async fn the_frame_budget_refuses_long_animations_before_decoding() {
    let s = TestServer::start(|c| c.max_frames = 20).await;
    s.put(
        "squares.gif",
        &corpus_file("animated/sharp-rotating-squares.gif"),
    );
    let r = s.get("/squares.gif?w=40").await;
    assert_eq!(r.status(), 422);
    assert_eq!(header(&r, "x-refract-error"), "too_many_frames");
}

/// Presets (and any other setting) from a TOML config file; a flag on the command line wins.
#[tokio::test]
async fn presets_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.jpg"), gradient_jpeg(400, 300)).unwrap();
    let config = dir.path().join("refract.toml");
    std::fs::write(
        &config,
        format!(
            "root = {:?}\nlisten = \"127.0.0.1:1\"\naccess-log = false\n\
             preset = [\"thumb=w=30&fm=webp\", \"wide=w=300\"]\npresets-only = true\n",
            dir.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = crate::support::refract();
    cmd.args([
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
    .stdout(std::process::Stdio::null());
    let (mut child, addr, _) = crate::support::spawn_command(cmd);
    let r = reqwest::get(format!("http://{addr}/g.jpg?preset=thumb"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let img = decode(&r.bytes().await.unwrap());
    assert_eq!(
        (img.width, img.format),
        (30, refract::encoding::format::Format::Webp)
    );
    let r = reqwest::get(format!("http://{addr}/g.jpg?w=10"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "presets-only from the file");
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::write(&config, "cache-sise = \"1GB\"\n").unwrap();
    let out = crate::support::refract()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--check-config",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting 'cache-sise'"));
}

#[tokio::test]
async fn orient_flip_and_frame_on_a_full_size_still_jpeg_are_not_server_errors() {
    // A 2560×1600 camera-size JPEG at its own size: the decode is sequential, so a turn or a
    // vertical flip read it out of order (500 "out of order read"), and `frame` asked a JPEG
    // loader for a page it does not have (500 "no property named page").
    let s = TestServer::start(|_| {}).await;
    s.put("p.jpg", &corpus_file("photos/kde-Path-2560x1600.jpg"));
    for (query, size) in [
        ("orient=6", (1600, 2560)),
        ("orient=8&fm=webp", (1600, 2560)),
        ("orient=3", (2560, 1600)),
        ("orient=5&fm=png&w=400", (400, 640)),
        ("flip=v", (2560, 1600)),
        ("flip=hv&orient=7&fm=avif&w=200", (200, 320)),
        ("frame=1", (2560, 1600)),
        ("frame=3&w=100", (100, 63)),
    ] {
        let r = s.get(&format!("/p.jpg?{query}")).await;
        assert_eq!(r.status(), 200, "{query}");
        let d = decode(&r.bytes().await.unwrap());
        assert_eq!((d.width, d.height), size, "{query}");
    }
}

#[tokio::test]
async fn adjusted_renders_of_exif_rotated_photos_are_upright_in_every_format() {
    // Every EXIF orientation of one landscape photo, with each step that copies metadata onto
    // pixels it computes: the output is landscape and says nothing that would turn it again
    // (no EXIF orientation, no AVIF irot/imir box). Before: the AVIF carried irot.
    let s = TestServer::start(|_| {}).await;
    for o in 1..=8 {
        s.put(
            &format!("l{o}.jpg"),
            &corpus_file(&format!("exif/recurser-Landscape_{o}.jpg")),
        );
    }
    for o in 1..=8 {
        for step in [
            "",
            "&sat=50",
            "&exp=10",
            "&duotone=000080,FAEBD7",
            "&mask=ellipse",
            "&txt=hi",
            "&blend=ff0000&bm=multiply",
        ] {
            for fm in ["avif", "webp", "jpg", "png"] {
                let url = format!("/l{o}.jpg?w=120&fm={fm}{step}");
                let bytes = body(&s, &url).await;
                let d = decode(&bytes);
                assert!(d.width > d.height, "{url}: {}x{}", d.width, d.height);
                if fm == "avif" {
                    assert!(!turns_on_display(&bytes), "{url}: an irot/imir box");
                }
                let img = Image::header(&bytes).unwrap();
                assert_eq!(img.orientation(), 1, "{url}: EXIF orientation");
            }
        }
    }
}
