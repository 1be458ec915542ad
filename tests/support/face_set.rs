//! A labelled set for face detection: real faces from the corpus portraits pasted, at known
//! sizes and places, into busy corpus scenes (and the portraits themselves, labelled by eye).
//! Shared by `tests/faces.rs` (recall asserted in `make test`) and `benches/faces.rs` (recall and
//! CPU per original reported), so both measure the same thing.

use std::path::Path;

use refract::transform::vips::{self, Image, SaveOptions};

/// One labelled image: a JPEG and the faces in it, as fractions `(x, y, w, h)` of its size.
pub struct Labelled {
    /// What it is (face, scene, size, place).
    pub name: String,
    /// The face's width as a share of the image's longer side (the portraits: their own).
    pub share: f64,
    /// The image, a JPEG.
    pub jpeg: Vec<u8>,
    /// The faces in it.
    pub faces: Vec<(f64, f64, f64, f64)>,
}

/// A face source: a corpus portrait and its face box (pixels, ear to ear and forehead to chin,
/// established by eye; the same boxes `tests/imgix.rs` checks `fm=json` against).
struct Portrait {
    file: &'static str,
    face: (u32, u32, u32, u32),
}

const PORTRAITS: &[Portrait] = &[
    Portrait {
        file: "photos/skimage-astronaut.png",
        face: (160, 40, 130, 150),
    },
    Portrait {
        file: "photos/thumbor-Giunchedi_Filippo_January_2015_01.jpg",
        face: (300, 60, 200, 250),
    },
];

/// Busy scenes the faces are pasted into (cups and reflections; a street of detail; stars).
const SCENES: &[&str] = &[
    "photos/kde-ColorfulCups-2560x1600.jpg",
    "photos/mate-Storm.jpg",
    "photos/skimage-hubble_deep_field.jpg",
];

/// The longer side of every composite: the 1,200-px photo.
pub const SCENE_SIDE: u32 = 1200;

fn rgb(bytes: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    vips::init().unwrap();
    let img = Image::header(bytes)
        .unwrap()
        .thumbnail_image(width, height)
        .unwrap();
    let img = if img.bands() == 3 {
        img
    } else {
        img.extract_bands(0, 3).unwrap()
    };
    (img.pixels().unwrap(), img.width(), img.height())
}

fn jpeg(px: &[u8], w: u32, h: u32) -> Vec<u8> {
    Image::from_pixels(px, w, h, 3)
        .unwrap()
        .save(SaveOptions::Jpeg {
            quality: 90,
            progressive: false,
            full_chroma: None,
        })
        .unwrap()
        .to_vec()
}

/// Every portrait's face, at each of `shares` of the scene's longer side, pasted with its head
/// around it into each scene at `places` (fractions of the free room, left–top to right–bottom).
pub fn composites(corpus: &Path, shares: &[f64], places: &[(f64, f64)]) -> Vec<Labelled> {
    let mut out = Vec::new();
    for portrait in PORTRAITS {
        let bytes = std::fs::read(corpus.join(portrait.file)).expect("corpus portrait");
        let header = {
            vips::init().unwrap();
            let h = Image::header(&bytes).unwrap();
            (h.width(), h.height())
        };
        let (fx, fy, fw, fh) = portrait.face;
        // The head: the face box grown by half its size each way, inside the portrait.
        let (hx, hy) = (fx.saturating_sub(fw / 2), fy.saturating_sub(fh / 2));
        let hw = (fw * 2).min(header.0 - hx);
        let hh = (fh * 2).min(header.1 - hy);
        // The head, cut once: every scene and size scales it from here.
        let head_png = Image::header(&bytes)
            .unwrap()
            .extract_area(hx, hy, hw, hh)
            .unwrap()
            .save(SaveOptions::Png { compression: 1 })
            .unwrap()
            .to_vec();
        for scene in SCENES {
            let scene_bytes = std::fs::read(corpus.join(scene)).expect("corpus scene");
            let sh = {
                let h = Image::header(&scene_bytes).unwrap();
                (u64::from(h.height()) * u64::from(SCENE_SIDE) / u64::from(h.width())) as u32
            };
            let (base, bw, bh) = rgb(&scene_bytes, SCENE_SIDE, sh);
            for &share in shares {
                // Scale so the face box is `share` of the longer side.
                let scale = share * f64::from(bw.max(bh)) / f64::from(fw);
                let (pw, ph) = (
                    (f64::from(hw) * scale).round().max(1.0) as u32,
                    (f64::from(hh) * scale).round().max(1.0) as u32,
                );
                let head = rgb(&head_png, pw, ph);
                for &(px, py) in places {
                    let x0 = (f64::from(bw - pw) * px).round() as u32;
                    let y0 = (f64::from(bh - ph) * py).round() as u32;
                    let mut canvas = base.clone();
                    for row in 0..ph {
                        let src = (row * pw * 3) as usize;
                        let dst = (((y0 + row) * bw + x0) * 3) as usize;
                        canvas[dst..dst + (pw * 3) as usize]
                            .copy_from_slice(&head.0[src..src + (pw * 3) as usize]);
                    }
                    let face = (
                        (f64::from(x0) + f64::from(fx - hx) * scale) / f64::from(bw),
                        (f64::from(y0) + f64::from(fy - hy) * scale) / f64::from(bh),
                        f64::from(fw) * scale / f64::from(bw),
                        f64::from(fh) * scale / f64::from(bh),
                    );
                    let name = format!(
                        "{} in {} at {:.0}% ({px:.1},{py:.1})",
                        portrait.file.rsplit('/').next().unwrap(),
                        scene.rsplit('/').next().unwrap(),
                        share * 100.0
                    );
                    out.push(Labelled {
                        name,
                        share,
                        jpeg: jpeg(&canvas, bw, bh),
                        faces: vec![face],
                    });
                }
            }
        }
    }
    out
}

/// The portraits themselves, with their faces.
pub fn portraits(corpus: &Path) -> Vec<Labelled> {
    PORTRAITS
        .iter()
        .map(|p| {
            let bytes = std::fs::read(corpus.join(p.file)).expect("corpus portrait");
            vips::init().unwrap();
            let (w, h) = {
                let img = Image::header(&bytes).unwrap();
                (f64::from(img.width()), f64::from(img.height()))
            };
            let (fx, fy, fw, fh) = p.face;
            Labelled {
                name: p.file.rsplit('/').next().unwrap().to_string(),
                share: f64::from(fw) / w.max(h),
                jpeg: bytes,
                faces: vec![(
                    f64::from(fx) / w,
                    f64::from(fy) / h,
                    f64::from(fw) / w,
                    f64::from(fh) / h,
                )],
            }
        })
        .collect()
}

/// Whether a detection `found` (fractions) is the labelled face `truth`: its centre inside the
/// face box and its width within half to twice the box's.
pub fn matches(found: (f64, f64, f64, f64), truth: (f64, f64, f64, f64)) -> bool {
    let (cx, cy) = (found.0 + found.2 / 2.0, found.1 + found.3 / 2.0);
    cx >= truth.0
        && cx <= truth.0 + truth.2
        && cy >= truth.1
        && cy <= truth.1 + truth.3
        && found.2 >= truth.2 / 2.0
        && found.2 <= truth.2 * 2.0
}
