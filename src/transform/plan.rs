//! Geometry: from the source's size and the requested fit to exact pixel operations. Pure
//! arithmetic, no libvips, so every fit mode is unit-tested here.
//!
//! A plan is always "scale the (oriented) source to exactly `resize`, then optionally cut a
//! window out of it, then optionally pad it onto a canvas".

use crate::error::Error;
use crate::request::{Align, Crop, Fit, Params};

/// Width × height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Size {
    /// A size.
    pub const fn new(width: u32, height: u32) -> Size {
        Size { width, height }
    }
}

/// The part of the scaled image to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// A fixed rectangle.
    At {
        /// Left edge.
        left: u32,
        /// Top edge.
        top: u32,
        /// Size of the window.
        size: Size,
    },
    /// The most interesting window of this size, found by libvips.
    Smart {
        /// Size of the window.
        size: Size,
        /// `true` for libvips attention, `false` for entropy.
        attention: bool,
    },
}

/// Where the image sits on a padded canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    /// Canvas size.
    pub size: Size,
    /// Left offset of the image.
    pub left: u32,
    /// Top offset of the image.
    pub top: u32,
}

/// What to do to the source's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Scale the oriented source to exactly this size.
    pub resize: Size,
    /// Then keep this window, if any.
    pub window: Option<Window>,
    /// Then place it on this canvas, if any.
    pub canvas: Option<Canvas>,
}

impl Plan {
    /// The size of the finished image.
    pub fn output(&self) -> Size {
        if let Some(c) = self.canvas {
            return c.size;
        }
        match self.window {
            Some(Window::At { size, .. }) | Some(Window::Smart { size, .. }) => size,
            None => self.resize,
        }
    }
}

/// How much bigger than the output cap an intermediate (scaled, before cropping) side may be.
/// Covering a box with an extreme-aspect source would otherwise ask for absurd intermediates.
const INTERMEDIATE_FACTOR: u32 = 8;

/// Plan the geometry for a source of `source` size (after EXIF orientation).
pub fn plan(source: Size, params: &Params, max_dimension: u32) -> Result<Plan, Error> {
    let (sw, sh) = (f64::from(source.width), f64::from(source.height));
    let fit = params.fit;
    let plan = match (params.width, params.height) {
        // No box: the original size, capped.
        (None, None) => Plan::just(cap(source, max_dimension)),
        // One side: scale proportionally; only `max`-like fits refuse to enlarge.
        (Some(_), None) | (None, Some(_)) => {
            let mut scale = match (params.width, params.height) {
                (Some(w), _) => f64::from(w) / sw,
                (_, Some(h)) => f64::from(h) / sh,
                _ => unreachable!(),
            };
            if matches!(fit, Fit::Max | Fit::Min | Fit::FillMax) {
                scale = scale.min(1.0);
            }
            Plan::just(cap(scaled(source, scale), max_dimension))
        }
        (Some(w), Some(h)) => {
            let (bw, bh) = (f64::from(w), f64::from(h));
            let boxed = Size::new(w, h);
            let contain = (bw / sw).min(bh / sh);
            let cover = (bw / sw).max(bh / sh);
            match fit {
                Fit::Clip => Plan::just(scaled(source, contain)),
                Fit::Max => Plan::just(scaled(source, contain.min(1.0))),
                Fit::Scale => Plan::just(boxed),
                // clamp: fill's geometry; the frame is the image's own edges (see `pad`).
                Fit::Fill | Fit::FillMax | Fit::Clamp => {
                    let scale = if fit == Fit::FillMax {
                        contain.min(1.0)
                    } else {
                        contain
                    };
                    let resize = scaled(source, scale);
                    let resize = Size::new(resize.width.min(w), resize.height.min(h));
                    let canvas = (resize != boxed).then(|| Canvas {
                        size: boxed,
                        left: (w - resize.width) / 2,
                        top: (h - resize.height) / 2,
                    });
                    Plan {
                        resize,
                        window: None,
                        canvas,
                    }
                }
                Fit::Crop => {
                    // fp-z: the image scaled `zoom` times past covering, the window kept on the
                    // focal point.
                    let zoom = match params.crop {
                        Crop::FocalPoint { zoom, .. } => zoom,
                        _ => 1.0,
                    };
                    cover_then_crop(source, cover * zoom, boxed, params.crop, max_dimension)?
                }
                Fit::Min if cover <= 1.0 => {
                    cover_then_crop(source, cover, boxed, params.crop, max_dimension)?
                }
                Fit::Min => {
                    // Would need enlarging: crop the original to the box's aspect ratio instead.
                    let shrink = (sw / bw).min(sh / bh);
                    let window = scaled(boxed, shrink);
                    let window = Size::new(
                        window.width.min(source.width),
                        window.height.min(source.height),
                    );
                    crop_window(source, window, params.crop)
                }
            }
        }
    };
    Ok(plan)
}

