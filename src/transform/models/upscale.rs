//! Super-resolution: an RGB image in, the same image `k` times larger out, run in tiles so the
//! memory an inference takes is bounded whatever the image's size.
//!
//! The contract a model under `upscale.onnx` meets (Real-ESRGAN's, converted by
//! `.ci/ncnn2onnx.py`): input 0 is `[1, 3, H, W]` float32 RGB in 0..1 with dynamic `H`, `W`;
//! output 0 is `[1, 3, kH, kW]` in 0..1. `k` is found at start by a probe run.

use ort::session::Session;
use ort::value::Tensor;

use super::signature::Signature;
use super::{Models, Role};
use crate::error::Error;

/// Input tile side: a tile's activations (64 channels at the input's size) stay a few MB.
const TILE: u32 = 128;
/// Context around each tile, dropped from its output: the network sees 18 pixels either side
/// (eighteen 3×3 convolutions), so tiles join without seams.
const OVERLAP: u32 = 18;

/// The factor every upscaler is taken for (Real-ESRGAN's `x4` models): checked by a probe run
/// when the model is first loaded.
pub const FACTOR: u32 = 4;

/// Check a super-resolution model's input and output shapes; its factor.
pub(super) fn check(signature: &Signature) -> Result<u32, String> {
    let input = &signature.inputs[0];
    match (input.elem_type, input.dims.as_slice()) {
        (1, [_, Some(3), None, None]) => {}
        (_, other) => {
            return Err(format!(
                "input {} has shape {other:?}, not float32 [1, 3, H, W] with H and W dynamic",
                input.name
            ))
        }
    }
    match signature.outputs[0].dims.as_slice() {
        [_, Some(3), _, _] => Ok(FACTOR),
        other => Err(format!("output has shape {other:?}, not [1, 3, kH, kW]")),
    }
}

/// Run a 16×16 probe through a freshly loaded upscaler: its output must be `factor` times the
/// size.
pub(super) fn probe(session: &mut Session, factor: u32) -> Result<(), String> {
    let (shape, _) = run(session, &vec![0.5f32; 3 * 16 * 16], 16, 16)?;
    let side = i64::from(16 * factor);
    if shape != [1, 3, side, side] {
        return Err(format!(
            "a 16×16 probe gave shape {shape:?}, not [1, 3, {side}, {side}] (a {factor}× model)"
        ));
    }
    Ok(())
}

fn run(
    session: &mut Session,
    planar: &[f32],
    width: u32,
    height: u32,
) -> Result<(Vec<i64>, Vec<f32>), String> {
    let tensor = Tensor::from_array((
        [1usize, 3, height as usize, width as usize],
        planar.to_vec(),
    ))
    .map_err(|e| e.to_string())?;
    super::run(session, tensor)
}

/// The model's factor, if one is loaded.
pub fn factor(models: &Models) -> Option<u32> {
    models.info(Role::Upscale).map(|i| i.scale)
}

/// `rgb` (`width` × `height`, 3 bytes a pixel) upscaled by the model's factor `k`: the
/// `k·width` × `k·height` RGB pixels.
pub fn upscale(models: &Models, rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, Error> {
    models.with_session(Role::Upscale, |session, info| {
        let k = info.scale;
        let (w, h) = (width as usize, height as usize);
        if rgb.len() != w * h * 3 {
            return Err(format!(
                "{} bytes for a {width}×{height} RGB input",
                rgb.len()
            ));
        }
        let (ow, oh) = (w * k as usize, h * k as usize);
        let mut out = vec![0u8; ow * oh * 3];
        for ty in (0..height).step_by(TILE as usize) {
            for tx in (0..width).step_by(TILE as usize) {
                let (x0, y0) = (tx.saturating_sub(OVERLAP), ty.saturating_sub(OVERLAP));
                let x1 = (tx + TILE + OVERLAP).min(width);
                let y1 = (ty + TILE + OVERLAP).min(height);
                let (tw, th) = ((x1 - x0) as usize, (y1 - y0) as usize);
                let n = tw * th;
                let mut planar = vec![0f32; 3 * n];
                for y in 0..th {
                    let row = ((y0 as usize + y) * w + x0 as usize) * 3;
                    for x in 0..tw {
                        for c in 0..3 {
                            planar[c * n + y * tw + x] = f32::from(rgb[row + x * 3 + c]) / 255.0;
                        }
                    }
                }
                let (shape, values) = run(session, &planar, tw as u32, th as u32)?;
                let (kw, kh) = (tw * k as usize, th * k as usize);
                if shape != [1, 3, kh as i64, kw as i64] {
                    return Err(format!("output shape {shape:?} for a {tw}×{th} tile"));
                }
                // Keep the tile's own part of the output, without its context.
                let kn = kw * kh;
                let (cx0, cy0) = (
                    (tx - x0) as usize * k as usize,
                    (ty - y0) as usize * k as usize,
                );
                let cw = (TILE.min(width - tx)) as usize * k as usize;
                let ch = (TILE.min(height - ty)) as usize * k as usize;
                for y in 0..ch {
                    let dst = ((ty as usize * k as usize + y) * ow + tx as usize * k as usize) * 3;
                    let src = (cy0 + y) * kw + cx0;
                    for x in 0..cw {
                        for c in 0..3 {
                            let v = values[c * kn + src + x];
                            out[dst + x * 3 + c] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
                        }
                    }
                }
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_models::models;
    use super::*;

    /// A 4× upscale of a smooth gradient stays that gradient (the network adds detail to
    /// edges, not to flat ramps), and tiles join without a seam.
    #[test]
    fn a_gradient_comes_out_four_times_larger_and_seamless() {
        let (w, h) = (200u32, 150u32);
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&[(x + 20) as u8, (y + 40) as u8, 128]);
            }
        }
        let k = factor(models()).unwrap();
        assert_eq!(k, 4);
        let out = upscale(models(), &rgb, w, h).unwrap();
        assert_eq!(out.len(), (w * k * h * k * 3) as usize);
        let at = |x: u32, y: u32, c: u32| i32::from(out[((y * w * k + x) * 3 + c) as usize]);
        // Away from the borders, each output pixel is near its source pixel's value.
        let mut worst = 0;
        for y in (40..h * k - 40).step_by(7) {
            for x in (40..w * k - 40).step_by(7) {
                let expect = (x / k + 20) as i32;
                worst = worst.max((at(x, y, 0) - expect).abs());
            }
        }
        assert!(worst <= 10, "red channel off by {worst}");
        // Across the tile boundary at input x = 128 (output 512): no jump.
        let jump = (at(511, 300, 0) - at(512, 300, 0)).abs();
        assert!(jump <= 3, "seam: {jump}");
    }
}
