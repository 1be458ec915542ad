//! The learned operations end to end, with the models `make deps` installs: `bg-remove` against
//! known masks, `crop=auto` against a placed subject, `upscale` against Lanczos with the
//! quality bench's metrics, the deferred path (first the plain render, then the learned one;
//! a second replica sharing the store runs no model), fallbacks and limits.

use std::time::{Duration, Instant};

use refract::transform::vips::{self, Image, SaveOptions};

use crate::support::cutouts::{composite, iou, Background, SUBJECT, W};
use crate::support::images::pixels;
use crate::support::{body, corpus_file, header, metric, TestServer};

/// `bg-remove=true` keeps the subject and makes the rest transparent: IoU of the served alpha
/// against the known mask, per kind of background, with U²-NetP (4.6 MB, 320×320). The
/// JPEG variant shows `bg` where the mask is empty; the mask is computed once per original.
#[tokio::test]
async fn bg_remove_finds_the_subject_on_plain_gradient_and_textured_backgrounds() {
    // Inline, whatever this machine's speed (the deferred path has its own test).
    let s = TestServer::start(|c| c.learned_inline = Duration::from_secs(600)).await;
    // Floors under what U²-NetP reaches here (0.96, 0.71, 0.97 measured; on the gradient it
    // loses the translucent blue die against the blue): a broken mask, pre-processing or
    // alignment falls far below them.
    for (kind, floor) in [
        (Background::Plain, 0.85),
        (Background::Gradient, 0.6),
        (Background::Textured, 0.85),
    ] {
        let (jpeg, truth) = composite(kind);
        let key = format!("{kind:?}.jpg").to_lowercase();
        s.put(&key, &jpeg);
        let png = body(&s, &format!("/{key}?bg-remove=true&fm=png")).await;
        let score = iou(&png, &truth);
        eprintln!("bg-remove IoU on {kind:?}: {score:.3} (floor {floor})");
        assert!(score >= floor, "{kind:?}: IoU {score:.3} < {floor}");
    }
    // JPEG cannot carry alpha: the background becomes `bg` (blue here), the subject stays.
    let jpg = body(&s, "/plain.jpg?bg-remove=true&fm=jpg&bg=0000ff").await;
    let (px, w, _, bands) = pixels(&jpg);
    assert_eq!(bands, 3);
    let at = |x: u32, y: u32| px[((y * w + x) * 3) as usize..][..3].to_vec();
    let corner = at(40, 40);
    assert!(corner[2] > 200 && corner[0] < 40, "background {corner:?}");
    // The red die's face, well inside the subject, keeps its colour.
    let (sx, sy, sw, sh) = SUBJECT;
    let die = at(sx + sw * 52 / 100, sy + sh * 55 / 100);
    assert!(die[0] > die[2], "subject {die:?}");
    // One mask for every size and format of the original.
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[("model", "foreground")]),
        3.0
    );
    body(&s, "/plain.jpg?bg-remove=true&w=200&fm=webp").await;
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[("model", "foreground")]),
        3.0
    );
    // An original with its own transparency: the two alphas combine (what was transparent
    // stays so), scaled up or down.
    s.put("dice.png", &corpus_file("alpha/pillow-transparent.png"));
    for w in [300, 120] {
        let png = body(&s, &format!("/dice.png?bg-remove=true&w={w}&fm=png")).await;
        let (px, pw, _, bands) = pixels(&png);
        assert_eq!((pw, bands), (w, 4));
        assert_eq!(px[3], 0, "the original's transparent corner");
    }
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[("model", "foreground")]),
        4.0,
        "one mask for the new original, for both sizes"
    );
    s.stop().await;
}

