//! The only module that touches libvips: hand-written declarations for the few C functions Refract
//! calls, wrapped in a safe [`Image`] type. Nothing outside this file says `unsafe`.
//!
//! Why our own binding: the third-party crates either double-free on `Clone` or break their
//! option calls across libvips versions. libvips's C API passes optional arguments as
//! NULL-terminated `name, value` varargs; every call below spells out the C type of each value
//! (`c_int` for enums and booleans, `c_double` for doubles), because a wrongly typed vararg is
//! undefined behaviour that no compiler catches.
//!
//! Lifetimes: an image loaded from a buffer reads that buffer lazily, and so does every image
//! derived from it, so [`Image<'a>`] borrows the input bytes for as long as any derived image lives.

use std::ffi::{c_char, c_double, c_int, c_void, CStr};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;

#[repr(C)]
struct VipsImage {
    _opaque: [u8; 0],
}

#[repr(C)]
struct VipsArea {
    _opaque: [u8; 0],
}

// Linking is set up by build.rs (prebuilt libvips-cpp or the system libvips).
extern "C" {
    fn vips_init(argv0: *const c_char) -> c_int;
    fn vips_version(flag: c_int) -> c_int;
    fn vips_cache_set_max(max: c_int);
    fn vips_cache_set_max_mem(max: usize);
    fn vips_cache_set_max_files(max: c_int);
    fn vips_concurrency_set(concurrency: c_int);
    fn vips_block_untrusted_set(state: c_int);
    fn vips_operation_block_set(name: *const c_char, state: c_int);
    fn vips_error_buffer_copy() -> *mut c_char;
    fn vips_error_clear();
    fn vips_tracked_get_mem() -> usize;
    fn g_free(mem: *mut c_void);
    fn g_log_set_handler(
        domain: *const c_char,
        levels: c_int,
        handler: extern "C" fn(*const c_char, c_int, *const c_char, *mut c_void),
        user_data: *mut c_void,
    ) -> u32;
    fn g_object_unref(object: *mut c_void);
    fn g_object_ref(object: *mut c_void) -> *mut c_void;
    fn g_signal_connect_data(
        instance: *mut c_void,
        signal: *const c_char,
        handler: *const c_void,
        data: *mut c_void,
        destroy: *const c_void,
        flags: c_int,
    ) -> std::ffi::c_ulong;
    fn g_signal_handler_disconnect(instance: *mut c_void, handler_id: std::ffi::c_ulong);
    fn vips_image_set_progress(image: *mut VipsImage, progress: c_int);
    fn vips_image_set_kill(image: *mut VipsImage, kill: c_int);

    fn vips_image_new_from_buffer(
        buf: *const c_void,
        len: usize,
        option_string: *const c_char,
        ...
    ) -> *mut VipsImage;
    fn vips_image_new_from_memory_copy(
        data: *const c_void,
        size: usize,
        width: c_int,
        height: c_int,
        bands: c_int,
        format: c_int,
    ) -> *mut VipsImage;
    fn vips_image_write_to_memory(image: *mut VipsImage, size: *mut usize) -> *mut c_void;
    fn vips_image_get_width(image: *const VipsImage) -> c_int;
    fn vips_image_get_height(image: *const VipsImage) -> c_int;
    fn vips_image_get_bands(image: *const VipsImage) -> c_int;
    fn vips_image_get_format(image: *const VipsImage) -> c_int;
    fn vips_image_get_interpretation(image: *const VipsImage) -> c_int;
    fn vips_image_get_n_pages(image: *mut VipsImage) -> c_int;
    fn vips_image_hasalpha(image: *mut VipsImage) -> c_int;
    fn vips_image_get_typeof(image: *const VipsImage, name: *const c_char) -> usize;
    fn vips_image_get_int(image: *const VipsImage, name: *const c_char, out: *mut c_int) -> c_int;
    fn vips_image_get_string(
        image: *const VipsImage,
        name: *const c_char,
        out: *mut *const c_char,
    ) -> c_int;
    fn vips_image_set_int(image: *mut VipsImage, name: *const c_char, value: c_int);

    fn vips_thumbnail_buffer(
        buf: *const c_void,
        len: usize,
        out: *mut *mut VipsImage,
        width: c_int,
        ...
    ) -> c_int;
    fn vips_extract_area(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        left: c_int,
        top: c_int,
        width: c_int,
        height: c_int,
        ...
    ) -> c_int;
    fn vips_embed(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        x: c_int,
        y: c_int,
        width: c_int,
        height: c_int,
        ...
    ) -> c_int;
    fn vips_flatten(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    fn vips_gaussblur(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        sigma: c_double,
        ...
    ) -> c_int;
    fn vips_sharpen(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    fn vips_linear(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        a: *const c_double,
        b: *const c_double,
        n: c_int,
        ...
    ) -> c_int;
    fn vips_gamma(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    fn vips_flip(input: *mut VipsImage, out: *mut *mut VipsImage, direction: c_int, ...) -> c_int;
    fn vips_rot(input: *mut VipsImage, out: *mut *mut VipsImage, angle: c_int, ...) -> c_int;
    fn vips_autorot(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    fn vips_image_copy_memory(image: *mut VipsImage) -> *mut VipsImage;
    fn vips_image_remove(image: *mut VipsImage, name: *const c_char) -> c_int;
    fn vips_arrayjoin(input: *mut *mut VipsImage, out: *mut *mut VipsImage, n: c_int, ...)
        -> c_int;
    fn vips_thumbnail_image(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        width: c_int,
        ...
    ) -> c_int;
    fn vips_find_trim(
        input: *mut VipsImage,
        left: *mut c_int,
        top: *mut c_int,
        width: *mut c_int,
        height: *mut c_int,
        ...
    ) -> c_int;
    fn vips_rotate(input: *mut VipsImage, out: *mut *mut VipsImage, angle: c_double, ...) -> c_int;
    fn vips_percent(input: *mut VipsImage, percent: c_double, threshold: *mut c_int, ...) -> c_int;
    fn vips_extract_band(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        band: c_int,
        ...
    ) -> c_int;
    fn vips_bandjoin2(
        left: *mut VipsImage,
        right: *mut VipsImage,
        out: *mut *mut VipsImage,
        ...
    ) -> c_int;
    fn vips_colourspace(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        space: c_int,
        ...
    ) -> c_int;
    fn vips_cast(input: *mut VipsImage, out: *mut *mut VipsImage, format: c_int, ...) -> c_int;
    fn vips_bandjoin_const1(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        c: c_double,
        ...
    ) -> c_int;

    fn vips_jpegsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    fn vips_pngsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    fn vips_webpsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    fn vips_heifsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    fn vips_foreign_find_load_buffer(data: *const c_void, size: usize) -> *const c_char;
    fn vips_gifsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;

    fn vips_array_double_new(array: *const c_double, n: c_int) -> *mut VipsArea;
    fn vips_area_unref(area: *mut VipsArea);
}

const TRUE: c_int = 1;
const FALSE: c_int = 0;
const END: *const c_char = ptr::null();

// Enum values from the libvips headers (stable across 8.x).
const VIPS_SIZE_FORCE: c_int = 3;
const VIPS_ACCESS_RANDOM: c_int = 0;
/// Stop on any decoder warning. libjpeg reports a truncated file only as a warning (it pads the
/// missing scans with grey), so anything laxer serves half-grey images; sharp defaults to this too.
const VIPS_FAIL_ON_WARNING: c_int = 3;
const VIPS_ACCESS_SEQUENTIAL: c_int = 1;
const VIPS_EXTEND_BACKGROUND: c_int = 5;
const VIPS_INTERESTING_ENTROPY: c_int = 2;
const VIPS_INTERESTING_ATTENTION: c_int = 3;
const VIPS_HEIF_COMPRESSION_AV1: c_int = 4;
const VIPS_FOREIGN_KEEP_NONE: c_int = 0;
const VIPS_FORMAT_UCHAR: c_int = 0;
const VIPS_FORMAT_USHORT: c_int = 2;

/// Pixel interpretation, as libvips names it (`VipsInterpretation`); only the values we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpretation {
    /// One-band 8-bit greyscale.
    BW,
    /// 8-bit sRGB.
    Srgb,
    /// 16-bit RGB.
    Rgb16,
    /// 16-bit greyscale.
    Grey16,
    /// CMYK (converted to sRGB before encoding).
    Cmyk,
    /// Anything else (Lab, XYZ, multiband...); converted to sRGB before encoding.
    Other(i32),
}

impl Interpretation {
    /// LCh (lightness, chroma, hue): where saturation is one band.
    pub const LCH: Interpretation = Interpretation::Other(19);

    fn code(self) -> c_int {
        match self {
            Self::BW => 1,
            Self::Srgb => 22,
            Self::Rgb16 => 25,
            Self::Grey16 => 26,
            Self::Cmyk => 15,
            Self::Other(n) => n,
        }
    }

    fn from_raw(raw: c_int) -> Self {
        match raw {
            1 => Self::BW,
            22 => Self::Srgb,
            25 => Self::Rgb16,
            26 => Self::Grey16,
            15 => Self::Cmyk,
            other => Self::Other(other),
        }
    }
}

/// The saliency measure for a cropping [`Image::thumbnail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interesting {
    /// Keep the region with the most entropy.
    Entropy,
    /// Keep the region libvips's attention model finds most interesting (skin, saturation, edges).
    Attention,
}

/// A failed libvips call: which operation, and what libvips said.
#[derive(Debug, Clone)]
pub struct VipsError {
    /// The libvips operation that failed, e.g. `"thumbnail_buffer"`.
    pub operation: &'static str,
    /// libvips's error buffer at the time of the failure (may hold lines from concurrent calls).
    pub message: String,
}

impl fmt::Display for VipsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.message.trim())
    }
}

