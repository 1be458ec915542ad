//! The C side: opaque libvips types, the functions Refract calls (varargs spelled out at each
//! call site), and the libvips enum values it passes.

use std::ffi::{c_char, c_double, c_int, c_void};
use std::ptr;

#[repr(C)]
pub(super) struct VipsImage {
    _opaque: [u8; 0],
}

/// GLib's `GValue`: a type tag and two words of data, zeroed before use.
#[repr(C)]
#[derive(Default)]
pub(super) struct GValue {
    g_type: usize,
    data: [u64; 2],
}

/// A libvips byte source (`VipsSource`).
#[repr(C)]
pub(super) struct VipsSource {
    _opaque: [u8; 0],
}

#[repr(C)]
pub(super) struct VipsArea {
    _opaque: [u8; 0],
}

// Linking is set up by build.rs (prebuilt libvips-cpp or the system libvips).
extern "C" {
    /// glibc's symbol lookup: libheif's functions (`heic`), libvips's own newer ones (`uhdr`).
    pub(super) fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    pub(super) fn vips_init(argv0: *const c_char) -> c_int;
    pub(super) fn vips_version(flag: c_int) -> c_int;
    pub(super) fn vips_cache_set_max(max: c_int);
    pub(super) fn vips_cache_set_max_mem(max: usize);
    pub(super) fn vips_cache_set_max_files(max: c_int);
    pub(super) fn vips_concurrency_set(concurrency: c_int);
    pub(super) fn vips_block_untrusted_set(state: c_int);
    pub(super) fn vips_operation_block_set(name: *const c_char, state: c_int);
    pub(super) fn vips_error_buffer_copy() -> *mut c_char;
    pub(super) fn vips_error_clear();
    pub(super) fn vips_tracked_get_mem() -> usize;
    #[cfg(test)]
    pub(super) fn vips_get_tile_size(
        image: *mut VipsImage,
        tile_width: *mut c_int,
        tile_height: *mut c_int,
        n_lines: *mut c_int,
    );
    pub(super) fn vips_add_option_entries(group: *mut c_void);
    pub(super) fn g_option_context_new(parameter_string: *const c_char) -> *mut c_void;
    pub(super) fn g_option_group_new(
        name: *const c_char,
        description: *const c_char,
        help_description: *const c_char,
        user_data: *mut c_void,
        destroy: *const c_void,
    ) -> *mut c_void;
    pub(super) fn g_option_context_set_main_group(context: *mut c_void, group: *mut c_void);
    pub(super) fn g_option_context_parse(
        context: *mut c_void,
        argc: *mut c_int,
        argv: *mut *mut *mut c_char,
        error: *mut *mut c_void,
    ) -> c_int;
    pub(super) fn g_option_context_free(context: *mut c_void);
    pub(super) fn g_free(mem: *mut c_void);
    pub(super) fn g_log_set_handler(
        domain: *const c_char,
        levels: c_int,
        handler: extern "C" fn(*const c_char, c_int, *const c_char, *mut c_void),
        user_data: *mut c_void,
    ) -> u32;
    pub(super) fn g_object_unref(object: *mut c_void);
    pub(super) fn g_object_ref(object: *mut c_void) -> *mut c_void;
    pub(super) fn g_signal_connect_data(
        instance: *mut c_void,
        signal: *const c_char,
        handler: *const c_void,
        data: *mut c_void,
        destroy: *const c_void,
        flags: c_int,
    ) -> std::ffi::c_ulong;
    pub(super) fn g_signal_handler_disconnect(instance: *mut c_void, handler_id: std::ffi::c_ulong);
    pub(super) fn vips_image_set_progress(image: *mut VipsImage, progress: c_int);
    pub(super) fn vips_image_set_kill(image: *mut VipsImage, kill: c_int);

    pub(super) fn vips_image_new_from_buffer(
        buf: *const c_void,
        len: usize,
        option_string: *const c_char,
        ...
    ) -> *mut VipsImage;
    pub(super) fn vips_image_new_from_memory_copy(
        data: *const c_void,
        size: usize,
        width: c_int,
        height: c_int,
        bands: c_int,
        format: c_int,
    ) -> *mut VipsImage;
    pub(super) fn vips_image_write_to_memory(
        image: *mut VipsImage,
        size: *mut usize,
    ) -> *mut c_void;
    pub(super) fn vips_image_get_width(image: *const VipsImage) -> c_int;
    pub(super) fn vips_image_get_height(image: *const VipsImage) -> c_int;
    pub(super) fn vips_image_get_bands(image: *const VipsImage) -> c_int;
    pub(super) fn vips_image_get_format(image: *const VipsImage) -> c_int;
    pub(super) fn vips_image_get_interpretation(image: *const VipsImage) -> c_int;
    pub(super) fn vips_image_get_n_pages(image: *mut VipsImage) -> c_int;
    pub(super) fn vips_image_hasalpha(image: *mut VipsImage) -> c_int;
    pub(super) fn vips_image_get_typeof(image: *const VipsImage, name: *const c_char) -> usize;
    pub(super) fn vips_image_get_int(
        image: *const VipsImage,
        name: *const c_char,
        out: *mut c_int,
    ) -> c_int;
    pub(super) fn vips_image_get_string(
        image: *const VipsImage,
        name: *const c_char,
        out: *mut *const c_char,
    ) -> c_int;
    pub(super) fn vips_image_set_int(image: *mut VipsImage, name: *const c_char, value: c_int);
    pub(super) fn vips_profile_load(name: *const c_char, profile: *mut *mut VipsArea, ...)
        -> c_int;
    pub(super) fn vips_area_get_data(
        area: *mut VipsArea,
        length: *mut usize,
        n: *mut c_int,
        type_: *mut usize,
        sizeof_type: *mut usize,
    ) -> *mut c_void;
    pub(super) fn vips_image_get_xres(image: *const VipsImage) -> c_double;
    pub(super) fn vips_image_get_yres(image: *const VipsImage) -> c_double;
    pub(super) fn vips_image_get_blob(
        image: *const VipsImage,
        name: *const c_char,
        data: *mut *const c_void,
        length: *mut usize,
    ) -> c_int;
    pub(super) fn vips_image_get_fields(image: *mut VipsImage) -> *mut *mut c_char;
    pub(super) fn vips_image_get(
        image: *const VipsImage,
        name: *const c_char,
        value: *mut GValue,
    ) -> c_int;
    pub(super) fn vips_image_set(image: *mut VipsImage, name: *const c_char, value: *mut GValue);
    pub(super) fn vips_image_remove(image: *mut VipsImage, name: *const c_char) -> c_int;
    pub(super) fn vips_image_set_image(
        image: *mut VipsImage,
        name: *const c_char,
        im: *mut VipsImage,
    );
    pub(super) fn vips_source_new_from_memory(
        data: *const c_void,
        length: usize,
    ) -> *mut VipsSource;
    pub(super) fn g_value_unset(value: *mut GValue);
    pub(super) fn g_strfreev(strings: *mut *mut c_char);
    pub(super) fn vips_copy(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    pub(super) fn vips_image_set_blob_copy(
        image: *mut VipsImage,
        name: *const c_char,
        data: *const c_void,
        length: usize,
    );

    pub(super) fn vips_thumbnail_buffer(
        buf: *const c_void,
        len: usize,
        out: *mut *mut VipsImage,
        width: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_extract_area(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        left: c_int,
        top: c_int,
        width: c_int,
        height: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_embed(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        x: c_int,
        y: c_int,
        width: c_int,
        height: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_flatten(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    pub(super) fn vips_rank(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        width: c_int,
        height: c_int,
        index: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_gaussblur(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        sigma: c_double,
        ...
    ) -> c_int;
    pub(super) fn vips_sharpen(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    pub(super) fn vips_linear(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        a: *const c_double,
        b: *const c_double,
        n: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_gamma(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    pub(super) fn vips_flip(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        direction: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_rot(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        angle: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_autorot(input: *mut VipsImage, out: *mut *mut VipsImage, ...) -> c_int;
    pub(super) fn vips_image_copy_memory(image: *mut VipsImage) -> *mut VipsImage;
    pub(super) fn vips_arrayjoin(
        input: *mut *mut VipsImage,
        out: *mut *mut VipsImage,
        n: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_thumbnail_image(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        width: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_find_trim(
        input: *mut VipsImage,
        left: *mut c_int,
        top: *mut c_int,
        width: *mut c_int,
        height: *mut c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_text(out: *mut *mut VipsImage, text: *const c_char, ...) -> c_int;
    pub(super) fn vips_rotate(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        angle: c_double,
        ...
    ) -> c_int;
    pub(super) fn vips_percent(
        input: *mut VipsImage,
        percent: c_double,
        threshold: *mut c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_extract_band(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        band: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_bandjoin2(
        left: *mut VipsImage,
        right: *mut VipsImage,
        out: *mut *mut VipsImage,
        ...
    ) -> c_int;
    pub(super) fn vips_colourspace(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        space: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_cast(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        format: c_int,
        ...
    ) -> c_int;
    pub(super) fn vips_bandjoin_const1(
        input: *mut VipsImage,
        out: *mut *mut VipsImage,
        c: c_double,
        ...
    ) -> c_int;

    pub(super) fn vips_jpegsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    pub(super) fn vips_tiffsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    pub(super) fn vips_pngsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    pub(super) fn vips_webpsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    pub(super) fn vips_heifsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;
    pub(super) fn vips_foreign_find_load_buffer(data: *const c_void, size: usize) -> *const c_char;
    pub(super) fn vips_gifsave_buffer(
        input: *mut VipsImage,
        buf: *mut *mut c_void,
        len: *mut usize,
        ...
    ) -> c_int;

    pub(super) fn vips_array_double_new(array: *const c_double, n: c_int) -> *mut VipsArea;
    pub(super) fn vips_area_unref(area: *mut VipsArea);
}

pub(super) const TRUE: c_int = 1;
pub(super) const FALSE: c_int = 0;
pub(super) const END: *const c_char = ptr::null();

// Enum values from the libvips headers (stable across 8.x).
pub(super) const VIPS_SIZE_FORCE: c_int = 3;
pub(super) const VIPS_ACCESS_RANDOM: c_int = 0;
/// Stop on any decoder warning. libjpeg reports a truncated file only as a warning (it pads the
/// missing scans with grey), so anything laxer serves half-grey images; sharp defaults to this too.
pub(super) const VIPS_FAIL_ON_WARNING: c_int = 3;
pub(super) const VIPS_ACCESS_SEQUENTIAL: c_int = 1;
pub(super) const VIPS_EXTEND_COPY: c_int = 1;
pub(super) const VIPS_EXTEND_BACKGROUND: c_int = 5;
pub(super) const VIPS_INTERESTING_ENTROPY: c_int = 2;
pub(super) const VIPS_INTERESTING_ATTENTION: c_int = 3;
pub(super) const VIPS_HEIF_COMPRESSION_AV1: c_int = 4;
pub(super) const VIPS_FOREIGN_KEEP_NONE: c_int = 0;
pub(super) const VIPS_FOREIGN_KEEP_ICC: c_int = 1 << 3;
pub(super) const VIPS_FOREIGN_KEEP_GAINMAP: c_int = 1 << 5;
pub(super) const VIPS_FORMAT_UCHAR: c_int = 0;
pub(super) const VIPS_FORMAT_USHORT: c_int = 2;
