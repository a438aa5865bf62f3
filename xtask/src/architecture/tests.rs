//! Tests of the ARCHITECTURE.md checks on small texts.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use super::*;

const DOC: &str = "\
# Architecture

### `crates/authresult-core`

Pure types. Dependencies (checked by `cargo xtask ci`): `serde`,
`thiserror` (errors, not `anyhow`), `url`. Never `tokio`.

- `lib.rs`: the root; names `tokio` but is no list.

### `crates/authresult-jwt`

Dependencies (checked by `cargo xtask ci`): `authresult-core`, `ring`.

## Invariants
";

#[test]
fn each_section_list_runs_to_the_end_of_its_paragraph() {
    let lists = documented_dependencies(DOC).unwrap();
    let core: Vec<_> = lists["authresult-core"].iter().map(String::as_str).collect();
    assert_eq!(core, ["serde", "thiserror", "url"]);
    let jwt: Vec<_> = lists["authresult-jwt"].iter().map(String::as_str).collect();
    assert_eq!(jwt, ["authresult-core", "ring"]);
}

#[test]
fn two_lists_in_one_section_are_refused() {
    let doc = "### `crates/a`\n\nDependencies (checked by `cargo xtask ci`): `x`.\n\n\
               Dependencies (checked by `cargo xtask ci`): `y`.\n";
    assert!(documented_dependencies(doc).is_err());
}

#[test]
fn a_list_outside_a_crate_section_is_refused() {
    let doc = "## Overview\n\nDependencies (checked by `cargo xtask ci`): `x`.\n";
    assert!(documented_dependencies(doc).is_err());
}

#[test]
fn only_paths_of_the_backend_count_as_naming_it() {
    assert!(names_path("use ring::signature;", "ring"));
    assert!(names_path("    ring::rand::SystemRandom::new()", "ring"));
    assert!(names_path("use aws_lc_rs as backend;", "aws_lc_rs"));
    assert!(names_path("use {ring, other};", "ring"));
    assert!(!names_path("let s = String::new();", "ring"));
    assert!(!names_path("x.spring::y", "ring"));
    assert!(!names_path("let ring = 3;", "ring"));
}

#[test]
fn the_repository_architecture_doc_is_true() {
    check(&crate::root()).unwrap();
}
