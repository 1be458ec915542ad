//! [`Image`]: an owned reference to a libvips image and the operations the pipeline uses.

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use super::ffi::*;
use super::{take_error, VipsError};

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

/// An owned reference to a libvips image. `'a` is the lifetime of the bytes it was loaded from
/// (`'static` for images that own their pixels).
pub struct Image<'a> {
    pub(super) ptr: NonNull<VipsImage>,
    pub(super) _input: PhantomData<&'a [u8]>,
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
    /// Import the embedded ICC profile and export sRGB. Set it for originals that have one:
    /// without it thumbnail keeps an RGB image's own profile (only CMYK is converted), which
    /// the encoder then strips — a Display P3 photo would be served with its P3 numbers read
    /// as sRGB, dull. (Unset for untagged originals: a no-op conversion costs CPU, and turns
    /// greyscale into three bands. Unset for masters too, scaled and converted later.)
    pub to_srgb: bool,
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

impl<'a> Image<'a> {
    pub(super) fn wrap(raw: *mut VipsImage, operation: &'static str) -> Result<Self, VipsError> {
        NonNull::new(raw)
            .map(|ptr| Image {
                ptr,
                _input: PhantomData,
            })
            .ok_or_else(|| take_error(operation))
    }

    pub(super) fn derive(
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

    pub(super) fn open(bytes: &'a [u8], access: c_int) -> Result<Image<'a>, VipsError> {
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
        // A NULL name ends the option list before the output profile.
        let output_profile: *const c_char = if opts.to_srgb {
            c"output_profile".as_ptr()
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
                c"no_rotate".as_ptr(),
                c_int::from(opts.no_rotate),
                output_profile,
                c"srgb".as_ptr(),
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

    /// Lines per buffer libvips fills when it writes this image out (its strip height: see
    /// [`super::TILE_HEIGHT`]). For the test that the setting took.
    #[cfg(test)]
    pub(super) fn strip_lines(&self) -> u32 {
        let (mut w, mut h, mut n): (c_int, c_int, c_int) = (0, 0, 0);
        // SAFETY: valid image pointer; three out-parameters.
        unsafe { vips_get_tile_size(self.ptr.as_ptr(), &mut w, &mut h, &mut n) };
        n as u32
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

    /// Bits per sample: 8, 16 (or 32 for float data).
    pub fn bits_per_sample(&self) -> u32 {
        // SAFETY: valid image pointer.
        match unsafe { vips_image_get_format(self.ptr.as_ptr()) } {
            0 | 1 => 8,
            2 | 3 => 16,
            _ => 32,
        }
    }

    /// The names of every metadata field (header fields included).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        // SAFETY: a NULL-terminated array of strings, freed after copying.
        unsafe {
            let fields = vips_image_get_fields(self.ptr.as_ptr());
            if fields.is_null() {
                return out;
            }
            let mut i = 0;
            loop {
                let name = *fields.add(i);
                if name.is_null() {
                    break;
                }
                out.push(CStr::from_ptr(name).to_string_lossy().into_owned());
                i += 1;
            }
            g_strfreev(fields);
        }
        out
    }

    /// How the bands are to be understood.
    pub fn interpretation(&self) -> Interpretation {
        // SAFETY: valid image pointer.
        Interpretation::from_raw(unsafe { vips_image_get_interpretation(self.ptr.as_ptr()) })
    }

    /// Horizontal and vertical resolution, in pixels per millimetre.
    pub fn resolution(&self) -> (f64, f64) {
        let ptr = self.ptr.as_ptr();
        // SAFETY: valid image pointer.
        unsafe { (vips_image_get_xres(ptr), vips_image_get_yres(ptr)) }
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

    /// A binary metadata field (`icc-profile-data`, `exif-data`, …), copied, if present.
    pub fn get_blob(&self, name: &CStr) -> Option<Vec<u8>> {
        // SAFETY: the data belongs to the image; copied before returning.
        unsafe {
            if vips_image_get_typeof(self.ptr.as_ptr(), name.as_ptr()) == 0 {
                return None;
            }
            let mut data: *const std::ffi::c_void = ptr::null();
            let mut len = 0usize;
            if vips_image_get_blob(self.ptr.as_ptr(), name.as_ptr(), &mut data, &mut len) != 0
                || data.is_null()
            {
                vips_error_clear();
                return None;
            }
            Some(std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec())
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

    /// Attach a copy of `data` as a metadata blob (e.g. `icc-profile-data`).
    pub fn set_blob(&mut self, name: &CStr, data: &[u8]) {
        // SAFETY: we hold the only Rust handle; libvips copies `data.len()` bytes.
        unsafe {
            vips_image_set_blob_copy(
                self.ptr.as_ptr(),
                name.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
            )
        }
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
        self.embed_with(x, y, width, height, Some(background))
    }

    /// Place the image at (`x`, `y`) on a `width` × `height` canvas filled by extending its edge
    /// pixels outwards (libvips's `extend=copy`). Reads the edges out of order: give it an image
    /// in memory ([`Image::materialize`]) when it came from a sequential decode.
    pub fn embed_edges(
        &self,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    ) -> Result<Image<'a>, VipsError> {
        self.embed_with(x, y, width, height, None)
    }

    /// `vips_embed`: the canvas filled with `background`, or (`None`) by the edge pixels.
    fn embed_with(
        &self,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        background: Option<&[f64]>,
    ) -> Result<Image<'a>, VipsError> {
        let area = background.map(DoubleArray::new);
        let extend = if area.is_some() {
            VIPS_EXTEND_BACKGROUND
        } else {
            VIPS_EXTEND_COPY
        };
        self.derive("embed", |input, out| {
            // SAFETY: valid pointers; libvips takes its own reference to the array, which
            // outlives the call (a NULL name ends the list without one).
            unsafe {
                vips_embed(
                    input,
                    out,
                    dim(x),
                    dim(y),
                    dim(width),
                    dim(height),
                    c"extend".as_ptr(),
                    extend,
                    match &area {
                        Some(_) => c"background".as_ptr(),
                        None => ptr::null(),
                    },
                    area.as_ref().map_or(ptr::null_mut(), |a| a.0),
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

    /// Median of each `size`×`size` window, band by band (noise removal that keeps edges). The
    /// window shrinks to fit an image smaller than it (libvips refuses a window larger than the
    /// image; a 1-pixel side leaves a 1×1 window, the identity).
    pub fn median(&self, size: u32) -> Result<Image<'a>, VipsError> {
        let n = dim(size.min(self.width()).min(self.height()).max(1));
        self.derive("rank", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_rank(input, out, n, n, n * n / 2, END) }
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

    /// [`Image::thumbnail`] of an image already open (no shrink-on-load; `opts.pages` is the
    /// image's own): the same size, saliency crop, orientation and sRGB export. libvips resizes,
    /// turns and crops an attached gain map with it.
    pub fn thumbnail_of(&self, opts: ThumbnailOptions) -> Result<Image<'a>, VipsError> {
        let (mode_key, mode_value) = match opts.crop {
            None => (c"size", VIPS_SIZE_FORCE),
            Some(Interesting::Entropy) => (c"crop", VIPS_INTERESTING_ENTROPY),
            Some(Interesting::Attention) => (c"crop", VIPS_INTERESTING_ATTENTION),
        };
        let output_profile: *const c_char = if opts.to_srgb {
            c"output_profile".as_ptr()
        } else {
            ptr::null()
        };
        self.derive("thumbnail_image", |input, out| {
            // SAFETY: valid pointers; options typed as libvips declares them.
            unsafe {
                vips_thumbnail_image(
                    input,
                    out,
                    dim(opts.width),
                    c"height".as_ptr(),
                    dim(opts.height),
                    mode_key.as_ptr(),
                    mode_value,
                    c"no_rotate".as_ptr(),
                    c_int::from(opts.no_rotate),
                    output_profile,
                    c"srgb".as_ptr(),
                    END,
                )
            }
        })
    }

    /// Scale an already open image to exactly `width` × `height`, importing its ICC profile (if
    /// it has one) and exporting sRGB as [`Image::thumbnail`] does (but without shrink-on-load).
    pub fn thumbnail_image(&self, width: u32, height: u32) -> Result<Image<'a>, VipsError> {
        self.thumbnail_of(ThumbnailOptions {
            width,
            height,
            crop: None,
            no_rotate: false,
            pages: Pages::First,
            to_srgb: self.has_field(c"icc-profile-data"),
        })
    }

    /// The bounding box of what differs from the background (`background`, one value per
    /// band — a value for alpha is ignored — or else the top-left pixel's colour) by more than
    /// `threshold`:
    /// `(left, top, width, height)`.
    pub fn find_trim(
        &self,
        threshold: f64,
        background: Option<&[f64]>,
    ) -> Result<(u32, u32, u32, u32), VipsError> {
        let (mut l, mut t, mut w, mut h): (c_int, c_int, c_int, c_int) = (0, 0, 0, 0);
        // libvips flattens an alpha band away before it compares, so the background is the
        // colour bands' only (a value for alpha is refused: "vector must have 1 or 3
        // elements").
        let colour_bands = (self.bands() - u32::from(self.has_alpha())).max(1) as usize;
        let area = background.map(|b| DoubleArray::new(&b[..b.len().min(colour_bands)]));
        // SAFETY: valid image and out-pointers; the options are a double and an array that
        // outlives the call (or a NULL name ending the list).
        let rc = unsafe {
            vips_find_trim(
                self.ptr.as_ptr(),
                &mut l,
                &mut t,
                &mut w,
                &mut h,
                c"threshold".as_ptr(),
                threshold,
                match &area {
                    Some(_) => c"background".as_ptr(),
                    None => ptr::null(),
                },
                area.as_ref().map_or(ptr::null_mut(), |a| a.0),
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

    /// An image of `pixels` (8-bit, this image's size and bands, interleaved, row-major) with
    /// this image's interpretation, resolution and metadata (animation page height, delays,
    /// loop count, profile): for steps that compute pixels in Rust.
    pub fn with_pixels(&self, pixels: &[u8]) -> Result<Image<'static>, VipsError> {
        let bare = Image::from_pixels(pixels, self.width(), self.height(), self.bands())?;
        let input = self.ptr.as_ptr();
        let interpretation = self.interpretation().code();
        // SAFETY: valid images; every option is of the type libvips declares.
        let raw = unsafe {
            let mut out: *mut VipsImage = ptr::null_mut();
            let rc = vips_copy(
                bare.ptr.as_ptr(),
                &mut out,
                c"interpretation".as_ptr(),
                interpretation,
                c"xres".as_ptr(),
                vips_image_get_xres(input),
                c"yres".as_ptr(),
                vips_image_get_yres(input),
                END,
            );
            if rc != 0 {
                ptr::null_mut()
            } else {
                out
            }
        };
        let out: Image<'static> = Image::wrap(raw, "copy")?;
        // SAFETY: the field list is a NULL-terminated array of strings we free; each value is
        // read into a zeroed GValue, set (libvips copies it) and unset.
        unsafe {
            let fields = vips_image_get_fields(input);
            if !fields.is_null() {
                let mut i = 0;
                loop {
                    let name = *fields.add(i);
                    if name.is_null() {
                        break;
                    }
                    i += 1;
                    if BUILT_IN_FIELDS.contains(&CStr::from_ptr(name).to_bytes()) {
                        continue;
                    }
                    let mut value = GValue::default();
                    if vips_image_get(input, name, &mut value) == 0 {
                        vips_image_set(out.ptr.as_ptr(), name, &mut value);
                        g_value_unset(&mut value);
                    } else {
                        vips_error_clear();
                    }
                }
                g_strfreev(fields);
            }
        }
        Ok(out)
    }

    /// The same pixels with `icc` attached as their ICC profile (a label: pixels unchanged).
    pub fn with_profile(&self, icc: &[u8]) -> Result<Image<'a>, VipsError> {
        let mut copy = self.derive("copy", |input, out| {
            // SAFETY: valid pointers.
            unsafe { vips_copy(input, out, END) }
        })?;
        copy.set_blob(c"icc-profile-data", icc);
        Ok(copy)
    }

    /// The same pixels with this resolution in pixels per inch (written by the JPEG, PNG,
    /// WebP and TIFF savers).
    pub fn with_dpi(&self, dpi: f64) -> Result<Image<'a>, VipsError> {
        let per_mm = dpi / 25.4;
        self.derive("copy", |input, out| {
            // SAFETY: valid pointers; both options are doubles.
            unsafe {
                vips_copy(
                    input,
                    out,
                    c"xres".as_ptr(),
                    per_mm,
                    c"yres".as_ptr(),
                    per_mm,
                    END,
                )
            }
        })
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

/// Header fields every image has (not metadata to copy).
const BUILT_IN_FIELDS: &[&[u8]] = &[
    b"width",
    b"height",
    b"bands",
    b"format",
    b"coding",
    b"interpretation",
    b"xoffset",
    b"yoffset",
    b"xres",
    b"yres",
    b"filename",
    b"mode",
    b"scale",
    b"offset",
];

/// Clamp a pixel count to libvips's `int`.
pub(super) fn dim(v: u32) -> c_int {
    v.min(c_int::MAX as u32) as c_int
}

/// A `VipsArrayDouble` we hold one reference to.
pub(super) struct DoubleArray(*mut VipsArea);

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
