//! `hdr=true` (imgix's HDR gain maps) on a real Ultra HDR JPEG (`color/libvips-ultra-hdr.jpg`,
//! 3840×2160 with a 960×540 gain map): the map is carried into a JPEG output, scaled and cut
//! with the image; without `hdr` the output is plain SDR, as before. The test reads the files
//! itself — the second JPEG stream after the primary image is the map, found by walking the
//! JPEG markers — rather than through Refract's own Ultra HDR code.

use crate::support::images::{decode, mean_abs_diff, pixels};
use crate::support::{body, corpus_file, header, TestServer};
use refract::transform::vips::{self, Image, SaveOptions};

/// The JPEG streams in `bytes`, in order: the primary image, then any appended (the gain map),
/// each from its SOI to its EOI.
fn jpeg_streams(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(start) = find(&bytes[i..], &[0xFF, 0xD8, 0xFF]).map(|p| p + i) {
        let Some(end) = stream_end(bytes, start) else {
            break;
        };
        out.push(&bytes[start..end]);
        i = end;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The end (past EOI) of the JPEG stream starting at `start`: marker segments by their
/// lengths; after SOS, entropy-coded data up to the next marker that is not a stuffed `FF 00`
/// or a restart.
fn stream_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 2;
    loop {
        if b.get(i)? != &0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        if marker == 0xD9 {
            return Some(i + 2);
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        i += 2 + len;
        if marker == 0xDA {
            // Entropy-coded data.
            loop {
                if *b.get(i)? == 0xFF {
                    let next = *b.get(i + 1)?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) {
                        break;
                    }
                }
                i += 1;
            }
        }
    }
}

/// The gain map of an Ultra HDR JPEG, as PNG (for pixel comparisons), or `None`.
fn gain_map(jpeg: &[u8]) -> Option<Vec<u8>> {
    let streams = jpeg_streams(jpeg);
    let map = streams.get(1)?;
    vips::init().unwrap();
    let img = Image::header(map).ok()?;
    Some(
        img.save(SaveOptions::Png { compression: 1 })
            .unwrap()
            .to_vec(),
    )
}

#[tokio::test]
async fn hdr_true_carries_the_gain_map_through_resize_and_crop() {
    let s = TestServer::start(|_| {}).await;
    let original = corpus_file("color/libvips-ultra-hdr.jpg");
    s.put("hdr.jpg", &original);
    s.put("sdr.jpg", &corpus_file("photos/mate-Storm.jpg"));
    let source_map = gain_map(&original).expect("the corpus file is Ultra HDR");
    let sm = decode(&source_map);
    assert_eq!((sm.width, sm.height), (960, 540));

    // Resized: the map follows at the original's ratio (a quarter), and the file says so.
    let out = body(&s, "/hdr.jpg?w=800&hdr=true").await;
    let d = decode(&out);
    assert_eq!((d.width, d.height), (800, 450));
    let map = decode(&gain_map(&out).expect("a gain map"));
    assert_eq!((map.width, map.height), (200, 113));
    assert!(find(&out, b"hdrgm").is_some(), "Ultra HDR XMP (hdrgm)");
    // Its values are the original's map, scaled: compare with the source map resized alike.
    let scaled = Image::header(&source_map)
        .unwrap()
        .thumbnail_image(200, 113)
        .unwrap()
        .save(SaveOptions::Png { compression: 1 })
        .unwrap()
        .to_vec();
    let served_map = gain_map(&out).unwrap();
    assert!(
        mean_abs_diff(&served_map, &scaled) < 6.0,
        "{}",
        mean_abs_diff(&served_map, &scaled)
    );

    // Cropped: the map is cut to the same window. crop=left keeps the left 2160×2160 square of
    // the original, so the map is the left 540×540 of the source map; crop=right the right one.
    let square = |x: u32| {
        Image::header(&source_map)
            .unwrap()
            .extract_area(x, 0, 540, 540)
            .unwrap()
            .thumbnail_image(100, 100)
            .unwrap()
            .save(SaveOptions::Png { compression: 1 })
            .unwrap()
            .to_vec()
    };
    let (left, right) = (square(0), square(420));
    for (side, same, other) in [("left", &left, &right), ("right", &right, &left)] {
        let out = body(
            &s,
            &format!("/hdr.jpg?w=400&h=400&fit=crop&crop={side}&hdr=true"),
        )
        .await;
        let map = gain_map(&out).expect("a gain map");
        let m = decode(&map);
        assert_eq!((m.width, m.height), (100, 100), "{side}");
        let (near, far) = (mean_abs_diff(&map, same), mean_abs_diff(&map, other));
        assert!(near < 6.0 && near * 2.0 < far, "{side}: {near} vs {far}");
    }

    // Without hdr: a plain JPEG, as before; so too where the map could not line up (a turn)
    // or the format cannot carry it (WebP); auto=format serves the one that can.
    for (q, mime, mapped) in [
        ("w=800", "image/jpeg", false),
        ("w=800&hdr=false", "image/jpeg", false),
        ("w=300&rot=90&hdr=true", "image/jpeg", false),
        ("w=300&flip=h&hdr=true", "image/jpeg", false),
        ("w=600&fm=webp&hdr=true", "image/webp", false),
        ("w=600&auto=format&hdr=true", "image/jpeg", true),
    ] {
        let r = s
            .get_with(
                &format!("/hdr.jpg?{q}"),
                &[("accept", "image/avif,image/webp,*/*")],
            )
            .await;
        assert_eq!(r.status(), 200, "{q}");
        assert_eq!(header(&r, "content-type"), mime, "{q}");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(gain_map(&bytes).is_some(), mapped, "{q}");
        assert_eq!(find(&bytes, b"hdrgm").is_some(), mapped, "{q}");
    }
    // An original without a map: hdr=true changes nothing.
    let plain = body(&s, "/sdr.jpg?w=300&hdr=true").await;
    assert!(gain_map(&plain).is_none());
    let (a, ..) = pixels(&plain);
    let (b, ..) = pixels(&body(&s, "/sdr.jpg?w=300").await);
    assert_eq!(a, b);
    s.stop().await;
}
