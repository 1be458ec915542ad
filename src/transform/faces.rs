//! Face detection for `crop=faces`, `fit=facearea` and `fm=json&faces=1`: SeetaFace's
//! frontal-face cascade (the `rustface` crate, its model embedded in the binary by build.rs,
//! never fetched), run on a greyscale downscale of the upright original at most [`DETECT_SIDE`]
//! pixels on its longer side — enough for faces down to about 4% of that side (the cascade's
//! smallest window is 24 px, and the face it frames is the inner face, about three quarters of
//! the ear-to-ear width; its own image pyramid finds the larger ones). Detections are cached
//! per original (by the SHA-256 of its bytes, so a replaced original is looked at again): every
//! `crop=faces` size of one original costs one detection. Faces come back as
//! fractions of the original, so they serve every size of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::encoding::digest::LazyDigest;

use rustface::{ImageData, Model};

use super::classify;
use super::vips::{Image, Interpretation, Pages, ThumbnailOptions};
use crate::error::Error;
use crate::request::params::Rect;

/// The model, as the `rustface` crate ships it.
static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Longer side of the image faces are looked for in. imgix frames faces down to a few percent
/// of a photo (avatars cut from group and street photos); at 320 px (the earlier size) a face 9%
/// of a busy 1,200-px photo went unfound. Measured on the labelled set (`cargo bench --bench
/// faces`, BENCHMARKS.md): at 1,000 px every face from 5% of the longer side up is found and 16
/// of 18 at 4% (600 px: none at 4%, half at 5%; 800 px: 10 of 18 at 4%), no false detections,
/// for ~95 ms of CPU per original on the bench VM — once per original, cached.
pub const DETECT_SIDE: u32 = 1000;

/// Score below which a detection is not a face (rustface's examples use 2.0).
const SCORE_THRESHOLD: f64 = 2.0;

/// A face, in fractions (0–1) of the upright original's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| rustface::read_model(MODEL_BYTES).expect("the embedded face model reads"))
}

/// Faces in greyscale `pixels` (`w`×`h`), as fractions, left to right (the order of `fm=json`'s
/// `Faces` and of `faceindex`).
pub fn detect_grey(pixels: &[u8], w: u32, h: u32) -> Vec<Face> {
    if w < 20 || h < 20 {
        return Vec::new();
    }
    let mut detector = rustface::create_detector_with_model(model().clone());
    detector.set_min_face_size(24);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(0.7);
    detector.set_slide_window_step(4, 4);
    let found = detector.detect(&ImageData::new(pixels, w, h));
    let (fw, fh) = (f64::from(w), f64::from(h));
    let mut faces: Vec<Face> = found
        .iter()
        .map(|f| {
            let b = f.bbox();
            let x = f64::from(b.x().max(0));
            let y = f64::from(b.y().max(0));
            Face {
                x: x / fw,
                y: y / fh,
                w: (f64::from(b.width())).min(fw - x) / fw,
                h: (f64::from(b.height())).min(fh - y) / fh,
            }
        })
        .collect();
    faces.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    faces
}

/// Originals whose faces are remembered (a few bytes each).
const CACHED_ORIGINALS: u64 = 10_000;

/// Detections actually run since start (the cache's misses).
static DETECTIONS: AtomicU64 = AtomicU64::new(0);

/// How many detections have run (not answered from the cache) since start.
pub fn detections() -> u64 {
    DETECTIONS.load(Ordering::Relaxed)
}

/// Faces in the original `bytes` (upright, as the viewer sees it), remembered per original.
pub fn faces_of(bytes: &[u8], digest: &LazyDigest) -> Result<Arc<Vec<Face>>, Error> {
    static CACHE: OnceLock<moka::sync::Cache<[u8; 32], Arc<Vec<Face>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| moka::sync::Cache::new(CACHED_ORIGINALS));
    // The originals cache has usually hashed the original already (the variant store names
    // variants by it); if not, it is hashed here once and kept for them.
    let key = match digest.get() {
        Some(key) => key,
        None => digest.of(bytes),
    };
    if let Some(faces) = cache.get(&key) {
        return Ok(faces);
    }
    let faces = Arc::new(detect(bytes)?);
    cache.insert(key, faces.clone());
    Ok(faces)
}

