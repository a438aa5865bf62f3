//! The tidy check: every Rust file opens with a `//!` doc line, and no test is ignored.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Folders whose Rust files are checked.
const CHECKED: &[&str] = &["crates", "examples", "xtask", "fuzz", "benches"];

pub(crate) fn check(root: &Path) -> Result<()> {
    let mut files = Vec::new();
    for dir in CHECKED {
        collect(&root.join(dir), &mut files)?;
    }
    // Spelled in two parts so this file does not trip its own check.
    let ignore_attr = ["#[", "ignore"].concat();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let shown = file.strip_prefix(root).unwrap_or(file).display();
        if !text.starts_with("//!") {
            problems.push(format!("{shown}: does not open with a `//!` doc line"));
        }
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with(&ignore_attr) {
                problems.push(format!(
                    "{shown}:{}: ignored test (tests that need a service run under `cargo xtask ci`)",
                    n + 1
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("tidy: {} Rust files checked", files.len());
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && name != "node_modules" && !name.starts_with('.') {
                collect(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}
