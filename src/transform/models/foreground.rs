//! The foreground mask: a square RGB image in, one probability per pixel out (0 background,
//! 255 subject), as rembg runs U²-Net.
//!
//! The contract a model under `foreground.onnx` meets (U²-NetP's, and BiRefNet's): input 0 is
//! `[1, 3, S, S]` float32 — RGB scaled to 0..1 by the image's largest value, then normalised
//! with ImageNet's mean (0.485, 0.456, 0.406) and deviation (0.229, 0.224, 0.225); output 0 is
//! `[1, 1, S, S]` (or `[1, S, S]`): foreground probabilities, or logits (any value outside 0..1:
//! a sigmoid is applied). The output is stretched to 0..1 (min–max), as rembg does.

use ort::value::Tensor;

use super::signature::Signature;
use super::{Models, Role};
use crate::error::Error;

/// U²-NetP's input side, and the side a model with a dynamic input size is given.
pub const DEFAULT_SIDE: u32 = 320;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A foreground mask at the model's resolution: `side` × `side`, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Width and height.
    pub side: u32,
    /// Foreground probability, 0–255, row-major.
    pub pixels: Vec<u8>,
}

impl Mask {
    /// The mask's weight: the mean probability, 0–1.
    pub fn coverage(&self) -> f64 {
        let sum: u64 = self.pixels.iter().map(|&p| u64::from(p)).sum();
        sum as f64 / (255.0 * self.pixels.len().max(1) as f64)
    }

    /// The subject, in fractions of the image (left, top, right, bottom): the smallest box
    /// holding every pixel at least half foreground. `None`: nothing is.
    pub fn subject(&self) -> Option<(f64, f64, f64, f64)> {
        let side = self.side as usize;
        let (mut l, mut t, mut r, mut b) = (side, side, 0, 0);
        for (i, &p) in self.pixels.iter().enumerate() {
            if p >= 128 {
                let (x, y) = (i % side, i / side);
                l = l.min(x);
                t = t.min(y);
                r = r.max(x + 1);
                b = b.max(y + 1);
            }
        }
        (r > l).then(|| {
            let s = side as f64;
            (l as f64 / s, t as f64 / s, r as f64 / s, b as f64 / s)
        })
    }

    /// The centre of the foreground's weight, in fractions of the image. `None`: an empty mask.
    pub fn centroid(&self) -> Option<(f64, f64)> {
        let side = self.side as usize;
        let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
        for (i, &p) in self.pixels.iter().enumerate() {
            // The confident part only: faint haze over a busy background does not pull.
            if p >= 128 {
                let w = f64::from(p);
                sx += w * ((i % side) as f64 + 0.5);
                sy += w * ((i / side) as f64 + 0.5);
                sw += w;
            }
        }
        (sw > 0.0).then(|| (sx / sw / side as f64, sy / sw / side as f64))
    }
}

/// Check a foreground model's input and output shapes; its input side.
pub(super) fn check(signature: &Signature) -> Result<u32, String> {
    let input = &signature.inputs[0];
    if input.elem_type != 1 {
        return Err(format!("input {} is not float32", input.name));
    }
    let side = match input.dims.as_slice() {
        [_, Some(3), Some(h), Some(w)] if h == w && *h > 0 && *h <= 2048 => *h as u32,
        [_, Some(3), None, None] => DEFAULT_SIDE,
        other => {
            return Err(format!(
                "input {} has shape {other:?}, not [1, 3, S, S]",
                input.name
            ))
        }
    };
    let output = &signature.outputs[0];
    match output.dims.as_slice() {
        [_, Some(1), _, _] | [_, _, _] => Ok(side),
        other => Err(format!(
            "output {} has shape {other:?}, not [1, 1, S, S]",
            output.name
        )),
    }
}

/// The side of the square RGB image [`mask`] takes.
pub fn side(models: &Models) -> Option<u32> {
    models.info(Role::Foreground).map(|i| i.scale)
}

/// The foreground mask of `rgb`: `side` × `side` pixels, 3 bytes each (the image scaled to the
/// model's square, whatever its aspect).
pub fn mask(models: &Models, rgb: &[u8]) -> Result<Mask, Error> {
    models.with_session(Role::Foreground, |session, info| {
        let side = info.scale;
        let n = (side * side) as usize;
        if rgb.len() != n * 3 {
            return Err(format!("{} bytes for a {side}² RGB input", rgb.len()));
        }
        let max = f32::from(rgb.iter().copied().max().unwrap_or(0).max(1));
        let mut input = vec![0f32; 3 * n];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                input[c * n + i] = (f32::from(px[c]) / max - MEAN[c]) / STD[c];
            }
        }
        let tensor = Tensor::from_array(([1usize, 3, side as usize, side as usize], input))
            .map_err(|e| e.to_string())?;
        let (shape, mut values) = super::run(session, tensor)?;
        if values.len() != n {
            return Err(format!("output shape {shape:?} for a {side}² input"));
        }
        if values.iter().any(|v| !(0.0..=1.0).contains(v)) {
            for v in &mut values {
                *v = 1.0 / (1.0 + (-*v).exp());
            }
        }
        let (lo, hi) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let range = (hi - lo).max(f32::EPSILON);
        let pixels = values
            .iter()
            .map(|&v| (((v - lo) / range) * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        Ok(Mask { side, pixels })
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_models::models;
    use super::*;

    /// A grey square on a flat, lighter background: U²-NetP finds the square.
    #[test]
    fn u2netp_finds_a_square_on_a_plain_background() {
        let side = side(models()).unwrap() as usize;
        let mut rgb = vec![235u8; side * side * 3];
        for y in 100..220 {
            for x in 60..180 {
                let i = (y * side + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[180, 40, 30]);
            }
        }
        let mask = mask(models(), &rgb).unwrap();
        assert_eq!(mask.side as usize, side);
        let at = |x: usize, y: usize| mask.pixels[y * side + x];
        assert!(at(120, 160) > 200, "inside: {}", at(120, 160));
        assert!(at(10, 10) < 50, "outside: {}", at(10, 10));
        let (l, t, r, b) = mask.subject().unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 0.05;
        assert!(near(l, 60.0 / 320.0) && near(r, 180.0 / 320.0), "{l} {r}");
        assert!(near(t, 100.0 / 320.0) && near(b, 220.0 / 320.0), "{t} {b}");
    }
}