/// Faces in the original `bytes` (upright, as the viewer sees it), detected now.
pub fn detect(bytes: &[u8]) -> Result<Vec<Face>, Error> {
    detect_at(bytes, DETECT_SIDE)
}

/// As [`detect`], looking at the original scaled to at most `side` pixels on its longer side
/// (the bench compares sides).
pub fn detect_at(bytes: &[u8], side: u32) -> Result<Vec<Face>, Error> {
    DETECTIONS.fetch_add(1, Ordering::Relaxed);
    let (width, height) = detect_size(bytes, side)?;
    let small = Image::thumbnail(
        bytes,
        ThumbnailOptions {
            width,
            height,
            crop: None,
            no_rotate: false,
            pages: Pages::First,
            to_srgb: false,
        },
    )
    .and_then(|i| i.colourspace(Interpretation::BW))
    .and_then(|i| i.extract_bands(0, 1))
    .and_then(|i| i.to_uchar())
    .map_err(classify)?;
    let (w, h) = (small.width(), small.height());
    let pixels = small.pixels().map_err(classify)?;
    Ok(detect_grey(&pixels, w, h))
}

/// The box around `faces` as fractions (left, top, right, bottom).
fn bounds(faces: &[Face]) -> Option<(f64, f64, f64, f64)> {
    let first = faces.first()?;
    let (mut l, mut t, mut r, mut b) = (first.x, first.y, first.x + first.w, first.y + first.h);
    for f in &faces[1..] {
        l = l.min(f.x);
        t = t.min(f.y);
        r = r.max(f.x + f.w);
        b = b.max(f.y + f.h);
    }
    Some((l, t, r, b))
}

/// `fit=facearea`: the rectangle (in pixels of the upright `width`×`height` original) around the
/// faces — or face `index` (1-based) alone — `pad` times their box about its centre (imgix's
/// `facepad`: 1.0, the default, is the face box itself; 2.0 twice its size), widened to
/// `aspect` (width/height) if given, then shrunk about its centre where it would leave the image
/// and moved inside it. `None` when there is no such face.
pub fn area(
    faces: &[Face],
    index: Option<u32>,
    pad: f64,
    (width, height): (u32, u32),
    aspect: Option<f64>,
) -> Option<Rect> {
    let chosen = match index {
        Some(i) => std::slice::from_ref(faces.get(i as usize - 1)?),
        None => faces,
    };
    let (l, t, r, b) = bounds(chosen)?;
    let (iw, ih) = (f64::from(width), f64::from(height));
    let (fw, fh) = ((r - l) * iw, (b - t) * ih);
    let (cx, cy) = ((l + r) / 2.0 * iw, (t + b) / 2.0 * ih);
    // Below 1 would cut into the face: imgix's range starts at 1.
    let grow = pad.max(1.0);
    let (mut w, mut h) = (fw * grow, fh * grow);
    if let Some(a) = aspect {
        if w / h < a {
            w = h * a;
        } else {
            h = w / a;
        }
    }
    // Too big for the image: shrink both sides by the same factor, keeping the shape.
    let shrink = (iw / w).min(ih / h).min(1.0);
    let (w, h) = ((w * shrink).max(1.0), (h * shrink).max(1.0));
    let x = (cx - w / 2.0).clamp(0.0, iw - w);
    let y = (cy - h / 2.0).clamp(0.0, ih - h);
    let rect = Rect {
        x: x.round() as u32,
        y: y.round() as u32,
        w: (w.round() as u32).max(1),
        h: (h.round() as u32).max(1),
    };
    Some(Rect {
        w: rect.w.min(width - rect.x.min(width - 1)),
        h: rect.h.min(height - rect.y.min(height - 1)),
        ..rect
    })
}

