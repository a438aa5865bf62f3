//! Keeps ARCHITECTURE.md true: its per-crate dependency lists are held
//! against the manifests (`cargo metadata`), and its claims that a grep can
//! check ("crypto.rs is the one place naming the backend", "everything takes
//! a Clock") are checked on the sources.
//!
//! The lists are lines of the form
//! ``Dependencies (checked by `cargo xtask ci`): `a`, `b`, ...`` in the
//! crate's section (a `### `crates/NAME`` heading); the list runs to the end
//! of its paragraph. It names the crate's normal dependencies, optional ones
//! included, dev and build dependencies not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// The marker that starts a checked dependency list.
const LIST_MARKER: &str = "Dependencies (checked by `cargo xtask ci`):";

/// What a line may carry to read the system clock on purpose (not as time
/// of day for a rule): the reason follows the marker.
const CLOCK_EXEMPTION: &str = "// not a clock reading:";

/// The files that name a crypto backend: the JOSE code's (`authresult-jwt`)
/// and the TLS provider's (`authresult-http`), one per crate.
const CRYPTO_HOMES: &[&str] = &[
    "crates/authresult-jwt/src/crypto.rs",
    "crates/authresult-http/src/client.rs",
];

pub(crate) fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let text =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("could not read ARCHITECTURE.md")?;
    let documented = documented_dependencies(&text)?;
    let manifests = manifest_dependencies(root)?;
    for (package, deps) in &manifests {
        if !package.starts_with("authresult-") || package == "authresult-bench" {
            continue;
        }
        let Some(listed) = documented.get(package) else {
            problems.push(format!(
                "ARCHITECTURE.md has no `{LIST_MARKER}` line in the section of {package}"
            ));
            continue;
        };
        for missing in deps.difference(listed) {
            problems.push(format!(
                "{package} depends on `{missing}`, which ARCHITECTURE.md does not list"
            ));
        }
        for extra in listed.difference(deps) {
            problems.push(format!(
                "ARCHITECTURE.md lists `{extra}` for {package}, which its manifest does not name"
            ));
        }
    }
    for package in documented.keys() {
        if !manifests.contains_key(package) {
            problems.push(format!(
                "ARCHITECTURE.md lists dependencies of {package}, which is no workspace package"
            ));
        }
    }
    problems.extend(crypto_backend_named_once(root)?);
    problems.extend(clock_read_only_by_clock(root)?);
    if !problems.is_empty() {
        bail!("ARCHITECTURE.md is not true:\n  {}", problems.join("\n  "));
    }
    eprintln!(
        "architecture: the dependency lists of {} crates match their manifests",
        documented.len()
    );
    Ok(())
}

/// Each crate section's checked list: package name -> dependency names.
fn documented_dependencies(text: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut lists = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            finish(&mut lists, &section, &mut current)?;
            section = heading
                .split('`')
                .nth(1)
                .and_then(|path| path.strip_prefix("crates/"))
                .map(str::to_owned);
            continue;
        }
        if let Some((_, rest)) = line.split_once(LIST_MARKER) {
            finish(&mut lists, &section, &mut current)?;
            current = Some(rest.to_owned());
            continue;
        }
        if let Some(list) = current.as_mut() {
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("- ") {
                finish(&mut lists, &section, &mut current)?;
            } else {
                list.push(' ');
                list.push_str(line);
            }
        }
    }
    finish(&mut lists, &section, &mut current)?;
    Ok(lists)
}

fn finish(
    lists: &mut BTreeMap<String, BTreeSet<String>>,
    section: &Option<String>,
    current: &mut Option<String>,
) -> Result<()> {
    let Some(list) = current.take() else {
        return Ok(());
    };
    let Some(package) = section else {
        bail!("ARCHITECTURE.md has a `{LIST_MARKER}` line outside a crate section");
    };
    if lists.insert(package.clone(), listed_names(&list)).is_some() {
        bail!("ARCHITECTURE.md has two dependency lists for {package}");
    }
    Ok(())
}

