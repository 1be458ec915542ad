//! The registry: every parameter Refract implements, its canonical imgix name and the aliases
//! imgix accepts for it, in one table. The parser looks names up here once per pair; each
//! family module (`size`, `adjust`, `output`, `geometry`) reads its parameters' raw values by
//! [`Name`] and owns their grammar, default and cache-key text.
//!
//! Adding a parameter: one line here, then its field, parse and key text in its family (the key
//! function destructures every field, so a field left out of the key does not compile), and the
//! pipeline step that reads it.

/// Declares [`Name`] and its lookup from one list of `Variant: "canonical" | "alias" …;`.
macro_rules! parameters {
    ($( $(#[doc = $doc:literal])* $variant:ident : $canonical:literal $(| $alias:literal)* ;)*) => {
        /// A parameter Refract implements, whichever of its names the URL used.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Name {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Name {
            /// Every parameter, in table order.
            pub const ALL: &'static [Name] = &[$(Name::$variant),*];

            /// The parameter `name` (canonical or alias) stands for, if Refract implements it.
            /// (A `match`: the compiler tests lengths first, so most arms cost one compare; a
            /// sorted table with binary search measured slower, its string compares are calls.)
            pub fn lookup(name: &str) -> Option<Name> {
                Some(match name {
                    $( $canonical $(| $alias)* => Name::$variant, )*
                    _ => return None,
                })
            }

            /// imgix's canonical name, as error messages and documents give it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Name::$variant => $canonical, )*
                }
            }

            /// The other names imgix accepts for it.
            pub fn aliases(self) -> &'static [&'static str] {
                match self {
                    $( Name::$variant => &[$($alias),*], )*
                }
            }
        }
    };
}

