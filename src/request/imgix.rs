//! The parameter names imgix's rendering API defines — its parameters and their aliases, as
//! imgix publishes them (`imgix/imgix-url-params`, parameters.json 11.35.0, plus `hdr` and
//! `crop=auto` from docs.imgix.com, which the list does not carry yet) — so that one imgix would
//! act on but Refract does not implement is refused with `400 unsupported_param` instead of being
//! ignored: a URL written for imgix never gets a silently different image that a CDN then keeps
//! for a year. Names imgix does not define (`ixlib`, `utm_*`, anything else) stay ignored and out
//! of the cache key.
//!
//! The same goes for values: [`honours`] says whether imgix would act on a value Refract cannot
//! read (`fill=gen`, `fm=jp2`), which stays a 400, unlike a value
//! imgix itself would ignore (`fit=default`), which leniency drops (see [`crate::request::params`]).

/// Every imgix rendering parameter, by its canonical name.
pub(crate) const PARAMETERS: &[&str] = &[
    "ar",
    "auto",
    "bg",
    "bg-remove",
    "bg-remove-fallback",
    "bg-remove-fg-type",
    "bg-remove-semi-transparency",
    "bg-remove-transparency-threshold",
    "bg-replace",
    "bg-replace-fallback",
    "bg-replace-neg-prompt",
    "blend",
    "blend-align",
    "blend-alpha",
    "blend-color",
    "blend-crop",
    "blend-fit",
    "blend-h",
    "blend-mode",
    "blend-pad",
    "blend-size",
    "blend-w",
    "blend-x",
    "blend-y",
    "blur",
    "border",
    "border-bottom",
    "border-left",
    "border-radius",
    "border-radius-inner",
    "border-right",
    "border-stroke-color",
    "border-stroke-size",
    "border-top",
    "bri",
    "ch",
    "chromasub",
    "colorquant",
    "colors",
    "con",
    "corner-radius",
    "crop",
    "cs",
    "dl",
    "dpi",
    "dpr",
    "duotone",
    "duotone-alpha",
    "exp",
    "expires",
    "face-blur",
    "face-pixel",
    "faceindex",
    "facepad",
    "faces",
    "fill",
    "fill-color",
    "fill-gen-fallback",
    "fill-gen-neg-prompt",
    "fill-gen-pos",
    "fill-gen-prompt",
    "fill-gen-seed",
    "fill-gradient-cs",
    "fill-gradient-linear",
    "fill-gradient-linear-direction",
    "fill-gradient-radial",
    "fill-gradient-radial-radius",
    "fill-gradient-radial-x",
    "fill-gradient-radial-y",
    "fill-gradient-type",
    "fit",
    "flip",
    "fm",
    "fp-debug",
    "fp-x",
    "fp-y",
    "fp-z",
    "fps",
    "frame",
    "gam",
    "grid-colors",
    "grid-size",
    "h",
    "hdr",
    "high",
    "htn",
    "hue",
    "interval",
    "invert",
    "iptc",
    "jpg-progressive",
    "loop",
    "lossless",
    "lp-blur",
    "mark",
    "mark-align",
    "mark-alpha",
    "mark-base",
    "mark-fit",
    "mark-h",
    "mark-if-min-height",
    "mark-if-min-width",
    "mark-pad",
    "mark-rot",
    "mark-scale",
    "mark-tile",
    "mark-w",
    "mark-x",
    "mark-y",
    "mask",
    "mask-bg",
    "max-h",
    "max-w",
    "min-h",
    "min-w",
    "monochrome",
    "nr",
    "nrs",
    "object-removal-negative-prompt",
    "object-removal-prompt",
    "object-removal-rect",
    "object-removal-seed",
    "orient",
    "pad",
    "pad-bottom",
    "pad-left",
    "pad-right",
    "pad-top",
    "page",
    "palette",
    "pdf-annotation",
    "prefix",
    "px",
    "q",
    "rasterize-bypass",
    "rect",
    "reverse",
    "rot",
    "rot-type",
    "sat",
    "sepia",
    "shad",
    "sharp",
    "skip",
    "svg-sanitize",
    "transparency",
    "trim",
    "trim-alpha",
    "trim-color",
    "trim-md",
    "trim-pad",
    "trim-sd",
    "trim-tol",
    "txt",
    "txt-align",
    "txt-clip",
    "txt-color",
    "txt-fit",
    "txt-font",
    "txt-lead",
    "txt-lig",
    "txt-line",
    "txt-line-color",
    "txt-pad",
    "txt-shad",
    "txt-size",
    "txt-track",
    "txt-width",
    "txt-x",
    "txt-y",
    "upscale",
    "upscale-fallback",
    "usm",
    "usmrad",
    "vib",
    "video-bitrate",
    "video-clip-end",
    "video-clip-start",
    "video-codec",
    "video-thumbnail",
    "w",
];

