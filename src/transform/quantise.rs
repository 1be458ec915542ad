//! Step 5b: `colorquant=N` — the image reduced to at most `N` colours (2–256) by median cut:
//! the colour box with the widest channel range is split at its median until there are `N`
//! boxes, each box's mean is a palette entry, and every pixel takes its nearest entry. Alpha is
//! kept as it is. PNG output then writes the palette exactly; other formats encode the reduced
//! image as they would any other.

use super::classify;
use super::vips::Image;
use crate::error::Error;

/// Most pixels the palette is built from (an even sample of larger images).
const SAMPLE: usize = 1 << 16;

/// A palette of at most `n` colours for `colours` (RGB triples), by median cut.
pub fn palette(colours: &[[u8; 3]], n: usize) -> Vec<[u8; 3]> {
    palette_counted(colours, n)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// As [`palette`], each entry with how many of `colours` it stands for.
pub fn palette_counted(colours: &[[u8; 3]], n: usize) -> Vec<([u8; 3], usize)> {
    let mut boxes: Vec<Vec<[u8; 3]>> = vec![colours.to_vec()];
    while boxes.len() < n {
        // The box with the widest range on any channel, if it can still be split.
        let widest = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() > 1)
            .map(|(i, b)| {
                let (channel, range) = (0..3)
                    .map(|c| {
                        let (lo, hi) = b
                            .iter()
                            .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[c]), hi.max(p[c])));
                        (c, hi - lo)
                    })
                    .max_by_key(|(_, r)| *r)
                    .unwrap_or((0, 0));
                (i, channel, range)
            })
            .filter(|(_, _, range)| *range > 0)
            .max_by_key(|(_, _, range)| *range);
        let Some((i, channel, _)) = widest else {
            break;
        };
        let mut b = boxes.swap_remove(i);
        b.sort_unstable_by_key(|p| p[channel]);
        let upper = b.split_off(b.len() / 2);
        boxes.push(b);
        boxes.push(upper);
    }
    boxes
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| {
            let mut sum = [0u64; 3];
            for p in b {
                for c in 0..3 {
                    sum[c] += u64::from(p[c]);
                }
            }
            let n = b.len() as u64;
            (sum.map(|s| ((s + n / 2) / n) as u8), b.len())
        })
        .collect()
}

/// The palette entry nearest `p` (squared RGB distance).
fn nearest(palette: &[[u8; 3]], p: [u8; 3]) -> [u8; 3] {
    *palette
        .iter()
        .min_by_key(|q| {
            (0..3)
                .map(|c| (i32::from(p[c]) - i32::from(q[c])).pow(2))
                .sum::<i32>()
        })
        .expect("a palette has at least one colour")
}

/// Reduce interleaved `pixels` (colour bands first: 1 grey or 3 RGB) to at most `n` colours.
pub fn reduce(pixels: &mut [u8], bands: usize, colour: usize, n: usize) {
    let rgb = |px: &[u8]| -> [u8; 3] {
        if colour >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0]; 3]
        }
    };
    let count = pixels.len() / bands;
    let step = count.div_ceil(SAMPLE).max(1);
    let sample: Vec<[u8; 3]> = pixels.chunks_exact(bands).step_by(step).map(rgb).collect();
    let palette = palette(&sample, n);
    // Nearest entries, remembered per colour at 5 bits a channel (exact for small palettes,
    // and the same answer for colours that close).
    let mut memo = vec![None::<[u8; 3]>; 1 << 15];
    for px in pixels.chunks_exact_mut(bands) {
        let p = rgb(px);
        let key =
            (usize::from(p[0] >> 3) << 10) | (usize::from(p[1] >> 3) << 5) | usize::from(p[2] >> 3);
        let q = *memo[key].get_or_insert_with(|| nearest(&palette, p));
        if colour >= 3 {
            px[..3].copy_from_slice(&q);
        } else {
            px[0] = q[0];
        }
    }
}

/// `colorquant`: `image` reduced to at most `n` colours; nothing to do without it.
pub fn apply(image: Image<'_>, n: Option<u16>) -> Result<Image<'_>, Error> {
    let Some(n) = n else {
        return Ok(image);
    };
    let bands = image.bands() as usize;
    let colour = bands - usize::from(image.has_alpha());
    let mut pixels = image.pixels().map_err(classify)?;
    reduce(&mut pixels, bands, colour, usize::from(n));
    image.with_pixels(&pixels).map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(pixels: &[u8], bands: usize) -> usize {
        let mut seen: Vec<&[u8]> = pixels.chunks_exact(bands).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    #[test]
    fn median_cut_gives_at_most_n_colours_and_keeps_distinct_clusters() {
        // A gradient of 256 greys and pure red/blue: 4 colours keep red and blue apart.
        let mut px: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        px.extend([255, 0, 0].repeat(64));
        px.extend([0, 0, 255].repeat(64));
        for n in [2, 4, 8, 16] {
            let mut out = px.clone();
            reduce(&mut out, 3, 3, n);
            assert!(distinct(&out, 3) <= n, "{n}: {}", distinct(&out, 3));
        }
        let mut out = px.clone();
        reduce(&mut out, 3, 3, 8);
        let red = &out[256 * 3..256 * 3 + 3];
        let blue = &out[out.len() - 3..];
        assert!(red[0] > 200 && red[2] < 60, "{red:?}");
        assert!(blue[2] > 200 && blue[0] < 60, "{blue:?}");
        // Fewer colours than asked: unchanged.
        let mut two = [9, 9, 9, 200, 10, 10].repeat(10);
        let before = two.clone();
        reduce(&mut two, 3, 3, 16);
        assert_eq!(two, before);
    }
}
