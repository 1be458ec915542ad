//! `refract serve --config FILE` (or `REFRACT_CONFIG`): the same settings as the flags, in TOML.
//! Keys are flag names (`cache-size` or `cache_size`); lists repeat a flag:
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! root = "/srv/images"
//! cache-size = "512MiB"
//! source = ["/s3=s3://originals/"]
//! preset = ["thumb=w=200&h=200&fit=crop", "hero=w=1600&fm=auto"]
//! presets-only = true
//! ```
//!
//! The file is turned into flags placed before the command line's, so a flag given on the
//! command line wins over the file (lists add up), and both win over `REFRACT_*` variables.
//! Unknown keys are an error, so a typo does not silently fall back to a default.

use std::path::Path;

use clap::{ArgAction, Args};

use crate::config::ServeArgs;

/// The flags a config file stands for, ready to insert before the command line's.
pub fn flags_from_file(path: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    flags_from_toml(&text).map_err(|e| format!("--config {}: {e}", path.display()))
}

/// As [`flags_from_file`], from the file's text.
pub fn flags_from_toml(text: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let mut flags = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
            .ok_or_else(|| format!("unknown setting '{key}'"))?;
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "'{key}': {} is not a string, number or boolean",
                        other.type_str()
                    ))
                }
            };
            if switch {
                match text.as_str() {
                    "true" => flags.push(format!("--{long}")),
                    "false" => {}
                    _ => return Err(format!("'{key}' is true or false")),
                }
            } else {
                flags.push(format!("--{long}={text}"));
            }
        }
    }
    Ok(flags)
}

/// The `--config` path in a raw command line (`--config F` or `--config=F`), or
/// `REFRACT_CONFIG`.
pub fn config_path(args: &[String]) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().cloned();
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.to_owned());
        }
    }
    std::env::var("REFRACT_CONFIG").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_flags_and_typos_are_errors() {
        let flags = flags_from_toml(
            r#"
            listen = "0.0.0.0:9000"
            cache_size = "64MiB"
            max-queue = 10
            preset = ["thumb=w=200&h=200", "hero=w=1600"]
            presets-only = true
            demo = false
            "#,
        )
        .unwrap();
        // Keys come out sorted (order does not matter; repeated values keep theirs).
        assert_eq!(
            flags,
            [
                "--cache-size=64MiB",
                "--listen=0.0.0.0:9000",
                "--max-queue=10",
                "--preset=thumb=w=200&h=200",
                "--preset=hero=w=1600",
                "--presets-only",
            ]
        );
        assert!(flags_from_toml("cache-sise = 1")
            .unwrap_err()
            .contains("cache-sise"));
        assert!(flags_from_toml("demo = \"yes\"").is_err());
        assert!(flags_from_toml("listen = ").is_err());
    }

    #[test]
    fn the_path_comes_from_either_spelling() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["refract", "serve", "--config", "a.toml"])).as_deref(),
            Some("a.toml")
        );
        assert_eq!(
            config_path(&args(&["refract", "serve", "--config=b.toml"])).as_deref(),
            Some("b.toml")
        );
    }
}
