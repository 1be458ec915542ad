//! Text (`txt*`): a caption drawn last, over the framed and watermarked image. libvips renders
//! the text (Pango, with fontconfig choosing among the origin's own fonts: [`use_fonts`]) as a
//! coverage mask; the mask is coloured and drawn with an optional outline (`txt-line`) and drop
//! shadow (`txt-shad`) at its place (`txt-align`, `txt-pad`). A line wider than the image is cut
//! (`txt-clip`) or shrunk to fit (`txt-fit=max`); `txt-width` wraps instead.
//!
//! Bounded before anything is rendered: at most [`MAX_TEXT_CHARS`] characters and
//! [`MAX_TEXT_SIZE`] pixels a glyph (checked by the parser), and the text's estimated pixels
//! within `--max-pixels`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::overlay::composite;
use super::vips::{Image, SaveOptions, TextOptions};
use super::{classify, colour, Limits};
use crate::error::Error;
use crate::request::params::text::{MAX_TEXT_CHARS, MAX_TEXT_SIZE};
use crate::request::params::{Align, BlendMode, Params, Rgba, Text, TextClip};

/// The widest text image libvips's Pango/cairo surface allows (cairo's limit).
const MAX_TEXT_SIDE: u64 = 32_767;

/// The fonts this process renders text with, once configured: `None` when there are none.
static FONTS: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The font folder `make deps` fills (`.deps/fonts` of the build tree), baked in at build time.
pub fn builtin_fonts() -> PathBuf {
    PathBuf::from(env!("REFRACT_BUILTIN_FONTS"))
}

/// Point fontconfig (inside the bundled libvips) at `dirs` and nothing else: a `fonts.conf` of
/// their own, written once per process before the first text is rendered (`FONTCONFIG_FILE`),
/// so output never depends on the host's fonts. Families the origin lacks fall back by these
/// rules: Helvetica, Arial → Liberation Sans; Times → Liberation Serif; Courier → Liberation
/// Mono; sans-serif, serif, monospace → DejaVu; anything else → DejaVu Sans. The first call in
/// a process decides; later calls with other folders are logged and ignored.
pub fn use_fonts(dirs: &[PathBuf]) {
    let mut wanted = Some(dirs.to_vec());
    FONTS.get_or_init(|| configure(&wanted.take().unwrap_or_default()));
    if wanted.is_some() {
        tracing::debug!("fonts already configured for this process; --fonts applies per process");
    }
}

fn configure(dirs: &[PathBuf]) -> Option<PathBuf> {
    let dirs: Vec<&PathBuf> = dirs.iter().filter(|d| has_fonts(d)).collect();
    if dirs.is_empty() {
        tracing::warn!("no fonts found (make deps installs them; --fonts DIR): txt is refused");
        return None;
    }
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    for d in &dirs {
        hash.update(d.as_os_str().as_encoded_bytes());
        hash.update([0]);
    }
    let id = crate::encoding::digest::hex(&hash.finalize()[..8]);
    let home = std::env::temp_dir().join(format!("refract-fonts-{id}"));
    let conf = home.join("fonts.conf");
    let xml = fonts_conf(&dirs, &home.join("cache"));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&home)?;
        let temp = home.join(format!(".fonts.conf.{}", std::process::id()));
        std::fs::write(&temp, &xml)?;
        std::fs::rename(&temp, &conf)
    };
    if let Err(e) = write() {
        tracing::warn!(error = %e, dir = %home.display(), "cannot write fonts.conf: txt is refused");
        return None;
    }
    // Before any text is rendered: fontconfig reads it on first use.
    std::env::set_var("FONTCONFIG_FILE", &conf);
    Some(conf)
}

fn has_fonts(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            [".ttf", ".otf", ".ttc", ".woff", ".woff2"]
                .iter()
                .any(|ext| name.ends_with(ext))
        })
}

