//! The perceptual metrics, run as separate programs (never linked): SSIMULACRA2 from
//! `ssimulacra2_rs` (crates.io, BSD-2-Clause; `SSIMULACRA2=path`, installed by
//! `.ci/quality-tools.sh` into ~/.cache/refract, or found on PATH) and butteraugli from
//! Debian's `libjxl-devtools` (`butteraugli_main`). Shared by `benches/quality.rs` and the tests
//! that assert distances.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fail loudly when either tool is missing.
pub fn require_tools() {
    let found = Command::new("butteraugli_main").output().is_ok();
    assert!(
        found,
        "butteraugli_main not found: install Debian's libjxl-devtools (make bench-quality does)"
    );
    let found = Command::new(ssimulacra2_bin())
        .arg("--help")
        .output()
        .is_ok();
    assert!(
        found,
        "ssimulacra2_rs not found (SSIMULACRA2=path, or make bench-quality installs it)"
    );
}

/// SSIMULACRA2 score from `ssimulacra2_rs` (crates.io, BSD-2-Clause; installed by
/// `make bench-quality` into ~/.cache/refract, or found on PATH).
pub fn ssimulacra2(reference: &Path, distorted: &Path) -> f64 {
    let mut command = Command::new(ssimulacra2_bin());
    command.arg("image");
    let text = metric_output(command, reference, distorted);
    text.trim()
        .strip_prefix("Score:")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected ssimulacra2_rs output: {text}"))
}

/// Run a metric program on `reference` and `distorted` (appended to `command`): its stdout.
fn metric_output(mut command: Command, reference: &Path, distorted: &Path) -> String {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .arg(reference)
        .arg(distorted)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{program} failed: {text}");
    text
}

fn ssimulacra2_bin() -> PathBuf {
    std::env::var_os("SSIMULACRA2")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ssimulacra2_rs"))
}

/// (max distance, 3-norm) from libjxl's `butteraugli_main`.
pub fn butteraugli(reference: &Path, distorted: &Path) -> (f64, f64) {
    let text = metric_output(Command::new("butteraugli_main"), reference, distorted);
    let mut lines = text.lines();
    let max = lines.next().and_then(|l| l.trim().parse().ok());
    let norm = lines
        .next()
        .and_then(|l| l.strip_prefix("3-norm:"))
        .and_then(|v| v.trim().parse().ok());
    match (max, norm) {
        (Some(max), Some(norm)) => (max, norm),
        _ => panic!("unexpected butteraugli_main output: {text}"),
    }
}
