//! Project automation: `cargo xtask ci | idp | demo | bench | conformance | fuzz`.
//!
//! `cargo xtask ci` is exactly what CI runs (`.ci/run` calls it) and what the
//! README gives as the test command.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};

mod apt;
mod architecture;
mod bench;
mod conformance;
mod demo;
mod fuzz;
mod invariants;
mod postgres;
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci              everything CI checks: tidy, fmt, clippy, tests (with the local
                  OpenID provider, glewlwyd, Postgres, headless Chromium and
                  network namespaces), docs
  idp [flags]     run the local OpenID provider (oidc-provider from npm) on
                  127.0.0.1; flags go to xtask/idp/server.mjs (see its README)
  demo            the whole system end to end against the local provider
  bench           benchmarks, written to docs/benchmarks.md
  conformance [--check]
                  the OpenID Foundation's relying-party test plans and the JOSE
                  vectors, written to docs/conformance.md (--check: fail if it
                  is stale instead)
  with-postgres <cmd...>
                  run a command with DATABASE_URL pointing at a throwaway
                  PostgreSQL server (or at DATABASE_URL when set)
  fuzz (<target> | --all | --list) [--time SECONDS] [-- libFuzzer flags]
                  run fuzz targets (nightly; installs cargo-fuzz when missing)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("idp") => idp(&args[1..]),
        Some("demo") => demo(),
        Some("bench") => bench(),
        Some("conformance") => conformance::conformance(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("with-postgres") => with_postgres(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's folder).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`, failing with its description when it fails.
fn run(step: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("\n==> {step}");
    let status = cmd.status().with_context(|| format!("could not start: {step}"))?;
    if !status.success() {
        bail!("step failed ({status}): {step}");
    }
    Ok(())
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Installs the local provider's npm packages (pinned by the lock file) when missing.
pub(crate) fn ensure_idp_packages() -> Result<()> {
    let dir = root().join("xtask/idp");
    let node = Command::new("node").arg("--version").output();
    match node {
        Ok(out) if out.status.success() => {}
        _ => bail!("Node.js (node) is required for the local OpenID provider; install Node.js 20 or newer"),
    }
    if !dir.join("node_modules/oidc-provider/package.json").exists() {
        run(
            "npm ci (xtask/idp: oidc-provider, pinned by package-lock.json)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )?;
    }
    Ok(())
}

/// Installs Debian's `glewlwyd` (the second OpenID provider of the oidc
/// tests) when missing; fails loudly when it cannot.
pub(crate) fn ensure_glewlwyd() -> Result<()> {
    use authresult_test_support::Glewlwyd;
    if Glewlwyd::missing().is_none() {
        return Ok(());
    }
    apt::install("glewlwyd", "run `sudo apt-get install glewlwyd`")?;
    if let Some(needed) = Glewlwyd::missing() {
        bail!("glewlwyd was installed but {needed} is still missing");
    }
    Ok(())
}

/// Installs Debian's `chromium` and `chromium-driver` (the real-browser
/// tests) and `iproute2` and `nftables` (the field-network tests) when
/// missing; fails loudly when it cannot.
pub(crate) fn ensure_browser_and_field_network() -> Result<()> {
    use authresult_test_support::{Chromium, FieldLink};
    if Chromium::missing().is_some() {
        for package in ["chromium", "chromium-driver"] {
            apt::install(package, "run `sudo apt-get install chromium chromium-driver`")?;
        }
        if let Some(needed) = Chromium::missing() {
            bail!("chromium was installed but {needed} is still missing");
        }
    }
    while let Some(package) = FieldLink::missing() {
        apt::install(package, "run `sudo apt-get install iproute2 nftables`")?;
        if FieldLink::missing() == Some(package) {
            bail!("{package} was installed but its tool still does not run");
        }
    }
    Ok(())
}

fn ci() -> Result<()> {
    eprintln!("==> tidy (every .rs opens with //!, no ignored tests)");
    tidy::check(&root())?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    eprintln!("\n==> architecture invariants (cargo tree)");
    invariants::check()?;
    eprintln!("\n==> ARCHITECTURE.md against the manifests and sources");
    architecture::check(&root())?;
    // Tests that need the providers start them themselves; installing them
    // first makes a missing Node.js or glewlwyd fail here, loudly, rather
    // than mid-suite.
    ensure_idp_packages()?;
    ensure_glewlwyd()?;
    ensure_browser_and_field_network()?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Postgres tests read DATABASE_URL; the server lives until the tests end.
    let postgres = postgres::Postgres::provide()?;
    run(
        "cargo test",
        cargo()
            .args(["test", "--workspace", "--all-features"])
            .env("AUTHRESULT_REQUIRE_SERVICES", "1")
            .envs(postgres.env()),
    )?;
    drop(postgres);
    // The relying-party plans' table must be the run's: a failing test or a
    // stale docs/conformance.md fails here.
    conformance::conformance(&["--check".to_owned()])?;
    // `--all-features` verifies signatures with aws-lc-rs; the default
    // backend, ring, is tested here.
    run(
        "cargo test -p authresult-jwt (crypto backend: ring)",
        cargo().args(["test", "-p", "authresult-jwt", "--features", "tower"]),
    )?;
    // aws-lc-rs alone, without `ring` (TLS included): the unit tests sign and
    // verify through `crypto.rs`'s shims of that backend.
    run(
        "cargo test -p authresult-jwt --lib (aws-lc-rs only, no ring)",
        cargo().args([
            "test",
            "-p",
            "authresult-jwt",
            "--lib",
            "--no-default-features",
            "--features",
            "aws-lc-rs,tower",
        ]),
    )?;
    fuzz::ci()?;
    run(
        "cargo doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // The demo runs too, so it cannot rot.
    eprintln!("\n==> cargo xtask demo");
    demo::demo()?;
    eprintln!(
        "\nxtask ci: all steps passed{}",
        if in_ci() { " (CI)" } else { "" }
    );
    Ok(())
}

fn idp(flags: &[String]) -> Result<()> {
    ensure_idp_packages()?;
    let dir = root().join("xtask/idp");
    eprintln!(
        "starting the local OpenID provider (Ctrl-C stops it); accounts: alice/alice-password, bob/bob-password"
    );
    let status = Command::new("node")
        .arg("server.mjs")
        .args(flags)
        .current_dir(&dir)
        .status()
        .context("could not start node")?;
    // Ctrl-C reaches node too; its clean exit is success.
    if !status.success() && status.code().is_some() {
        bail!("the provider exited with {status}");
    }
    Ok(())
}

fn demo() -> Result<()> {
    demo::demo()
}

fn bench() -> Result<()> {
    bench::bench()
}

fn with_postgres(args: &[String]) -> Result<()> {
    let Some((program, rest)) = args.split_first() else {
        bail!("usage: cargo xtask with-postgres <command> [args...]");
    };
    let postgres = postgres::Postgres::provide()?;
    let result = run(
        &format!("{program} (with DATABASE_URL)"),
        Command::new(program)
            .args(rest)
            .current_dir(root())
            .envs(postgres.env()),
    );
    drop(postgres);
    result
}
