//! The front-door part of the report: the sync server's authenticated
//! throughput and memory with 1,000 slow unauthenticated clients holding
//! push bodies open (`benches/benches/front_door.rs`, `<out>/front_door.json`).

use std::fmt::Write as _;

use super::format::text;
use super::{Report, Row, Status};

impl Report {
    fn front_door_measured(&self) -> bool {
        self.front_door["measured"].as_bool() == Some(true)
    }

    pub(super) fn front_door_rows(&self) -> Vec<Row> {
        let measured = self.front_door_measured();
        let kept = self.front_door["throughput_kept"].as_f64().filter(|_| measured);
        let hwm = self.front_door["hwm_mib"].as_f64().filter(|_| measured);
        let bound = self.front_door["memory_bound_mib"].as_f64().unwrap_or(64.0);
        vec![
            Row {
                what: "sync server: authenticated push/pull throughput kept with 1,000 slow \
                       unauthenticated clients holding bodies open"
                    .into(),
                measured: kept.map_or_else(|| "not measured".into(), |k| format!("{:.0}%", k * 100.0)),
                bar: "≥ 80%".into(),
                status: Status::of(kept.map(|k| k >= 0.8)),
            },
            Row {
                what: "… the server's peak resident memory under that attack".into(),
                measured: hwm.map_or_else(|| "not measured".into(), |m| format!("{m:.1} MiB")),
                bar: format!("< {bound:.0} MiB"),
                status: Status::of(hwm.map(|m| m < bound)),
            },
        ]
    }

    pub(super) fn render_front_door(&self, md: &mut String) {
        let _ = writeln!(md, "## The sync server's front door under a slow-body attack\n");
        if !self.front_door_measured() {
            let reason = self.front_door["reason"]
                .as_str()
                .unwrap_or("the front-door bench did not run");
            let _ = writeln!(md, "Not measured: {reason}.\n");
            return;
        }
        let f = &self.front_door;
        let _ = writeln!(
            md,
            "{} authenticated clients push 10 events (`configId` in the body) and pull, in turn, \
             for {} s each run, over loopback, against `example-sync-server`'s front door in a \
             process of its own. Under attack, {} unauthenticated clients hold push bodies open \
             (100 KB declared, one byte every {} ms): a third without `Authorization`, a third \
             with a refused `Bearer` token, a third with a `keycloak` token whose check depends \
             on the app (their bodies are read before authentication, at most 64 at once). An \
             answered attacker connects again {} ms later. The server is served as the example \
             serves it (`example_common::serve`: 10 s to send headers, at most 2,048 connections). \
             Runs with and without the attack alternate, {} rounds of each; the throughput kept \
             is the median of the rounds' ratios (lowest {}, highest {}).\n",
            text(&f["clients"]),
            text(&f["phase_secs"]),
            text(&f["attackers"]),
            text(&f["drip_ms"]),
            text(&f["reconnect_ms"]),
            text(&f["rounds"]),
            percent(&f["min_kept"]),
            percent(&f["max_kept"]),
        );
        let _ = writeln!(md, "| | requests/s | failed | server memory |\n|---|---|---|---|");
        let _ = writeln!(
            md,
            "| no attack | {:.0} | {} | {:.1} MiB resident |",
            f["quiet"]["per_sec"].as_f64().unwrap_or_default(),
            text(&f["quiet"]["failed"]),
            f["quiet"]["rss_mib"].as_f64().unwrap_or_default(),
        );
        let _ = writeln!(
            md,
            "| 1,000 slow clients | {:.0} | {} | {:.1} MiB peak |\n",
            f["attacked"]["per_sec"].as_f64().unwrap_or_default(),
            text(&f["attacked"]["failed"]),
            f["hwm_mib"].as_f64().unwrap_or_default(),
        );
        let answers = &f["attack_answers"];
        let _ = writeln!(
            md,
            "The attackers were answered 401 {} times, 503 {} times (the bound on reads before \
             authentication) and 408 {} times; they connected {} times in all.\n",
            text(&answers["401"]),
            text(&answers["503"]),
            text(&answers["408"]),
            text(&answers["connects"]),
        );
    }
}

/// A ratio as a whole percentage, or "?".
fn percent(value: &serde_json::Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "?".into(), |r| format!("{:.0}%", r * 100.0))
}