/// `crop=auto`: with no faces, the window follows the learned subject. A subject placed right
/// of centre in a wide image is inside the `fit=crop` window; the centre crop of the same box
/// cuts it.
#[tokio::test]
async fn crop_auto_keeps_the_subject_a_centre_crop_cuts() {
    let s = TestServer::start(|c| c.learned_inline = Duration::from_secs(600)).await;
    // On the gradient, every column differs: where a window sits can be read off its pixels.
    let (jpeg, truth) = composite(Background::Gradient);
    s.put("wide.jpg", &jpeg);
    // A 300×600 window of the 800×600 image: the subject is at x 380–780.
    let share = |png: &[u8], left: u32| {
        let (px, w, h, _) = pixels(png);
        assert_eq!((w, h), (300, 600));
        let inside = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| truth[(y * W + left + x) as usize])
            .count();
        drop(px);
        inside as f64 / truth.iter().filter(|&&t| t).count() as f64
    };
    let auto = body(&s, "/wide.jpg?w=300&h=600&fit=crop&crop=auto&fm=png").await;
    let centre = body(&s, "/wide.jpg?w=300&h=600&fit=crop&fm=png").await;
    // Where each window sits: find the offset whose pixels match the original.
    let (orig, ow, _, _) = pixels(&jpeg);
    let left_of = |png: &[u8]| {
        let (px, w, _, bands) = pixels(png);
        (0..=ow - w)
            .min_by_key(|&left| {
                (0..600u32)
                    .step_by(37)
                    .map(|y| {
                        let a = ((y * ow + left + 150) * 3) as usize;
                        let b = ((y * w + 150) * bands) as usize;
                        (0..3)
                            .map(|c| i64::from(orig[a + c]).abs_diff(i64::from(px[b + c])))
                            .sum::<u64>()
                    })
                    .sum::<u64>()
            })
            .unwrap()
    };
    let (auto_left, centre_left) = (left_of(&auto), left_of(&centre));
    assert_eq!(centre_left, 250);
    let (kept, cut) = (share(&auto, auto_left), share(&centre, centre_left));
    eprintln!("crop=auto window at x={auto_left} keeps {kept:.2} of the subject; centre {cut:.2}");
    assert!(auto_left > 380, "crop=auto window at {auto_left}");
    assert!(
        kept > 0.6 && kept > cut + 0.25,
        "auto {kept:.2}, centre {cut:.2}"
    );
    s.stop().await;
}