fn fonts_conf(dirs: &[&PathBuf], cache: &Path) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n<fontconfig>\n",
    );
    for d in dirs {
        xml.push_str(&format!(
            "  <dir>{}</dir>\n",
            crate::encoding::markup::escape(&d.to_string_lossy())
        ));
    }
    xml.push_str(&format!(
        "  <cachedir>{}</cachedir>\n",
        crate::encoding::markup::escape(&cache.to_string_lossy())
    ));
    for (families, to) in [
        (
            &["Helvetica", "Helvetica Neue", "Arial", "Arimo"][..],
            "Liberation Sans",
        ),
        (
            &["Times", "Times New Roman", "Tinos"][..],
            "Liberation Serif",
        ),
        (
            &["Courier", "Courier New", "Cousine"][..],
            "Liberation Mono",
        ),
        (&["sans-serif", "sans"][..], "DejaVu Sans"),
        (&["serif"][..], "DejaVu Serif"),
        (&["monospace", "mono"][..], "DejaVu Sans Mono"),
    ] {
        for family in families {
            xml.push_str(&format!(
                "  <alias binding=\"same\"><family>{family}</family><prefer><family>{to}</family></prefer></alias>\n"
            ));
        }
    }
    xml.push_str(
        "  <match target=\"pattern\"><edit name=\"family\" mode=\"append_last\"><string>DejaVu Sans</string></edit></match>\n</fontconfig>\n",
    );
    xml
}

/// Pango markup for plain `text`: escaped, with letter spacing.
fn markup(text: &str, track: i32) -> String {
    let escaped = crate::encoding::markup::escape(text);
    if track == 0 {
        escaped
    } else {
        // Pango counts letter spacing in 1024ths of a point (a pixel at 72 dpi).
        format!("<span letter_spacing=\"{}\">{escaped}</span>", track * 1024)
    }
}

fn render(spec: &Text, size: u32, text: &str) -> Result<Image<'static>, Error> {
    let font = format!("{} {size}px", spec.font);
    let align = match spec.align.0 {
        Align::Start => 0,
        Align::Center => 1,
        Align::End => 2,
    };
    Image::text(&TextOptions {
        markup: &markup(text, spec.track),
        font: &font,
        width: spec.width,
        spacing: (spec.lead > 0).then_some(spec.lead),
        align,
    })
    .map_err(classify)
}

/// Refuse text whose rendering would break the pixel limit, before it is rendered.
fn check_size(spec: &Text, limits: &Limits) -> Result<(), Error> {
    debug_assert!(spec.text.chars().count() <= MAX_TEXT_CHARS && spec.size <= MAX_TEXT_SIZE);
    let size = u64::from(spec.size);
    let lines: Vec<&str> = spec.text.split('\n').collect();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u64;
    let line_height = size * 3 / 2 + u64::from(spec.lead);
    let track = u64::from(spec.track.unsigned_abs());
    let (width, height) = match spec.width {
        None => (longest * (size + track), lines.len() as u64 * line_height),
        Some(w) => {
            let chars = spec.text.chars().count() as u64;
            let w = u64::from(w);
            let rows = (chars * (size + track)).div_ceil(w.max(1)) + lines.len() as u64;
            (w, rows * line_height)
        }
    };
    if width > MAX_TEXT_SIDE || height > MAX_TEXT_SIDE || width * height > limits.max_pixels {
        return Err(Error::bad_param(
            "txt",
            format!(
                "about {width}x{height} pixels of text at txt-size {}; at most {} pixels and {MAX_TEXT_SIDE} a side",
                spec.size, limits.max_pixels
            ),
        ));
    }
    Ok(())
}

