//! Step 4b: shapes cut and drawn with per-pixel coverage (anti-aliased edges): `mask=ellipse`
//! and `mask=corners` (outside: transparent, or `mask-bg`), and `border` with its outer and inner
//! corner radii. Pure geometry in [`coverage_rounded`] and [`coverage_ellipse`], unit-tested
//! here; the image is made 8-bit sRGB with alpha first.

use super::classify;
use super::vips::Image;
use crate::error::Error;
use crate::request::{Border, Grid, Mask, Radii, Rgba};

/// How much of pixel (`x`, `y`) lies inside a `w`×`h` rectangle with corner radii `r`
/// (clockwise from top left), 0–1.
pub fn coverage_rounded(x: u32, y: u32, w: u32, h: u32, r: &Radii) -> f64 {
    let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
    let (w, h) = (f64::from(w), f64::from(h));
    // The corner this pixel is nearest, and that corner's radius (at most half the side).
    let (right, bottom) = (px > w / 2.0, py > h / 2.0);
    let radius = match (right, bottom) {
        (false, false) => r[0],
        (true, false) => r[1],
        (true, true) => r[2],
        (false, true) => r[3],
    };
    let radius = f64::from(radius).min(w / 2.0).min(h / 2.0);
    if radius <= 0.0 {
        return 1.0;
    }
    let cx = if right { w - radius } else { radius };
    let cy = if bottom { h - radius } else { radius };
    let in_corner =
        (if right { px > cx } else { px < cx }) && (if bottom { py > cy } else { py < cy });
    if !in_corner {
        return 1.0;
    }
    let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
    (radius - d + 0.5).clamp(0.0, 1.0)
}

/// How much of pixel (`x`, `y`) lies inside the ellipse inscribed in a `w`×`h` rectangle, 0–1.
pub fn coverage_ellipse(x: u32, y: u32, w: u32, h: u32) -> f64 {
    let (a, b) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let (dx, dy) = ((f64::from(x) + 0.5 - a) / a, (f64::from(y) + 0.5 - b) / b);
    let q = (dx * dx + dy * dy).sqrt();
    // Distance to the edge in pixels, approximately (exact on the axes).
    ((1.0 - q) * a.min(b) + 0.5).clamp(0.0, 1.0)
}

/// `image` as 8-bit sRGB with alpha.
fn rgba(image: Image<'_>) -> Result<Image<'_>, Error> {
    let image = super::colour::apply(image, true)?;
    if image.has_alpha() {
        Ok(image)
    } else {
        image.add_alpha().map_err(classify)
    }
}

/// `src` (RGBA) over `dst` (RGBA), in place in `dst`.
pub(super) fn over(dst: &mut [u8], src: [f64; 4]) {
    let sa = src[3] / 255.0;
    let da = f64::from(dst[3]) / 255.0;
    let out_a = sa + da * (1.0 - sa);
    if out_a <= 0.0 {
        dst.copy_from_slice(&[0, 0, 0, 0]);
        return;
    }
    for i in 0..3 {
        let v = (src[i] * sa + f64::from(dst[i]) * da * (1.0 - sa)) / out_a;
        dst[i] = v.round().clamp(0.0, 255.0) as u8;
    }
    dst[3] = (out_a * 255.0).round() as u8;
}

/// Cut `image` to `mask`; outside it, transparent, or `background` when given.
pub fn mask<'a>(
    image: Image<'a>,
    mask: Option<Mask>,
    background: Option<Rgba>,
) -> Result<Image<'a>, Error> {
    let Some(mask) = mask else {
        return Ok(image);
    };
    let image = rgba(image)?;
    let (w, h) = (image.width(), image.height());
    let mut px = image.pixels().map_err(classify)?;
    for y in 0..h {
        for x in 0..w {
            let c = match &mask {
                Mask::Ellipse => coverage_ellipse(x, y, w, h),
                Mask::Corners(r) => coverage_rounded(x, y, w, h, r),
            };
            if c >= 1.0 {
                continue;
            }
            let i = ((y * w + x) * 4) as usize;
            let p = &mut px[i..i + 4];
            let src = [
                f64::from(p[0]),
                f64::from(p[1]),
                f64::from(p[2]),
                f64::from(p[3]) * c,
            ];
            match background {
                Some(bg) => {
                    p.copy_from_slice(&[bg.r, bg.g, bg.b, bg.a]);
                    over(p, src);
                }
                None => p[3] = src[3].round() as u8,
            }
        }
    }
    image.with_pixels(&px).map_err(classify)
}

