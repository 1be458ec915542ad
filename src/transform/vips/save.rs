//! Encoding: [`SaveOptions`] per format, and [`Image::save`] / [`Image::save_before`], which
//! hand back libvips's output buffer as [`Bytes`] without copying it.

use std::ffi::{c_double, c_int, c_void};
use std::ptr::{self, NonNull};
use std::time::Instant;

use bytes::Bytes;

use super::ffi::*;
use super::image::Image;
use super::{take_error, version, Version, VipsError};

/// Encoder settings for [`Image::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOptions {
    /// Baseline (or progressive) JPEG with optimised Huffman tables.
    Jpeg {
        /// 1–100.
        quality: u8,
        /// Progressive scan order.
        progressive: bool,
        /// Chroma at full resolution (4:4:4, `Some(true)`) or half (4:2:0); `None` lets libvips
        /// choose (4:4:4 from quality 90).
        full_chroma: Option<bool>,
    },
    /// Lossless PNG.
    Png {
        /// zlib level 0–9.
        compression: u8,
    },
    /// PNG quantised to a palette of at most 256 colours (alpha kept), like pngquant.
    PalettePng {
        /// Quantiser quality, 1–100.
        quality: u8,
    },
    /// Lossy WebP.
    Webp {
        /// 1–100.
        quality: u8,
        /// 0 (fastest) – 6.
        effort: u8,
        /// Lossless (quality then trades effort for size).
        lossless: bool,
    },
    /// AVIF (AV1 in HEIF).
    Avif {
        /// 1–100.
        quality: u8,
        /// 0 (fastest) – 9.
        effort: u8,
        /// Lossless.
        lossless: bool,
        /// As for JPEG.
        full_chroma: Option<bool>,
    },
    /// GIF (palette-quantised, a palette per frame where the previous one does not fit).
    Gif {
        /// Quantiser effort, 1 (fastest) – 10; libvips's default is 7.
        effort: u8,
        /// Error-diffusion dithering in tenths, 0 (none) – 10 (libvips's default, full).
        dither_tenths: u8,
        /// How far (0–255) the previous frame's palette may be from a frame's colours before
        /// the frame gets a palette of its own (libvips's `interpalette_maxerror`, default 3):
        /// each new palette is a quantisation, the encoder's main cost.
        palette_error: u8,
    },
}

/// libvips's `VipsForeignSubsample`: auto, on (4:2:0), off (4:4:4).
fn subsample_mode(full_chroma: Option<bool>) -> c_int {
    match full_chroma {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    }
}