parameters! {
    // Size, fit and crop (`size`).
    /// Width: pixels, or a share (0–1) of the original's.
    W: "w" | "width";
    /// Height: pixels, or a share (0–1) of the original's.
    H: "h" | "height";
    /// Device pixel ratio.
    Dpr: "dpr";
    /// Client hints the URL opts into.
    Ch: "ch";
    /// Fit mode.
    Fit: "fit" | "f";
    /// Crop mode.
    Crop: "crop";
    /// Focal point, horizontal.
    FpX: "fp-x";
    /// Focal point, vertical.
    FpY: "fp-y";
    /// Focal point zoom.
    FpZ: "fp-z";
    /// Aspect ratio `W:H` (with `fit=crop` or `fit=fill`).
    Ar: "ar";
    /// `fit=facearea`: padding around the face, in face sizes.
    Facepad: "facepad";
    /// `fit=facearea`: which face (1-based, left to right).
    Faceindex: "faceindex";
    /// `fm=json`: include the faces found.
    Faces: "faces";
    /// Smallest width (`fit=crop`).
    MinW: "min-w" | "min-width";
    /// Smallest height (`fit=crop`).
    MinH: "min-h" | "min-height";
    /// Largest width (`fit=crop`).
    MaxW: "max-w" | "max-width";
    /// Largest height (`fit=crop`).
    MaxH: "max-h" | "max-height";
    /// Fill colour for padding and transparency.
    FillColor: "fill-color" | "fillcolor" | "bg";
    /// What fills the frame of `fit=fill`: a solid colour or the blurred image.
    Fill: "fill";
    /// `grid`: show transparency as a checkerboard.
    Transparency: "transparency";
    /// Checkerboard colours.
    GridColors: "grid-colors";
    /// Checkerboard square size.
    GridSize: "grid-size";

    // Output (`output`).
    /// Output format.
    Fm: "fm";
    /// Quality.
    Q: "q";
    /// Automatic choices: format, compress, enhance.
    Auto: "auto";
    /// Lossless WebP/AVIF.
    Lossless: "lossless";
    /// Keep the original's HDR gain map (Ultra HDR JPEG output).
    Hdr: "hdr";

    // Learned operations (`output`).
    /// Remove the background (a learned foreground mask becomes the alpha).
    BgRemove: "bg-remove" | "background-remove";
    /// `bg-remove` that cannot be done: the image as it is (true) or an error (false).
    BgRemoveFallback: "bg-remove-fallback";
    /// Learned super-resolution when the output is larger than the original.
    Upscale: "upscale";
    /// `upscale` that cannot be done: the plain resize (true) or an error (false).
    UpscaleFallback: "upscale-fallback";
    /// Download file name.
    Dl: "dl";
    /// Chroma subsampling.
    Chromasub: "chromasub";
    /// Palette size.
    Colorquant: "colorquant";
    /// Colour profile written into the file.
    Cs: "cs";
    /// Resolution written into the file.
    Dpi: "dpi";
    /// The palette as JSON or CSS instead of an image.
    Palette: "palette";
    /// Colours in the palette.
    Colors: "colors";
    /// Class-name prefix of `palette=css`.
    Prefix: "prefix";

    // Adjustments and stylize (`adjust`).
    /// Gaussian blur.
    Blur: "blur";
    /// Sharpen.
    Sharp: "sharp";
    /// Saturation.
    Sat: "sat";
    /// Brightness.
    Bri: "bri";
    /// Contrast.
    Con: "con";
    /// Gamma.
    Gam: "gam";
    /// Exposure.
    Exp: "exp";
    /// Highlights.
    High: "high";
    /// Shadows.
    Shad: "shad";
    /// Hue shift.
    Hue: "hue";
    /// Vibrance.
    Vib: "vib";
    /// Unsharp mask amount.
    Usm: "usm";
    /// Unsharp mask radius.
    Usmrad: "usmrad";
    /// Noise reduction.
    Nr: "nr";
    /// Sharpening after noise reduction.
    Nrs: "nrs";
    /// Halftone.
    Htn: "htn";
    /// Invert.
    Invert: "invert" | "inv";
    /// Sepia.
    Sepia: "sepia";
    /// Pixellate.
    Px: "px";
    /// Monochrome tint.
    Mono: "mono" | "monochrome";
    /// Duotone colours.
    Duotone: "duotone";
    /// Duotone strength.
    DuotoneAlpha: "duotone-alpha";
    /// A colour or an image blended over the image.
    Blend: "blend" | "b";
    /// A colour blended over the image.
    BlendColor: "blend-color" | "blend-clr" | "blendclr" | "blendcolor" | "bc";
    /// How `blend` combines with the image.
    BlendMode: "blend-mode" | "blendmode" | "bm";
    /// Strength of `blend`.
    BlendAlpha: "blend-alpha" | "blendalpha" | "balph";

    // Overlays (`overlay`).
    /// Blend image: alignment.
    BlendAlign: "blend-align" | "blendalign" | "ba";
    /// Blend image: crop anchor with `blend-fit=crop`.
    BlendCrop: "blend-crop" | "blendcrop";
    /// Blend image: fit mode.
    BlendFit: "blend-fit" | "blendfit" | "bf";
    /// Blend image: height.
    BlendH: "blend-h" | "blendh" | "bh";
    /// Blend image: padding from the aligned edges.
    BlendPad: "blend-pad" | "blendpad" | "bp";
    /// Blend image: `inherit` sizes it as the base image.
    BlendSize: "blend-size" | "blendsize" | "bs";
    /// Blend image: width.
    BlendW: "blend-w" | "blendw" | "bw";
    /// Blend image: left edge.
    BlendX: "blend-x" | "blendx" | "bx";
    /// Blend image: top edge.
    BlendY: "blend-y" | "blendy" | "by";
    /// Watermark image.
    Mark: "mark" | "m";
    /// Watermark alignment.
    MarkAlign: "mark-align" | "markalign" | "ma";
    /// Watermark opacity.
    MarkAlpha: "mark-alpha" | "markalpha" | "malph";
    /// Base URL a relative `mark` is resolved against.
    MarkBase: "mark-base" | "markbase" | "mb";
    /// Watermark fit mode.
    MarkFit: "mark-fit" | "markfit" | "mf";
    /// Watermark height.
    MarkH: "mark-h" | "markh" | "mh";
    /// Watermark padding from the aligned edges.
    MarkPad: "mark-pad" | "markpad" | "mp";
    /// Watermark rotation.
    MarkRot: "mark-rot";
    /// Watermark width as a share of the image's.
    MarkScale: "mark-scale" | "markscale" | "ms";
    /// Watermark tiling.
    MarkTile: "mark-tile" | "marktile" | "mtile";
    /// Watermark width.
    MarkW: "mark-w" | "markw" | "mw";
    /// Watermark left edge.
    MarkX: "mark-x" | "markx" | "mx";
    /// Watermark top edge.
    MarkY: "mark-y" | "marky" | "my";

    // Text (`text`).
    /// The text drawn over the image.
    Txt: "txt" | "t";
    /// Text alignment.
    TxtAlign: "txt-align" | "txtalign" | "ta";
    /// What happens to text wider than the image.
    TxtClip: "txt-clip" | "txtclip" | "tcl";
    /// Text colour.
    TxtColor: "txt-color" | "txt-clr" | "txtclr" | "txtcolor" | "tc";
    /// `max`: shrink text to fit.
    TxtFit: "txt-fit" | "txtfit";
    /// Font family and style.
    TxtFont: "txt-font" | "txtfont" | "tf";
    /// Extra space between lines.
    TxtLead: "txt-lead" | "txtlead";
    /// Outline width.
    TxtLine: "txt-line" | "txtline" | "tl";
    /// Outline colour.
    TxtLineColor: "txt-line-color" | "txt-line-clr" | "txtlineclr" | "txtlinecolor";
    /// Gap from the edges.
    TxtPad: "txt-pad" | "txtpad" | "tp";
    /// Drop shadow strength.
    TxtShad: "txt-shad" | "txtshad" | "tsh";
    /// Font size.
    TxtSize: "txt-size" | "txtsize" | "tsz";
    /// Letter spacing.
    TxtTrack: "txt-track" | "txttrack" | "tt";
    /// Wrap width.
    TxtWidth: "txt-width" | "txtwidth";

    // Geometry (`geometry`).
    /// Orientation.
    Orient: "orient" | "or";
    /// Mirror.
    Flip: "flip";
    /// Source rectangle.
    Rect: "rect";
    /// Trim a flat border.
    Trim: "trim";
    /// The colour `trim=color` trims.
    TrimColor: "trim-color" | "trimcolor";
    /// Mean difference from the corner that counts as content (`trim=auto`).
    TrimMd: "trim-md" | "trimmd";
    /// Spread within a row that still counts as border (`trim=auto`).
    TrimSd: "trim-sd" | "trimsd";
    /// Tolerance around `trim-color` (`trim=color`).
    TrimTol: "trim-tol" | "trimtol";
    /// Padding added around the trimmed image.
    TrimPad: "trim-pad" | "trimpad";
    /// Rotation.
    Rot: "rot";
    /// Padding, every side.
    Pad: "pad";
    /// Padding, top.
    PadTop: "pad-top";
    /// Padding, right.
    PadRight: "pad-right";
    /// Padding, bottom.
    PadBottom: "pad-bottom";
    /// Padding, left.
    PadLeft: "pad-left";
    /// Border width and colour.
    Border: "border";
    /// Border width, top.
    BorderTop: "border-top";
    /// Border width, right.
    BorderRight: "border-right";
    /// Border width, bottom.
    BorderBottom: "border-bottom";
    /// Border width, left.
    BorderLeft: "border-left";
    /// Outer corner radius of the border.
    BorderRadius: "border-radius";
    /// Inner corner radius of the border.
    BorderRadiusInner: "border-radius-inner";
    /// Mask shape.
    Mask: "mask";
    /// Corner radius of `mask=corners`.
    CornerRadius: "corner-radius";
    /// Colour behind the mask.
    MaskBg: "mask-bg" | "maskbg";
    /// Animation frame, from 1.
    Frame: "frame";
}

