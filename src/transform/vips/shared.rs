//! [`SharedImage`]: a finished image in memory that several threads may read (decode-once
//! masters).

use std::marker::PhantomData;

use super::ffi::*;
use super::image::Image;
use super::VipsError;

/// An image whose pixels are in memory, owned, and never modified again: safe to read from
/// many threads at once (libvips operations on it each build their own regions, and its
/// reference count is atomic). Made by [`Image::share`]; the decode-once masters
/// (`transform::master`) keep these in a cache that every transform thread reads.
pub struct SharedImage(pub(super) Image<'static>);

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

// Made from an image here, beside the type, so that `image` does not import `shared`.
impl Image<'_> {
    /// Compute the pixels into memory (metadata, ICC profile included, kept: scaling it later
    /// converts to sRGB) and make the result shareable between threads.
    pub fn share(&self) -> Result<SharedImage, VipsError> {
        // SAFETY: valid image; returns a new reference (or NULL with the error set).
        let raw = unsafe { vips_image_copy_memory(self.ptr.as_ptr()) };
        let image: Image<'static> = Image::wrap(raw, "copy_memory")?;
        Ok(SharedImage(image))
    }
}
