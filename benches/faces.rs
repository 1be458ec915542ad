//! Face detection: recall by face size on a labelled set (real faces from the corpus portraits
//! pasted at known sizes and places into busy corpus scenes, 1,200 px; and the portraits
//! themselves), false detections, and the CPU one original costs — at the detection size
//! Refract uses ([`faces::DETECT_SIDE`]) next to the earlier 320 px, in one run.
//!
//! `cargo bench --bench faces` (reads `../shared/corpus`, or `REFRACT_CORPUS`). Prints a table;
//! no timing assertions (the CPU is whatever this machine is). `cargo test --benches` (so
//! `make test`) runs a tiny smoke version: one size, one place, one detection size.

#[path = "support/cpu.rs"]
mod cpu;
#[path = "../tests/support/face_set.rs"]
mod face_set;

use std::path::PathBuf;

use refract::transform::faces;

fn corpus() -> PathBuf {
    std::env::var_os("REFRACT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from the harness is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let corpus = corpus();
    assert!(
        corpus.is_dir(),
        "corpus missing at {} (set REFRACT_CORPUS)",
        corpus.display()
    );
    refract::transform::vips::init().unwrap();
    let (shares, places): (&[f64], &[(f64, f64)]) = if full {
        (
            &[0.03, 0.04, 0.05, 0.06, 0.09, 0.12, 0.2],
            &[(0.2, 0.3), (0.5, 0.5), (0.85, 0.8)],
        )
    } else {
        (&[0.09], &[(0.5, 0.5)])
    };
    let mut set = face_set::composites(&corpus, shares, places);
    set.extend(face_set::portraits(&corpus));
    // REFRACT_FACE_SIDES="320,600,800" compares other sizes.
    let sides: Vec<u32> = std::env::var("REFRACT_FACE_SIDES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if full {
                vec![320, faces::DETECT_SIDE]
            } else {
                vec![faces::DETECT_SIDE]
            }
        });
    println!(
        "faces: {} labelled images ({} composites of {} px, 2 portraits){}; CPU: {}",
        set.len(),
        set.len() - 2,
        face_set::SCENE_SIDE,
        if full { "" } else { " (smoke run)" },
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    // Per side: found per share, false detections, CPU.
    for &side in &sides {
        let mut by_share: std::collections::BTreeMap<u32, (usize, usize)> = Default::default();
        let (mut false_hits, mut cpu) = (0usize, 0u64);
        let mut missed = Vec::new();
        for item in &set {
            let start = cpu::cpu_ns();
            let found = faces::detect_at(&item.jpeg, side).unwrap();
            cpu += cpu::cpu_ns() - start;
            let boxes: Vec<(f64, f64, f64, f64)> =
                found.iter().map(|f| (f.x, f.y, f.w, f.h)).collect();
            let share = (item.share * 1000.0).round() as u32;
            let entry = by_share.entry(share).or_default();
            for truth in &item.faces {
                entry.1 += 1;
                if boxes.iter().any(|b| face_set::matches(*b, *truth)) {
                    entry.0 += 1;
                } else {
                    missed.push(item.name.clone());
                }
            }
            false_hits += boxes
                .iter()
                .filter(|b| !item.faces.iter().any(|t| face_set::matches(**b, *t)))
                .count();
        }
        let (found, total) = by_share
            .values()
            .fold((0, 0), |(f, t), (a, b)| (f + a, t + b));
        println!(
            "\ndetection at {side} px: recall {found}/{total} ({:.0}%), {false_hits} false \
             detections, CPU {:.1} ms per original (mean of {})",
            100.0 * found as f64 / total as f64,
            cpu as f64 / 1e6 / set.len() as f64,
            set.len()
        );
        println!("  face width (share of long side)   found");
        for (share, (f, t)) in &by_share {
            println!(
                "  {:>6.1}%                          {f}/{t}",
                *share as f64 / 10.0
            );
        }
        if !missed.is_empty() && missed.len() <= 12 {
            println!("  missed: {}", missed.join("; "));
        }
    }
}
