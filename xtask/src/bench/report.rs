//! The benchmark report: turns one run's results (criterion's medians, the
//! benches' own JSON files, jose's medians) into `docs/benchmarks.md`.
//! `cargo xtask bench` calls [`write()`] last; the sections of the document are
//! in `sections.rs`, the number formatting and the machine description in
//! `format.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde_json::Value;

use format::{count, opt_time, ratio, text, time, utc};

mod crypto;
mod dpop;
mod format;
mod front_door;
mod load;
mod sections;

/// Where one run left its results, and how it went.
#[derive(Debug)]
pub(crate) struct Inputs {
    /// The workspace root.
    pub(crate) root: PathBuf,
    /// The benches' JSON files (`AUTHRESULT_BENCH_OUT` of the benches).
    pub(crate) out: PathBuf,
    /// Criterion's folder (`CRITERION_HOME` of the benches).
    pub(crate) criterion_home: PathBuf,
    /// Seconds spent building the benchmarks.
    pub(crate) build_secs: Option<u64>,
    /// When `cargo xtask bench` started (Unix seconds).
    pub(crate) started_unix: Option<u64>,
    /// The load average (1, 5, 15 min) when the run started; empty when unknown.
    pub(crate) load_start: String,
}

impl Inputs {
    /// Reads `<out>/<name>.json`; `None` when missing or not JSON.
    fn read(&self, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.out.join(format!("{name}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Writes the report of the run `inputs` describes to `out`.
pub(crate) fn write(inputs: Inputs, out: &Path) -> Result<()> {
    let report = Report::load(inputs);
    let text = report.render();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("bench-report: wrote {}", out.display());
    let missed = report
        .rows()
        .iter()
        .filter(|r| r.status == Status::Missed)
        .count();
    if missed > 0 {
        eprintln!("bench-report: {missed} target(s) missed; see the table");
    }
    Ok(())
}

/// The signature algorithms of the validation benches (`benches/src/tokens.rs`
/// names them the same way in the results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    /// Every algorithm, in table order.
    const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JOSE name (`RS256`, ...).
    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Lower-case id used in benchmark names (`rs256`, ...).
    fn id(self) -> &'static str {
        match self {
            Alg::Rs256 => "rs256",
            Alg::Es256 => "es256",
            Alg::EdDsa => "eddsa",
        }
    }
}

/// Everything one run wrote.
struct Report {
    inputs: Inputs,
    criterion: Value,
    validation: Value,
    manager: Value,
    memory: Value,
    store: Value,
    offline: Value,
    jose: Value,
    load: Value,
    storm: Value,
    /// `benches/benches/crypto.rs`: interleaved ratios per algorithm.
    crypto: Value,
    /// `benches/benches/instructions.rs`: callgrind counts per call.
    instructions: Value,
    /// `benches/benches/front_door.rs`: the sync server under a slow-body attack.
    front_door: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Met,
    Missed,
    NotMeasured,
    Info,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "**MISSED**",
            Status::NotMeasured => "not measured",
            Status::Info => "—",
        }
    }

    fn of(ok: Option<bool>) -> Status {
        match ok {
            Some(true) => Status::Met,
            Some(false) => Status::Missed,
            None => Status::NotMeasured,
        }
    }
}

/// One line of the summary of targets.
struct Row {
    what: String,
    measured: String,
    bar: String,
    status: Status,
}

impl Report {
    fn load(inputs: Inputs) -> Report {
        let read = |name: &str| inputs.read(name).unwrap_or(Value::Null);
        Report {
            criterion: read("criterion"),
            validation: read("validation"),
            manager: read("manager"),
            memory: read("memory"),
            store: read("store"),
            offline: read("offline"),
            jose: read("jose"),
            load: read("load"),
            storm: read("storm"),
            crypto: read("crypto"),
            instructions: read("instructions"),
            front_door: read("front_door"),
            inputs,
        }
    }

