//! Where the benches write their results, and the criterion settings.
//!
//! Criterion records medians (`<CRITERION_HOME>/<group>/<bench>/new/estimates.json`);
//! everything else a bench measures (refresh counts, wait percentiles, bytes,
//! seeding times, why something was not measured) goes to
//! `<out>/<bench>.json`, read by the report of `cargo xtask bench`
//! (`xtask/src/bench/report.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use criterion::Criterion;
use serde_json::Value;

/// Warm-up per benchmark.
pub const WARM_UP: Duration = Duration::from_secs(1);
/// Measurement per benchmark.
pub const MEASUREMENT: Duration = Duration::from_secs(2);
/// Samples per benchmark.
pub const SAMPLES: usize = 30;

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The results folder: `AUTHRESULT_BENCH_OUT`, else `<target>/bench-data`.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("AUTHRESULT_BENCH_OUT") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => target_dir().join("bench-data"),
    }
}

/// The criterion settings of every bench: short runs, so the whole suite
/// (build included) fits in ten minutes on a small machine.
///
/// Also writes them to `<out>/criterion.json` for the report (`cargo xtask bench`).
pub fn criterion() -> Criterion {
    let settings = serde_json::json!({
        "warm_up_secs": WARM_UP.as_secs_f64(),
        "measurement_secs": MEASUREMENT.as_secs_f64(),
        "samples": SAMPLES,
    });
    if let Err(e) = write("criterion", &settings) {
        eprintln!("cannot record the criterion settings: {e:#}");
    }
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES)
        .nresamples(20_000)
        .without_plots()
        .configure_from_args()
}

/// Writes `<out>/<name>.json`.
pub fn write(name: &str, value: &Value) -> anyhow::Result<()> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Nearest-rank percentile `p` (0 to 100) of sorted `values`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as a JSON number with 0.1 µs resolution.
pub fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000_000.0).round() / 10.0
}
