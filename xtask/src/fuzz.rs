//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (libFuzzer,
//! nightly toolchain), installing `cargo-fuzz` from crates.io when missing.
//!
//! Each run reads the committed seeds (`fuzz/corpus/<target>/`) and grows a
//! working corpus in `fuzz/target/corpus/<target>/` (ignored by git), so the
//! committed corpus stays small. Crashes land in `fuzz/artifacts/<target>/`.
//! The targets are the `[[bin]]`s of `fuzz/Cargo.toml`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::root;

/// Seconds per target when `--time` is not given.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target in `cargo xtask ci`.
const CI_SECONDS: u64 = 20;

const USAGE: &str =
    "usage: cargo xtask fuzz (<target> | --all | --list) [--time SECONDS] [-- libFuzzer flags]";

/// One target's run.
struct Outcome {
    target: String,
    seconds: u64,
    executions: Option<u64>,
    crashed: bool,
}

pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let (flags, extra) = match args.iter().position(|a| a == "--") {
        Some(at) => (&args[..at], &args[at + 1..]),
        None => (args, &[][..]),
    };
    let mut seconds = DEFAULT_SECONDS;
    let mut chosen = Vec::new();
    let mut all = false;
    let mut it = flags.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--all" => all = true,
            "--list" => {
                targets()?.iter().for_each(|t| println!("{t}"));
                return Ok(());
            }
            "--time" => {
                let value = it.next().context(USAGE)?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--time wants whole seconds, not `{value}`"))?;
            }
            other if other.starts_with('-') => bail!("unknown flag `{other}`\n{USAGE}"),
            target => chosen.push(target.to_owned()),
        }
    }
    let known = targets()?;
    if all {
        chosen = known.clone();
    }
    if chosen.is_empty() {
        bail!("{USAGE}\ntargets: {}", known.join(", "));
    }
    if let Some(unknown) = chosen.iter().find(|t| !known.contains(t)) {
        bail!("no fuzz target `{unknown}`; targets: {}", known.join(", "));
    }
    if let Some(reason) = missing_nightly() {
        bail!("{reason}");
    }
    run_targets(&chosen, seconds, extra)
}

/// The `cargo xtask ci` step: every target for [`CI_SECONDS`], skipped
/// (with the reason printed) only when there is no nightly toolchain.
pub(crate) fn ci() -> Result<()> {
    eprintln!("\n==> fuzz targets, {CI_SECONDS} s each");
    if let Some(reason) = missing_nightly() {
        eprintln!("skipped: {reason}");
        return Ok(());
    }
    run_targets(&targets()?, CI_SECONDS, &[])
}

fn run_targets(targets: &[String], seconds: u64, extra: &[String]) -> Result<()> {
    ensure_cargo_fuzz()?;
    // Built first, so a build failure is not taken for a crash.
    let mut build = nightly_fuzz("build");
    if let [one] = targets {
        build.arg(one);
    }
    crate::run("cargo +nightly fuzz build", &mut build)?;
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(run_one(target, seconds, extra)?);
    }
    eprintln!("\nfuzz summary (target, seconds, executions, result):");
    for o in &outcomes {
        let executions = o.executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = if o.crashed {
            format!("CRASH (see fuzz/artifacts/{}/)", o.target)
        } else {
            "no crash".to_owned()
        };
        eprintln!("  {:<20} {:>6} {:>12}  {result}", o.target, o.seconds, executions);
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!("fuzz targets crashed: {}", crashed.join(", "));
    }
    Ok(())
}

fn run_one(target: &str, seconds: u64, extra: &[String]) -> Result<Outcome> {
    let root = root();
    let work = Path::new("fuzz/target/corpus").join(target);
    let seeds = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(root.join(&work)).with_context(|| format!("cannot create {}", work.display()))?;
    eprintln!("\n==> cargo +nightly fuzz run {target} ({seconds} s)");
    let mut child = nightly_fuzz("run")
        .arg(target)
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-print_final_stats=1", "-rss_limit_mb=2048", "-max_len=65536"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .context("could not start cargo +nightly fuzz")?;
    let mut executions = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            eprintln!("{line}");
            if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
                executions = n.trim().parse().ok();
            }
        }
    }
    let status = child.wait()?;
    Ok(Outcome {
        target: target.to_owned(),
        seconds,
        executions,
        crashed: !status.success(),
    })
}

/// `cargo +nightly fuzz <command> -O` at the root (release, AddressSanitizer,
/// no debug assertions: `build` and `run` share one build), building in
/// `fuzz/target` whatever `CARGO_TARGET_DIR` says (sanitizer builds share
/// nothing with the workspace's).
fn nightly_fuzz(command: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "fuzz", command, "-O"])
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(root());
    cmd
}

/// The fuzz targets: the `[[bin]]` names of `fuzz/Cargo.toml`.
pub(crate) fn targets() -> Result<Vec<String>> {
    let path = root().join("fuzz/Cargo.toml");
    let manifest =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|bin| {
            bin.lines()
                .find_map(|l| l.trim().strip_prefix("name = \""))
                .and_then(|rest| rest.strip_suffix('"'))
                .map(str::to_owned)
        })
        .collect())
}

/// Why the targets cannot run here, or `None` when rustup lists a nightly
/// toolchain. (libFuzzer's instrumentation needs nightly `-Z` flags; the
/// stable toolchain cannot build the targets.)
fn missing_nightly() -> Option<String> {
    match Command::new("rustup").args(["toolchain", "list"]).output() {
        Ok(out) if out.status.success() => {
            let list = String::from_utf8_lossy(&out.stdout);
            if list.lines().any(|l| l.starts_with("nightly")) {
                None
            } else {
                Some(
                    "no nightly toolchain (`rustup toolchain install nightly` enables the fuzz targets)"
                        .into(),
                )
            }
        }
        _ => Some("rustup is not available, so no nightly toolchain for the fuzz targets".into()),
    }
}

/// Installs `cargo-fuzz` from crates.io (`--locked`) when `cargo fuzz` is missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    crate::run(
        "cargo install cargo-fuzz --locked",
        Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
    )
}
