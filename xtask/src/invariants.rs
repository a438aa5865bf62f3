//! The Architecture Invariants of ARCHITECTURE.md, checked on the real
//! dependency graph (`cargo tree`, normal dependencies, all features; the
//! test-double rule with default features, as a production build has them).

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Crates the pure core must never depend on, directly or not.
const CORE_FORBIDDEN: &[&str] = &[
    "reqwest",
    "hyper",
    "openidconnect",
    "oauth2",
    "tokio",
    "mio",
    "async-std",
    "rusqlite",
    "libsqlite3-sys",
    "sqlx",
    "tokio-postgres",
    "postgres",
    "ring",
    "rustls",
];

/// Crates the validation-only crate must never depend on: the login client,
/// its time library, the RustCrypto signature stack and SQLite.
const JWT_FORBIDDEN: &[&str] = &[
    "authresult-oidc",
    "authresult-store",
    "openidconnect",
    "oauth2",
    "chrono",
    "rsa",
    "p256",
    "p384",
    "p521",
    "ed25519-dalek",
    "ecdsa",
    "elliptic-curve",
    "k256",
    "curve25519-dalek",
    "rusqlite",
    "libsqlite3-sys",
];

/// The layers above the core, each depending only on those before it:
/// `authresult-core` <- `authresult-http` <- `authresult-jwt` <-
/// `authresult-oidc`; `authresult-store` depends on the core alone.
const LAYERS: &[(&str, &[&str], &[&str])] = &[
    (
        "authresult-http",
        &["authresult-core"],
        &[
            "authresult-jwt",
            "authresult-oidc",
            "authresult-store",
            "openidconnect",
        ],
    ),
    (
        "authresult-jwt",
        &["authresult-core", "authresult-http"],
        &["authresult-oidc", "authresult-store"],
    ),
    (
        "authresult-oidc",
        &["authresult-core", "authresult-http", "authresult-jwt"],
        &["authresult-store"],
    ),
    (
        "authresult-store",
        &["authresult-core"],
        &["authresult-http", "authresult-jwt", "authresult-oidc"],
    ),
];

/// Features of `authresult-core` that hold test doubles: no adapter's
/// production build may turn them on.
const CORE_TEST_FEATURES: &[&str] = &["testing", "mocks"];

/// The features of `authresult-core` that `package`'s normal dependencies
/// turn on with its default features.
fn core_features(package: &str) -> Result<BTreeSet<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate::root())
        .args(["tree", "-p", package, "-e", "normal,features", "--prefix", "none"])
        .output()
        .context("could not run cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package} -e normal,features failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("authresult-core feature \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect())
}

fn dependencies(package: &str) -> Result<BTreeSet<String>> {
    dependencies_with(package, &["--all-features"])
}

/// `package`'s normal dependencies (names) built with `features` (cargo flags).
fn dependencies_with(package: &str, features: &[&str]) -> Result<BTreeSet<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate::root())
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none"])
        .args(features)
        .args(["--format", "{p}"])
        .output()
        .context("could not run cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_owned)
        .collect())
}

pub(crate) fn check() -> Result<()> {
    let mut problems = Vec::new();
    let core = dependencies("authresult-core")?;
    for name in CORE_FORBIDDEN {
        if core.contains(*name) {
            problems.push(format!(
                "authresult-core depends on `{name}` (no network, disk or runtime in the core)"
            ));
        }
    }
    let jwt = dependencies("authresult-jwt")?;
    if !jwt.contains("authresult-core") {
        problems.push("authresult-jwt no longer depends on authresult-core".to_owned());
    }
    for name in JWT_FORBIDDEN {
        if jwt.contains(*name) {
            problems.push(format!(
                "authresult-jwt depends on `{name}` (a validation-only server must not build the login client)"
            ));
        }
    }
    for (package, required, forbidden) in LAYERS {
        let deps = dependencies(package)?;
        for name in *required {
            if !deps.contains(*name) {
                problems.push(format!("{package} no longer depends on {name}"));
            }
        }
        for name in *forbidden {
            if deps.contains(*name) {
                problems.push(format!(
                    "{package} depends on {name} (core <- http <- jwt <- oidc; the store on the core alone)"
                ));
            }
        }
    }
    // `crypto.rs` is the one place naming the backend: with `aws-lc-rs`
    // alone, nothing (TLS included) brings `ring`.
    let aws = dependencies_with(
        "authresult-jwt",
        &["--no-default-features", "--features", "aws-lc-rs,tower"],
    )?;
    if aws.contains("ring") {
        problems.push(
            "authresult-jwt with `--no-default-features --features aws-lc-rs` still depends on `ring`"
                .to_owned(),
        );
    }
    for package in [
        "authresult-store",
        "authresult-oidc",
        "authresult-jwt",
        "authresult-http",
    ] {
        let features = core_features(package)?;
        for feature in CORE_TEST_FEATURES {
            if features.contains(*feature) {
                problems.push(format!(
                    "{package} turns on authresult-core's `{feature}` in a production build \
                     (test doubles only with the package's own `testing` feature or in dev-dependencies)"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("architecture invariants broken:\n  {}", problems.join("\n  "));
    }
    eprintln!(
        "invariants: core has {} dependencies, none of them network, disk or runtime",
        core.len()
    );
    Ok(())
}
