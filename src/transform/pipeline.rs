//! The pipeline, in the order the pixels go through it. Each step is its own module and does
//! nothing when the request does not ask for it.

use std::time::Instant;

use super::plan::{self, Size};
use super::{colour, crop, encode, filters, flatten, load, orient, pad, resize, Limits};
use crate::error::Error;
use crate::format::Format;
use crate::request::Variant;

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
}

/// Render `variant` from the original's `bytes`. Blocking and CPU-heavy: call it off the async
/// executor, under a transform permit (see [`super::Processor`]).
pub fn render(bytes: &[u8], variant: &Variant, limits: &Limits) -> Result<Output, Error> {
    let deadline = Instant::now() + limits.deadline;
    let source = load::inspect(bytes, limits)?;
    run(bytes, &source, variant, limits, deadline).map_err(|e| match e {
        // Pixels decode lazily, so a broken original can fail any later step, sometimes with
        // no message at all. Only blame ourselves if the original decodes on its own.
        Error::Internal(detail) if !resize::decodes(bytes) => Error::Undecodable(detail),
        other => other,
    })
}

fn run(
    bytes: &[u8],
    source: &load::SourceInfo,
    variant: &Variant,
    limits: &Limits,
    deadline: Instant,
) -> Result<Output, Error> {
    let started = Instant::now();
    let params = &variant.params;
    // The URL's `orient` replaces the EXIF orientation, and with it the size the viewer sees.
    let seen = match params.orient {
        Some(o) => load::oriented(source.raw, o),
        None => source.size,
    };
    let plan = plan::plan(seen, params, limits.max_dimension)?;
    let format = variant.output.resolve(source.format, source.has_alpha);

    let image = resize::apply(bytes, &plan, params.orient)?;
    let image = orient::apply(image, params.orient, params.flip)?;
    let image = colour::apply(image, plan.canvas.is_some())?;
    let image = crop::apply(image, &plan)?;
    let image = filters::apply(image, &params.filters)?;
    let image = pad::apply(image, &plan, params.fill_color)?;
    let image = flatten::apply(image, format, params.fill_color)?;
    let size = Size::new(image.width(), image.height());
    let transform_time = started.elapsed();
    let quality = params.quality_for(encode::default_quality(format));
    let body = encode::apply(&image, format, Some(quality), params.lossless, deadline)?;
    Ok(Output {
        body,
        format,
        size,
        original_bytes: bytes.len() as u64,
        transform_time,
        encode_time: started.elapsed() - transform_time,
    })
}