/// The `quoted` names of a list, which ends with its sentence; remarks in
/// parentheses are not names.
fn listed_names(list: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut depth = 0_usize;
    let mut quoted: Option<String> = None;
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted.as_mut()) {
            ('`', Some(_)) => {
                if let Some(name) = quoted.take().filter(|n| depth == 0 && !n.is_empty()) {
                    names.insert(name);
                }
            }
            (c, Some(name)) => name.push(c),
            ('`', None) => quoted = Some(String::new()),
            ('(', None) => depth += 1,
            (')', None) => depth = depth.saturating_sub(1),
            ('.', None) if depth == 0 && chars.peek().is_none_or(|n| n.is_whitespace()) => break,
            _ => {}
        }
    }
    names
}

/// Workspace package -> its normal dependencies (by package name), from
/// `cargo metadata`.
fn manifest_dependencies(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("could not run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        let deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| dep["kind"].is_null())
            .filter_map(|dep| dep["name"].as_str())
            .map(str::to_owned)
            .collect();
        packages.insert(name.to_owned(), deps);
    }
    Ok(packages)
}

/// The production sources of the published crates: `src/` without unit
/// tests (`tests.rs`) and without the `testing` doubles.
fn production_sources(root: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let crates = root.join("crates");
    for entry in std::fs::read_dir(&crates).context("could not list crates/")? {
        let dir = entry?.path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "authresult-test-support" {
            continue;
        }
        collect(&dir.join("src"), root, &mut files)?;
    }
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if name != "testing" {
                collect(&path, root, files)?;
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && name != "testing.rs" {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            files.push((relative, text));
        }
    }
    Ok(())
}

/// "crypto.rs is the one place naming the backend": no production file of
/// the workspace's crates but [`CRYPTO_HOMES`] names `ring` or `aws_lc_rs`
/// in a path.
fn crypto_backend_named_once(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (path, text) in production_sources(root)? {
        if CRYPTO_HOMES.contains(&path.as_str()) {
            continue;
        }
        for (number, line) in code_lines(&text) {
            if names_path(line, "ring") || names_path(line, "aws_lc_rs") {
                problems.push(format!(
                    "{path}:{number} names the crypto backend (only {} may)",
                    CRYPTO_HOMES.join(" and ")
                ));
            }
        }
    }
    Ok(problems)
}

/// "Everything takes a Clock": no production file reads the system clock,
/// but the `SystemClock` itself (core's `time.rs`) and lines that say why
/// they are no clock reading (on the line or the one above).
fn clock_read_only_by_clock(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (path, text) in production_sources(root)? {
        if path == "crates/authresult-core/src/time.rs" {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (number, line) in code_lines(&text) {
            let reads = line.contains("Instant::now(") || line.contains("SystemTime::now(");
            let said = |n: usize| lines.get(n).is_some_and(|l| l.contains(CLOCK_EXEMPTION));
            if reads && !said(number - 1) && !said(number.saturating_sub(2)) {
                problems.push(format!(
                    "{path}:{number} reads the system clock instead of the injected Clock \
                     (or says `{CLOCK_EXEMPTION} <why>`)"
                ));
            }
        }
    }
    Ok(problems)
}

/// Numbered lines that are code: doc and line comments dropped, the rest
/// of a line after `//` kept (the exemption lives there).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// Whether `line` names the crate `name` as a path (`name::...`, or in a
/// `use`), not as part of another word (`String::`) or a variable.
fn names_path(line: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(name).any(|(at, _)| {
        let before = line.get(..at).and_then(|s| s.chars().next_back());
        let after = line.get(at + name.len()..).unwrap_or_default();
        let whole_word = !before.is_some_and(is_word) && !after.starts_with(is_word);
        whole_word && (after.starts_with("::") || line.trim_start().starts_with("use "))
    })
}

#[cfg(test)]
mod tests;
