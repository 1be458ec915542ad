//! HEIC (HEVC-coded HEIF, what phones upload): decoded outside libvips, whose prebuilt build
//! carries no HEVC decoder (patents), by the system's libheif with libde265 (Debian:
//! `libheif1`, `libde265-0`).
//!
//! libheif is opened at run time (`dlopen("libheif.so.1")`), not linked: a host without it
//! still runs Refract, and HEIC is then refused as an unsupported format (one warning at start).
//! Only the handful of functions below are used; their C signatures have been stable since
//! libheif 1.4.
//!
//! The primary image is decoded with its transformations (`irot`, `imir`, `clap`) applied, so it
//! is upright and carries no EXIF orientation (HEIF's own boxes rule; Apple's EXIF orientation
//! repeats them and must not be applied twice). Depth maps, thumbnails and auxiliary images are
//! ignored; an image sequence gives its primary image. The pixels (8-bit RGB or RGBA, HDR mapped
//! down by libheif) and the ICC profile become an uncompressed TIFF that the rest of the
//! pipeline reads like any original.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use bytes::Bytes;

use super::ffi::dlsym;
use super::image::Image;

#[repr(C)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

#[repr(C)]
struct Opaque {
    _opaque: [u8; 0],
}

/// The prefix of `struct heif_decoding_options` up to `convert_hdr_to_8bit` (version 2; libheif
/// allocates the full, newer struct).
#[repr(C)]
struct DecodingOptions {
    version: u8,
    ignore_transformations: u8,
    start_progress: *mut c_void,
    on_progress: *mut c_void,
    end_progress: *mut c_void,
    progress_user_data: *mut c_void,
    convert_hdr_to_8bit: u8,
}

const HEIF_COLORSPACE_RGB: c_int = 1;
const HEIF_CHROMA_INTERLEAVED_RGB: c_int = 10;
const HEIF_CHROMA_INTERLEAVED_RGBA: c_int = 11;
const HEIF_CHANNEL_INTERLEAVED: c_int = 10;

const fn fourcc(s: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*s)
}

/// The libheif functions Refract calls, resolved once. (The release functions take `const`
/// pointers in C; declared `mut` here, the same ABI, so one drop guard serves every object.)
struct Api {
    get_version: unsafe extern "C" fn() -> *const c_char,
    context_alloc: unsafe extern "C" fn() -> *mut Opaque,
    context_free: unsafe extern "C" fn(*mut Opaque),
    read_from_memory_without_copy:
        unsafe extern "C" fn(*mut Opaque, *const c_void, usize, *const c_void) -> HeifError,
    get_primary_image_handle: unsafe extern "C" fn(*mut Opaque, *mut *mut Opaque) -> HeifError,
    handle_release: unsafe extern "C" fn(*mut Opaque),
    handle_get_width: unsafe extern "C" fn(*const Opaque) -> c_int,
    handle_get_height: unsafe extern "C" fn(*const Opaque) -> c_int,
    handle_has_alpha_channel: unsafe extern "C" fn(*const Opaque) -> c_int,
    handle_get_color_profile_type: unsafe extern "C" fn(*const Opaque) -> u32,
    handle_get_raw_color_profile_size: unsafe extern "C" fn(*const Opaque) -> usize,
    handle_get_raw_color_profile: unsafe extern "C" fn(*const Opaque, *mut c_void) -> HeifError,
    decoding_options_alloc: unsafe extern "C" fn() -> *mut DecodingOptions,
    decoding_options_free: unsafe extern "C" fn(*mut DecodingOptions),
    decode_image: unsafe extern "C" fn(
        *const Opaque,
        *mut *mut Opaque,
        c_int,
        c_int,
        *const DecodingOptions,
    ) -> HeifError,
    image_get_width: unsafe extern "C" fn(*const Opaque, c_int) -> c_int,
    image_get_height: unsafe extern "C" fn(*const Opaque, c_int) -> c_int,
    image_get_bits_per_pixel_range: unsafe extern "C" fn(*const Opaque, c_int) -> c_int,
    image_get_plane_readonly: unsafe extern "C" fn(*const Opaque, c_int, *mut c_int) -> *const u8,
    image_release: unsafe extern "C" fn(*mut Opaque),
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;

static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call.
    let raw = unsafe { dlerror() };
    if raw.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: as above.
        unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned()
    }
}

/// A symbol's address as a function pointer of type `F`.
///
/// # Safety
/// `F` must be a function pointer type matching the symbol's C signature.
unsafe fn function<F: Copy>(symbol: *mut c_void) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: same size (checked); the caller vouches for the signature.
    unsafe { std::mem::transmute_copy(&symbol) }
}