    /// The median criterion measured for `group/bench` in nanoseconds, when it ran.
    fn ns(&self, group: &str, bench: &str) -> Option<f64> {
        let path = self
            .inputs
            .criterion_home
            .join(group)
            .join(bench)
            .join("new")
            .join("estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        value["median"]["point_estimate"].as_f64()
    }

    fn jose_ns(&self, alg: Alg) -> Option<f64> {
        self.jose[alg.name()]["median_ns"].as_f64()
    }

    fn jose_problem(&self) -> String {
        match self.jose["error"].as_str() {
            Some(e) => format!("not measured: {e}"),
            None if self.jose.is_null() => "not measured: jose did not run".into(),
            None => "not measured".into(),
        }
    }

    /// The interleaved ratio first-seen / raw (median of the pairs).
    fn paired(&self, alg: Alg) -> Option<f64> {
        self.validation["paired"][alg.name()]["median"].as_f64()
    }

    fn userinfo_ns(&self) -> Option<f64> {
        self.ns("userinfo", "loopback")
    }

    fn userinfo_problem(&self) -> String {
        match self.validation["userinfo"]["reason"].as_str() {
            Some(r) => format!("not measured: {r}"),
            None => "not measured".into(),
        }
    }

    /// DPoP (`benches/benches/dpop.rs`): a bound ES256 token with a fresh
    /// ES256 proof per request, against plain bearer and one raw ES256 verify.
    fn dpop_rows(&self) -> Vec<Row> {
        let ns = |bench: &str| self.ns("dpop", bench);
        let raw = ns("es256_proof_raw");
        let mut rows = Vec::new();
        let repeated = ns("es256_bound_repeated");
        rows.push(Row {
            what: "ES256 DPoP-bound repeated token + fresh ES256 proof".into(),
            measured: match (repeated, raw) {
                (Some(r), Some(v)) => format!("{} (verify {} + {})", time(r), time(v), time(r - v)),
                _ => "not measured".into(),
            },
            bar: "≤ one ES256 verify + 5 µs".into(),
            status: Status::of(repeated.zip(raw).map(|(r, v)| r <= v + 5_000.0)),
        });
        for kind in ["repeated", "first_seen"] {
            let bound = ns(&format!("es256_bound_{kind}"));
            let bearer = ns(&format!("es256_bearer_{kind}"));
            let r = bound.zip(bearer).map(|(d, b)| d / b);
            rows.push(Row {
                what: format!(
                    "ES256 DPoP-bound {} token + fresh proof / plain bearer",
                    kind.replace('_', "-")
                ),
                measured: r.map_or_else(|| "not measured".into(), ratio),
                bar: "no target".into(),
                status: if r.is_some() {
                    Status::Info
                } else {
                    Status::NotMeasured
                },
            });
        }
        rows
    }

    /// The summary of targets, in the order.
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for alg in Alg::ALL {
            let r = self.paired(alg);
            rows.push(Row {
                what: format!(
                    "{} first-seen token: whole validation / raw ring check (interleaved)",
                    alg.name()
                ),
                measured: r.map_or_else(|| "not measured".into(), ratio),
                bar: "≤ 1.15x".into(),
                status: Status::of(r.map(|r| r <= 1.15)),
            });
        }
        for alg in Alg::ALL {
            let repeated = self.ns("validation", &format!("{}_repeated", alg.id()));
            rows.push(Row {
                what: format!("{} repeated token (validated-token cache)", alg.name()),
                measured: opt_time(repeated),
                bar: "< 2 µs".into(),
                status: Status::of(repeated.map(|t| t < 2_000.0)),
            });
        }
        rows.extend(self.dpop_rows());
        for (alg, bar) in [
            (Alg::Rs256, Some(4.0)),
            (Alg::Es256, Some(2.5)),
            (Alg::EdDsa, None),
        ] {
            let first = self.ns("validation", &format!("{}_first_seen", alg.id()));
            let speedup = self.jose_ns(alg).zip(first).map(|(j, f)| j / f);
            rows.push(Row {
                what: format!("{} first-seen vs jose (Node.js)", alg.name()),
                measured: speedup.map_or_else(|| self.jose_problem(), |s| format!("{} faster", ratio(s))),
                bar: bar.map_or_else(|| "no target".into(), |b| format!("≥ {b}x faster")),
                status: match (speedup, bar) {
                    (None, _) => Status::NotMeasured,
                    (Some(_), None) => Status::Info,
                    (Some(s), Some(b)) => Status::of(Some(s >= b)),
                },
            });
        }
        for alg in Alg::ALL {
            let repeated = self.ns("validation", &format!("{}_repeated", alg.id()));
            let speedup = self.jose_ns(alg).zip(repeated).map(|(j, r)| j / r);
            rows.push(Row {
                what: format!("{} repeated vs jose (Node.js)", alg.name()),
                measured: speedup.map_or_else(|| self.jose_problem(), |s| format!("{} faster", ratio(s))),
                bar: "≥ 50x faster".into(),
                status: Status::of(speedup.map(|s| s >= 50.0)),
            });
        }
        for (kind, bar) in [("first_seen", 25.0), ("repeated", 300.0)] {
            for alg in Alg::ALL {
                let ours = self.ns("validation", &format!("{}_{kind}", alg.id()));
                let speedup = self.userinfo_ns().zip(ours).map(|(u, o)| u / o);
                rows.push(Row {
                    what: format!(
                        "{} {} vs a userinfo call per token (loopback)",
                        alg.name(),
                        kind.replace('_', "-")
                    ),
                    measured: speedup
                        .map_or_else(|| self.userinfo_problem(), |s| format!("{} faster", ratio(s))),
                    bar: format!("≥ {bar}x faster"),
                    status: Status::of(speedup.map(|s| s >= bar)),
                });
            }
        }
        let fresh = self.ns("manager", "access_token_fresh");
        rows.push(Row {
            what: "`AuthManager::access_token`, fresh session".into(),
            measured: opt_time(fresh),
            bar: "< 1 µs".into(),
            status: Status::of(fresh.map(|t| t < 1_000.0)),
        });
        let reads = self.manager["fresh"]["store_reads"].as_u64();
        rows.push(Row {
            what: "`AuthManager::access_token`, fresh session: store reads".into(),
            measured: reads.map_or_else(|| "not measured".into(), |r| r.to_string()),
            bar: "0".into(),
            status: Status::of(reads.map(|r| r == 0)),
        });
        let concurrent = &self.manager["concurrent"];
        let least = concurrent["refreshes_min"].as_u64();
        let most = concurrent["refreshes_max"].as_u64();
        rows.push(Row {
            what: format!(
                "{} concurrent `access_token` calls on an expiring session: refreshes ({} rounds)",
                count(&concurrent["callers"]),
                text(&concurrent["rounds"])
            ),
            measured: match (least, most) {
                (Some(l), Some(m)) if l == m => format!("{l} per round"),
                (Some(l), Some(m)) => format!("{l} to {m} per round"),
                _ => "not measured".into(),
            },
            bar: "exactly 1".into(),
            status: Status::of(least.zip(most).map(|(l, m)| l == 1 && m == 1)),
        });
        rows.push(Row {
            what: "… the callers' wait, p99".into(),
            measured: concurrent["wait_p99_us"]
                .as_f64()
                .map_or_else(|| "not measured".into(), |us| time(us * 1e3)),
            bar: "reported".into(),
            status: Status::Info,
        });
        for (group, name) in [("sqlite", "SQLite"), ("postgres", "Postgres")] {
            let idle = self
                .ns(group, "get_1k")
                .zip(self.ns(group, "get_1m"))
                .map(|(s, l)| l / s);
            let busy = self
                .ns(group, "get_1k_busy")
                .zip(self.ns(group, "get_1m_busy"))
                .map(|(s, l)| l / s);
            let problem = match self.store[group]["reason"].as_str() {
                Some(reason) => format!("not measured: {reason}"),
                None => "not measured".into(),
            };
            rows.push(Row {
                what: format!(
                    "{name} get latency, 1,000,000 vs 1,000 stored sessions (one CPU kept busy; idle machine in brackets)"
                ),
                measured: busy.map_or(problem, |b| {
                    format!("{} ({})", ratio(b), idle.map_or_else(|| "—".into(), ratio))
                }),
                bar: "≤ 2x".into(),
                status: Status::of(busy.map(|b| b <= 2.0)),
            });
        }
        let (unlock, guess) = (
            self.offline["unlock_ms"].as_f64(),
            self.offline["guess_ms"].as_f64(),
        );
        rows.push(Row {
            what: "offline unlock of a user's vault, default Argon2id parameters (SQLite)".into(),
            measured: opt_time(unlock.map(|ms| ms * 1e6)),
            bar: "< 1 s".into(),
            status: Status::of(unlock.map(|ms| ms < 1000.0)),
        });
        rows.push(Row {
            what: "… the cost of one guess at the secret (one core)".into(),
            measured: opt_time(guess.map(|ms| ms * 1e6)),
            bar: "≥ 250 ms".into(),
            status: Status::of(guess.map(|ms| ms >= 250.0)),
        });
        rows.extend(self.load_rows());
        rows.extend(self.storm_rows());
        rows.extend(self.front_door_rows());
        rows
    }

    fn render(&self) -> String {
        let mut md = String::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench` on {} — do not edit by hand; run it again. \
             Every number below comes from **one run on one machine**: each ratio compares \
             measurements of that run, made with the same keys and tokens.\n",
            utc(now)
        );
        self.render_machine(&mut md);
        self.render_summary(&mut md);
        self.render_misses(&mut md);
        self.render_validation(&mut md);
        self.render_alternatives(&mut md);
        self.render_load(&mut md);
        self.render_storm(&mut md);
        self.render_front_door(&mut md);
        self.render_manager(&mut md);
        self.render_stores(&mut md);
        self.render_memory(&mut md);
        self.render_crypto(&mut md);
        self.render_dpop(&mut md);
        self.render_method(&mut md);
        md
    }
}

#[cfg(test)]
mod tests;