/// The deferred path: with every learned result too dear to wait for (`--learned-inline 0`),
/// the first answer is the plain render — a provisional first render, short max-age, never
/// cached — and a background job computes the mask; the next answer is the learned result
/// (full max-age, a new ETag). A second replica sharing the variant store finds the mask there:
/// it runs no model.
#[tokio::test]
async fn a_deferred_mask_serves_the_plain_image_first_then_the_learned_one_everywhere() {
    let store = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (jpeg, _) = composite(Background::Gradient);
    std::fs::write(root.path().join("g.jpg"), &jpeg).unwrap();
    let store_url = format!("file://{}", store.path().display());
    let config = |url: String| {
        move |c: &mut refract::Config| {
            c.variant_store = Some(url);
            c.learned_inline = Duration::ZERO;
        }
    };
    let a = TestServer::start_at(root.path(), config(store_url.clone())).await;
    const URL: &str = "/g.jpg?bg-remove=true&w=400&fm=png";
    let first = a.get(URL).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-refract-tier"), "first");
    assert!(header(&first, "cache-control").contains("max-age=3600"));
    let first_etag = header(&first, "etag");
    let plain = first.bytes().await.unwrap();
    assert_eq!(pixels(&plain).3, 3, "the stand-in is the image as it is");
    // The job runs in the background; then the learned result.
    let deadline = Instant::now() + Duration::from_secs(60);
    let learned = loop {
        let r = a.get(URL).await;
        assert_eq!(r.status(), 200);
        if header(&r, "x-refract-tier").is_empty() {
            break r;
        }
        assert!(Instant::now() < deadline, "the mask never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(header(&learned, "cache-control").contains("max-age=31557600"));
    assert_ne!(header(&learned, "etag"), first_etag);
    assert_eq!(pixels(&learned.bytes().await.unwrap()).3, 4);
    let m = a.app.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "refract_background_jobs_total",
            &[("kind", "learned"), ("result", "done")]
        ),
        1.0
    );
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[("model", "foreground")]),
        1.0
    );
    // The second replica: another size, the mask from the store, no model run.
    let b = TestServer::start_at(root.path(), config(store_url)).await;
    let r = b.get("/g.jpg?bg-remove=true&w=300&fm=png").await;
    assert_eq!(r.status(), 200);
    let m = b.app.metrics_text().await;
    assert_eq!(
        header(&r, "x-refract-tier"),
        "",
        "{}",
        m.lines()
            .filter(|l| l.contains("learned") || l.contains("store"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(metric(&m, "refract_model_runs_total", &[]), 0.0);
    assert_eq!(
        metric(
            &m,
            "refract_learned_total",
            &[("op", "mask"), ("result", "store")]
        ),
        1.0
    );
    a.stop().await;
    b.stop().await;
}

/// The fallbacks and limits, as imgix documents them: what cannot be done (an animation, an
/// original past the upscale limits) is the plain image with `*-fallback=true` (the default)
/// and a 422 with `*-fallback=false`; a result on its way is a 423 with `fallback=false`.
/// An output larger than the original is upscaled; one not larger is the normal render.
#[tokio::test]
async fn fallbacks_and_limits_answer_as_imgix_documents() {
    let s = TestServer::start(|c| c.learned_inline = Duration::ZERO).await;
    s.put(
        "small.jpg",
        &crate::support::fixtures::gradient_jpeg(120, 90),
    );
    s.put(
        "big.jpg",
        &crate::support::fixtures::gradient_jpeg(5000, 200),
    );
    s.put(
        "anim.gif",
        &corpus_file("animated/sharp-animated-loop-3.gif"),
    );
    // Past imgix's limit (above 4096 px): the normal render, or 422 without the fallback.
    let r = s.get("/big.jpg?upscale=true&w=8000").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-refract-tier"), "");
    let r = s
        .get("/big.jpg?upscale=true&upscale-fallback=false&w=8000")
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (422, "learned_refused".into())
    );
    // Not larger than the original: no upscale, no refusal.
    let r = s
        .get("/small.jpg?upscale=true&upscale-fallback=false&w=100")
        .await;
    assert_eq!(r.status(), 200);
    // Animated: bg-remove refused (imgix: not supported), the animation as it is by default.
    let r = s
        .get("/anim.gif?bg-remove=true&bg-remove-fallback=false")
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (422, "learned_refused".into())
    );
    let r = s.get("/anim.gif?bg-remove=true").await;
    assert_eq!(r.status(), 200);
    let gif = r.bytes().await.unwrap();
    let frames = Image::header(&gif).unwrap().pages();
    assert!(frames > 1, "still animated: {frames} pages");
    // A deferred result with no fallback: 423 until it is there, then the result.
    let r = s
        .get("/small.jpg?upscale=true&upscale-fallback=false&w=480")
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "x-refract-error")),
        (423, "learned_pending".into())
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s
            .get("/small.jpg?upscale=true&upscale-fallback=false&w=480")
            .await;
        if r.status() == 200 {
            let d = crate::support::images::decode(&r.bytes().await.unwrap());
            assert_eq!((d.width, d.height), (480, 360));
            break;
        }
        assert_eq!(r.status(), 423);
        assert!(Instant::now() < deadline, "the upscale never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}

/// `upscale=true`: a corpus photo (a 512×512 window of the cups, the reference) downscaled 4×
/// and served back at 512 px is closer to the reference with the learned upscaler than with
/// the normal (Lanczos) resize, by both of the quality bench's metrics. (Real-ESRGAN's compact
/// model; BENCHMARKS.md has the other photos, where it does not always win.)
#[tokio::test]
async fn upscale_is_closer_to_the_original_than_lanczos() {
    crate::support::perceptual::require_tools();
    vips::init().unwrap();
    let photo = corpus_file("photos/kde-ColorfulCups-2560x1600.jpg");
    let reference = Image::thumbnail(
        &photo,
        vips::ThumbnailOptions {
            width: 512,
            height: 512,
            crop: Some(vips::Interesting::Attention),
            no_rotate: false,
            pages: vips::Pages::First,
            to_srgb: false,
        },
    )
    .unwrap();
    let small = reference.thumbnail_image(128, 128).unwrap();
    let png = |img: &Image| {
        img.save(SaveOptions::Png { compression: 1 })
            .unwrap()
            .to_vec()
    };
    let s = TestServer::start(|c| c.learned_inline = Duration::from_secs(600)).await;
    s.put("small.png", &png(&small));
    let learned = body(&s, "/small.png?upscale=true&w=512&fm=png").await;
    let lanczos = body(&s, "/small.png?w=512&fm=png").await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let (r, l, z) = (
        write("reference.png", &png(&reference)),
        write("learned.png", &learned),
        write("lanczos.png", &lanczos),
    );
    use crate::support::perceptual::{butteraugli, ssimulacra2};
    let (ss_learned, ss_lanczos) = (ssimulacra2(&r, &l), ssimulacra2(&r, &z));
    let (bu_learned, bu_lanczos) = (butteraugli(&r, &l).1, butteraugli(&r, &z).1);
    eprintln!(
        "upscale 4x: SSIMULACRA2 {ss_learned:.1} (Lanczos {ss_lanczos:.1}), butteraugli 3-norm \
         {bu_learned:.2} (Lanczos {bu_lanczos:.2})"
    );
    assert!(
        ss_learned > ss_lanczos + 5.0,
        "SSIMULACRA2 {ss_learned} vs {ss_lanczos}"
    );
    assert!(
        bu_learned < bu_lanczos * 0.85,
        "butteraugli {bu_learned} vs {bu_lanczos}"
    );
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_model_runs_total", &[("model", "upscale")]),
        1.0
    );
    s.stop().await;
}

