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

/// glibc's `mallopt` parameters: the most malloc arenas, and the size from which an allocation
/// gets pages of its own (`mmap`) rather than a piece of an arena.
const M_ARENA_MAX: c_int = -8;
const M_MMAP_THRESHOLD: c_int = -3;

/// Allocations from this size on are mapped on their own and unmapped when freed: glibc's
/// initial threshold, fixed (see [`tune_malloc`]).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

extern "C" {
    fn mallopt(param: c_int, value: c_int) -> c_int;
}

/// Keep glibc's allocator from holding freed pixel buffers. Call first in `main`, before any
/// thread starts. Measured with `benches/rss.sh` (12 MP misses, caches off, two in flight;
/// BENCHMARKS.md, "Memory under 12 MP misses"):
///
/// - **One arena**, unless `MALLOC_ARENA_MAX` says otherwise. glibc gives each thread that
///   allocates concurrently an arena of its own (up to 8 per core) and rarely returns their
///   freed pages; libvips's buffers, freed on one transform thread and wanted again on another,
///   stayed resident in each: peak 240 MB with glibc's default, 104 MB with one arena.
/// - **A fixed mmap threshold** ([`MMAP_THRESHOLD`]), unless `MALLOC_MMAP_THRESHOLD_` says
///   otherwise. glibc raises its threshold to the size of every mapped block freed (up to
///   32 MB), after which pixel strips and encoder buffers come from the arena, where one live
///   block keeps the freed ones around it resident. Fixed, they are mapped and unmapped whole.
///
/// With [`TILE_HEIGHT`]: peak 98–103 MB (one arena alone) → 61 MB. (`malloc_trim` after each
/// render took 3 MB more off and cost 10–15% of a render's CPU, the pages faulted back in by the
/// next one: not taken.) An operator who prefers glibc's own behaviour sets the two variables,
/// which glibc reads itself.
pub fn tune_malloc() {
    // SAFETY: plain calls into glibc's allocator settings, before other threads exist.
    unsafe {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            mallopt(M_ARENA_MAX, 1);
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD as c_int);
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
            set_tile_height(TILE_HEIGHT);
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

/// Height of libvips's processing strips, in lines (its default: 128).
///
/// A sequential decode keeps a line cache of four strips' worth of the *decoded* width, and the
/// sink double-buffers its strips: at 128 lines a 12 MP JPEG decoded at full width held ~22 MB
/// of pixel buffers for a 1000-px thumbnail, at 32 lines 13 MB, at 16 lines 12 MB (a 4 MP one:
/// 12 → 5 → 2 MB), the same bytes out and no measurable CPU difference. Under 12 MP misses with
/// two in flight (`benches/rss.sh`) peak RSS was 67 MB at 32 lines and 61 MB at 16; 8 lines
/// saved under 1 MB more and began to cost CPU. See BENCHMARKS.md, "Memory under 12 MP misses".
pub const TILE_HEIGHT: u32 = 16;

/// Set libvips's strip height (`--vips-tile-height`, which libvips reads only from command-line
/// options): parsed from a made-up argument list through the option group libvips provides.
/// Call once, after `vips_init` and before any image work.
fn set_tile_height(lines: u32) {
    let mut arg = format!("--vips-tile-height={lines}\0").into_bytes();
    let mut argv: [*mut c_char; 3] = [
        c"refract".as_ptr().cast_mut(),
        arg.as_mut_ptr().cast(),
        ptr::null_mut(),
    ];
    let mut argc: c_int = 2;
    let mut args = argv.as_mut_ptr();
    // SAFETY: GLib's option parser over a NUL-terminated argv that outlives the call (it may
    // reorder the array, never the strings); the context owns and frees the group.
    unsafe {
        let context = g_option_context_new(ptr::null());
        let group = g_option_group_new(
            c"vips".as_ptr(),
            c"".as_ptr(),
            c"".as_ptr(),
            ptr::null_mut(),
            ptr::null(),
        );
        vips_add_option_entries(group);
        g_option_context_set_main_group(context, group);
        if g_option_context_parse(context, &mut argc, &mut args, ptr::null_mut()) == 0 {
            tracing::warn!(lines, "libvips did not take the strip height");
        }
        g_option_context_free(context);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvips_works_in_strips_of_tile_height() {
        init().unwrap();
        // A 1×1 grey PNG.
        let png = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55\x00\x00\x00\x0a\x49\x44\x41\x54\x78\x9c\x63\x68\x00\x00\x00\x82\x00\x81\x77\xcd\x72\xb6\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";
        let image = Image::load_random(png).unwrap();
        assert_eq!(image.strip_lines(), TILE_HEIGHT);
    }
}
