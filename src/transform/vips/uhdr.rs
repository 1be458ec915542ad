//! Ultra HDR: a JPEG whose SDR pixels carry a gain map (a second, smaller JPEG and its
//! metadata) that tells an HDR display how far to brighten each pixel. libvips 8.18 reads and
//! writes it through libultrahdr (`uhdrload`; `jpegsave` hands an image that keeps its gain map
//! to `uhdrsave`), and its `thumbnail` resizes and turns the map with the image.
//!
//! The two functions new in 8.18 are looked up at run time in the libvips already loaded, not
//! linked: a build against an older system libvips still links, and says it has no Ultra HDR.

use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::OnceLock;

use super::ffi::{
    dlsym, g_object_unref, vips_copy, vips_image_set_image, vips_source_new_from_memory, VipsImage,
    VipsSource, END,
};
use super::image::Image;
use super::VipsError;

/// `vips_uhdrload_source(source, &out, ...)`.
type LoadSource = unsafe extern "C" fn(*mut VipsSource, *mut *mut VipsImage, ...) -> c_int;
/// `vips_image_get_gainmap(image)`: a new reference to the decoded map, or NULL.
type GetGainmap = unsafe extern "C" fn(*mut VipsImage) -> *mut VipsImage;

struct Api {
    load_source: LoadSource,
    get_gainmap: GetGainmap,
}

/// glibc's `RTLD_DEFAULT`: search the libraries the process has loaded (libvips among them).
const RTLD_DEFAULT: *mut c_void = ptr::null_mut();

static API: OnceLock<Option<Api>> = OnceLock::new();

fn api() -> Option<&'static Api> {
    API.get_or_init(|| {
        let find = |name: &CStr| {
            // SAFETY: a NUL-terminated name looked up among the loaded libraries.
            let f = unsafe { dlsym(RTLD_DEFAULT, name.as_ptr()) };
            (!f.is_null()).then_some(f)
        };
        let (load, get) = (
            find(c"vips_uhdrload_source")?,
            find(c"vips_image_get_gainmap")?,
        );
        // SAFETY: libvips's functions of those names, whose C signatures are the types above
        // (vips/foreign.h and vips/header.h, 8.18); function and data pointers are one size here.
        unsafe {
            Some(Api {
                load_source: std::mem::transmute::<*mut c_void, LoadSource>(load),
                get_gainmap: std::mem::transmute::<*mut c_void, GetGainmap>(get),
            })
        }
    })
    .as_ref()
}

/// Whether this libvips reads and writes Ultra HDR (8.18 built with libultrahdr).
pub fn ultra_hdr_available() -> bool {
    api().is_some()
}

impl<'a> Image<'a> {
    /// Open an Ultra HDR JPEG as its SDR image with the gain map attached (`gainmap-data` and
    /// the map's metadata), turned by `orientation` (EXIF, 1–8, as the JPEG header read it:
    /// uhdrload keeps the EXIF block but does not parse it). `None` when the bytes carry no gain
    /// map or libvips cannot read one.
    ///
    /// Through uhdrload's *source* loader, the one Ultra HDR loader left unblocked (see
    /// `vips::init`): every other load searches buffer loaders and keeps using jpegload.
    pub fn load_ultra_hdr(bytes: &'a [u8], orientation: u8) -> Option<Image<'a>> {
        let api = api()?;
        // SAFETY: the source reads `bytes` without copying; the image it makes holds its own
        // reference to the source, and borrows `bytes` for its lifetime ('a).
        let source = unsafe { vips_source_new_from_memory(bytes.as_ptr().cast(), bytes.len()) };
        if source.is_null() {
            let _ = super::take_error("uhdrload");
            return None;
        }
        let mut out: *mut VipsImage = ptr::null_mut();
        // SAFETY: a valid source; no options.
        let rc = unsafe { (api.load_source)(source, &mut out, END) };
        // SAFETY: our reference, taken by new_from_memory.
        unsafe { g_object_unref(source.cast()) };
        if rc != 0 {
            // Not Ultra HDR (or broken): the caller takes the ordinary path.
            let _ = super::take_error("uhdrload");
            if !out.is_null() {
                // SAFETY: a reference a failed call handed back.
                unsafe { g_object_unref(out.cast()) };
            }
            return None;
        }
        let mut image = Image::wrap(out, "uhdrload").ok()?;
        if !image.has_gain_map() {
            return None;
        }
        image.set_int(c"orientation", i32::from(orientation.clamp(1, 8)));
        Some(image)
    }

    /// Whether a gain map is attached (compressed as loaded, or decoded and processed).
    pub fn has_gain_map(&self) -> bool {
        self.has_field(c"gainmap-data") || self.has_field(c"gainmap")
    }

    /// The attached gain map as an image (decoded on first use), if any.
    pub fn gain_map(&self) -> Option<Image<'static>> {
        let api = api()?;
        if !self.has_gain_map() {
            return None;
        }
        // SAFETY: a valid image; the result is a new reference (or NULL).
        let raw = unsafe { (api.get_gainmap)(self.ptr.as_ptr()) };
        if raw.is_null() {
            let _ = super::take_error("uhdrload");
            return None;
        }
        Some(Image {
            ptr: ptr::NonNull::new(raw)?,
            _input: PhantomData,
        })
    }

    /// A copy of this image carrying `map` as its (processed) gain map, for the saver.
    pub fn with_gain_map(&self, map: &Image<'_>) -> Result<Image<'a>, VipsError> {
        let copy = self.derive("copy", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_copy(input, out, END) }
        })?;
        // SAFETY: a fresh header only this function holds; set_image takes its own reference.
        unsafe { vips_image_set_image(copy.ptr.as_ptr(), c"gainmap".as_ptr(), map.ptr.as_ptr()) };
        Ok(copy)
    }
}