impl Plan {
    fn just(resize: Size) -> Plan {
        Plan {
            resize,
            window: None,
            canvas: None,
        }
    }
}

/// Scale to cover `boxed`, then crop to it.
fn cover_then_crop(
    source: Size,
    cover: f64,
    boxed: Size,
    crop: Crop,
    max_dimension: u32,
) -> Result<Plan, Error> {
    let scaled = scaled(source, cover);
    // Rounding must never leave the scaled image smaller than the window.
    let resize = Size::new(
        scaled.width.max(boxed.width),
        scaled.height.max(boxed.height),
    );
    let limit = max_dimension.saturating_mul(INTERMEDIATE_FACTOR);
    if resize.width > limit || resize.height > limit {
        return Err(Error::bad_param(
            "fit",
            "the original's aspect ratio is too far from the box's to crop it",
        ));
    }
    Ok(crop_window(resize, boxed, crop))
}

/// Keep a `window`-sized part of an image scaled to `resize`, placed by `crop`.
fn crop_window(resize: Size, window: Size, crop: Crop) -> Plan {
    if resize == window {
        return Plan::just(resize);
    }
    let (spare_x, spare_y) = (resize.width - window.width, resize.height - window.height);
    let window = match crop {
        // The subject is resolved to a focal point before planning; none found: the anchors.
        Crop::Gravity { x, y } | Crop::Auto { x, y } => Window::At {
            left: along(spare_x, x),
            top: along(spare_y, y),
            size: window,
        },
        Crop::FocalPoint { x, y, .. } => Window::At {
            left: centred_on(x, resize.width, window.width),
            top: centred_on(y, resize.height, window.height),
            size: window,
        },
        Crop::Entropy => Window::Smart {
            size: window,
            attention: false,
        },
        // Faces are resolved to a focal point before planning; none found: attention.
        Crop::Attention | Crop::Faces => Window::Smart {
            size: window,
            attention: true,
        },
    };
    Plan {
        resize,
        window: Some(window),
        canvas: None,
    }
}

fn along(spare: u32, align: Align) -> u32 {
    match align {
        Align::Start => 0,
        Align::Center => spare / 2,
        Align::End => spare,
    }
}

/// Left edge of a `window`-wide span centred on `fraction` of `total`, kept inside it.
fn centred_on(fraction: f64, total: u32, window: u32) -> u32 {
    let ideal = fraction * f64::from(total) - f64::from(window) / 2.0;
    ideal.round().clamp(0.0, f64::from(total - window)) as u32
}

fn scaled(size: Size, scale: f64) -> Size {
    let s = |v: u32| (f64::from(v) * scale).round().max(1.0) as u32;
    Size::new(s(size.width), s(size.height))
}

