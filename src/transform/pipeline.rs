//! The pipeline, in the order the pixels go through it. Each step is its own module and does
//! nothing when the request does not ask for it.

use std::cell::OnceCell;
use std::time::Instant;

use bytes::Bytes;

use super::master::Masters;
use super::plan::{self, Plan, Size};
use super::vips::{self, Image, Pages};
use super::{
    colour, crop, describe, encode, enhance, faces, filters, flatten, learned, load, orient,
    overlay, pad, quantise, region, resize, rotate, shape, text, Limits,
};
use crate::encoding::digest::LazyDigest;
use crate::encoding::format::{Format, Input};
use crate::error::Error;
use crate::request::params::Describe;
use crate::request::{Crop, Output as Choice, Params, Variant};

/// The encoded output of one variant, before it is hashed and cached.
#[derive(Debug, Clone)]
pub struct Output {
    /// Encoded bytes.
    pub body: bytes::Bytes,
    /// Their format.
    pub format: Format,
    /// Final pixel size.
    pub size: Size,
    /// Size of the original it was rendered from, in bytes.
    pub original_bytes: u64,
    /// Time spent before encoding: header checks, geometry, building the pipeline.
    pub transform_time: std::time::Duration,
    /// Time spent encoding, which is when libvips decodes and resizes.
    pub encode_time: std::time::Duration,
    /// The encoder settings it was made with.
    pub tier: encode::Tier,
}

/// imgix's cap on a background-removed output: larger outputs are scaled to fit 10 MP.
pub const BG_REMOVE_MAX_PIXELS: u64 = 10_000_000;

/// Render `variant` from the original's `bytes` — or from the original's decoded master, when
/// `masters` is on and has (or now makes) one that serves it — with what the learned models
/// gave for it (`learned`: the foreground mask, when there is one). Blocking and CPU-heavy:
/// call it off the async executor, under a transform permit (see [`super::Processor`]).
#[allow(clippy::too_many_arguments)]
pub fn render(
    bytes: &Bytes,
    digest: &LazyDigest,
    layers: &overlay::Layers,
    learned: &learned::Inputs,
    variant: &Variant,
    tier: encode::Tier,
    limits: &Limits,
    masters: Option<&Masters>,
) -> Result<Output, Error> {
    let deadline = Instant::now() + limits.deadline;
    // The typesetting endpoint has no original: a blank laid out for its text stands in.
    let typeset;
    let (bytes, variant) = if variant.key.is_typeset() {
        let (blank, params) = text::typeset(&variant.params, limits)?;
        typeset = (
            Bytes::from(blank),
            Variant {
                params,
                ..variant.clone()
            },
        );
        (&typeset.0, &typeset.1)
    } else {
        (bytes, variant)
    };
    let source = load::inspect(bytes, limits)?;
    let heic = source.input == Input::Heic;
    let original = Original {
        bytes,
        digest,
        layers,
        learned,
        decoded: heic.then(OnceCell::new),
        max_pixels: limits.max_pixels,
    };
    run(&original, &source, variant, tier, limits, masters, deadline).map_err(|e| match e {
        // Pixels decode lazily, so a broken original can fail any later step, sometimes with
        // no message at all. Only blame ourselves if the original decodes on its own.
        Error::Internal(detail) if !original.pixels().is_ok_and(|p| resize::decodes(p)) => {
            Error::Undecodable(detail)
        }
        other => other,
    })
}

/// An original's bytes and, for HEIC, the uncompressed TIFF the steps read instead — decoded
/// outside libvips on first use, so a variant scaled from a master never decodes the HEVC.
struct Original<'a> {
    bytes: &'a Bytes,
    /// The SHA-256 of `bytes`, shared with the originals cache (faces are cached under it).
    digest: &'a LazyDigest,
    /// The overlay images drawn over it.
    layers: &'a overlay::Layers,
    /// The learned models' results for it.
    learned: &'a learned::Inputs,
    decoded: Option<OnceCell<Result<Bytes, Error>>>,
    max_pixels: u64,
}

impl Original<'_> {
    /// The bytes libvips reads: the original's own, or its decoded HEIC.
    fn pixels(&self) -> Result<&Bytes, Error> {
        let Some(cell) = &self.decoded else {
            return Ok(self.bytes);
        };
        let max_pixels = self.max_pixels;
        cell.get_or_init(|| {
            vips::heic_to_tiff(self.bytes, max_pixels).map_err(|e| load::heic_error(e, max_pixels))
        })
        .as_ref()
        .map_err(Clone::clone)
    }
}