impl std::error::Error for VipsError {}

fn take_error(operation: &'static str) -> VipsError {
    // SAFETY: vips_error_buffer_copy returns a newly allocated, NUL-terminated string (or NULL)
    // and clears the buffer; we free it with g_free.
    let message = unsafe {
        let raw = vips_error_buffer_copy();
        if raw.is_null() {
            String::new()
        } else {
            let s = CStr::from_ptr(raw).to_string_lossy().into_owned();
            g_free(raw.cast());
            s
        }
    };
    VipsError { operation, message }
}

static INIT: OnceLock<Result<Version, String>> = OnceLock::new();

/// The libvips version in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major version.
    pub major: i32,
    /// Minor version.
    pub minor: i32,
    /// Micro version.
    pub micro: i32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// Initialise libvips once per process (later calls return the first result).
///
/// Turns off libvips's operation cache (we cache encoded variants ourselves; its cache would
/// hold decoded pixels of every recent original), runs each image on one thread (we parallelise
/// across requests instead, under our own permits), and blocks every loader we have not chosen
/// to support: libvips's "untrusted" loaders (ImageMagick, PDF, FITS, ...) and SVG (scripts,
/// external references, rendering bombs).
pub fn init() -> Result<Version, String> {
    INIT.get_or_init(|| {
        // SAFETY: vips_init is safe to call with a NUL-terminated argv0; the rest are plain
        // setters on process-wide state, called once before any image work.
        unsafe {
            if vips_init(c"refract".as_ptr()) != 0 {
                return Err(take_error("init").to_string());
            }
            // Decoders warn through GLib (one line per bad tile of a hostile file); send those
            // to our log at debug level instead of stderr.
            for domain in [c"VIPS", c"GLib", c"GLib-GObject"] {
                g_log_set_handler(
                    domain.as_ptr(),
                    G_LOG_LEVELS_BELOW_ERROR,
                    log_to_tracing,
                    ptr::null_mut(),
                );
            }
            vips_cache_set_max(0);
            vips_cache_set_max_mem(0);
            vips_cache_set_max_files(0);
            vips_concurrency_set(1);
            vips_block_untrusted_set(TRUE);
            // Block every loader, then allow the ones we support. A name libvips does not know
            // (an optional loader missing from this build) is ignored by libvips.
            vips_operation_block_set(c"VipsForeignLoad".as_ptr(), TRUE);
            for allowed in ALLOWED_LOADERS {
                vips_operation_block_set(allowed.as_ptr(), FALSE);
            }
            Ok(Version {
                major: vips_version(0),
                minor: vips_version(1),
                micro: vips_version(2),
            })
        }
    })
    .clone()
}