/// Shrink proportionally so neither side exceeds `max`.
fn cap(size: Size, max: u32) -> Size {
    let largest = size.width.max(size.height);
    if largest <= max {
        return size;
    }
    let s = scaled(size, f64::from(max) / f64::from(largest));
    Size::new(s.width.min(max), s.height.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Params;

    const MAX: u32 = 8192;
    const SRC: Size = Size::new(4000, 3000);

    fn params(w: Option<u32>, h: Option<u32>, fit: Fit) -> Params {
        Params {
            width: w,
            height: h,
            fit,
            ..Params::default()
        }
    }

    fn out(src: Size, w: Option<u32>, h: Option<u32>, fit: Fit) -> Size {
        plan(src, &params(w, h, fit), MAX).unwrap().output()
    }

    #[test]
    fn no_box_keeps_the_original_size_but_respects_the_cap() {
        assert_eq!(out(SRC, None, None, Fit::Clip), SRC);
        assert_eq!(
            out(Size::new(20000, 10000), None, None, Fit::Clip),
            Size::new(8192, 4096)
        );
    }

    #[test]
    fn one_side_scales_proportionally() {
        assert_eq!(out(SRC, Some(400), None, Fit::Clip), Size::new(400, 300));
        assert_eq!(out(SRC, None, Some(300), Fit::Crop), Size::new(400, 300));
        // clip may enlarge (imgix), max may not.
        assert_eq!(out(SRC, Some(8000), None, Fit::Clip), Size::new(8000, 6000));
        assert_eq!(out(SRC, Some(8000), None, Fit::Max), SRC);
        // A tall source asked for by width alone still respects the cap.
        assert_eq!(
            out(Size::new(100, 10000), Some(1000), None, Fit::Clip),
            Size::new(82, 8192)
        );
    }

    #[test]
    fn clip_and_max_fit_inside() {
        assert_eq!(
            out(SRC, Some(400), Some(400), Fit::Clip),
            Size::new(400, 300)
        );
        assert_eq!(
            out(SRC, Some(8000), Some(8000), Fit::Clip),
            Size::new(8000, 6000)
        );
        assert_eq!(out(SRC, Some(8000), Some(8000), Fit::Max), SRC);
    }

    #[test]
    fn scale_stretches() {
        assert_eq!(
            out(SRC, Some(100), Some(700), Fit::Scale),
            Size::new(100, 700)
        );
    }

    #[test]
    fn crop_covers_then_cuts_the_centre() {
        let p = plan(SRC, &params(Some(300), Some(300), Fit::Crop), MAX).unwrap();
        assert_eq!(p.resize, Size::new(400, 300));
        assert_eq!(
            p.window,
            Some(Window::At {
                left: 50,
                top: 0,
                size: Size::new(300, 300)
            })
        );
        assert_eq!(p.output(), Size::new(300, 300));
    }

    #[test]
    fn crop_gravity_and_focal_point() {
        let mut p = params(Some(300), Some(300), Fit::Crop);
        p.crop = Crop::Gravity {
            x: Align::End,
            y: Align::Start,
        };
        let Some(Window::At { left, top, .. }) = plan(SRC, &p, MAX).unwrap().window else {
            panic!()
        };
        assert_eq!((left, top), (100, 0));
        p.crop = Crop::FocalPoint {
            x: 0.0,
            y: 0.5,
            zoom: 1.0,
        };
        let Some(Window::At { left, .. }) = plan(SRC, &p, MAX).unwrap().window else {
            panic!()
        };
        assert_eq!(left, 0);
        p.crop = Crop::FocalPoint {
            x: 0.6,
            y: 0.5,
            zoom: 1.0,
        };
        let Some(Window::At { left, .. }) = plan(SRC, &p, MAX).unwrap().window else {
            panic!()
        };
        assert_eq!(left, 90); // 0.6 * 400 - 150
        p.crop = Crop::FocalPoint {
            x: 0.9,
            y: 0.5,
            zoom: 1.0,
        };
        let Some(Window::At { left, .. }) = plan(SRC, &p, MAX).unwrap().window else {
            panic!()
        };
        assert_eq!(left, 100, "kept inside the image");
        p.crop = Crop::Attention;
        assert!(matches!(
            plan(SRC, &p, MAX).unwrap().window,
            Some(Window::Smart {
                attention: true,
                ..
            })
        ));
    }

    #[test]
    fn crop_with_a_matching_aspect_needs_no_window() {
        let p = plan(SRC, &params(Some(400), Some(300), Fit::Crop), MAX).unwrap();
        assert_eq!(p.window, None);
        assert_eq!(p.output(), Size::new(400, 300));
    }

    #[test]
    fn min_never_enlarges_but_keeps_the_aspect() {
        // Smaller box: same as crop.
        assert_eq!(
            out(SRC, Some(300), Some(300), Fit::Min),
            Size::new(300, 300)
        );
        // Box larger than the source: the largest 1:1 window of the original.
        let p = plan(SRC, &params(Some(6000), Some(6000), Fit::Min), MAX).unwrap();
        assert_eq!(p.resize, SRC);
        assert_eq!(p.output(), Size::new(3000, 3000));
    }

    #[test]
    fn fill_pads_to_the_box() {
        let p = plan(SRC, &params(Some(400), Some(400), Fit::Fill), MAX).unwrap();
        assert_eq!(p.resize, Size::new(400, 300));
        assert_eq!(
            p.canvas,
            Some(Canvas {
                size: Size::new(400, 400),
                left: 0,
                top: 50
            })
        );
        // fillmax pads without enlarging.
        let p = plan(
            Size::new(100, 50),
            &params(Some(400), Some(400), Fit::FillMax),
            MAX,
        )
        .unwrap();
        assert_eq!(p.resize, Size::new(100, 50));
        assert_eq!(p.output(), Size::new(400, 400));
    }

    #[test]
    fn extreme_aspect_cover_is_refused_not_attempted() {
        let r = plan(
            Size::new(1, 10000),
            &params(Some(8192), Some(8192), Fit::Crop),
            MAX,
        );
        assert_eq!(r.unwrap_err().code(), "bad_param");
    }

    #[test]
    fn tiny_results_never_reach_zero() {
        assert_eq!(
            out(Size::new(10000, 10), Some(100), None, Fit::Clip),
            Size::new(100, 1)
        );
    }
}
