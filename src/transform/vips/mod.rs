//! The only module that touches libvips: hand-written declarations for the few C functions Refract
//! calls, wrapped in a safe [`Image`] type. Nothing outside this module says `unsafe`.
//!
//! Files: `ffi` (the extern declarations and libvips's constants), this file (start-up, the
//! version, errors, the loader search), `image` (the [`Image`] type and its operations), `save`
//! (encoders), `shared` (an image several threads may read), `heic` (HEVC-coded HEIF through the
//! system's libheif, opened at run time), `uhdr` (Ultra HDR gain maps, libvips 8.18).
//!
//! Why our own binding: the third-party crates either double-free on `Clone` or break their
//! option calls across libvips versions. libvips's C API passes optional arguments as
//! NULL-terminated `name, value` varargs; every call below spells out the C type of each value
//! (`c_int` for enums and booleans, `c_double` for doubles), because a wrongly typed vararg is
//! undefined behaviour that no compiler catches.
//!
//! Lifetimes: an image loaded from a buffer reads that buffer lazily, and so does every image
//! derived from it, so [`Image<'a>`] borrows the input bytes for as long as any derived image lives.

mod ffi;
mod heic;
mod image;
mod save;
mod shared;
mod text;
mod uhdr;

pub use heic::{heic_decoder, heic_header, heic_to_tiff, HeicError};
pub use image::{Image, Interesting, Interpretation, Pages, ThumbnailOptions};
pub use save::SaveOptions;
pub use shared::SharedImage;
pub use text::TextOptions;
pub use uhdr::ultra_hdr_available;

/// A profile libvips carries built in (`srgb`, `p3`, `cmyk`), as ICC bytes.
pub fn builtin_profile(name: &std::ffi::CStr) -> Result<Vec<u8>, VipsError> {
    let mut blob: *mut ffi::VipsArea = std::ptr::null_mut();
    // SAFETY: `blob` receives a new reference, read then released.
    unsafe {
        if ffi::vips_profile_load(name.as_ptr(), &mut blob, ffi::END) != 0 || blob.is_null() {
            return Err(take_error("profile_load"));
        }
        let mut len = 0usize;
        let data = ffi::vips_area_get_data(
            blob,
            &mut len,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        let out = if data.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec()
        };
        ffi::vips_area_unref(blob);
        Ok(out)
    }
}

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::ptr;
use std::sync::OnceLock;

use ffi::*;

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

pub(super) fn take_error(operation: &'static str) -> VipsError {
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

/// glibc's `mallopt` parameter for the most malloc arenas (`M_ARENA_MAX`).
const M_ARENA_MAX: c_int = -8;

extern "C" {
    fn mallopt(param: c_int, value: c_int) -> c_int;
}

/// Give the process one malloc arena, unless `MALLOC_ARENA_MAX` says otherwise. Call first in
/// `main`, before any thread starts.
///
/// glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core)
/// and rarely returns their freed pages; libvips's pixel buffers, freed on one transform thread
/// and wanted again on another, stay resident in each. Under 12 MP misses with caches off and
/// two renders in flight, peak RSS was 240 MB with glibc's default and 104 MB with one arena,
/// for ~1% more CPU per render and no change on ready hits (`benches/rss.sh`, BENCHMARKS.md).
/// An operator who prefers glibc's default sets `MALLOC_ARENA_MAX`, which glibc reads itself.
pub fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a plain call into glibc's allocator settings, before other threads exist.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

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
            // Ultra HDR (8.18): only its *source* loader, which `uhdr` calls by name for
            // `hdr=true`. Every other load here searches buffer loaders, so an Ultra HDR JPEG
            // still opens with jpegload (EXIF orientation read, no gain map) everywhere else.
            vips_operation_block_set(c"VipsForeignLoadUhdrSource".as_ptr(), FALSE);
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

pub(super) fn version() -> Version {
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