/// `bg-remove` composes: the cut-out is padded (`pad` on the transparent default), framed by
/// `fit=fill` and watermarked like any image — the mask is the alpha before those steps.
#[tokio::test]
async fn bg_remove_composes_with_padding_fill_and_a_mark() {
    let s = TestServer::start(|c| c.learned_inline = Duration::from_secs(600)).await;
    let (jpeg, _) = composite(Background::Plain);
    s.put("p.jpg", &jpeg);
    s.put(
        "mark.png",
        &crate::support::fixtures::flat_png(40, 40, [0, 200, 0]),
    );
    let png = body(
        &s,
        "/p.jpg?bg-remove=true&w=400&h=400&fit=fill&pad=10&mark=/mark.png&mark-align=top,left&mark-pad=0&fm=png",
    )
    .await;
    let (px, w, h, bands) = pixels(&png);
    assert_eq!((w, h, bands), (400, 400, 4));
    let at = |x: u32, y: u32| px[((y * w + x) * 4) as usize..][..4].to_vec();
    // The mark sits opaque in the top-left corner of the image area; the removed background
    // and the padding around it are transparent.
    let mark = at(15, 15);
    assert!(mark[1] > 150 && mark[3] == 255, "mark {mark:?}");
    assert_eq!(at(200, 3)[3], 0, "padding");
    assert!(
        at(120, 150)[3] < 20,
        "the removed background: {:?}",
        at(120, 150)
    );
    // The subject (right of centre in the 800×600 original, scaled to 380×285 and centred in
    // the padded 380×380 box at (10, 57)) is still opaque.
    let (sx, sy, sw, sh) = SUBJECT;
    let (x, y) = (
        10 + (sx + sw * 52 / 100) * 380 / W,
        57 + (sy + sh * 55 / 100) * 380 / W,
    );
    assert!(at(x, y)[3] > 200, "subject at {x},{y}: {:?}", at(x, y));
    s.stop().await;
}