/// One overlong line made to fit `room` pixels: shrunk (`txt-fit=max`) or cut (`txt-clip`).
fn fit(spec: &Text, mask: Image<'static>, room: u32) -> Result<Image<'static>, Error> {
    let (w, h) = (mask.width(), mask.height());
    if spec.width.is_some() || w <= room {
        return Ok(mask);
    }
    if spec.shrink {
        let size = (u64::from(spec.size) * u64::from(room) / u64::from(w)).max(1) as u32;
        return render(spec, size, &spec.text);
    }
    let cut = |x: u32| mask.extract_area(x, 0, room, h).map_err(classify);
    match spec.clip {
        TextClip::End => cut(0),
        TextClip::Start => cut(w - room),
        TextClip::Middle => cut((w - room) / 2),
        TextClip::Ellipsis => {
            // The longest start of the text that fits with "…" after it.
            let chars: Vec<char> = spec.text.chars().collect();
            let (mut lo, mut hi) = (0usize, chars.len());
            let mut best: Option<Image<'static>> = None;
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                let text: String = chars[..mid].iter().collect::<String>() + "…";
                let candidate = render(spec, spec.size, &text)?;
                if candidate.width() <= room {
                    lo = mid;
                    best = Some(candidate);
                } else {
                    hi = mid - 1;
                }
            }
            match best {
                Some(m) => Ok(m),
                None => {
                    let dots = render(spec, spec.size, "…")?;
                    let room = room.min(dots.width());
                    dots.extract_area(0, 0, room, dots.height())
                        .map_err(classify)
                }
            }
        }
    }
}

/// A one-band mask as straight RGBA of `colour` (the mask scales its alpha by `strength`).
fn coloured(mask: &[u8], colour: Rgba, strength: f64) -> Vec<u8> {
    let alpha = f64::from(colour.a) / 255.0 * strength;
    mask.iter()
        .flat_map(|&m| {
            [
                colour.r,
                colour.g,
                colour.b,
                (f64::from(m) * alpha).round() as u8,
            ]
        })
        .collect()
}

/// Where a `size`-long block starts along a `base`-long side.
fn place(align: Align, pad: u32, base: u32, size: u32) -> i64 {
    let (base, size, pad) = (i64::from(base), i64::from(size), i64::from(pad));
    match align {
        Align::Start => pad,
        Align::Center => (base - size) / 2,
        Align::End => base - size - pad,
    }
}

/// imgix's typesetting endpoint (`/~text?txt=…`): a blank laid out for the text — `w`×`h` when
/// given, else the text's own size plus `txt-pad` on every side — in `bg` (transparent unless
/// given), as PNG, and the parameters that then draw the text on it: the blank is already the
/// output's size (no resize), and a given `w` without `txt-width` wraps the text at `w` less the
/// padding. Bounded as any text, and the blank by `--max-pixels`.
pub fn typeset(params: &Params, limits: &Limits) -> Result<(Vec<u8>, Params), Error> {
    let Some(spec) = &params.text else {
        return Err(Error::bad_param(
            "txt",
            "the typesetting endpoint (/~text) draws txt: give it",
        ));
    };
    if !matches!(FONTS.get(), Some(Some(_))) {
        return Err(Error::UnsupportedParam("txt".into()));
    }
    let mut spec = spec.clone();
    if spec.width.is_none() {
        spec.width = params.width.map(|w| w.saturating_sub(2 * spec.pad).max(1));
    }
    check_size(&spec, limits)?;
    let mask = render(&spec, spec.size, &spec.text)?;
    let width = params.width.unwrap_or(mask.width() + 2 * spec.pad).max(1);
    let height = params.height.unwrap_or(mask.height() + 2 * spec.pad).max(1);
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width.max(height) > limits.max_dimension {
        return Err(Error::TooManyPixels {
            pixels,
            limit: limits.max_pixels,
        });
    }
    let bg = params.fill_color;
    let blank: Vec<u8> = [bg.r, bg.g, bg.b, bg.a]
        .iter()
        .copied()
        .cycle()
        .take(pixels as usize * 4)
        .collect();
    let png = Image::from_pixels(&blank, width, height, 4)
        .and_then(|i| i.save(SaveOptions::Png { compression: 1 }))
        .map_err(classify)?
        .to_vec();
    let mut laid_out = params.clone();
    laid_out.text = Some(spec);
    laid_out.width = None;
    laid_out.height = None;
    Ok((png, laid_out))
}