/// The loader libvips picks for `bytes` (its type name, e.g. `VipsForeignLoadJpegBuffer`) when
/// it is one we allow; `None` for bytes no loader recognises and for blocked loaders (SVG, PDF,
/// ImageMagick, ...). Decided by each loader's own signature check on these bytes — never by
/// libvips's error buffer, which is shared by every thread and may hold another call's message.
pub fn loader_for(bytes: &[u8]) -> Option<&'static str> {
    // SAFETY: libvips reads `len` bytes of the live slice; the returned name is a GType name,
    // static for the life of the process, never freed. A failed search leaves a line in the
    // error buffer, which nothing here reads.
    let name = unsafe { vips_foreign_find_load_buffer(bytes.as_ptr().cast(), bytes.len()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated static string, as above.
    let name = unsafe { CStr::from_ptr(name) }.to_str().ok()?;
    ALLOWED_LOADERS
        .iter()
        .any(|allowed| allowed.to_str().is_ok_and(|a| name.starts_with(a)))
        .then_some(name)
}

/// GLib's WARNING | MESSAGE | INFO | DEBUG level flags (errors and criticals keep GLib's handler).
const G_LOG_LEVELS_BELOW_ERROR: c_int = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7);

extern "C" fn log_to_tracing(
    domain: *const c_char,
    _level: c_int,
    message: *const c_char,
    _user_data: *mut c_void,
) {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: GLib passes NUL-terminated strings valid for the call.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    tracing::debug!(domain = %text(domain), "libvips: {}", text(message).trim());
}

/// Loader classes Refract decodes. Everything else libvips could open is blocked.
const ALLOWED_LOADERS: &[&CStr] = &[
    c"VipsForeignLoadJpeg",
    c"VipsForeignLoadPng",
    c"VipsForeignLoadWebp",
    c"VipsForeignLoadNsgif",
    c"VipsForeignLoadHeif",
    c"VipsForeignLoadTiff",
];

fn version() -> Version {
    match INIT.get() {
        Some(Ok(v)) => *v,
        _ => panic!("vips::init must succeed before images are used"),
    }
}

/// Bytes libvips currently has allocated for pixel buffers.
pub fn tracked_memory() -> usize {
    // SAFETY: a plain read of a libvips counter.
    unsafe { vips_tracked_get_mem() }
}

/// An owned reference to a libvips image. `'a` is the lifetime of the bytes it was loaded from
/// (`'static` for images that own their pixels).
pub struct Image<'a> {
    ptr: NonNull<VipsImage>,
    _input: PhantomData<&'a [u8]>,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        // SAFETY: we own one reference, taken when the image was created.
        unsafe { g_object_unref(self.ptr.as_ptr().cast()) }
    }
}

