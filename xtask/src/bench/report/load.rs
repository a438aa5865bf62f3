//! The "under load" part of the report: the targets and sections of the load
//! bench (`benches/benches/load.rs`, `<out>/load.json`) and of the refresh
//! storm (`benches/benches/storm/`, `<out>/storm.json`).

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{count, micros_text, ratio, text};
use super::{Report, Row, Status};

/// The servers of the load bench, in table order: JSON key and description.
const SERVERS: [(&str, &str); 4] = [
    ("open", "the same route, no authentication (the ceiling)"),
    (
        "ours",
        "authresult `BearerAuthLayer` (the example resource server's route)",
    ),
    ("express", "express + `express-oauth2-jwt-bearer` (Node.js)"),
    ("userinfo", "DataCollect's way: a userinfo call per request"),
];

impl Report {
    /// One run of the load bench: `server` (`open`, `ours`, ...) with the
    /// token `mix` (`repeated`, `distinct`).
    fn load_run(&self, server: &str, mix: &str) -> Option<&Value> {
        let run = &self.load["servers"][server][mix];
        run["rps"].is_number().then_some(run)
    }

    fn load_rps(&self, server: &str, mix: &str) -> Option<f64> {
        self.load_run(server, mix)?["rps"].as_f64()
    }

    /// Why a server of the load bench has no numbers.
    fn load_problem(&self, server: &str) -> String {
        let reason = self.load["servers"][server]["reason"]
            .as_str()
            .or_else(|| self.load["reason"].as_str());
        match reason {
            Some(r) => format!("not measured: {r}"),
            None if self.load.is_null() => "not measured: the load bench did not run".into(),
            None => "not measured".into(),
        }
    }

    /// The load targets of the summary.
    pub(super) fn load_rows(&self) -> Vec<Row> {
        // The alternating rounds judge the bar when they ran; else the two
        // single runs.
        let share = self.load["alternating"]["median_ratio"].as_f64().or_else(|| {
            self.load_rps("ours", "repeated")
                .zip(self.load_rps("open", "repeated"))
                .map(|(ours, open)| ours / open)
        });
        let problem = if self.load_rps("ours", "repeated").is_none() {
            self.load_problem("ours")
        } else {
            self.load_problem("open")
        };
        let vs_express = self
            .load_rps("ours", "distinct")
            .zip(self.load_rps("express", "distinct"))
            .map(|(ours, express)| ours / express);
        let express_problem = if self.load_rps("ours", "distinct").is_none() {
            self.load_problem("ours")
        } else {
            self.load_problem("express")
        };
        vec![
            Row {
                what: "Protected route under load, one repeated token: throughput vs the same route without authentication (median of the alternating rounds)".into(),
                measured: share.map_or(problem, |s| format!("{:.0}%", s * 100.0)),
                bar: "≥ 95%".into(),
                status: Status::of(share.map(|s| s >= 0.95)),
            },
            Row {
                what: format!(
                    "Protected route under load, {} distinct tokens: throughput vs express-oauth2-jwt-bearer",
                    count(&self.load["distinct_tokens"])
                ),
                measured: vs_express.map_or(express_problem, |r| format!("{} faster", ratio(r))),
                bar: "≥ 3x faster".into(),
                status: Status::of(vs_express.map(|r| r >= 3.0)),
            },
        ]
    }