/// Frame `image` with `border`: its widths added around it (the plan left room inside a box),
/// the image's corners rounded inside the frame by the inner radii (the border colour shows
/// there) and the frame's corners by the outer radii (transparent outside).
pub fn border<'a>(image: Image<'a>, border: Option<Border>) -> Result<Image<'a>, Error> {
    let Some(b) = border else {
        return Ok(image);
    };
    let image = rgba(image)?;
    let (iw, ih) = (image.width(), image.height());
    let s = b.widths;
    let (w, h) = (iw + s.horizontal(), ih + s.vertical());
    let colour = [b.colour.r, b.colour.g, b.colour.b, b.colour.a];
    let framed = image
        .embed(s.left, s.top, w, h, &colour.map(f64::from))
        .map_err(classify)?;
    let mut px = framed.pixels().map_err(classify)?;
    let rounded_inside = b.inner.iter().any(|r| *r > 0);
    let rounded_outside = b.outer.iter().any(|r| *r > 0);
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 4) as usize;
            let p = &mut px[i..i + 4];
            let inside = (s.left..s.left + iw).contains(&x) && (s.top..s.top + ih).contains(&y);
            if inside && (rounded_inside || p[3] < 255) {
                // The image over the border colour, its corners cut by the inner radii.
                let c = if rounded_inside {
                    coverage_rounded(x - s.left, y - s.top, iw, ih, &b.inner)
                } else {
                    1.0
                };
                let src = [
                    f64::from(p[0]),
                    f64::from(p[1]),
                    f64::from(p[2]),
                    f64::from(p[3]) * c,
                ];
                p.copy_from_slice(&colour);
                over(p, src);
            }
            if rounded_outside {
                let c = coverage_rounded(x, y, w, h, &b.outer);
                p[3] = (f64::from(p[3]) * c).round() as u8;
            }
        }
    }
    framed.with_pixels(&px).map_err(classify)
}

/// `transparency=grid`: the image over a checkerboard of `grid`'s two colours and square size,
/// starting with the first colour at the top left. The result is opaque.
pub fn checkerboard<'a>(image: Image<'a>, grid: Option<Grid>) -> Result<Image<'a>, Error> {
    let Some(grid) = grid else {
        return Ok(image);
    };
    let image = rgba(image)?;
    let (w, h) = (image.width(), image.height());
    let mut px = image.pixels().map_err(classify)?;
    let (a, b) = grid.colours;
    for y in 0..h {
        for x in 0..w {
            let square = if ((x / grid.size) + (y / grid.size)) % 2 == 0 {
                a
            } else {
                b
            };
            let i = ((y * w + x) * 4) as usize;
            let p = &mut px[i..i + 4];
            let src = [p[0], p[1], p[2], p[3]].map(f64::from);
            p.copy_from_slice(&[square.r, square.g, square.b, 255]);
            over(p, src);
        }
    }
    image
        .with_pixels(&px)
        .and_then(|i| i.extract_bands(0, 3))
        .map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_corners_cover_by_distance_from_the_corner_centre() {
        let r = [10, 0, 10, 0];
        // Deep inside, and along the edges away from the corners: covered.
        assert_eq!(coverage_rounded(50, 50, 100, 100, &r), 1.0);
        assert_eq!(coverage_rounded(0, 50, 100, 100, &r), 1.0);
        // The very corner pixel of a rounded corner: outside.
        assert_eq!(coverage_rounded(0, 0, 100, 100, &r), 0.0);
        assert_eq!(coverage_rounded(99, 99, 100, 100, &r), 0.0);
        // A corner without radius stays square.
        assert_eq!(coverage_rounded(99, 0, 100, 100, &r), 1.0);
        // On the arc: partly covered.
        let c = coverage_rounded(2, 3, 100, 100, &r);
        assert!(c > 0.0 && c < 1.0, "{c}");
    }

    #[test]
    fn the_ellipse_touches_the_edge_midpoints_and_leaves_the_corners() {
        assert_eq!(coverage_ellipse(50, 25, 100, 50), 1.0);
        assert_eq!(coverage_ellipse(0, 0, 100, 50), 0.0);
        assert!(coverage_ellipse(0, 25, 100, 50) > 0.4);
        assert!(coverage_ellipse(50, 0, 100, 50) > 0.4);
        assert!(coverage_ellipse(99, 49, 100, 50) == 0.0);
    }
}
