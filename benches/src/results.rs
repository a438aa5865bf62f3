//! Where the benches write their results, and the criterion settings.
//!
//! Criterion records medians (`<CRITERION_HOME>/<group>/<bench>/new/estimates.json`);
//! everything else a bench measures (refresh counts, wait percentiles, bytes,
//! seeding times, why something was not measured) goes to
//! `<out>/<bench>.json`, read by `bench-report`.

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

/// Criterion's folder: `CRITERION_HOME` (set by `cargo xtask bench`), else
/// `<target>/criterion` (criterion's own default).
pub fn criterion_home() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => target_dir().join("criterion"),
    }
}

/// The criterion settings of every bench: short runs, so the whole suite
/// (build included) fits in ten minutes on a small machine.
pub fn criterion() -> Criterion {
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

/// Reads `<out>/<name>.json`; `None` when missing or not JSON.
pub fn read(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(out_dir().join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

/// The median criterion measured for `group/bench` in nanoseconds, when it ran.
pub fn criterion_median_ns(group: &str, bench: &str) -> Option<f64> {
    let path = criterion_home()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
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