fn load() -> Result<Api, String> {
    // SAFETY: dlopen with a NUL-terminated name; the handle is never closed (the functions live
    // for the life of the process).
    let lib = unsafe { dlopen(c"libheif.so.1".as_ptr(), RTLD_NOW) };
    if lib.is_null() {
        return Err(dl_error());
    }
    macro_rules! sym {
        ($name:literal) => {{
            // SAFETY: a NUL-terminated symbol name looked up in the handle opened above.
            let f = unsafe { dlsym(lib, concat!($name, "\0").as_ptr().cast()) };
            if f.is_null() {
                return Err(format!("libheif.so.1 lacks {}", $name));
            }
            // SAFETY: the symbol is libheif's function of that name, whose C signature is the
            // field's type (heif.h, stable since libheif 1.4).
            unsafe { function(f) }
        }};
    }
    Ok(Api {
        get_version: sym!("heif_get_version"),
        context_alloc: sym!("heif_context_alloc"),
        context_free: sym!("heif_context_free"),
        read_from_memory_without_copy: sym!("heif_context_read_from_memory_without_copy"),
        get_primary_image_handle: sym!("heif_context_get_primary_image_handle"),
        handle_release: sym!("heif_image_handle_release"),
        handle_get_width: sym!("heif_image_handle_get_width"),
        handle_get_height: sym!("heif_image_handle_get_height"),
        handle_has_alpha_channel: sym!("heif_image_handle_has_alpha_channel"),
        handle_get_color_profile_type: sym!("heif_image_handle_get_color_profile_type"),
        handle_get_raw_color_profile_size: sym!("heif_image_handle_get_raw_color_profile_size"),
        handle_get_raw_color_profile: sym!("heif_image_handle_get_raw_color_profile"),
        decoding_options_alloc: sym!("heif_decoding_options_alloc"),
        decoding_options_free: sym!("heif_decoding_options_free"),
        decode_image: sym!("heif_decode_image"),
        image_get_width: sym!("heif_image_get_width"),
        image_get_height: sym!("heif_image_get_height"),
        image_get_bits_per_pixel_range: sym!("heif_image_get_bits_per_pixel_range"),
        image_get_plane_readonly: sym!("heif_image_get_plane_readonly"),
        image_release: sym!("heif_image_release"),
    })
}

fn api() -> Result<&'static Api, &'static str> {
    API.get_or_init(load).as_ref().map_err(String::as_str)
}

/// libheif's version when HEIC decoding is available on this host, or why it is not.
pub fn heic_decoder() -> Result<String, String> {
    let api = api().map_err(str::to_owned)?;
    // SAFETY: returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr((api.get_version)()) };
    Ok(version.to_string_lossy().into_owned())
}

/// Why a HEIC could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeicError {
    /// libheif is not installed on this host.
    Unavailable(String),
    /// The primary image declares more pixels than allowed (checked before decoding).
    TooManyPixels(u64),
    /// The file is broken, or uses a coding libheif cannot decode.
    Undecodable(String),
}

fn check(e: HeifError) -> Result<(), HeicError> {
    if e.code == 0 {
        return Ok(());
    }
    let message = if e.message.is_null() {
        String::new()
    } else {
        // SAFETY: libheif's messages are static NUL-terminated strings (or owned by the context,
        // which outlives this call).
        unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .into_owned()
    };
    Err(HeicError::Undecodable(format!(
        "heif: {message} ({}.{})",
        e.code, e.subcode
    )))
}

/// Frees a libheif object through the given function on drop.
struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from the matching libheif allocator and is freed once.
            unsafe { (self.1)(self.0) }
        }
    }
}

/// An open HEIC: the container parsed and its primary image's handle, nothing decoded. Borrows
/// the bytes (libheif reads them without copying); the handle is released before the context.
struct Primary<'a> {
    api: &'static Api,
    handle: Owned<Opaque>,
    _context: Owned<Opaque>,
    /// Upright size (after `irot`/`imir`/`clap`).
    width: u32,
    height: u32,
    alpha: bool,
    _bytes: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Primary<'a> {
    fn open(bytes: &'a [u8]) -> Result<Primary<'a>, HeicError> {
        let api = api().map_err(|e| HeicError::Unavailable(e.to_owned()))?;
        // SAFETY: each pointer comes from libheif and is owned by an `Owned` guard; the context
        // reads `bytes` without copying, and the returned value borrows `bytes`.
        unsafe {
            let context = Owned((api.context_alloc)(), api.context_free);
            if context.0.is_null() {
                return Err(HeicError::Undecodable("heif: out of memory".into()));
            }
            check((api.read_from_memory_without_copy)(
                context.0,
                bytes.as_ptr().cast(),
                bytes.len(),
                ptr::null(),
            ))?;
            let mut raw_handle = ptr::null_mut();
            check((api.get_primary_image_handle)(context.0, &mut raw_handle))?;
            let handle = Owned(raw_handle, api.handle_release);
            let (width, height) = (
                (api.handle_get_width)(handle.0),
                (api.handle_get_height)(handle.0),
            );
            if width <= 0 || height <= 0 {
                return Err(HeicError::Undecodable("heif: zero-sized image".into()));
            }
            let alpha = (api.handle_has_alpha_channel)(handle.0) != 0;
            Ok(Primary {
                api,
                handle,
                _context: context,
                width: width as u32,
                height: height as u32,
                alpha,
                _bytes: std::marker::PhantomData,
            })
        }
    }
}