/// How many parameters the table has.
pub const COUNT: usize = Name::ALL.len();

/// The raw values of one query, one slot per [`Name`], before validation.
#[derive(Debug)]
pub struct Raw<'q>([Option<&'q str>; COUNT]);

impl Default for Raw<'_> {
    fn default() -> Self {
        Raw([None; COUNT])
    }
}

impl<'q> Raw<'q> {
    /// Record `value` for `name`, replacing any earlier one.
    pub fn replace(&mut self, name: Name, value: &'q str) {
        self.0[name as usize] = Some(value);
    }

    /// Forget `name`'s value (it takes its default).
    pub fn clear(&mut self, name: Name) {
        self.0[name as usize] = None;
    }

    /// The value given for `name`.
    pub fn get(&self, name: Name) -> Option<&'q str> {
        self.0[name as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::imgix;

    #[test]
    fn every_name_and_alias_finds_its_parameter() {
        for &name in Name::ALL {
            assert_eq!(Name::lookup(name.as_str()), Some(name));
            for alias in name.aliases() {
                assert_eq!(Name::lookup(alias), Some(name), "{alias}");
            }
        }
        // Table order is the enum's: `Raw` indexes by discriminant.
        for (i, &name) in Name::ALL.iter().enumerate() {
            assert_eq!(name as usize, i);
        }
    }

    // Checked from here, where the parser uses the imgix list: `imgix` imports nothing of
    // `params`, even in its tests.
    #[test]
    fn imgix_defines_every_parameter_and_alias() {
        // `frame`, once Refract's own addition, is imgix's too since parameters.json 11.x.
        for &name in Name::ALL {
            assert!(imgix::defines(name.as_str()), "{name:?}");
            for alias in name.aliases() {
                assert!(imgix::defines(alias), "{alias}");
            }
        }
    }

    #[test]
    fn the_compatibility_table_lists_every_parameter() {
        let doc = include_str!("../../../docs/imgix.md");
        for name in imgix::PARAMETERS {
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