/// Options for [`Image::thumbnail`]: decode with shrink-on-load, auto-rotate by EXIF
/// orientation, import any embedded ICC profile and export sRGB, and either scale to exactly
/// this size or (with `crop`) cover it and keep its most interesting part.
#[derive(Debug, Clone, Copy)]
pub struct ThumbnailOptions {
    /// Output width in pixels, after orientation.
    pub width: u32,
    /// Output height in pixels, after orientation.
    pub height: u32,
    /// Cover the box and keep the most interesting window. Saliency needs to look at the whole
    /// image, which a sequential decode cannot offer to a later step; thumbnail does it inside.
    pub crop: Option<Interesting>,
    /// Ignore the EXIF orientation (the request sets its own, `orient=`).
    pub no_rotate: bool,
    /// Which pages (frames) to load.
    pub pages: Pages,
}

/// Which frames of a multi-page original [`Image::thumbnail`] loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pages {
    /// The first (the only one for still images).
    #[default]
    First,
    /// Every frame, stacked vertically with `page-height` set: an animation.
    All,
    /// One frame, counted from 0.
    One(u32),
}

/// Encoder settings for [`Image::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOptions {
    /// Baseline (or progressive) JPEG with optimised Huffman tables.
    Jpeg {
        /// 1–100.
        quality: u8,
        /// Progressive scan order.
        progressive: bool,
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

impl<'a> Image<'a> {
    fn wrap(raw: *mut VipsImage, operation: &'static str) -> Result<Self, VipsError> {
        NonNull::new(raw)
            .map(|ptr| Image {
                ptr,
                _input: PhantomData,
            })
            .ok_or_else(|| take_error(operation))
    }

    fn derive(
        &self,
        operation: &'static str,
        call: impl FnOnce(*mut VipsImage, *mut *mut VipsImage) -> c_int,
    ) -> Result<Image<'a>, VipsError> {
        let mut out: *mut VipsImage = ptr::null_mut();
        if call(self.ptr.as_ptr(), &mut out) != 0 || out.is_null() {
            if !out.is_null() {
                // SAFETY: a failed call that still set `out` hands us a reference to drop.
                unsafe { g_object_unref(out.cast()) };
            }
            return Err(take_error(operation));
        }
        Image::wrap(out, operation)
    }

    /// Open `bytes` for random access (operations that read the pixels more than once, such as
    /// trimming, or that crop before scaling). No shrink-on-load: costs a full decode.
    pub fn load_random(bytes: &'a [u8]) -> Result<Image<'a>, VipsError> {
        Self::open(bytes, VIPS_ACCESS_RANDOM)
    }

    fn open(bytes: &'a [u8], access: c_int) -> Result<Image<'a>, VipsError> {
        // SAFETY: the buffer outlives the image (lifetime 'a); varargs are name/int pairs.
        let raw = unsafe {
            vips_image_new_from_buffer(
                bytes.as_ptr().cast(),
                bytes.len(),
                c"".as_ptr(),
                c"access".as_ptr(),
                access,
                c"fail_on".as_ptr(),
                VIPS_FAIL_ON_WARNING,
                END,
            )
        };
        Image::wrap(raw, "load")
    }

    /// Open `bytes` lazily: reads the header only (dimensions, format, metadata), no pixels.
    /// Truncated data fails later, when pixels are read.
    pub fn header(bytes: &'a [u8]) -> Result<Image<'a>, VipsError> {
        Self::open(bytes, VIPS_ACCESS_SEQUENTIAL)
    }

    /// Decode `bytes` and scale to exactly `opts.width` × `opts.height` with libvips `thumbnail`
    /// (shrink-on-load, EXIF auto-rotation, ICC import and sRGB export). Truncated input is an
    /// error rather than a half-grey image.
    pub fn thumbnail(bytes: &'a [u8], opts: ThumbnailOptions) -> Result<Image<'a>, VipsError> {
        let mut out: *mut VipsImage = ptr::null_mut();
        // Forced size, or cover-and-crop by saliency.
        let (mode_key, mode_value) = match opts.crop {
            None => (c"size", VIPS_SIZE_FORCE),
            Some(Interesting::Entropy) => (c"crop", VIPS_INTERESTING_ENTROPY),
            Some(Interesting::Attention) => (c"crop", VIPS_INTERESTING_ATTENTION),
        };
        // thumbnail's own `fail_on` does not reach the loader it opens (8.18); the loader
        // option string does, and also says which pages to load.
        let load_options = match opts.pages {
            Pages::First => c"fail_on=warning".to_owned(),
            Pages::All => c"fail_on=warning,n=-1".to_owned(),
            Pages::One(page) => std::ffi::CString::new(format!("fail_on=warning,page={page}"))
                .expect("no NUL in digits"),
        };
        // A NULL name ends the option list early when the flag is off.
        let no_rotate: *const c_char = if opts.no_rotate {
            c"no_rotate".as_ptr()
        } else {
            ptr::null()
        };
        // SAFETY: buffer outlives the image; varargs typed as libvips expects.
        let rc = unsafe {
            vips_thumbnail_buffer(
                bytes.as_ptr().cast(),
                bytes.len(),
                &mut out,
                dim(opts.width),
                c"height".as_ptr(),
                dim(opts.height),
                mode_key.as_ptr(),
                mode_value,
                c"option_string".as_ptr(),
                load_options.as_ptr(),
                no_rotate,
                1 as c_int,
                END,
            )
        };
        if rc != 0 {
            return Err(take_error("thumbnail"));
        }
        Image::wrap(out, "thumbnail")
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        // SAFETY: valid image pointer.
        unsafe { vips_image_get_width(self.ptr.as_ptr()) as u32 }
    }

    /// Height in pixels (of all pages stacked, for multi-page images).
    pub fn height(&self) -> u32 {
        // SAFETY: valid image pointer.
        unsafe { vips_image_get_height(self.ptr.as_ptr()) as u32 }
    }

    /// Number of bands (channels), alpha included.
    pub fn bands(&self) -> u32 {
        // SAFETY: valid image pointer.
        unsafe { vips_image_get_bands(self.ptr.as_ptr()) as u32 }
    }

    /// Whether the last band is alpha.
    pub fn has_alpha(&self) -> bool {
        // SAFETY: valid image pointer.
        unsafe { vips_image_hasalpha(self.ptr.as_ptr()) != 0 }
    }

    /// Whether pixels are 8-bit unsigned.
    pub fn is_uchar(&self) -> bool {
        // SAFETY: valid image pointer.
        unsafe { vips_image_get_format(self.ptr.as_ptr()) == VIPS_FORMAT_UCHAR }
    }

    /// How the bands are to be understood.
    pub fn interpretation(&self) -> Interpretation {
        // SAFETY: valid image pointer.
        Interpretation::from_raw(unsafe { vips_image_get_interpretation(self.ptr.as_ptr()) })
    }

    /// Number of pages (animation frames) in the source; 1 for still images.
    pub fn pages(&self) -> u32 {
        // SAFETY: valid image pointer.
        unsafe { vips_image_get_n_pages(self.ptr.as_ptr()).max(1) as u32 }
    }

    /// An integer metadata field, if present.
    pub fn get_int(&self, name: &CStr) -> Option<i32> {
        // SAFETY: valid pointer and NUL-terminated name; we only read the field if it exists.
        unsafe {
            if vips_image_get_typeof(self.ptr.as_ptr(), name.as_ptr()) == 0 {
                return None;
            }
            let mut value: c_int = 0;
            if vips_image_get_int(self.ptr.as_ptr(), name.as_ptr(), &mut value) != 0 {
                vips_error_clear();
                return None;
            }
            Some(value)
        }
    }

    /// A string metadata field, if present.
    pub fn get_string(&self, name: &CStr) -> Option<String> {
        // SAFETY: the returned string is owned by the image; we copy it before returning.
        unsafe {
            if vips_image_get_typeof(self.ptr.as_ptr(), name.as_ptr()) == 0 {
                return None;
            }
            let mut value: *const c_char = ptr::null();
            if vips_image_get_string(self.ptr.as_ptr(), name.as_ptr(), &mut value) != 0
                || value.is_null()
            {
                vips_error_clear();
                return None;
            }
            Some(CStr::from_ptr(value).to_string_lossy().into_owned())
        }
    }

    /// Whether a metadata field of this name exists (e.g. `exif-data`, `icc-profile-data`).
    pub fn has_field(&self, name: &CStr) -> bool {
        // SAFETY: valid pointer and name.
        unsafe { vips_image_get_typeof(self.ptr.as_ptr(), name.as_ptr()) != 0 }
    }

    /// The loader libvips picked, e.g. `"jpegload_buffer"`.
    pub fn loader(&self) -> Option<String> {
        self.get_string(c"vips-loader")
    }

    /// EXIF orientation 1–8 (1 when absent or invalid).
    pub fn orientation(&self) -> u8 {
        match self.get_int(c"orientation") {
            Some(o @ 1..=8) => o as u8,
            _ => 1,
        }
    }

    /// Set an integer metadata field (used to write EXIF orientation into test fixtures).
    pub fn set_int(&mut self, name: &CStr, value: i32) {
        // SAFETY: we hold the only Rust handle; libvips copies the value.
        unsafe { vips_image_set_int(self.ptr.as_ptr(), name.as_ptr(), value) }
    }

    /// The rectangle `width` × `height` at (`left`, `top`).
    pub fn extract_area(
        &self,
        left: u32,
        top: u32,
        width: u32,
        height: u32,
    ) -> Result<Image<'a>, VipsError> {
        self.derive("extract_area", |input, out| {
            // SAFETY: valid pointers; libvips checks the rectangle against the image.
            unsafe {
                vips_extract_area(
                    input,
                    out,
                    dim(left),
                    dim(top),
                    dim(width),
                    dim(height),
                    END,
                )
            }
        })
    }

    /// Place the image at (`x`, `y`) on a `width` × `height` canvas of `background` (one value
    /// per band).
    pub fn embed(
        &self,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        background: &[f64],
    ) -> Result<Image<'a>, VipsError> {
        let area = DoubleArray::new(background);
        self.derive("embed", |input, out| {
            // SAFETY: valid pointers; libvips takes its own reference to the array.
            unsafe {
                vips_embed(
                    input,
                    out,
                    dim(x),
                    dim(y),
                    dim(width),
                    dim(height),
                    c"extend".as_ptr(),
                    VIPS_EXTEND_BACKGROUND,
                    c"background".as_ptr(),
                    area.0,
                    END,
                )
            }
        })
    }

    /// Composite the alpha band onto a solid `background` (one value per non-alpha band).
    pub fn flatten(&self, background: &[f64]) -> Result<Image<'a>, VipsError> {
        let area = DoubleArray::new(background);
        self.derive("flatten", |input, out| {
            // SAFETY: valid pointers; libvips takes its own reference to the array.
            unsafe { vips_flatten(input, out, c"background".as_ptr(), area.0, END) }
        })
    }

    /// Gaussian blur with standard deviation `sigma` pixels.
    pub fn gaussblur(&self, sigma: f64) -> Result<Image<'a>, VipsError> {
        self.derive("gaussblur", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_gaussblur(input, out, sigma, END) }
        })
    }

    /// Unsharp mask on lightness with radius `sigma`; `amount` scales the effect on flat
    /// (`m1`) and jagged (`m2`) areas alike.
    pub fn sharpen(&self, sigma: f64, amount: f64) -> Result<Image<'a>, VipsError> {
        self.derive("sharpen", |input, out| {
            // SAFETY: valid pointers; every option is a double, as declared by libvips.
            unsafe {
                vips_sharpen(
                    input,
                    out,
                    c"sigma".as_ptr(),
                    sigma,
                    c"m1".as_ptr(),
                    amount,
                    c"m2".as_ptr(),
                    amount * 2.0,
                    END,
                )
            }
        })
    }

    /// `out = in × a + b`, band by band (one value each, or one for all bands), as floats.
    pub fn linear(&self, a: &[f64], b: &[f64]) -> Result<Image<'a>, VipsError> {
        assert_eq!(a.len(), b.len(), "linear: a and b need the same length");
        let n = c_int::try_from(a.len()).expect("few bands");
        self.derive("linear", |input, out| {
            // SAFETY: valid pointers; libvips copies both arrays before returning.
            unsafe { vips_linear(input, out, a.as_ptr(), b.as_ptr(), n, END) }
        })
    }

    /// `out = in ^ (1 / exponent)`, scaled to the format's range.
    pub fn gamma(&self, exponent: f64) -> Result<Image<'a>, VipsError> {
        self.derive("gamma", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_gamma(input, out, c"exponent".as_ptr(), exponent, END) }
        })
    }

    /// Mirror left–right (`horizontal`) or top–bottom.
    pub fn flip(&self, horizontal: bool) -> Result<Image<'a>, VipsError> {
        let direction = if horizontal { 0 } else { 1 };
        self.derive("flip", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_flip(input, out, direction, END) }
        })
    }

    /// Turn clockwise by `quarter_turns` × 90°.
    pub fn rot(&self, quarter_turns: u8) -> Result<Image<'a>, VipsError> {
        let angle = c_int::from(quarter_turns % 4);
        self.derive("rot", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_rot(input, out, angle, END) }
        })
    }

    /// Convert to another colour space (libvips interpretation number), keeping extra bands.
    pub fn colourspace(&self, space: Interpretation) -> Result<Image<'a>, VipsError> {
        let space = space.code();
        self.derive("colourspace", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_colourspace(input, out, space, END) }
        })
    }

    /// Compute the pixels into memory, drop the ICC profile (the pixels are sRGB by then, so
    /// later scaling has nothing to convert) and make the result shareable between threads.
    pub fn share(&self) -> Result<SharedImage, VipsError> {
        // SAFETY: valid image; returns a new reference (or NULL with the error set).
        let raw = unsafe { vips_image_copy_memory(self.ptr.as_ptr()) };
        let image: Image<'static> = Image::wrap(raw, "copy_memory")?;
        // SAFETY: a fresh image only we hold; removing a field that is absent is a no-op.
        unsafe { vips_image_remove(image.ptr.as_ptr(), c"icc-profile-data".as_ptr()) };
        Ok(SharedImage(image))
    }

    /// Compute the pixels into memory, so operations that read them more than once or out of
    /// order (percentiles, rotation) can follow a sequential decode. Costs width × height ×
    /// bands bytes: use after the resize.
    pub fn materialize(&self) -> Result<Image<'a>, VipsError> {
        // SAFETY: valid image; returns a new reference (or NULL with the error set).
        let raw = unsafe { vips_image_copy_memory(self.ptr.as_ptr()) };
        Image::wrap(raw, "copy_memory")
    }

    /// Stack `images` vertically (one column), as frames of an animation are stored.
    pub fn stack(images: &[Image<'a>]) -> Result<Image<'a>, VipsError> {
        let mut ptrs: Vec<*mut VipsImage> = images.iter().map(|i| i.ptr.as_ptr()).collect();
        let n = c_int::try_from(ptrs.len()).expect("frame count fits");
        let mut out: *mut VipsImage = ptr::null_mut();
        // SAFETY: `ptrs` holds valid images for the call; the output references them.
        let rc = unsafe {
            vips_arrayjoin(
                ptrs.as_mut_ptr(),
                &mut out,
                n,
                c"across".as_ptr(),
                1 as c_int,
                END,
            )
        };
        if rc != 0 {
            return Err(take_error("arrayjoin"));
        }
        Image::wrap(out, "arrayjoin")
    }

    /// Frame height when the image is an animation (`page-height` set and smaller than the
    /// image): `Some((frame_height, frames))`.
    pub fn frames(&self) -> Option<(u32, u32)> {
        let page = u32::try_from(self.get_int(c"page-height")?).ok()?;
        let height = self.height();
        (page > 0 && page < height && height.is_multiple_of(page)).then_some((page, height / page))
    }

    /// Turn upright by the EXIF orientation (and drop the tag).
    pub fn autorot(&self) -> Result<Image<'a>, VipsError> {
        self.derive("autorot", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_autorot(input, out, END) }
        })
    }

    /// Scale an already open image to exactly `width` × `height`, importing its ICC profile and
    /// exporting sRGB as [`Image::thumbnail`] does (but without shrink-on-load).
    pub fn thumbnail_image(&self, width: u32, height: u32) -> Result<Image<'a>, VipsError> {
        self.derive("thumbnail_image", |input, out| {
            // SAFETY: valid pointers; options typed as libvips declares them.
            unsafe {
                vips_thumbnail_image(
                    input,
                    out,
                    dim(width),
                    c"height".as_ptr(),
                    dim(height),
                    c"size".as_ptr(),
                    VIPS_SIZE_FORCE,
                    END,
                )
            }
        })
    }

    /// The bounding box of what differs from the background (the top-left pixel's colour) by
    /// more than `threshold`: `(left, top, width, height)`.
    pub fn find_trim(&self, threshold: f64) -> Result<(u32, u32, u32, u32), VipsError> {
        let (mut l, mut t, mut w, mut h): (c_int, c_int, c_int, c_int) = (0, 0, 0, 0);
        // SAFETY: valid image and out-pointers; the option is a double.
        let rc = unsafe {
            vips_find_trim(
                self.ptr.as_ptr(),
                &mut l,
                &mut t,
                &mut w,
                &mut h,
                c"threshold".as_ptr(),
                threshold,
                END,
            )
        };
        if rc != 0 {
            return Err(take_error("find_trim"));
        }
        let u = |v: c_int| u32::try_from(v).unwrap_or(0);
        Ok((u(l), u(t), u(w), u(h)))
    }

    /// Rotate by `degrees` clockwise about the centre onto a larger canvas of `background`.
    pub fn rotate(&self, degrees: f64, background: &[f64]) -> Result<Image<'a>, VipsError> {
        let area = DoubleArray::new(background);
        self.derive("rotate", |input, out| {
            // SAFETY: valid pointers; libvips takes its own reference to the array.
            unsafe { vips_rotate(input, out, degrees, c"background".as_ptr(), area.0, END) }
        })
    }

    /// The value below which `percent` % of the pixels lie (first band).
    pub fn percent(&self, percent: f64) -> Result<u32, VipsError> {
        let mut threshold: c_int = 0;
        // SAFETY: valid image and out-pointer.
        let rc = unsafe { vips_percent(self.ptr.as_ptr(), percent, &mut threshold, END) };
        if rc != 0 {
            return Err(take_error("percent"));
        }
        Ok(u32::try_from(threshold).unwrap_or(0))
    }

    /// `n` bands starting at `first`.
    pub fn extract_bands(&self, first: u32, n: u32) -> Result<Image<'a>, VipsError> {
        self.derive("extract_band", |input, out| {
            // SAFETY: valid pointers; libvips checks the band range.
            unsafe { vips_extract_band(input, out, dim(first), c"n".as_ptr(), dim(n), END) }
        })
    }

    /// This image's bands followed by `other`'s.
    pub fn bandjoin(&self, other: &Image<'_>) -> Result<Image<'a>, VipsError> {
        let right = other.ptr.as_ptr();
        self.derive("bandjoin2", |input, out| {
            // SAFETY: valid pointers; the output holds references to both inputs.
            unsafe { vips_bandjoin2(input, right, out, END) }
        })
    }

    /// Cast to 8 bits per band, clipping out-of-range values.
    pub fn to_uchar(&self) -> Result<Image<'a>, VipsError> {
        self.derive("cast", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_cast(input, out, VIPS_FORMAT_UCHAR, END) }
        })
    }

    /// Add an opaque alpha band (255).
    pub fn add_alpha(&self) -> Result<Image<'a>, VipsError> {
        self.derive("bandjoin_const1", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_bandjoin_const1(input, out, 255.0, END) }
        })
    }

    /// Convert to 8-bit sRGB (or 8-bit greyscale when `grey`).
    pub fn to_srgb8(&self, grey: bool) -> Result<Image<'a>, VipsError> {
        let space = if grey { 1 } else { 22 };
        let converted = self.derive("colourspace", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_colourspace(input, out, space, END) }
        })?;
        if converted.is_uchar() {
            return Ok(converted);
        }
        converted.derive("cast", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_cast(input, out, VIPS_FORMAT_UCHAR, END) }
        })
    }

    /// Encode as [`Image::save`] does, but abandon the computation once `deadline` passes:
    /// libvips emits `eval` on the image as it computes, and our handler sets its kill flag,
    /// which makes every worker stop at its next tile. (The handler runs on the computing
    /// thread, so nothing crosses threads.) Work libvips does outside evaluation — parsing the
    /// header, an encoder's final pass over finished pixels — is not interrupted.
    pub fn save_before(&self, opts: SaveOptions, deadline: Instant) -> Result<Bytes, VipsError> {
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
        let result = self.save(opts);
        // SAFETY: `handler` was returned by the connect above on this instance.
        unsafe {
            g_signal_handler_disconnect(instance.cast(), handler);
            vips_image_set_progress(instance, FALSE);
        }
        drop(deadline);
        result
    }

    /// Encode, with all metadata (EXIF, XMP, IPTC, ICC, comments) stripped. This is where the
    /// pixels are actually decoded and processed, so decode errors surface here too.
    pub fn save(&self, opts: SaveOptions) -> Result<Bytes, VipsError> {
        let mut buf: *mut c_void = ptr::null_mut();
        let mut len: usize = 0;
        // libvips 8.15 replaced `strip` with `keep`; the system build may be older.
        let (meta_key, meta_val) = if version()
            >= (Version {
                major: 8,
                minor: 15,
                micro: 0,
            }) {
            (c"keep", VIPS_FOREIGN_KEEP_NONE)
        } else {
            (c"strip", TRUE)
        };
        let input = self.ptr.as_ptr();
        // SAFETY: valid image; libvips allocates the buffer with g_malloc, which GBuffer frees.
        let (rc, operation) = unsafe {
            match opts {
                SaveOptions::Jpeg {
                    quality,
                    progressive,
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

    /// An image that owns a copy of `pixels` (8-bit, `bands` interleaved, row-major).
    pub fn from_pixels(
        pixels: &[u8],
        width: u32,
        height: u32,
        bands: u32,
    ) -> Result<Image<'static>, VipsError> {
        let expected = width as usize * height as usize * bands as usize;
        assert_eq!(pixels.len(), expected, "pixel buffer size mismatch");
        // SAFETY: libvips copies `expected` bytes from a slice of exactly that length.
        let raw = unsafe {
            vips_image_new_from_memory_copy(
                pixels.as_ptr().cast(),
                pixels.len(),
                dim(width),
                dim(height),
                dim(bands),
                VIPS_FORMAT_UCHAR,
            )
        };
        Image::wrap(raw, "new_from_memory_copy")
    }

    /// Decode every pixel into memory (interleaved bands, row-major). Used by tests and
    /// benchmarks to compare images.
    pub fn pixels(&self) -> Result<Vec<u8>, VipsError> {
        let mut len = 0usize;
        // SAFETY: libvips returns a g_malloc'd buffer of `len` bytes, copied then freed.
        unsafe {
            let raw = vips_image_write_to_memory(self.ptr.as_ptr(), &mut len);
            if raw.is_null() {
                return Err(take_error("write_to_memory"));
            }
            let out = std::slice::from_raw_parts(raw.cast::<u8>(), len).to_vec();
            g_free(raw);
            Ok(out)
        }
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

/// Clamp a pixel count to libvips's `int`.
fn dim(v: u32) -> c_int {
    v.min(c_int::MAX as u32) as c_int
}

/// A `VipsArrayDouble` we hold one reference to.
struct DoubleArray(*mut VipsArea);

impl DoubleArray {
    fn new(values: &[f64]) -> Self {
        // SAFETY: libvips copies `n` doubles from the slice.
        DoubleArray(unsafe { vips_array_double_new(values.as_ptr(), values.len() as c_int) })
    }
}

impl Drop for DoubleArray {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: we own one reference.
            unsafe { vips_area_unref(self.0) }
        }
    }
}

/// An image whose pixels are in memory, owned, and never modified again: safe to read from
/// many threads at once (libvips operations on it each build their own regions, and its
/// reference count is atomic). Made by [`Image::share`]; the decode-once masters
/// (`transform::master`) keep these in a cache that every transform thread reads.
pub struct SharedImage(Image<'static>);

// SAFETY: the image owns its pixels (copy_memory), nothing holds a mutable handle to it, and
// libvips supports concurrent reads of one image from several threads; GObject reference
// counting is atomic.
unsafe impl Send for SharedImage {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for SharedImage {}

impl SharedImage {
    /// A new reference to the image, to build operations on (they borrow nothing).
    pub fn image(&self) -> Image<'static> {
        // SAFETY: a valid image; the new reference is dropped by the returned value.
        unsafe { g_object_ref(self.0.ptr.as_ptr().cast()) };
        Image {
            ptr: self.0.ptr,
            _input: PhantomData,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.0.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.0.height()
    }

    /// Bytes its pixels take in memory.
    pub fn memory(&self) -> u64 {
        // SAFETY: valid image pointer.
        let format = unsafe { vips_image_get_format(self.0.ptr.as_ptr()) };
        let band_bytes = match format {
            VIPS_FORMAT_UCHAR => 1,
            VIPS_FORMAT_USHORT => 2,
            _ => 8, // float, double, complex: count the most a band can take
        };
        u64::from(self.0.width())
            * u64::from(self.0.height())
            * u64::from(self.0.bands())
            * band_bytes
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
