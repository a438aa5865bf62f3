//! `cargo xtask bench`: builds and runs the benchmarks of `benches/`
//! (criterion, release profile) with the local OpenID provider and a
//! throwaway PostgreSQL server, runs jose (Node.js) on the same tokens,
//! drives resource servers under load with wrk (installed from Debian's
//! packages when missing), and writes `docs/benchmarks.md` (the report,
//! `bench/report.rs`).
//!
//! Whatever cannot be started (Node.js, PostgreSQL) is not fatal: the table
//! says "not measured" and why. Raw results stay in `<target>/bench-data/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};

use crate::postgres::Postgres;
use crate::{cargo, root, run};

mod report;

/// The bench crate.
const PACKAGE: &str = "authresult-bench";
/// Benchmarks are built with the plain release profile (the workspace's
/// `bench` profile adds debug info, which only slows the build).
const PROFILE: &str = "release";

pub(crate) fn bench() -> Result<()> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let load_start = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let root = root();
    let out = target_dir(&root).join("bench-data");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let criterion_home = out.join("criterion");

    // Node.js: jose for the comparison, oidc-provider for the userinfo calls.
    let jose_ready = ensure_jose_packages(&root);
    if let Err(e) = &jose_ready {
        eprintln!("xtask bench: jose will not be measured: {e:#}");
    }
    if let Err(e) = crate::ensure_idp_packages() {
        eprintln!("xtask bench: the userinfo comparison will not be measured: {e:#}");
    }
    // wrk drives the load bench (`benches/benches/load.rs`).
    if Command::new("wrk").arg("-v").output().is_err()
        && let Err(e) = crate::apt::install("wrk", "install Debian's wrk package")
    {
        eprintln!("xtask bench: the load bench will not be measured: {e:#}");
    }
    // valgrind's callgrind counts instructions (`benches/benches/instructions.rs`).
    if Command::new("valgrind").arg("--version").output().is_err()
        && let Err(e) = crate::apt::install("valgrind", "install Debian's valgrind package")
    {
        eprintln!("xtask bench: instructions will not be counted: {e:#}");
    }

    let build_started = Instant::now();
    run(
        "cargo bench --no-run (release)",
        cargo().args(["bench", "-p", PACKAGE, "--profile", PROFILE, "--no-run"]),
    )?;
    let build_secs = build_started.elapsed().as_secs();

    // Postgres lives until the benches are done; failing to start it only
    // leaves its rows unmeasured.
    let postgres = Postgres::provide().map_err(|e| format!("{e:#}"));
    let env = |cmd: &mut Command| {
        cmd.env("CRITERION_HOME", &criterion_home)
            .env("AUTHRESULT_BENCH_OUT", &out);
    };
    let mut benches = cargo();
    // Every bench runs even when one fails; the report marks what is missing.
    benches.args(["bench", "-p", PACKAGE, "--profile", PROFILE, "--no-fail-fast"]);
    env(&mut benches);
    match &postgres {
        Ok(pg) => {
            benches.envs(pg.env());
        }
        Err(reason) => {
            eprintln!("xtask bench: Postgres will not be measured: {reason}");
            benches.env_remove("DATABASE_URL").env(
                "AUTHRESULT_BENCH_PG_SKIP",
                format!("no PostgreSQL server: {reason}"),
            );
        }
    }
    let benches_ran = run("cargo bench (release)", &mut benches);
    drop(postgres);

    jose(&root, &out, jose_ready.is_ok())?;

    let doc = root.join("docs").join("benchmarks.md");
    eprintln!("\n==> report");
    report::write(
        report::Inputs {
            root: root.clone(),
            out: out.clone(),
            criterion_home: criterion_home.clone(),
            build_secs: Some(build_secs),
            started_unix: Some(started_unix),
            load_start,
        },
        &doc,
    )?;
    benches_ran.context("a benchmark failed; its rows say \"not measured\"")?;
    eprintln!(
        "\nxtask bench: wrote {} in {:.1} min (building {build_secs} s)",
        doc.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Cargo's target folder: `CARGO_TARGET_DIR` (relative to the workspace
/// root when relative), else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `npm ci` in `xtask/bench` (jose, pinned by its lock file) when missing.
fn ensure_jose_packages(root: &Path) -> Result<()> {
    let dir = root.join("xtask/bench");
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => bail!("Node.js (node) is not installed"),
    }
    let installed = ["jose", "express", "express-oauth2-jwt-bearer"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).join("package.json").exists());
    if !installed {
        run(
            "npm ci (xtask/bench: jose, express, express-oauth2-jwt-bearer, pinned by package-lock.json)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )?;
    }
    Ok(())
}

/// Runs `xtask/bench/jose-bench.mjs` on the cases the validation bench
/// wrote; its JSON output, or `{"error": ...}`, goes to `<out>/jose.json`.
fn jose(root: &Path, out: &Path, ready: bool) -> Result<()> {
    let cases = out.join("jose-cases.json");
    let result = if !ready {
        Err("Node.js or the jose package is missing".to_owned())
    } else if !cases.exists() {
        Err("the validation bench wrote no cases".to_owned())
    } else {
        eprintln!("\n==> node jose-bench.mjs (jose on the same tokens)");
        match Command::new("node")
            .arg("jose-bench.mjs")
            .arg(&cases)
            .current_dir(root.join("xtask/bench"))
            .output()
        {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                if text.starts_with('{') {
                    Ok(text)
                } else {
                    Err(format!("unexpected output: {text}"))
                }
            }
            Ok(o) => Err(format!(
                "node exited with {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("could not start node: {e}")),
        }
    };
    let json = match result {
        Ok(text) => {
            eprintln!("{text}");
            text
        }
        Err(e) => {
            eprintln!("xtask bench: jose not measured: {e}");
            format!("{{\"error\": \"{}\"}}", json_escape(&e))
        }
    };
    std::fs::write(out.join("jose.json"), json).context("cannot write jose.json")
}

/// `text` as the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            c if u32::from(c) < 0x20 => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}