/// Whether every step `params` asks for keeps pixels where the resize and window crop put them,
/// so that an HDR gain map scaled and cut with the image still lines up with it (no turn, flip,
/// rotation, canvas, padding or border).
fn carries_gain_map(params: &Params, plan: &Plan, framed: bool) -> bool {
    params.orient.is_none()
        && !params.flip.horizontal
        && !params.flip.vertical
        && params.rot == 0.0
        && plan.canvas.is_none()
        && !framed
}

/// Which frames to render: all of them when the original is animated and the output can be
/// (GIF, WebP) and every step asked for works frame by frame (scale, window crop, filters,
/// left–right flip); `frame=N` picks one; otherwise the first. Steps that would need per-frame
/// geometry (orient, top–bottom flip, rot, pad, fill canvas, rect, trim, saliency crop) give the
/// first frame, as a still.
fn pages(source: &load::SourceInfo, params: &Params, plan: &Plan, format: Format) -> Pages {
    // `frame` of a still image is the image itself (its loader has no pages to choose from).
    if let Some(n) = params.frame.filter(|_| source.frames > 1) {
        return Pages::One(n.min(source.frames).saturating_sub(1));
    }
    let per_frame_only = params.per_frame()
        && plan.canvas.is_none()
        && !matches!(plan.window, Some(plan::Window::Smart { .. }));
    if source.frames > 1 && matches!(format, Format::Gif | Format::Webp) && per_frame_only {
        Pages::All
    } else {
        Pages::First
    }
}

