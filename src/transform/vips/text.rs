//! Text rendering (libvips's `text`, Pango and fontconfig inside the bundled libvips) and the
//! mask operations text needs.

use std::ffi::{c_int, CString};
use std::ptr;

use super::ffi::*;
use super::{take_error, Image, VipsError};

/// Options for [`Image::text`].
#[derive(Debug, Clone)]
pub struct TextOptions<'t> {
    /// Pango markup (escaped by the caller).
    pub markup: &'t str,
    /// Pango font description (`"Liberation Sans, Bold 24px"`).
    pub font: &'t str,
    /// Wrap lines at this width in pixels; `None`: one line per `\n`, never wrapped.
    pub width: Option<u32>,
    /// Extra space between lines, pixels (`None`: the font's own).
    pub spacing: Option<u32>,
    /// Alignment of wrapped lines: 0 left, 1 centre, 2 right.
    pub align: u8,
}

/// `VipsTextWrap`: wrap at word boundaries / never.
const WRAP_WORD: c_int = 0;
const WRAP_NONE: c_int = 3;

impl Image<'static> {
    /// Render `opts.markup` as a one-band 8-bit coverage mask (255 = ink), at 72 dpi so that
    /// font sizes are pixels.
    pub fn text(opts: &TextOptions<'_>) -> Result<Image<'static>, VipsError> {
        let nul = |_| VipsError {
            operation: "text",
            message: "a NUL byte in the text or font".into(),
        };
        let markup = CString::new(opts.markup).map_err(nul)?;
        let font = CString::new(opts.font).map_err(nul)?;
        let mut out: *mut VipsImage = ptr::null_mut();
        let width = opts
            .width
            .map_or(0, |w| c_int::try_from(w).unwrap_or(c_int::MAX));
        let wrap = if opts.width.is_some() {
            WRAP_WORD
        } else {
            WRAP_NONE
        };
        let spacing = opts.spacing.map_or(0, |s| c_int::try_from(s).unwrap_or(0));
        // SAFETY: NUL-terminated strings that outlive the call; options typed as libvips
        // declares them (ints; `width` 0 means none; a zero `spacing` is the font's own).
        let rc = unsafe {
            vips_text(
                &mut out,
                markup.as_ptr(),
                c"font".as_ptr(),
                font.as_ptr(),
                c"dpi".as_ptr(),
                72 as c_int,
                c"width".as_ptr(),
                width,
                c"wrap".as_ptr(),
                wrap,
                c"align".as_ptr(),
                c_int::from(opts.align),
                c"spacing".as_ptr(),
                spacing,
                END,
            )
        };
        if rc != 0 {
            let e = take_error("text");
            // Text with no ink (only zero-width or control characters, such as U+202E): libvips
            // refuses to measure it; the mask of nothing is one empty pixel.
            if e.message.contains("no text to render") {
                return Image::from_pixels(&[0], 1, 1, 1);
            }
            return Err(e);
        }
        Image::wrap(out, "text")
    }

    /// Greyscale dilation: each pixel the largest within a `radius` square around it (a text
    /// outline from its mask).
    pub fn dilate(&self, radius: u32) -> Result<Image<'static>, VipsError> {
        let n = c_int::try_from(2 * radius + 1).unwrap_or(c_int::MAX);
        self.derive("rank", |input, out| {
            // SAFETY: valid pointers; the last index of the sorted window is its maximum.
            unsafe { vips_rank(input, out, n, n, n * n - 1, END) }
        })
    }
}