/// Draw `text` over `image`; nothing to do without it.
pub fn apply<'a>(
    image: Image<'a>,
    text: Option<&Text>,
    limits: &Limits,
) -> Result<Image<'a>, Error> {
    let Some(spec) = text else {
        return Ok(image);
    };
    if spec.text.trim().is_empty() {
        return Ok(image);
    }
    if !matches!(FONTS.get(), Some(Some(_))) {
        return Err(Error::UnsupportedParam("txt".into()));
    }
    check_size(spec, limits)?;
    let image = colour::apply(image, true)?;
    let (bw, bh) = (image.width(), image.height());
    let room = bw.saturating_sub(2 * spec.pad).max(1);
    let mask = fit(spec, render(spec, spec.size, &spec.text)?, room)?;
    let (mw, mh) = (mask.width(), mask.height());
    let x = place(spec.align.0, spec.pad, bw, mw);
    let y = place(spec.align.1, spec.pad, bh, mh);
    let bands = image.bands() as usize;
    let base = (bw as usize, bh as usize, bands);
    let mut pixels = image.pixels().map_err(classify)?;
    let e = classify;
    // A mask grown by `r` on every side (room for a blur or an outline), drawn `r` up and left.
    let grown = |r: u32| mask.embed(r, r, mw + 2 * r, mh + 2 * r, &[0.0]).map_err(e);
    if spec.shadow > 0 {
        let r = u32::from(spec.shadow) * 2;
        let soft = grown(r)?
            .gaussblur(f64::from(spec.shadow) * 0.8)
            .and_then(|i| i.to_uchar())
            .map_err(e)?;
        let offset = i64::from(spec.shadow.div_ceil(2));
        composite(
            &mut pixels,
            base,
            &coloured(&soft.pixels().map_err(e)?, Rgba::rgb(0, 0, 0), 0.8),
            (soft.width() as usize, soft.height() as usize),
            (x - i64::from(r) + offset, y - i64::from(r) + offset),
            BlendMode::Normal,
            1.0,
        );
    }
    if spec.line > 0 {
        let outline = grown(spec.line)?.dilate(spec.line).map_err(e)?;
        composite(
            &mut pixels,
            base,
            &coloured(&outline.pixels().map_err(e)?, spec.line_colour, 1.0),
            (outline.width() as usize, outline.height() as usize),
            (x - i64::from(spec.line), y - i64::from(spec.line)),
            BlendMode::Normal,
            1.0,
        );
    }
    composite(
        &mut pixels,
        base,
        &coloured(&mask.pixels().map_err(e)?, spec.colour, 1.0),
        (mw as usize, mh as usize),
        (x, y),
        BlendMode::Normal,
        1.0,
    );
    image.with_pixels(&pixels).map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_before_it_is_markup() {
        assert_eq!(markup("a<b & \"c\"'", 0), "a&lt;b &amp; &quot;c&quot;&#39;");
        assert_eq!(
            markup("<i>x</i>", 2),
            "<span letter_spacing=\"2048\">&lt;i&gt;x&lt;/i&gt;</span>"
        );
    }

    #[test]
    fn the_font_config_names_only_the_given_folders() {
        let dir = PathBuf::from("/srv/fonts & more");
        let xml = fonts_conf(&[&dir], Path::new("/tmp/c"));
        assert!(xml.contains("<dir>/srv/fonts &amp; more</dir>"));
        assert!(!xml.contains("/usr/share/fonts") && !xml.contains("<include"));
        assert!(xml.contains("<family>Helvetica</family><prefer><family>Liberation Sans"));
    }
}