/// The size faces are looked for at: the upright original's shape, at most `side` on its longer
/// side (never stretched: a squashed face is not the face the cascade knows).
pub fn detect_size(bytes: &[u8], side: u32) -> Result<(u32, u32), Error> {
    let header = Image::header(bytes).map_err(classify)?;
    let (mut w, mut h) = (header.width(), header.height());
    if header.orientation() >= 5 {
        std::mem::swap(&mut w, &mut h);
    }
    let scale = (f64::from(side) / f64::from(w.max(h).max(1))).min(1.0);
    Ok((
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    ))
}

/// The centre of the box around every face, as fractions: where `crop=faces` centres its window.
pub fn centre(faces: &[Face]) -> Option<(f64, f64)> {
    let (l, t, r, b) = bounds(faces)?;
    Some(((l + r) / 2.0, (t + b) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_around_faces_is_centred_on_all_of_them() {
        let a = Face {
            x: 0.1,
            y: 0.2,
            w: 0.1,
            h: 0.1,
        };
        let b = Face {
            x: 0.7,
            y: 0.4,
            w: 0.1,
            h: 0.2,
        };
        assert_eq!(centre(&[]), None);
        let (x, y) = centre(&[a, b]).unwrap();
        assert!((x - 0.45).abs() < 1e-9 && (y - 0.4).abs() < 1e-9);
    }

    #[test]
    fn detections_are_remembered_per_original() {
        crate::transform::vips::init().unwrap();
        let px = vec![90u8; 64 * 48 * 3];
        let png = crate::transform::vips::Image::from_pixels(&px, 64, 48, 3)
            .unwrap()
            .save(crate::transform::vips::SaveOptions::Png { compression: 1 })
            .unwrap();
        let before = detections();
        assert!(faces_of(&png, &LazyDigest::default()).unwrap().is_empty());
        assert!(faces_of(&png, &LazyDigest::default()).unwrap().is_empty());
        assert_eq!(
            detections() - before,
            1,
            "the second answer came from the cache"
        );
        // Remembered under the digest it is handed (the originals cache's), not a hash of its
        // own: bytes that are not even an image, with a known original's digest, get that
        // original's answer without a detection.
        let known = LazyDigest::default();
        known.set([7; 32]);
        faces_of(&png, &known).unwrap();
        let before = detections();
        let same = LazyDigest::default();
        same.set([7; 32]);
        assert!(faces_of(b"not an image", &same).unwrap().is_empty());
        assert_eq!(detections(), before);
    }

    #[test]
    fn the_face_area_is_padded_shaped_and_kept_inside() {
        let left = Face {
            x: 0.1,
            y: 0.4,
            w: 0.1,
            h: 0.1,
        };
        let right = Face {
            x: 0.6,
            y: 0.4,
            w: 0.2,
            h: 0.2,
        };
        let faces = [left, right];
        // One face, facepad 3: 3× its 100×100 box, square.
        assert_eq!(
            area(&faces, Some(1), 3.0, (1000, 1000), None),
            Some(Rect {
                x: 0,
                y: 300,
                w: 300,
                h: 300
            }),
            "the 300-px box around the face at 150,450 starts at 0"
        );
        // All faces, facepad 1 (the box itself; below 1 reads as 1), widened to 2:1 about their
        // centre.
        assert_eq!(
            area(&faces, None, 1.0, (1000, 1000), Some(2.0)),
            area(&faces, None, 0.2, (1000, 1000), Some(2.0)),
        );
        assert_eq!(
            area(&faces, None, 1.0, (1000, 1000), Some(2.0)),
            Some(Rect {
                x: 100,
                y: 325,
                w: 700,
                h: 350
            })
        );
        // Padded beyond the image (5× a 200-px box): shrunk to fit, keeping 1:1.
        let r = area(&faces, Some(2), 5.0, (1000, 800), Some(1.0)).unwrap();
        assert_eq!((r.w, r.h, r.y), (800, 800, 0));
        assert!(r.x + r.w <= 1000);
        assert_eq!(area(&faces, Some(3), 1.0, (1000, 1000), None), None);
        assert_eq!(area(&[], None, 1.0, (1000, 1000), None), None);
    }

    #[test]
    fn a_flat_image_has_no_faces() {
        assert!(detect_grey(&[128u8; 100 * 100], 100, 100).is_empty());
    }
}
