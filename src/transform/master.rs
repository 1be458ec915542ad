//! Decode once, render many: a downscaled **master** per hot original.
//!
//! A page's srcset asks for one original at many widths and formats, and each of those misses
//! would decode the original again — for a camera JPEG, tens of milliseconds of entropy decoding
//! that shrink-on-load cannot skip. The second time an original is rendered within a few
//! minutes, it is decoded once more into a master: upright, colour-managed sRGB pixels in memory,
//! at most [`MAX_PIXELS`] (a JPEG at a power-of-two shrink-on-load scale, exactly what
//! `thumbnail` itself would decode for a size that small; other formats decoded and scaled
//! down by the same factor). Later variants of that original are scaled from the master.
//!
//! Quality guard: a variant is rendered from the master only when it is no larger than the
//! master in either dimension — the master is never enlarged, and every variant still comes from
//! at least as many pixels as a direct render's shrink-on-load decode gives it. Bigger variants,
//! and requests that need the original's own geometry (rect, trim, orient, animation frames,
//! saliency crops), render from the original as before. `make bench-quality` measures the
//! distance between master and direct renders (BENCHMARKS.md).
//!
//! Masters live in a byte-weighted moka cache (`--master-cache-size`), each holding a reference
//! to the original bytes it was made from: a master is used only for exactly those bytes, so a
//! replaced original never renders from a stale master.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::sync::Cache;
use prometheus::IntCounterVec;

use super::classify;
use super::load::SourceInfo;
use super::plan::Size;
use super::vips::{Image, Pages, SharedImage, ThumbnailOptions};
use crate::error::Error;

/// Largest master, in pixels: 5 MP (2592 × 1944), 15 MB of 8-bit RGB. Big enough for every
/// srcset width up to 2560 of a landscape photo, small enough that a 24 MP original needs only a
/// quarter-scale decode.
pub const MAX_PIXELS: u64 = 5_000_000;

/// An original rendered again within this long is hot: its next render builds a master.
const HOT_WINDOW: Duration = Duration::from_secs(300);

/// A master nobody has used for this long is dropped.
const IDLE: Duration = Duration::from_secs(600);

/// One decoded master and the bytes it was decoded from.
struct Master {
    original: Bytes,
    pixels: SharedImage,
}

/// The masters cache, and the set of originals seen recently (to tell hot from cold).
pub struct Masters {
    masters: Cache<String, Arc<Master>>,
    seen: Cache<String, ()>,
    counter: IntCounterVec,
}

impl Masters {
    /// A cache of at most `max_bytes` of masters (pixels plus the original bytes each pins);
    /// `None` when `max_bytes` is 0 (every variant renders from its original).
    /// `counter` is `refract_masters_total{result}`.
    pub fn new(max_bytes: u64, counter: IntCounterVec) -> Option<Masters> {
        if max_bytes == 0 {
            return None;
        }
        let masters = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, m: &Arc<Master>| {
                let bytes = key.len() as u64 + m.original.len() as u64 + m.pixels.memory();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_idle(IDLE)
            .build();
        let seen = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(HOT_WINDOW)
            .build();
        Some(Masters {
            masters,
            seen,
            counter,
        })
    }

    /// `original` (under `key`) scaled to exactly `size`, from its master — built now if the
    /// original is hot and has none, from the bytes `pixels` gives (the original's own, or a
    /// HEIC's decoded form; `original` stays the master's identity). `None` when the variant
    /// should render from the original: a cold original, or a size larger than the master.
    pub fn scaled(
        &self,
        key: &str,
        original: &Bytes,
        source: &SourceInfo,
        size: Size,
        pixels: &dyn Fn() -> Result<Bytes, Error>,
    ) -> Result<Option<Image<'static>>, Error> {
        let count = |result: &str| self.counter.with_label_values(&[result]).inc();
        let master = match self.masters.get(key) {
            Some(m) if same_bytes(&m.original, original) => m,
            stale => {
                if stale.is_some() {
                    self.masters.invalidate(key);
                }
                let Some(dims) = master_size(source).filter(|&dims| fits(size, dims)) else {
                    count("too_large");
                    return Ok(None);
                };
                if !self.seen.contains_key(key) {
                    self.seen.insert(key.to_owned(), ());
                    count("cold");
                    return Ok(None);
                }
                // Concurrent first renders of a hot original build one master between them.
                let built = self.masters.try_get_with(key.to_owned(), || {
                    build(&pixels()?, dims).map(|pixels| {
                        Arc::new(Master {
                            original: original.clone(),
                            pixels,
                        })
                    })
                });
                match built {
                    Ok(m) => {
                        count("built");
                        m
                    }
                    Err(e) => return Err((*e).clone()),
                }
            }
        };
        if !fits(
            size,
            Size::new(master.pixels.width(), master.pixels.height()),
        ) {
            count("too_large");
            return Ok(None);
        }
        count("hit");
        let scaled = master
            .pixels
            .image()
            .thumbnail_image(size.width, size.height)
            .map_err(classify)?;
        Ok(Some(scaled))
    }
}