/// imgix's aliases of those parameters.
const ALIASES: &[&str] = &[
    "annotation",
    "b",
    "ba",
    "background-removal-semi-transparency",
    "background-remove",
    "background-replace",
    "background-replace-negative-prompt",
    "balph",
    "bc",
    "bf",
    "bg-remove-transparency-threshold",
    "bh",
    "blend-clr",
    "blendalign",
    "blendalpha",
    "blendclr",
    "blendcolor",
    "blendcrop",
    "blendfit",
    "blendh",
    "blendmode",
    "blendpad",
    "blendsize",
    "blendw",
    "blendx",
    "blendy",
    "bm",
    "bp",
    "bs",
    "bw",
    "bx",
    "by",
    "f",
    "face-pixelate",
    "fill-generative-fallback",
    "fill-generative-negative-prompt",
    "fill-generative-position",
    "fill-generative-prompt",
    "fill-generative-seed",
    "fillcolor",
    "height",
    "inv",
    "jpeg-progressive",
    "license-plate-blur",
    "m",
    "ma",
    "malph",
    "markalign",
    "markalpha",
    "markbase",
    "markfit",
    "markh",
    "markpad",
    "markscale",
    "marktile",
    "markw",
    "markx",
    "marky",
    "maskbg",
    "max-height",
    "max-width",
    "mb",
    "mf",
    "mh",
    "min-height",
    "min-width",
    "mono",
    "mp",
    "ms",
    "mtile",
    "mw",
    "mx",
    "my",
    "or",
    "rott",
    "rottype",
    "t",
    "ta",
    "tc",
    "tcl",
    "tf",
    "tl",
    "tp",
    "trimcolor",
    "trimmd",
    "trimpad",
    "trimsd",
    "trimtol",
    "tsh",
    "tsz",
    "tt",
    "txt-clr",
    "txt-line-clr",
    "txtalign",
    "txtclip",
    "txtclr",
    "txtcolor",
    "txtfit",
    "txtfont",
    "txtlead",
    "txtlig",
    "txtline",
    "txtlineclr",
    "txtlinecolor",
    "txtpad",
    "txtshad",
    "txtsize",
    "txttrack",
    "txtwidth",
    "txtx",
    "txty",
    "width",
];

/// The values imgix lists for its enumerated parameters (parameters.json `possible_values`, and
/// `crop=auto` from the docs), by canonical name, sorted by name.
const VALUES: &[(&str, &[&str])] = &[
    ("auto", &["enhance", "format", "redeye", "compress", "true"]),
    ("bg-remove-fg-type", &["auto", "car"]),
    (
        "blend-align",
        &["top", "bottom", "middle", "left", "right", "center"],
    ),
    ("blend-crop", &["top", "bottom", "left", "right", "faces"]),
    ("blend-fit", &["clamp", "clip", "crop", "scale", "max"]),
    (
        "blend-mode",
        &[
            "color",
            "burn",
            "dodge",
            "darken",
            "difference",
            "exclusion",
            "hardlight",
            "hue",
            "lighten",
            "luminosity",
            "multiply",
            "overlay",
            "saturation",
            "screen",
            "softlight",
            "normal",
        ],
    ),
    ("blend-size", &["inherit"]),
    ("ch", &["width", "dpr", "save-data"]),
    (
        "crop",
        &[
            "top",
            "bottom",
            "left",
            "right",
            "faces",
            "entropy",
            "edges",
            "focalpoint",
            "auto",
        ],
    ),
    (
        "cs",
        &["origin", "srgb", "adobergb1998", "tinysrgb", "strip"],
    ),
    ("fill", &["solid", "blur", "gen", "generative", "gradient"]),
    (
        "fill-gen-pos",
        &["top", "bottom", "middle", "left", "right", "center"],
    ),
    (
        "fill-gradient-cs",
        &["linear", "srgb", "oklab", "hsl", "lch"],
    ),
    (
        "fill-gradient-linear-direction",
        &["top", "bottom", "left", "right"],
    ),
    ("fill-gradient-type", &["linear", "radial"]),
    (
        "fit",
        &[
            "clamp", "clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale",
        ],
    ),
    ("flip", &["h", "v", "hv"]),
    (
        "fm",
        &[
            "gif", "jpg", "jp2", "json", "jxr", "pjpg", "mp4", "png", "png8", "png32", "webp",
            "webm", "blurhash", "avif",
        ],
    ),
    ("iptc", &["allow", "block"]),
    (
        "mark-align",
        &["top", "middle", "bottom", "left", "center", "right"],
    ),
    ("mark-fit", &["clip", "crop", "fill", "max", "scale"]),
    ("mark-tile", &["grid"]),
    ("mask", &["ellipse", "corners"]),
    ("palette", &["css", "json"]),
    ("rot-type", &["pivot", "straighten"]),
    ("transparency", &["grid"]),
    ("trim", &["auto", "color", "alpha", "colorunlessalpha"]),
    (
        "txt-align",
        &["top", "middle", "bottom", "left", "center", "right"],
    ),
    ("txt-clip", &["start", "middle", "end", "ellipsis"]),
    ("txt-fit", &["max"]),
    ("video-bitrate", &["1m", "2m", "3m", "4m", "5m"]),
    ("video-codec", &["av1", "h264", "h265"]),
    ("video-thumbnail", &["auto"]),
];