fn run(
    original: &Original<'_>,
    source: &load::SourceInfo,
    variant: &Variant,
    tier: encode::Tier,
    limits: &Limits,
    masters: Option<&Masters>,
    deadline: Instant,
) -> Result<Output, Error> {
    let started = Instant::now();
    let params = &variant.params;
    if let Some(Describe::Metadata { faces: with_faces }) = params.describe {
        let found = if with_faces {
            Some(faces::faces_of(original.pixels()?, original.digest)?)
        } else {
            None
        };
        let json = describe::metadata(
            original.bytes,
            source,
            limits.json_gps,
            found.as_deref().map(|f| f.as_slice()),
        )?;
        return Ok(Output {
            body: Bytes::from(json),
            format: Format::Json,
            size: source.size,
            original_bytes: original.bytes.len() as u64,
            transform_time: started.elapsed(),
            encode_time: std::time::Duration::ZERO,
            tier: encode::Tier::Standard,
        });
    }
    // fit=facearea: the region around the faces becomes a `rect` (none found: the fallback fit).
    let with_area;
    let params = match params.face_area {
        Some(area) if params.orient.is_none() && !region::needed(params) => {
            let found = faces::faces_of(original.pixels()?, original.digest)?;
            let aspect = match (params.width, params.height) {
                (Some(w), Some(h)) => Some(f64::from(w) / f64::from(h)),
                _ => None,
            };
            match faces::area(
                &found,
                area.index,
                area.pad,
                (source.size.width, source.size.height),
                aspect,
            ) {
                Some(rect) => {
                    let mut p = params.clone();
                    p.rect = Some(rect);
                    p.face_area = None;
                    p.fit = if aspect.is_some() {
                        crate::request::Fit::Crop
                    } else {
                        crate::request::Fit::Clip
                    };
                    p.crop = Crop::CENTER;
                    with_area = p;
                    &with_area
                }
                None => params,
            }
        }
        _ => params,
    };
    // `rect`/`trim` cut the full-size original first; otherwise the URL's `orient` (if any)
    // replaces the EXIF orientation, and with it the size the viewer sees.
    let cut = if region::needed(params) {
        Some(region::load(original.pixels()?, params)?)
    } else {
        None
    };
    let seen = match (&cut, params.orient) {
        (Some(image), _) => Size::new(image.width(), image.height()),
        (None, Some(o)) => load::oriented(source.raw, o),
        (None, None) => source.size,
    };
    // The box, now that the original's size is known (shares, `ar`, `min-*`/`max-*`); with
    // `pad`, the image is planned for the box less the border.
    let (mut width, mut height) = params.sizing.resolve(
        (seen.width, seen.height),
        params.width,
        params.height,
        params.fit,
        params.dpr,
        limits.max_dimension,
    );
    let frame = params
        .pad
        .plus(&params.border.map(|b| b.widths).unwrap_or_default());
    // A palette or BlurHash needs only a small render when the URL names no size.
    let small = params.describe.is_some() && width.is_none() && height.is_none();
    if small {
        (width, height) = (Some(describe::DESCRIBE_BOX), Some(describe::DESCRIBE_BOX));
    }
    let boxed = (width, height) != (params.width, params.height);
    // bg-remove: the mask becomes the alpha of the upright original, before it is turned by a
    // URL's `orient` or cut by `trim` (neither of which the mask follows: no removal then).
    let mask =
        original.learned.mask.as_deref().filter(|_| {
            params.learned.bg_remove && params.orient.is_none() && params.trim.is_none()
        });
    // crop=faces: the window centred on the faces in the original (none: attention, in plan).
    // crop=auto: the faces, else the learned subject, else its anchors. A background-removed
    // image is cropped around its subject too where a saliency crop was asked for (libvips's
    // saliency window would be cut before the mask could follow it).
    let subject = || original.learned.mask.as_deref().and_then(learned::subject);
    let faces = || -> Result<_, Error> {
        Ok(faces::centre(&faces::faces_of(
            original.pixels()?,
            original.digest,
        )?))
    };
    // Cut out, a saliency crop has no pixels of its own to follow: the centre, at worst.
    let centre = mask.map(|_| (0.5, 0.5));
    let faces = match params.crop {
        _ if !params.fit.crops() || cut.is_some() => None,
        Crop::Faces => faces()?.or_else(|| mask.and(subject()).or(centre)),
        Crop::Auto { .. } => faces()?.or_else(subject),
        Crop::Entropy | Crop::Attention => mask.and(subject()).or(centre),
        _ => None,
    };
    let inner;
    let planned =
        if boxed || faces.is_some() || (frame.any() && (width.is_some() || height.is_some())) {
            let mut p = params.clone();
            if let Some((x, y)) = faces {
                p.crop = Crop::FocalPoint { x, y, zoom: 1.0 };
            }
            p.width = width.map(|v| v.saturating_sub(frame.horizontal()).max(1));
            p.height = height.map(|v| v.saturating_sub(frame.vertical()).max(1));
            if small {
                p.fit = crate::request::Fit::Max;
            }
            inner = p;
            &inner
        } else {
            params
        };
    let mut plan = plan::plan(seen, planned, limits.max_dimension)?;
    // imgix's cap on a background-removed output: scaled to fit 10 MP.
    let out = plan.output();
    let out_pixels = u64::from(out.width) * u64::from(out.height);
    if mask.is_some() && out_pixels > BG_REMOVE_MAX_PIXELS {
        let s = (BG_REMOVE_MAX_PIXELS as f64 / out_pixels as f64).sqrt();
        let mut capped = planned.clone();
        capped.width = Some(((f64::from(out.width) * s).floor() as u32).max(1));
        capped.height = Some(((f64::from(out.height) * s).floor() as u32).max(1));
        if !capped.fit.crops() {
            capped.fit = crate::request::Fit::Clip;
        }
        plan = plan::plan(seen, &capped, limits.max_dimension)?;
    }
    let plan = plan;
    let multi_frame = source.frames > 1 && params.frame.is_none();
    let mut format = variant.output.resolve(
        source.format,
        source.has_alpha || params.adds_alpha() || mask.is_some(),
        multi_frame,
    );
    // hdr=true: an Ultra HDR original keeps its gain map where the map can follow the pixels
    // (resize, orientation, window crops) and the output is JPEG — the one container Refract
    // writes a map into, so `auto=format` serves it. Anything else: today's SDR image.
    let ultra_hdr = if params.hdr
        && source.input == Input::Jpeg
        && source.frames == 1
        && cut.is_none()
        && carries_gain_map(params, &plan, frame.any())
        && (matches!(format, Format::Jpeg { .. })
            || matches!(variant.output, Choice::Negotiated(_)))
    {
        Image::load_ultra_hdr(original.pixels()?, source.orientation)
    } else {
        None
    };
    if ultra_hdr.is_some() {
        format = Format::JPEG;
    }
    let pages = pages(source, params, &plan, format);
    let tier = tier.for_format(format);

    // The part of the original a `rect` keeps, as fractions (for the mask).
    let region = params.rect.map(|r| {
        let (w, h) = (f64::from(source.size.width), f64::from(source.size.height));
        (
            f64::from(r.x) / w,
            f64::from(r.y) / h,
            f64::from(r.x + r.w) / w,
            f64::from(r.y + r.h) / h,
        )
    });
    // With `bg` named, the subject is set over that colour (imgix's background replacement).
    let with_mask = |image, region| match mask {
        Some(mask) => {
            let cut = learned::remove_background(image, mask, region)?;
            match params.fill_color {
                c if c == crate::request::Rgba::TRANSPARENT_WHITE => Ok(cut),
                c => learned::over_colour(cut, c),
            }
        }
        None => Ok(image),
    };
    let image = match cut {
        Some(image) => orient::apply(
            with_mask(region::scale(image, &plan)?, region)?,
            None,
            params.flip,
        )?,
        None => {
            // A master holds the upright image: only for the original's own orientation, one
            // frame, and scale-then-crop geometry (saliency needs thumbnail's own look); not
            // for CMYK, whose conversion to sRGB belongs before the final scaling.
            let from_master = match masters {
                Some(masters)
                    if params.from_master()
                        && pages == Pages::First
                        && source.frames == 1
                        && !source.cmyk
                        && !matches!(plan.window, Some(plan::Window::Smart { .. })) =>
                {
                    masters.scaled(
                        variant.key.as_str(),
                        original.bytes,
                        source,
                        plan.resize,
                        &|| original.pixels().cloned(),
                    )?
                }
                _ => None,
            };
            let image = match (from_master, &ultra_hdr) {
                (Some(image), _) => image,
                (None, Some(open)) => resize::apply_open(open, &plan, source.icc)?,
                (None, None) => {
                    resize::apply(original.pixels()?, &plan, params.orient, pages, source.icc)?
                }
            };
            orient::apply(with_mask(image, None)?, params.orient, params.flip)?
        }
    };

    let image = colour::apply(image, plan.canvas.is_some() || frame.any())?;
    let image = crop::apply(image, &plan)?;
    let image = enhance::apply(image, params.enhance)?;
    let image = filters::apply(image, &params.filters)?;
    let (overlays, layers) = (&params.overlays, original.layers);
    let image = overlay::apply(
        image,
        overlays.blend.as_ref(),
        layers.blend.as_ref(),
        limits,
    )?;
    let image = rotate::apply(image, params.rot, params.fill_color)?;
    let image = shape::mask(image, params.mask, params.mask_bg)?;
    let image = pad::apply(image, &plan, params.fill_color, params.fill)?;
    let image = pad::sides(image, params.pad, params.fill_color)?;
    let image = shape::border(image, params.border)?;
    let image = overlay::apply(image, overlays.mark.as_ref(), layers.mark.as_ref(), limits)?;
    let image = text::apply(image, params.text.as_ref(), limits)?;
    let image = shape::checkerboard(image, params.grid)?;
    let image = flatten::apply(image, format, params.fill_color)?;
    let image = quantise::apply(image, params.colours)?;
    let size = Size::new(image.width(), image.height());
    let transform_time = started.elapsed();
    // colorquant with PNG: a palette PNG whose quantiser keeps the reduced colours exactly.
    let palette = params.palette || (params.colours.is_some() && format == Format::Png);
    let quality = if params.colours.is_some() && palette {
        100
    } else if params.palette {
        params.quality_for(encode::PALETTE_QUALITY)
    } else {
        params.quality_for(tier.default_quality(format))
    };
    let options = encode::Options {
        quality,
        lossless: params.lossless,
        palette,
        chroma: params.chroma,
        dpi: params.dpi,
        profile: params.profile,
        tier,
    };
    let body = match &params.describe {
        Some(Describe::Palette {
            css,
            colours,
            prefix,
        }) => Bytes::from(describe::palette(&image, *colours, *css, prefix)?),
        Some(Describe::BlurHash) => Bytes::from(describe::blurhash(&image)?),
        _ => encode::apply(&image, format, options, deadline)?,
    };
    Ok(Output {
        body,
        format,
        size,
        original_bytes: original.bytes.len() as u64,
        transform_time,
        encode_time: started.elapsed() - transform_time,
        tier,
    })
}
