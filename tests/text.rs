//! Text (`txt*`): the caption's colour inside its box and nothing outside, its place, the fonts
//! it is drawn with (the origin's own, never the host's), fitting and clipping, and the limits
//! on what a URL can make it render.

use crate::support::fixtures::flat_png;
use crate::support::images::{decode, pixels};
use crate::support::{base64url, body, header, TestServer};

const GREY: [u8; 3] = [120, 120, 120];

/// Where text was drawn: its box and its pixels' colours.
type Ink = ((u32, u32, u32, u32), Vec<[u8; 3]>);

/// The box (x0, y0, x1, y1, inclusive) of every pixel that differs from `bg` by more than 30 in
/// a band, with the pixels' colours.
fn ink(png: &[u8], bg: [u8; 3]) -> Option<Ink> {
    let (px, w, h, b) = pixels(png);
    let mut found: Option<(u32, u32, u32, u32)> = None;
    let mut colours = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * b) as usize;
            let c = [px[i], px[i + 1], px[i + 2]];
            if c.iter().zip(bg).any(|(v, g)| v.abs_diff(g) > 30) {
                colours.push(c);
                found = Some(match found {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
    }
    found.map(|f| (f, colours))
}

async fn server() -> TestServer {
    let s = TestServer::start(|_| {}).await;
    s.put("base.png", &flat_png(400, 300, GREY));
    s
}

#[tokio::test]
async fn text_is_its_colour_inside_its_box_and_nothing_outside() {
    let s = server().await;
    let url =
        "/base.png?fm=png&txt=HELLO&txt-size=40&txt-color=ff0000&txt-align=top,left&txt-pad=10";
    let ((x0, y0, x1, y1), colours) = ink(&body(&s, url).await, GREY).expect("text drawn");
    // The top-left box, 10 px in: five capitals at 40 px are wider than 100 px, one line tall.
    assert!(x0 >= 10 && y0 >= 10, "starts inside the padding: {x0},{y0}");
    assert!(x0 <= 16 && y0 <= 24, "starts at the padding: {x0},{y0}");
    assert!((100..200).contains(&(x1 - x0)), "width {}", x1 - x0);
    assert!((20..45).contains(&(y1 - y0)), "height {}", y1 - y0);
    // Every changed pixel lies between the grey and the red (antialiased edges), and the glyphs'
    // cores are the colour itself.
    for c in &colours {
        assert!(
            c[1] == c[2] && c[1] <= 121 && c[0] >= 119,
            "{c:?} is not red over grey"
        );
    }
    let solid = colours.iter().filter(|c| c[0] >= 250 && c[1] <= 5).count();
    assert!(solid > 300, "{solid} solid red pixels");

    // imgix's defaults: black, 12 px, bottom right, 10 px from the edges.
    let ((x0, y0, x1, y1), colours) =
        ink(&body(&s, "/base.png?fm=png&txt=Hi%20there").await, GREY).expect("text drawn");
    assert!(
        x1 <= 389 && y1 <= 289 && x1 >= 380 && y1 >= 275,
        "{x0},{y0},{x1},{y1}"
    );
    assert!(y1 - y0 < 16, "12-px text: {}", y1 - y0);
    assert!(colours
        .iter()
        .all(|c| c[0] == c[1] && c[1] == c[2] && c[0] < 120));
    // Centred.
    let ((x0, y0, x1, y1), _) = ink(
        &body(
            &s,
            "/base.png?fm=png&txt=MIDDLE&txt-size=30&txt-align=middle,center",
        )
        .await,
        GREY,
    )
    .unwrap();
    assert!(
        (x0 + x1).abs_diff(400) <= 6 && (y0 + y1).abs_diff(300) <= 10,
        "{x0},{y0},{x1},{y1}"
    );
    // Base64 of the text is the text.
    assert_eq!(
        body(&s, "/base.png?fm=png&txt64=SGkgdGhlcmU").await,
        body(&s, "/base.png?fm=png&txt=Hi%20there").await
    );
    // Markup in the text is text, not markup: drawn as characters, wider than the word alone.
    let ((a0, _, a1, _), _) = ink(
        &body(&s, "/base.png?fm=png&txt=%3Cb%3Ex%3C/b%3E&txt-size=30").await,
        GREY,
    )
    .unwrap();
    let ((b0, _, b1, _), _) =
        ink(&body(&s, "/base.png?fm=png&txt=x&txt-size=30").await, GREY).unwrap();
    assert!(a1 - a0 > 4 * (b1 - b0));
    s.stop().await;
}

#[tokio::test]
async fn fonts_are_the_origins_own() {
    let s = server().await;
    let draw = |font: &str| {
        let url = format!("/base.png?fm=png&txt=Quick%20fox&txt-size=40&txt-font={font}");
        let s = &s;
        async move { body(s, &url).await }
    };
    // imgix's default, Helvetica, is Liberation Sans (metric-compatible); an unknown family is
    // DejaVu Sans — the same every time, whatever the host has installed.
    assert_eq!(draw("Helvetica").await, draw("Liberation%20Sans").await);
    assert_eq!(draw("Arial").await, draw("Liberation%20Sans").await);
    assert_eq!(
        draw("Futura%20Condensed%20Medium").await,
        draw("DejaVu%20Sans").await
    );
    assert_ne!(draw("Helvetica").await, draw("DejaVu%20Sans").await);
    assert_ne!(draw("Times").await, draw("Helvetica").await);
    // Styles change the glyphs.
    assert_ne!(draw("Helvetica,Bold").await, draw("Helvetica").await);
    let r = s.get("/base.png?txt=x&txt-font=Helvetica,sparkly").await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn long_lines_are_clipped_shrunk_or_wrapped() {
    let s = server().await;
    let long = "The%20quick%20brown%20fox%20jumps%20over%20the%20lazy%20dog%20twice";
    let boxed = |q: String| {
        let s = &s;
        async move {
            ink(
                &body(s, &format!("/base.png?fm=png&txt={long}&txt-size=40&{q}")).await,
                GREY,
            )
            .unwrap()
            .0
        }
    };
    // Clipped (imgix's default, the end): within the padding on both sides.
    let (x0, _, x1, _) = boxed("txt-align=middle,left".into()).await;
    assert!(x0 >= 10 && x1 <= 389, "{x0}..{x1}");
    // Shrunk to fit: within the room, and shorter glyphs.
    let (x0, y0, x1, y1) = boxed("txt-fit=max&txt-align=middle,left".into()).await;
    assert!(x0 >= 10 && x1 <= 389 && x1 - x0 > 300, "{x0}..{x1}");
    assert!(y1 - y0 < 20, "shrunk: {}", y1 - y0);
    // Wrapped at txt-width: several lines.
    let (_, y0, _, y1) = boxed("txt-width=300&txt-align=middle,center".into()).await;
    assert!(y1 - y0 > 100, "wrapped: {}", y1 - y0);
    // Ellipsis: narrower than the clipped line (a whole character less and a "…").
    let (x0, _, x1, _) = boxed("txt-clip=ellipsis&txt-align=middle,left".into()).await;
    assert!(x0 >= 10 && x1 <= 389);
    s.stop().await;
}

#[tokio::test]
async fn outline_and_shadow_surround_the_text() {
    let s = server().await;
    let plain = body(
        &s,
        "/base.png?fm=png&txt=O&txt-size=80&txt-color=fff&txt-align=middle,center",
    )
    .await;
    let lined = body(&s, "/base.png?fm=png&txt=O&txt-size=80&txt-color=fff&txt-line=4&txt-line-color=00f&txt-align=middle,center").await;
    let (p, _) = ink(&plain, GREY).unwrap();
    let (l, colours) = ink(&lined, GREY).unwrap();
    assert!(
        l.0 + 3 <= p.0 && l.2 >= p.2 + 3,
        "the outline widens the box: {p:?} {l:?}"
    );
    assert!(
        colours.iter().any(|c| c[2] > 240 && c[0] < 20),
        "blue outline"
    );
    let shadowed = body(
        &s,
        "/base.png?fm=png&txt=O&txt-size=80&txt-color=fff&txt-shad=6&txt-align=middle,center",
    )
    .await;
    let (sh, colours) = ink(&shadowed, GREY).unwrap();
    assert!(
        sh.2 > p.2 && sh.3 > p.3,
        "the shadow falls below and right: {p:?} {sh:?}"
    );
    assert!(
        colours.iter().any(|c| c[0] < 80 && c[0] == c[1]),
        "dark shadow"
    );
    s.stop().await;
}

#[tokio::test]
async fn text_limits_hold() {
    let s = server().await;
    let code = |r: &reqwest::Response| (r.status().as_u16(), header(r, "x-refract-error"));
    // A 10 MB txt64: refused at the request head, before anything is parsed or rendered.
    let base = s.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut request = b"GET /base.png?txt64=".to_vec();
        request.resize(request.len() + (10 << 20), b'A');
        request.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
        let _ = stream.write_all(&request);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned()
    })
    .await
    .unwrap();
    assert!(
        matches!(status.as_str(), "414" | "431"),
        "a 10 MB txt64 got '{status}'"
    );
    // More characters than the cap.
    let r = s.get(&format!("/base.png?txt={}", "a".repeat(1500))).await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    // Glyphs whose rendering would pass --max-pixels: refused before rendering.
    let r = s
        .get(&format!("/base.png?txt={}&txt-size=1000", "W".repeat(900)))
        .await;
    assert_eq!(code(&r), (400, "bad_param".into()));
    assert!(r.text().await.unwrap().contains("pixels"));
    // Unreadable styling is ignored (and named); the text itself is never dropped.
    for (q, name) in [
        ("txt=a&txt-size=0", "txt-size"),
        ("txt=a&txt-size=5000", "txt-size"),
        ("txt=a&txt-fit=min", "txt-fit"),
        ("txt=a&txt-clip=sides", "txt-clip"),
    ] {
        let r = s.get(&format!("/base.png?{q}")).await;
        assert_eq!(r.status(), 200, "{q}");
        assert_eq!(header(&r, "x-refract-ignored"), name, "{q}");
    }
    assert_eq!(s.get("/base.png?txt=a%01b").await.status(), 400);
    // Nothing else is affected.
    assert_eq!(decode(&body(&s, "/base.png?w=10").await).width, 10);
    s.stop().await;
}