/// Parameters whose value is free text or a URL imgix acts on whatever it says (an overlay, a
/// mask image, text): a value Refract refuses there is never dropped.
const FREE_FORM: &[&str] = &["blend", "mark", "mask", "txt", "txt-font"];

/// Whether `name` (canonical) takes free text or a URL that imgix acts on whatever it says.
pub fn free_form(name: &str) -> bool {
    FREE_FORM.contains(&name)
}

/// Whether imgix would act on `value` for the parameter `name` (canonical), so that ignoring it
/// would serve a different image: a free-form parameter, or a value (or, for lists, any
/// comma-separated token) imgix lists for it.
pub fn honours(name: &str, value: &str) -> bool {
    if free_form(name) {
        return true;
    }
    let Ok(i) = VALUES.binary_search_by(|(n, _)| n.cmp(&name)) else {
        return false;
    };
    let listed = VALUES[i].1;
    value
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .any(|t| listed.contains(&t.as_str()))
}

/// Whether imgix defines `name`: a parameter, an alias, or a parameter's URL-safe Base64
/// variant (`txt64`, `mark64`; every parameter but `auto` and `ch` has one).
pub fn defines(name: &str) -> bool {
    // Both lists are sorted (a test checks): binary search, as unknown names (`ixlib`) reach
    // here on every request.
    let known = |n: &str| PARAMETERS.binary_search(&n).is_ok() || ALIASES.binary_search(&n).is_ok();
    known(name)
        || name
            .strip_suffix("64")
            .is_some_and(|base| base != "auto" && base != "ch" && known(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imgix_names_aliases_and_base64_variants_are_known_others_not() {
        for name in [
            "exp", "txt", "mark-w", "markw", "bm", "txt64", "blend64", "w64", "fp-z",
        ] {
            assert!(defines(name), "{name}");
        }
        for name in ["ixlib", "utm_source", "auto64", "ch64", "foo", "", "64"] {
            assert!(!defines(name), "{name}");
        }
        // Sorted, so the lists stay easy to compare with imgix's.
        assert!(PARAMETERS.windows(2).all(|w| w[0] < w[1]));
        assert!(ALIASES.windows(2).all(|w| w[0] < w[1]));
        assert!(VALUES.windows(2).all(|w| w[0].0 < w[1].0));
        // imgix's current reference: the learned and generative operations are known names.
        for name in [
            "bg-remove",
            "bg-replace",
            "upscale",
            "hdr",
            "fill-gen-prompt",
            "fps",
        ] {
            assert!(defines(name), "{name}");
        }
    }

    #[test]
    fn values_imgix_acts_on_are_told_from_values_it_ignores() {
        for (name, value) in [
            ("fit", "clamp"),
            ("crop", "auto"),
            ("crop", "faces,auto"),
            ("fill", "gen"),
            ("fm", "jp2"),
            ("mask", "https://x/m.png"),
            ("txt", "anything"),
        ] {
            assert!(honours(name, value), "{name}={value}");
        }
        for (name, value) in [
            ("fit", "default"),
            ("crop", "default"),
            ("crop", "false"),
            ("w", "abc"),
            ("rot", "auto"),
            ("fm", "bmp"),
        ] {
            assert!(!honours(name, value), "{name}={value}");
        }
    }
}