/// The same bytes: the same buffer (the originals cache hands out clones of one `Bytes`), or
/// equal contents (a fresh fetch of an unchanged original).
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

fn fits(size: Size, within: Size) -> bool {
    size.width <= within.width && size.height <= within.height
}

/// The master's size for an original of (upright) `source.size`: the original divided by the
/// smallest power of two (up to 8, JPEG's shrink-on-load steps) that brings it under
/// [`MAX_PIXELS`]. Rounded up, as libjpeg rounds a scaled decode. `None` for originals so
/// large that even an eighth is over the budget: those render from the original every time.
pub fn master_size(source: &SourceInfo) -> Option<Size> {
    let Size { width, height } = source.size;
    let pixels = |d: u32| u64::from(width.div_ceil(d)) * u64::from(height.div_ceil(d));
    let d = [1, 2, 4, 8]
        .into_iter()
        .find(|&d| pixels(d) <= MAX_PIXELS)?;
    Some(Size::new(width.div_ceil(d), height.div_ceil(d)))
}

/// Decode `original` at `dims` (upright, in its own colour space with its ICC profile, CMYK
/// already made sRGB) into shared memory.
fn build(original: &[u8], dims: Size) -> Result<SharedImage, Error> {
    let opts = ThumbnailOptions {
        width: dims.width,
        height: dims.height,
        crop: None,
        no_rotate: false,
        pages: Pages::First,
        // Kept in the original's colour space, profile attached: each variant is converted to
        // sRGB after its own scaling, in the order a render from the original takes.
        to_srgb: false,
    };
    Image::thumbnail(original, opts)
        .and_then(|image| image.share())
        .map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::format::Format;

    fn source(width: u32, height: u32) -> SourceInfo {
        SourceInfo {
            size: Size::new(width, height),
            has_alpha: false,
            format: Format::JPEG,
            input: crate::encoding::format::Input::Jpeg,
            raw: Size::new(width, height),
            orientation: 1,
            frames: 1,
            cmyk: false,
            icc: false,
        }
    }

    #[test]
    fn master_size_is_a_power_of_two_scale_under_the_budget() {
        let size = |w, h| master_size(&source(w, h));
        // 4.3 MP: decoded whole.
        assert_eq!(size(2400, 1800), Some(Size::new(2400, 1800)));
        // 12 MP camera photo: half scale, 3 MP.
        assert_eq!(size(4000, 3000), Some(Size::new(2000, 1500)));
        // 24 MP: half would be 6 MP, over the budget, so a quarter.
        assert_eq!(size(6000, 4000), Some(Size::new(1500, 1000)));
        // Odd sizes round up, as libjpeg does.
        assert_eq!(size(4001, 3001), Some(Size::new(2001, 1501)));
        // Even an eighth over the budget: no master.
        assert_eq!(size(40000, 30000), None);
    }

    #[test]
    fn same_bytes_by_buffer_or_contents() {
        let a = Bytes::from_static(b"abc");
        assert!(same_bytes(&a, &a.clone()));
        assert!(same_bytes(&a, &Bytes::from(b"abc".to_vec())));
        assert!(!same_bytes(&a, &Bytes::from_static(b"abd")));
    }
}