#[tokio::test]
async fn the_typesetting_endpoint_renders_text_as_an_image() {
    let s = server().await;
    // The text's own size plus its padding (10 px each side by default), on transparency.
    let out = body(&s, "/~text?txt=Hello%20World&txt-size=40&txt-color=ff0000").await;
    let d = decode(&out);
    assert_eq!((d.format.mime(), d.bands), ("image/png", 4));
    assert!(d.width > 200 && d.width < 320, "{}x{}", d.width, d.height);
    assert!(d.height > 40 && d.height < 90, "{}x{}", d.width, d.height);
    let (px, w, h, b) = pixels(&out);
    let alpha = |x: u32, y: u32| px[((y * w + x) * b + 3) as usize];
    assert_eq!(alpha(0, 0), 0, "transparent background");
    assert_eq!(alpha(w - 1, h - 1), 0);
    let inked: Vec<&[u8]> = px.chunks(4).filter(|p| p[3] > 200).collect();
    assert!(inked.len() > 200, "text drawn");
    assert!(
        inked.iter().all(|p| p[0] > 200 && p[1] < 60 && p[2] < 60),
        "in its colour"
    );
    // w and h: exactly that box; the text wraps at w less the padding.
    let boxed = decode(
        &body(
            &s,
            "/~text?txt=Hello%20there%20world&txt-size=40&w=180&h=160",
        )
        .await,
    );
    assert_eq!((boxed.width, boxed.height), (180, 160));
    // bg and fm: an opaque JPEG on the colour.
    let jpeg = body(&s, "/~text?txt=Hi&txt-size=30&bg=0000ff&fm=jpg").await;
    assert_eq!(decode(&jpeg).format.mime(), "image/jpeg");
    let (px, ..) = pixels(&jpeg);
    assert!(px[2] > 200 && px[0] < 60, "blue corner: {:?}", &px[..3]);
    // As a watermark (mark64, as OG-image generators write it): drawn over the base.
    let mark = "/~text?txt=SALE&txt-size=60&txt-color=ffffff";
    let b64 = base64url(mark.as_bytes());
    let marked = body(
        &s,
        &format!("/base.png?mark64={b64}&mark-align=middle,center&fm=png"),
    )
    .await;
    let (found, colours) = ink(&marked, GREY).expect("the text's ink");
    assert!(found.0 > 100 && found.2 < 300, "centred: {found:?}");
    assert!(
        colours.iter().any(|c| c.iter().all(|v| *v > 230)),
        "white ink"
    );
    // No txt: a 400 naming it.
    let r = s.get("/~text?w=200").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("txt"));
    s.stop().await;
}
