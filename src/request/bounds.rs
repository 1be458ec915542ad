//! The variant space one original can cost: a width ladder and a quality allow-list, applied to
//! parsed parameters before the cache key is made.
//!
//! Request headers are not signed, so a dimension a header chose (`Sec-CH-Width`, or `Sec-CH-DPR`
//! × `w`/`h`) always snaps up to the next rung of the ladder (the top rung when beyond it):
//! whatever the headers say, one URL costs at most ladder-many renders. With `--snap-widths`,
//! dimensions written in the URL snap too, so an unsigned deployment bounds every URL the same
//! way. The other dimension follows the snapped one in proportion, so the aspect ratio the URL
//! asked for holds. `--qualities` lists the `q` values accepted; others are refused (400) or,
//! with `--snap-qualities`, moved to the nearest listed value.

use super::params::{Hints, Params};
use crate::error::Error;

/// The configured bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Widths (device pixels), ascending, distinct, at least one.
    pub widths: Vec<u32>,
    /// Also snap dimensions written in the URL.
    pub snap_explicit: bool,
    /// Allowed `q` values, ascending; empty allows every quality.
    pub qualities: Vec<u8>,
    /// Move other `q` values to the nearest allowed one instead of refusing them.
    pub snap_qualities: bool,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            widths: crate::request::srcset::DEFAULT_WIDTHS.to_vec(),
            snap_explicit: false,
            qualities: Vec::new(),
            snap_qualities: false,
        }
    }
}

impl Bounds {
    /// Validate and order a ladder and a quality list.
    pub fn new(
        widths: &[u32],
        snap_explicit: bool,
        qualities: &[u8],
        snap_qualities: bool,
    ) -> Result<Bounds, String> {
        let mut widths = widths.to_vec();
        widths.sort_unstable();
        widths.dedup();
        if widths.is_empty() || widths[0] == 0 {
            return Err("--widths: give at least one width, each at least 1".into());
        }
        let mut qualities = qualities.to_vec();
        qualities.sort_unstable();
        qualities.dedup();
        if qualities.iter().any(|q| !(1..=100).contains(q)) {
            return Err("--qualities: each from 1 to 100".into());
        }
        Ok(Bounds {
            widths,
            snap_explicit,
            qualities,
            snap_qualities,
        })
    }

    /// Snap `params`, parsed with the request's `hints`, into the bounds (what
    /// [`crate::request::ImageRequest`] renders). A dimension is header-chosen when a hint the
    /// URL opted into was sent and changed it; without the headers the URL's own size stands.
    pub fn apply(&self, params: &mut Params, hints: Hints) -> Result<(), Error> {
        let has_size = params.width.is_some() || params.height.is_some();
        let header_chosen = (params.varies.width && hints.width.is_some())
            || (params.varies.dpr && has_size && hints.dpr.is_some_and(|d| d != 1.0));
        if header_chosen || self.snap_explicit {
            self.snap_dimensions(params);
        }
        if let Some(q) = params.quality {
            params.quality = Some(self.quality(q)?);
        }
        Ok(())
    }

    /// The rung at or above `v` (the top rung beyond it).
    fn rung(&self, v: u32) -> u32 {
        let top = *self.widths.last().expect("at least one width");
        self.widths.iter().copied().find(|&w| w >= v).unwrap_or(top)
    }

    fn snap_dimensions(&self, params: &mut Params) {
        let scale = |other: u32, from: u32, to: u32| {
            ((u64::from(other) * u64::from(to) + u64::from(from) / 2) / u64::from(from)).max(1)
                as u32
        };
        match (params.width, params.height) {
            (Some(w), h) => {
                let snapped = self.rung(w);
                params.width = Some(snapped);
                params.height = h.map(|h| scale(h, w, snapped));
            }
            (None, Some(h)) => params.height = Some(self.rung(h)),
            (None, None) => {}
        }
    }

