//! The parameter names imgix's rendering API defines — its parameters and their aliases, as
//! imgix publishes them (`imgix/imgix-url-params`, parameters.json 11.11.1) — so that one imgix
//! would act on but Refract does not implement is refused with `400 unsupported_param` instead
//! of being ignored: a URL written for imgix never gets a silently different image that a CDN
//! then keeps for a year. Names imgix does not define (`ixlib`, `utm_*`, anything else) stay
//! ignored and out of the cache key.

/// Every imgix rendering parameter, by its canonical name.
const PARAMETERS: &[&str] = &[
    "ar",
    "auto",
    "bg",
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
    "faceindex",
    "facepad",
    "faces",
    "fill",
    "fill-color",
    "fit",
    "flip",
    "fm",
    "fp-debug",
    "fp-x",
    "fp-y",
    "fp-z",
    "gam",
    "grid-colors",
    "grid-size",
    "h",
    "high",
    "htn",
    "hue",
    "invert",
    "lossless",
    "mark",
    "mark-align",
    "mark-alpha",
    "mark-base",
    "mark-fit",
    "mark-h",
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
    "rect",
    "rot",
    "sat",
    "sepia",
    "shad",
    "sharp",
    "transparency",
    "trim",
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
    "usm",
    "usmrad",
    "vib",
    "w",
];

/// imgix's aliases of those parameters.
const ALIASES: &[&str] = &[
    "annotation",
    "b",
    "ba",
    "balph",
    "bc",
    "bf",
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
    "fillcolor",
    "height",
    "inv",
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
    "width",
];

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
    }

    #[test]
    fn the_compatibility_table_lists_every_parameter() {
        use crate::request::params::Name;
        let doc = include_str!("../../docs/imgix.md");
        for name in PARAMETERS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("docs/imgix.md has no row for {name}"));
            let implemented = Name::lookup(name).is_some() || *name == "expires";
            assert_eq!(
                row.contains("| supported"),
                implemented,
                "docs/imgix.md says otherwise about {name}: {row}"
            );
            assert_eq!(row.contains("| refused"), !implemented, "{row}");
        }
    }
}
