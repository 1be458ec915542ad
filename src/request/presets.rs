//! Named parameter sets: `--preset thumb=w=200&h=200&fit=crop` makes `?preset=thumb` mean those
//! parameters; parameters in the URL override the preset's. With `--presets-only` nothing but a
//! preset (and a signature) is accepted — the strongest defence against cache-busting, since the
//! set of renderable variants is then fixed by configuration.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::Error;

/// Decoded query pairs, in URL order.
pub type Pairs<'q> = Vec<(Cow<'q, str>, Cow<'q, str>)>;

/// Parameters the URL may carry besides `preset` under `--presets-only` (signing).
const ALWAYS_ALLOWED: [&str; 2] = ["s", "expires"];

/// The configured presets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presets {
    by_name: HashMap<String, Vec<(String, String)>>,
    only: bool,
}

impl Presets {
    /// Build from `(name, query)` pairs; `only` refuses anything but presets.
    pub fn new(presets: &[(String, String)], only: bool) -> Result<Presets, String> {
        let mut by_name = HashMap::new();
        for (name, query) in presets {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(format!(
                    "--preset '{name}': names are letters, digits, '-' and '_'"
                ));
            }
            let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if pairs.iter().any(|(k, _)| k == "preset") {
                return Err(format!(
                    "--preset {name}: a preset cannot name another preset"
                ));
            }
            if by_name.insert(name.clone(), pairs).is_some() {
                return Err(format!("--preset {name}: defined twice"));
            }
        }
        if only && by_name.is_empty() {
            return Err("--presets-only needs at least one --preset".into());
        }
        Ok(Presets { by_name, only })
    }

    /// Whether any preset is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The parameters a request means: its preset's, overridden by its own.
    pub fn expand<'q>(&'q self, pairs: Pairs<'q>) -> Result<Pairs<'q>, Error> {
        let mut named = pairs.iter().filter(|(k, _)| k == "preset");
        let name = named.next().map(|(_, v)| v.clone());
        if named.next().is_some() {
            return Err(Error::bad_param("preset", "given more than once"));
        }
        if self.only {
            if name.is_none() {
                return Err(Error::bad_param(
                    "preset",
                    "this origin only serves presets: use ?preset=NAME",
                ));
            }
            if let Some((k, _)) = pairs
                .iter()
                .find(|(k, _)| k != "preset" && !ALWAYS_ALLOWED.contains(&k.as_ref()))
            {
                return Err(Error::bad_param(
                    "query",
                    format!("'{k}': this origin only serves presets"),
                ));
            }
        }
        let Some(name) = name else {
            return Ok(pairs);
        };
        let preset = self
            .by_name
            .get(name.as_ref())
            .ok_or_else(|| Error::bad_param("preset", format!("unknown preset '{name}'")))?;
        let mut merged: Pairs<'q> = preset
            .iter()
            .filter(|(k, _)| !pairs.iter().any(|(own, _)| own == k))
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        merged.extend(pairs.into_iter().filter(|(k, _)| k != "preset"));
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(q.as_bytes()).collect()
    }

    fn flat(v: Vec<(Cow<'_, str>, Cow<'_, str>)>) -> String {
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn url_parameters_override_the_preset() {
        let p = Presets::new(&[("thumb".into(), "w=200&h=200&fit=crop".into())], false).unwrap();
        assert_eq!(
            flat(p.expand(pairs("preset=thumb")).unwrap()),
            "w=200&h=200&fit=crop"
        );
        assert_eq!(
            flat(p.expand(pairs("preset=thumb&w=300&q=50")).unwrap()),
            "h=200&fit=crop&w=300&q=50"
        );
        assert_eq!(flat(p.expand(pairs("w=10")).unwrap()), "w=10");
        let e = p.expand(pairs("preset=nope")).unwrap_err();
        assert_eq!(e.public_message(), "preset: unknown preset 'nope'");
    }

    #[test]
    fn presets_only_refuses_everything_else() {
        let p = Presets::new(&[("thumb".into(), "w=200".into())], true).unwrap();
        assert!(p.expand(pairs("preset=thumb&s=abc&expires=1")).is_ok());
        assert!(p.expand(pairs("preset=thumb&w=900")).is_err());
        assert!(p.expand(pairs("w=900")).is_err());
        assert!(p.expand(pairs("")).is_err());
        assert!(Presets::new(&[], true).is_err());
        assert!(Presets::new(&[("a b".into(), "w=1".into())], false).is_err());
    }
}