    fn quality(&self, q: u8) -> Result<u8, Error> {
        if self.qualities.is_empty() || self.qualities.contains(&q) {
            return Ok(q);
        }
        if !self.snap_qualities {
            let list: Vec<String> = self.qualities.iter().map(u8::to_string).collect();
            return Err(Error::bad_param(
                "q",
                format!(
                    "{q} is not one of the allowed qualities {}",
                    list.join(", ")
                ),
            ));
        }
        // Nearest; a tie goes to the higher quality.
        Ok(*self
            .qualities
            .iter()
            .min_by_key(|&&allowed| (allowed.abs_diff(q), std::cmp::Reverse(allowed)))
            .expect("non-empty"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Hints, ParamLimits};

    const LIMITS: ParamLimits = ParamLimits {
        max_dimension: 8192,
        strict: false,
    };

    fn parse(query: &str, hints: Hints) -> Params {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Params::parse_with_hints(pairs.iter().map(|(k, v)| (&**k, &**v)), LIMITS, hints).unwrap()
    }

    #[test]
    fn header_widths_snap_up_to_the_ladder() {
        let b = Bounds::default();
        let mut distinct = std::collections::BTreeSet::new();
        for width in 1..=3000u32 {
            let hints = Hints::from_values(None, Some(&width.to_string()), None);
            let mut p = parse("ch=width&fm=webp", hints);
            b.apply(&mut p, hints).unwrap();
            let w = p.width.unwrap();
            assert!(w >= width.min(1920), "{width} → {w}");
            distinct.insert(w);
        }
        assert_eq!(distinct.into_iter().collect::<Vec<_>>(), b.widths);
    }

    #[test]
    fn a_header_dpr_snaps_both_dimensions_in_proportion() {
        let b = Bounds::default();
        let hints = Hints::from_values(Some("1.37"), None, None);
        let mut p = parse("ch=dpr&w=400&h=200", hints);
        assert_eq!((p.width, p.height), (Some(548), Some(274)));
        b.apply(&mut p, hints).unwrap();
        assert_eq!((p.width, p.height), (Some(640), Some(320)));
        // Height alone snaps to the ladder too.
        let mut p = parse("ch=dpr&h=333", hints);
        b.apply(&mut p, hints).unwrap();
        assert_eq!(p.height, Some(480));
        // No header (or DPR 1): the URL's own size, unsnapped.
        for hints in [Hints::default(), Hints::from_values(Some("1"), None, None)] {
            let mut p = parse("ch=dpr,width&w=401", hints);
            b.apply(&mut p, hints).unwrap();
            assert_eq!(p.width, Some(401));
        }
    }

    #[test]
    fn url_dimensions_stay_unless_asked() {
        let mut p = parse("w=401", Hints::default());
        Bounds::default().apply(&mut p, Hints::default()).unwrap();
        assert_eq!(p.width, Some(401));
        let snapping = Bounds::new(&[100, 500], true, &[], false).unwrap();
        snapping.apply(&mut p, Hints::default()).unwrap();
        assert_eq!(p.width, Some(500));
    }

    #[test]
    fn qualities_refuse_or_snap() {
        let refuse = Bounds::new(&[100], false, &[90, 50, 75], false).unwrap();
        let mut p = parse("q=75", Hints::default());
        refuse.apply(&mut p, Hints::default()).unwrap();
        assert_eq!(p.quality, Some(75));
        let mut p = parse("q=74", Hints::default());
        let e = refuse.apply(&mut p, Hints::default()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.public_message().contains("50, 75, 90"));
        let snap = Bounds::new(&[100], false, &[50, 75, 90], true).unwrap();
        for (q, want) in [(1, 50), (62, 50), (63, 75), (83, 90), (100, 90)] {
            let mut p = parse(&format!("q={q}"), Hints::default());
            snap.apply(&mut p, Hints::default()).unwrap();
            assert_eq!(p.quality, Some(want), "q={q}");
        }
        assert!(Bounds::new(&[], false, &[], false).is_err());
        assert!(Bounds::new(&[10], false, &[0], false).is_err());
    }
}
