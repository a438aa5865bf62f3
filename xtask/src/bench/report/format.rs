//! Number and text formatting of the report, and the machine description.

use std::process::Command;

use serde_json::Value;

use super::Inputs;

/// A duration in nanoseconds, for people.
pub(super) fn time(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(super) fn opt_time(ns: Option<f64>) -> String {
    ns.map_or_else(|| "not measured".into(), time)
}

pub(super) fn ratio(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}x")
    } else if x < 100.0 {
        format!("{x:.1}x")
    } else {
        format!("{x:.0}x")
    }
}

pub(super) fn per_second(ns: f64) -> String {
    let rate = 1e9 / ns;
    if rate >= 10_000.0 {
        format!("{:.0} k/s", rate / 1e3)
    } else {
        format!("{rate:.0} /s")
    }
}

pub(super) fn bytes(value: &Value) -> String {
    match value.as_f64() {
        Some(b) if b >= 10_240.0 => format!("{:.1} KiB", b / 1024.0),
        Some(b) => format!("{b:.0} B"),
        None => "not measured".into(),
    }
}

pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

pub(super) fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time (proleptic Gregorian calendar).
pub(super) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date, after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

pub(super) fn machine(inputs: &Inputs) -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let usable = std::thread::available_parallelism().map_or(0, usize::from);
    let virtual_machine = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.contains(" hypervisor"));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
        );
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|r| {
            r.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let rustc = command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into());
    let node = command_line("node", &["--version"]).unwrap_or_else(|| "not found".into());
    let jose = std::fs::read_to_string(inputs.root.join("xtask/bench/node_modules/jose/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "not installed".into());
    vec![
        (
            "CPU",
            format!(
                "{model}, {cpus} logical CPU(s), {usable} usable{}",
                if virtual_machine { " (virtual machine)" } else { "" }
            ),
        ),
        ("Memory", memory),
        ("OS", format!("{os}, Linux {}", kernel.trim())),
        ("Rust", format!("{rustc}, release profile")),
        ("Node.js", format!("{node}, jose {jose}")),
        (
            "Load average (1, 5, 15 min), start → end of the run",
            format!(
                "{} → {} (other processes shared the machine when this is well above 0)",
                if inputs.load_start.is_empty() {
                    "?"
                } else {
                    &inputs.load_start
                },
                load.join(" ")
            ),
        ),
    ]
}

/// A whole number with thousands separators (`1,000`), else the value as is.
pub(super) fn count(value: &Value) -> String {
    match value.as_u64() {
        Some(n) => {
            let digits = n.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        None => text(value),
    }
}

/// A number without a useless `.0`.
pub(super) fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x}"),
        None => text(value),
    }
}

pub(super) fn micros_text(value: &Value) -> String {
    value.as_f64().map_or_else(|| "?".into(), |us| time(us * 1e3))
}
