//! Face detection for `crop=faces`: SeetaFace's frontal-face cascade (the `rustface` crate, its
//! model embedded in the binary by build.rs, never fetched), run on a greyscale downscale of the
//! upright original at most [`DETECT_SIDE`] pixels on its longer side. (Detections are not yet
//! cached per original: each render of a `crop=faces` variant detects again.) Faces come back as
//! fractions of the original, so they serve every size of it.

use std::sync::OnceLock;

use rustface::{ImageData, Model};

use super::classify;
use super::vips::{Image, Interpretation, Pages, ThumbnailOptions};
use crate::error::Error;

/// The model, as the `rustface` crate ships it.
static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Longer side of the image faces are looked for in: faces from 24 px (the smallest window the
/// detector is set to) — 7.5% of the picture's longer side — up; 14.6 ms of CPU for the cascade
/// at this size on the bench VM (`cargo bench --bench transform -- faces/`), where 400 px took 35.
pub const DETECT_SIDE: u32 = 320;

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

/// Faces in greyscale `pixels` (`w`×`h`), as fractions, most confident first.
pub fn detect_grey(pixels: &[u8], w: u32, h: u32) -> Vec<Face> {
    if w < 20 || h < 20 {
        return Vec::new();
    }
    let mut detector = rustface::create_detector_with_model(model().clone());
    detector.set_min_face_size(24);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(0.7);
    detector.set_slide_window_step(4, 4);
    let mut found = detector.detect(&ImageData::new(pixels, w, h));
    found.sort_by(|a, b| b.score().total_cmp(&a.score()));
    let (fw, fh) = (f64::from(w), f64::from(h));
    found
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
        .collect()
}

/// Faces in the original `bytes` (upright, as the viewer sees it).
pub fn detect(bytes: &[u8]) -> Result<Vec<Face>, Error> {
    let small = Image::thumbnail(
        bytes,
        ThumbnailOptions {
            width: DETECT_SIDE,
            height: DETECT_SIDE,
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

/// The centre of the box around every face, as fractions: where `crop=faces` centres its window.
pub fn centre(faces: &[Face]) -> Option<(f64, f64)> {
    let first = faces.first()?;
    let (mut l, mut t, mut r, mut b) = (first.x, first.y, first.x + first.w, first.y + first.h);
    for f in &faces[1..] {
        l = l.min(f.x);
        t = t.min(f.y);
        r = r.max(f.x + f.w);
        b = b.max(f.y + f.h);
    }
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
    fn a_flat_image_has_no_faces() {
        assert!(detect_grey(&[128u8; 100 * 100], 100, 100).is_empty());
    }
}