/// The primary image's upright size (after `irot`/`imir`/`clap`) and whether it has alpha, read
/// from the container without decoding anything. (libvips's header reports the stored size,
/// before HEIF's rotation.)
pub fn heic_header(bytes: &[u8]) -> Result<(u32, u32, bool), HeicError> {
    let primary = Primary::open(bytes)?;
    Ok((primary.width, primary.height, primary.alpha))
}

/// Decode the primary image of the HEIC `bytes` (refusing it, before any decode, when it
/// declares more than `max_pixels`) into an uncompressed TIFF holding its upright pixels and ICC
/// profile.
pub fn heic_to_tiff(bytes: &[u8], max_pixels: u64) -> Result<Bytes, HeicError> {
    let primary = Primary::open(bytes)?;
    let (api, handle, alpha) = (primary.api, &primary.handle, primary.alpha);
    // SAFETY: every pointer below comes from libheif and is released by an `Owned` guard in
    // reverse order of creation, all before `primary` (and so the context) goes.
    unsafe {
        let pixels = u64::from(primary.width) * u64::from(primary.height);
        if pixels > max_pixels {
            return Err(HeicError::TooManyPixels(pixels));
        }
        let icc = match (api.handle_get_color_profile_type)(handle.0) {
            t if t == fourcc(b"prof") || t == fourcc(b"rICC") => {
                let mut profile = vec![0u8; (api.handle_get_raw_color_profile_size)(handle.0)];
                check((api.handle_get_raw_color_profile)(
                    handle.0,
                    profile.as_mut_ptr().cast(),
                ))?;
                Some(profile)
            }
            // No profile, or an nclx one: the pixels are taken as sRGB.
            _ => None,
        };
        let options = Owned((api.decoding_options_alloc)(), api.decoding_options_free);
        if !options.0.is_null() && (*options.0).version >= 2 {
            (*options.0).convert_hdr_to_8bit = 1;
        }
        let chroma = if alpha {
            HEIF_CHROMA_INTERLEAVED_RGBA
        } else {
            HEIF_CHROMA_INTERLEAVED_RGB
        };
        let mut raw_image = ptr::null_mut();
        check((api.decode_image)(
            handle.0,
            &mut raw_image,
            HEIF_COLORSPACE_RGB,
            chroma,
            options.0,
        ))?;
        let image = Owned(raw_image, api.image_release);
        let bands: usize = if alpha { 4 } else { 3 };
        let channel = HEIF_CHANNEL_INTERLEAVED;
        let (w, h) = (
            (api.image_get_width)(image.0, channel),
            (api.image_get_height)(image.0, channel),
        );
        if (api.image_get_bits_per_pixel_range)(image.0, channel) != 8 || w <= 0 || h <= 0 {
            return Err(HeicError::Undecodable(
                "heif: decoder gave no 8-bit RGB plane".into(),
            ));
        }
        let mut stride: c_int = 0;
        let plane = (api.image_get_plane_readonly)(image.0, channel, &mut stride);
        let row = w as usize * bands;
        if plane.is_null() || (stride as usize) < row {
            return Err(HeicError::Undecodable("heif: no pixel plane".into()));
        }
        let mut pixels = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            let line = std::slice::from_raw_parts(plane.add(y * stride as usize), row);
            pixels.extend_from_slice(line);
        }
        drop((image, options, primary));
        let undecodable = |e: super::VipsError| HeicError::Undecodable(e.to_string());
        let mut image =
            Image::from_pixels(&pixels, w as u32, h as u32, bands as u32).map_err(undecodable)?;
        drop(pixels);
        if let Some(profile) = icc {
            image.set_blob(c"icc-profile-data", &profile);
        }
        image.save_tiff().map_err(undecodable)
    }
}
