//! HEIC fixtures written by libheif's own encoder (x265), called directly: independent of
//! Refract's HEIC decoding path, and able to write what the corpus lacks — an `irot`/`imir`
//! orientation and a chosen ICC profile on known pixels.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;

#[repr(C)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

/// The prefix of `struct heif_encoding_options` up to `image_orientation` (version 5).
#[repr(C)]
struct EncodingOptions {
    version: u8,
    save_alpha_channel: u8,
    macos_compatibility_workaround: u8,
    save_two_colr_boxes: u8,
    output_nclx_profile: *mut c_void,
    macos_compatibility_workaround_no_nclx_profile: u8,
    image_orientation: c_int,
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// Look up a libheif function by name, as a function pointer of type `F`.
unsafe fn sym<F: Copy>(name: &CStr) -> F {
    let lib = dlopen(c"libheif.so.1".as_ptr(), 2);
    assert!(!lib.is_null(), "libheif.so.1 missing: run .ci/test-deps.sh");
    let f = dlsym(lib, name.as_ptr());
    assert!(!f.is_null(), "libheif lacks {name:?}");
    std::mem::transmute_copy(&f)
}

fn check(e: HeifError) {
    if e.code != 0 {
        // SAFETY: libheif's messages are NUL-terminated.
        let m = unsafe { CStr::from_ptr(e.message) }.to_string_lossy();
        panic!("libheif: {m}");
    }
}

/// Write `path` as a HEIC of the 8-bit RGB `pixels` (`width` × `height`), coded losslessly
/// (4:4:4), with `icc` attached and `orientation` (EXIF numbering, 1–8) written as HEIF's
/// `irot`/`imir` boxes (no EXIF).
pub fn write(
    path: &Path,
    pixels: &[u8],
    width: u32,
    height: u32,
    icc: Option<&[u8]>,
    orientation: u8,
) {
    assert_eq!(pixels.len(), (width * height * 3) as usize);
    type E = HeifError;
    // SAFETY: libheif calls with the signatures of heif.h (1.15); every object is released
    // before returning; plane writes stay inside `stride` × `height`.
    unsafe {
        let ctx = sym::<unsafe extern "C" fn() -> *mut c_void>(c"heif_context_alloc")();
        let mut encoder = std::ptr::null_mut();
        check(sym::<
            unsafe extern "C" fn(*mut c_void, c_int, *mut *mut c_void) -> E,
        >(c"heif_context_get_encoder_for_format")(
            ctx, 1, &mut encoder
        ));
        check(sym::<unsafe extern "C" fn(*mut c_void, c_int) -> E>(
            c"heif_encoder_set_lossless",
        )(encoder, 1));
        check(sym::<
            unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> E,
        >(c"heif_encoder_set_parameter_string")(
            encoder,
            c"chroma".as_ptr(),
            c"444".as_ptr(),
        ));
        let mut image = std::ptr::null_mut();
        check(sym::<
            unsafe extern "C" fn(c_int, c_int, c_int, c_int, *mut *mut c_void) -> E,
        >(c"heif_image_create")(
            width as c_int,
            height as c_int,
            1,
            10,
            &mut image,
        ));
        check(sym::<
            unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, c_int) -> E,
        >(c"heif_image_add_plane")(
            image,
            10,
            width as c_int,
            height as c_int,
            8,
        ));
        let mut stride: c_int = 0;
        let plane = sym::<unsafe extern "C" fn(*mut c_void, c_int, *mut c_int) -> *mut u8>(
            c"heif_image_get_plane",
        )(image, 10, &mut stride);
        let row = width as usize * 3;
        for y in 0..height as usize {
            std::ptr::copy_nonoverlapping(
                pixels[y * row..].as_ptr(),
                plane.add(y * stride as usize),
                row,
            );
        }
        if let Some(icc) = icc {
            check(sym::<
                unsafe extern "C" fn(*mut c_void, *const c_char, *const c_void, usize) -> E,
            >(c"heif_image_set_raw_color_profile")(
                image,
                c"prof".as_ptr(),
                icc.as_ptr().cast(),
                icc.len(),
            ));
        }
        let options =
            sym::<unsafe extern "C" fn() -> *mut EncodingOptions>(c"heif_encoding_options_alloc")();
        assert!((*options).version >= 5, "libheif too old to write irot");
        (*options).image_orientation = c_int::from(orientation);
        check(sym::<
            unsafe extern "C" fn(
                *mut c_void,
                *mut c_void,
                *mut c_void,
                *const EncodingOptions,
                *mut c_void,
            ) -> E,
        >(c"heif_context_encode_image")(
            ctx,
            image,
            encoder,
            options,
            std::ptr::null_mut(),
        ));
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        check(
            sym::<unsafe extern "C" fn(*mut c_void, *const c_char) -> E>(
                c"heif_context_write_to_file",
            )(ctx, name.as_ptr()),
        );
        sym::<unsafe extern "C" fn(*mut EncodingOptions)>(c"heif_encoding_options_free")(options);
        sym::<unsafe extern "C" fn(*mut c_void)>(c"heif_image_release")(image);
        sym::<unsafe extern "C" fn(*mut c_void)>(c"heif_encoder_release")(encoder);
        sym::<unsafe extern "C" fn(*mut c_void)>(c"heif_context_free")(ctx);
    }
}

/// The ICC profile inside a HEIF file's `colr` box of type `prof` (read from the bytes, not
/// through any decoder).
pub fn icc_of(heif: &[u8]) -> Option<Vec<u8>> {
    let at = heif.windows(8).position(|w| w == b"colrprof")?;
    let size = u32::from_be_bytes(heif[at - 4..at].try_into().unwrap()) as usize;
    Some(heif[at + 8..at - 4 + size].to_vec())
}