    /// The targets of the refresh storm (Postgres) and of SQLite under contention.
    pub(super) fn storm_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (backend, name, what) in [
            ("postgres", "Postgres", "Refresh storm"),
            ("sqlite", "SQLite", "SQLite under contention"),
        ] {
            let storm = &self.storm[backend];
            let measured = storm["measured"].as_bool() == Some(true);
            let problem = || match storm["reason"].as_str() {
                Some(r) => format!("not measured: {r}"),
                None => "not measured: the storm bench did not run".into(),
            };
            let refreshes = storm["refreshes"].as_u64().filter(|_| measured);
            let expired = storm["expired"].as_u64();
            let faults = ["errors", "stale_tokens", "lost_sessions", "reused_refresh_tokens"]
                .iter()
                .map(|k| storm[*k].as_u64())
                .sum::<Option<u64>>()
                .filter(|_| measured);
            rows.push(Row {
                what: format!(
                    "{what}: {} sessions in one {name} store, {} of them expired, {} processes ask each for a token: refreshes at the provider",
                    count(&storm["sessions"]),
                    count(&storm["expired"]),
                    text(&storm["processes"])
                ),
                measured: refreshes.map_or_else(problem, |r| count(&Value::from(r))),
                bar: format!("exactly {}", count(&storm["expired"])),
                status: Status::of(refreshes.zip(expired).map(|(r, e)| r == e)),
            });
            rows.push(Row {
                what: format!(
                    "… callers with an error{}, a stale token; sessions lost; refresh tokens reused",
                    if backend == "sqlite" {
                        " (busy included)"
                    } else {
                        ""
                    }
                ),
                measured: faults.map_or_else(problem, |f| f.to_string()),
                bar: "0".into(),
                status: Status::of(faults.map(|f| f == 0)),
            });
            rows.push(Row {
                what: "… wall time; the callers' wait, p99".into(),
                measured: if measured {
                    format!(
                        "{:.1} s; {}",
                        storm["wall_secs"].as_f64().unwrap_or(0.0),
                        micros_text(&storm["wait_p99_us"])
                    )
                } else {
                    problem()
                },
                bar: "reported".into(),
                status: Status::Info,
            });
        }
        rows
    }

    /// The section of the refresh storm and of SQLite under contention.
    pub(super) fn render_storm(&self, md: &mut String) {
        let _ = writeln!(md, "## A refresh storm, and SQLite under contention\n");
        let _ = writeln!(
            md,
            "Sessions are seeded with their first refresh token: in Postgres, 10,000 imported \
             through the manager, all expiring in 1 s and left to expire; in one SQLite file, \
             100,000 written in bulk from sessions the store wrote itself, one in ten expired. \
             Then four processes, each with its own store (a `PostgresStore` pool of 16, or a \
             `SqliteStore`) and an `AuthManager` per session made per call, ask every session \
             for an access token ({} calls in flight per process, each process starting at \
             another session), all at once. The provider is a counting token endpoint over HTTP \
             in the bench process that rotates refresh tokens one-time: a refresh token \
             presented twice is answered `invalid_grant` and counted. Afterwards every caller's \
             token is compared with the provider's newest one for that session, and every \
             session is read back from the store.\n",
            text(&self.storm["postgres"]["in_flight_per_process"]),
        );
        let _ = writeln!(md, "| | Postgres | SQLite |\n|---|---|---|");
        let cell = |backend: &str, f: &Cell| {
            let storm = &self.storm[backend];
            if storm["measured"].as_bool() == Some(true) {
                f(storm)
            } else {
                format!(
                    "not measured: {}",
                    storm["reason"].as_str().unwrap_or("the storm bench did not run")
                )
            }
        };
        let lines: [(&str, &Cell); 12] = [
            ("sessions", &|s| count(&s["sessions"])),
            ("of them expired", &|s| count(&s["expired"])),
            ("calls answered", &|s| {
                format!("{} of {}", count(&s["answered"]), count(&s["calls"]))
            }),
            ("refreshes at the provider", &|s| count(&s["refreshes"])),
            ("refresh tokens presented twice", &|s| {
                text(&s["reused_refresh_tokens"])
            }),
            ("callers with an error (busy or locked among them)", &|s| {
                format!("{} ({})", text(&s["errors"]), text(&s["busy_errors"]))
            }),
            ("callers given a stale token", &|s| text(&s["stale_tokens"])),
            ("sessions lost or not holding the newest token", &|s| {
                text(&s["lost_sessions"])
            }),
            ("wall time", &|s| {
                format!("{:.1} s", s["wall_secs"].as_f64().unwrap_or(0.0))
            }),
            ("callers' wait, p50", &|s| micros_text(&s["wait_p50_us"])),
            ("callers' wait, p99", &|s| micros_text(&s["wait_p99_us"])),
            ("callers' wait, max", &|s| micros_text(&s["wait_max_us"])),
        ];
        for (label, f) in lines {
            let _ = writeln!(
                md,
                "| {label} | {} | {} |",
                cell("postgres", f),
                cell("sqlite", f)
            );
        }
        md.push('\n');
    }

    /// The section: one table, a row per server and token mix.
    pub(super) fn render_load(&self, md: &mut String) {
        let _ = writeln!(md, "## A resource server under load\n");
        let load = &self.load;
        let _ = writeln!(
            md,
            "`wrk` {} ({} thread, {} connections, keep-alive) sends `GET /api/sync` over loopback \
             to one server at a time, each in its own process, for {} s after a {} s warm-up that \
             is not counted; every request carries `Authorization: Bearer <token>`, the tokens \
             taken in turn from the mix. Tokens are RS256 access tokens of {} bytes (the \
             validation benches' shape); the Rust and Node.js servers verify them with the same \
             public key. Every request of a counted run answered 2xx (a run with any failure is \
             not reported). The load generator and the server share this machine's {}: compare \
             the rows with each other, not with other machines.\n",
            text(&load["wrk"]),
            text(&load["wrk_threads"]),
            text(&load["connections"]),
            text(&load["measure_secs"]),
            text(&load["warm_up_secs"]),
            text(&load["token_bytes"]),
            self.cpus_text(),
        );
        let _ = writeln!(
            md,
            "| server | token mix | requests/s | p50 | p99 |\n|---|---|---|---|---|"
        );
        for (server, what) in SERVERS {
            for (mix, mix_text) in [
                ("repeated", "one repeated token".to_owned()),
                ("distinct", self.distinct_text(server)),
            ] {
                let cells = match self.load_run(server, mix) {
                    Some(run) => format!(
                        "{:.0} | {} | {}",
                        run["rps"].as_f64().unwrap_or(0.0),
                        micros_text(&run["p50_us"]),
                        micros_text(&run["p99_us"])
                    ),
                    None => format!("{} | — | —", self.load_problem(server)),
                };
                let _ = writeln!(md, "| {what} | {mix_text} | {cells} |");
            }
        }
        let alternating = &load["alternating"];
        if let Some(rounds) = alternating["rounds"].as_array() {
            let _ = writeln!(
                md,
                "\nThe repeated token again, the ceiling and the protected route alternately, {} \
                 runs of {} s each, both servers started once; other work on the machine slows \
                 both runs of a round alike. The protected route's share of the ceiling, per \
                 round: {}; median **{:.0}%** (this judges the 95% bar).",
                rounds.len(),
                text(&load["measure_secs"]),
                rounds
                    .iter()
                    .map(|r| format!(
                        "{:.0}% ({:.0} of {:.0} requests/s)",
                        r["ratio"].as_f64().unwrap_or(0.0) * 100.0,
                        r["ours_rps"].as_f64().unwrap_or(0.0),
                        r["open_rps"].as_f64().unwrap_or(0.0)
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                alternating["median_ratio"].as_f64().unwrap_or(0.0) * 100.0
            );
        } else if let Some(reason) = alternating["reason"].as_str() {
            let _ = writeln!(md, "\nThe alternating rounds did not run: {reason}.");
        }
        let _ = writeln!(
            md,
            "\nThe userinfo server's distinct mix uses {} provider tokens (each one a login at \
             the local provider): it caches nothing, so every request is one provider call \
             whatever the token. authresult's validated-token cache holds 10,000 entries by \
             default, so after the warm-up the distinct mix is mostly answered from it, as on a \
             sync server whose users come back; express-oauth2-jwt-bearer verifies every request.\n",
            text(&load["userinfo_distinct_tokens"])
        );
    }

    fn distinct_text(&self, server: &str) -> String {
        let key = if server == "userinfo" {
            "userinfo_distinct_tokens"
        } else {
            "distinct_tokens"
        };
        format!("{} distinct tokens", count(&self.load[key]))
    }

    fn cpus_text(&self) -> String {
        std::thread::available_parallelism().map_or_else(|_| "CPUs".into(), |n| format!("{n} CPUs"))
    }
}

/// One cell of the storm table: a result's value as text.
type Cell = dyn Fn(&Value) -> String;