impl Image<'_> {
    /// Encode as [`Image::save`] does, but abandon the computation once `deadline` passes:
    /// libvips emits `eval` on the image as it computes, and our handler sets its kill flag,
    /// which makes every worker stop at its next tile. (The handler runs on the computing
    /// thread, so nothing crosses threads.) Work libvips does outside evaluation — parsing the
    /// header, an encoder's final pass over finished pixels — is not interrupted.
    /// `keep_icc`: embed the image's ICC profile (every other kind of metadata is still
    /// stripped).
    pub fn save_before(
        &self,
        opts: SaveOptions,
        deadline: Instant,
        keep_icc: bool,
    ) -> Result<Bytes, VipsError> {
        let deadline = Box::new(deadline);
        let instance = self.ptr.as_ptr();
        // SAFETY: the handler receives a pointer to `deadline`, which outlives the connection:
        // we disconnect before the Box is dropped. The handler's C signature matches "eval".
        let handler = unsafe {
            vips_image_set_progress(instance, TRUE);
            g_signal_connect_data(
                instance.cast(),
                c"eval".as_ptr(),
                on_eval as *const c_void,
                (&*deadline as *const Instant).cast_mut().cast(),
                ptr::null(),
                0,
            )
        };
        let result = self.save_keeping(opts, keep_icc);
        // SAFETY: `handler` was returned by the connect above on this instance.
        unsafe {
            g_signal_handler_disconnect(instance.cast(), handler);
            vips_image_set_progress(instance, FALSE);
        }
        drop(deadline);
        result
    }

    /// An uncompressed TIFF keeping the ICC profile: the hand-over format for pixels decoded
    /// outside libvips (HEIC), read back by libvips's TIFF loader at memory speed.
    pub fn save_tiff(&self) -> Result<Bytes, VipsError> {
        let mut buf: *mut c_void = ptr::null_mut();
        let mut len: usize = 0;
        // SAFETY: valid image; default options (no compression, metadata kept); the buffer is
        // g_malloc'd, owned by the GBuffer below.
        let rc = unsafe { vips_tiffsave_buffer(self.ptr.as_ptr(), &mut buf, &mut len, END) };
        owned_buffer(rc, buf, len, "tiffsave")
    }

    /// Encode, with all metadata (EXIF, XMP, IPTC, ICC, comments) stripped. This is where the
    /// pixels are actually decoded and processed, so decode errors surface here too.
    pub fn save(&self, opts: SaveOptions) -> Result<Bytes, VipsError> {
        self.save_keeping(opts, false)
    }

    /// As [`Image::save`], keeping the ICC profile when `keep_icc` (libvips 8.15 and later).
    fn save_keeping(&self, opts: SaveOptions, keep_icc: bool) -> Result<Bytes, VipsError> {
        let mut buf: *mut c_void = ptr::null_mut();
        let mut len: usize = 0;
        // libvips 8.15 replaced `strip` with `keep`; the system build may be older.
        let (meta_key, meta_val) = if version()
            >= (Version {
                major: 8,
                minor: 15,
                micro: 0,
            }) {
            let keep = if keep_icc {
                VIPS_FOREIGN_KEEP_ICC
            } else {
                VIPS_FOREIGN_KEEP_NONE
            };
            // A gain map is only ever attached on purpose (`hdr=true`, see `uhdr`): kept, it
            // makes jpegsave hand the image to uhdrsave, which writes Ultra HDR.
            let keep = if self.has_gain_map() {
                keep | VIPS_FOREIGN_KEEP_GAINMAP
            } else {
                keep
            };
            (c"keep", keep)
        } else {
            (c"strip", TRUE)
        };
        // Every output's pixels are upright (thumbnail turns them, `orient` and `rect` too): an
        // orientation field left on the image by a step that copies metadata would make the
        // AVIF saver write an `irot`/`imir` box, and browsers would turn the pixels again.
        let upright;
        let input = if self.get_int(c"orientation").is_some() {
            upright = self.derive("copy", |input, out| {
                // SAFETY: valid pointers.
                unsafe { vips_copy(input, out, END) }
            })?;
            // SAFETY: a fresh copy of the header that only this function holds.
            unsafe { vips_image_remove(upright.ptr.as_ptr(), c"orientation".as_ptr()) };
            upright.ptr.as_ptr()
        } else {
            self.ptr.as_ptr()
        };
        // SAFETY: valid image; libvips allocates the buffer with g_malloc, which GBuffer frees.
        let (rc, operation) = unsafe {
            match opts {
                SaveOptions::Jpeg {
                    quality,
                    progressive,
                    full_chroma,
                } => (
                    vips_jpegsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"Q".as_ptr(),
                        c_int::from(quality),
                        c"optimize_coding".as_ptr(),
                        TRUE,
                        c"interlace".as_ptr(),
                        if progressive { TRUE } else { FALSE },
                        c"subsample_mode".as_ptr(),
                        subsample_mode(full_chroma),
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "jpegsave",
                ),
                SaveOptions::Png { compression } => (
                    vips_pngsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"compression".as_ptr(),
                        c_int::from(compression),
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "pngsave",
                ),
                SaveOptions::PalettePng { quality } => (
                    vips_pngsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"palette".as_ptr(),
                        1 as c_int,
                        c"Q".as_ptr(),
                        c_int::from(quality),
                        c"compression".as_ptr(),
                        9 as c_int,
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "pngsave",
                ),
                SaveOptions::Webp {
                    quality,
                    effort,
                    lossless,
                } => (
                    vips_webpsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"Q".as_ptr(),
                        c_int::from(quality),
                        c"effort".as_ptr(),
                        c_int::from(effort),
                        c"lossless".as_ptr(),
                        c_int::from(lossless),
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "webpsave",
                ),
                SaveOptions::Avif {
                    quality,
                    effort,
                    lossless,
                    full_chroma,
                } => (
                    vips_heifsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"Q".as_ptr(),
                        c_int::from(quality),
                        c"compression".as_ptr(),
                        VIPS_HEIF_COMPRESSION_AV1,
                        c"effort".as_ptr(),
                        c_int::from(effort),
                        c"lossless".as_ptr(),
                        c_int::from(lossless),
                        c"subsample_mode".as_ptr(),
                        subsample_mode(full_chroma),
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "heifsave",
                ),
                SaveOptions::Gif {
                    effort,
                    dither_tenths,
                    palette_error,
                } => (
                    vips_gifsave_buffer(
                        input,
                        &mut buf,
                        &mut len,
                        c"effort".as_ptr(),
                        c_int::from(effort),
                        c"dither".as_ptr(),
                        c_double::from(dither_tenths) / 10.0,
                        c"interpalette_maxerror".as_ptr(),
                        c_double::from(palette_error),
                        meta_key.as_ptr(),
                        meta_val,
                        END,
                    ),
                    "gifsave",
                ),
            }
        };
        owned_buffer(rc, buf, len, operation)
    }
}

/// An encoder's output as [`Bytes`] (no copy), or its error.
fn owned_buffer(
    rc: c_int,
    buf: *mut c_void,
    len: usize,
    operation: &'static str,
) -> Result<Bytes, VipsError> {
    if rc != 0 {
        if !buf.is_null() {
            // SAFETY: g_malloc'd by libvips.
            unsafe { g_free(buf) };
        }
        return Err(take_error(operation));
    }
    match NonNull::new(buf.cast::<u8>()) {
        Some(ptr) => Ok(Bytes::from_owner(GBuffer { ptr, len })),
        None => Err(take_error(operation)),
    }
}

/// `eval` signal handler: kill the computation once the deadline in `data` has passed.
extern "C" fn on_eval(image: *mut VipsImage, _progress: *mut c_void, data: *mut c_void) {
    // SAFETY: `data` points to the Instant owned by `save_before`, alive while connected.
    let deadline = unsafe { *(data as *const Instant) };
    if Instant::now() >= deadline {
        // SAFETY: `image` is the live image libvips is evaluating.
        unsafe { vips_image_set_kill(image, TRUE) };
    }
}

/// A g_malloc'd encoder output handed to `Bytes` without copying; freed when the last `Bytes`
/// referring to it is dropped.
struct GBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain heap memory owned solely by this value; g_free is thread-safe.
unsafe impl Send for GBuffer {}
// SAFETY: shared access is read-only.
unsafe impl Sync for GBuffer {}

impl AsRef<[u8]> for GBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr/len describe the buffer libvips returned, alive until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for GBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated by libvips with g_malloc.
        unsafe { g_free(self.ptr.as_ptr().cast()) }
    }
}
