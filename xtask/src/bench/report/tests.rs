//! Tests of the report: what one run left becomes the same document as before
//! the generator moved into xtask.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::PathBuf;

use super::{Inputs, Report};

/// A results folder holding the criterion settings, one criterion median and
/// one bench file, as a (very partial) run leaves them.
fn partial_run() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-report-test-{}", std::process::id()));
    let estimates = dir.join("validation/rs256_raw/new");
    std::fs::create_dir_all(&estimates).unwrap();
    std::fs::write(
        dir.join("criterion.json"),
        r#"{"warm_up_secs":1.0,"measurement_secs":2.0,"samples":30}"#,
    )
    .unwrap();
    std::fs::write(
        estimates.join("estimates.json"),
        r#"{"median":{"point_estimate":51234.5}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("instructions.json"),
        r#"{"measured":true,"valgrind":"valgrind-3.20.0","calls":64,
            "algs":{"RS256":{"raw":100000,"parse":2000,"first_seen":110000,"repeated":1500}},
            "route":{"alg":"RS256","open":20000,"protected":25000}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("validation.json"),
        r#"{"paired":{"RS256":{"own_ns":1234}}}"#,
    )
    .unwrap();
    dir
}

#[test]
fn a_partial_run_renders_its_medians_settings_and_every_section() {
    let dir = partial_run();
    let report = Report::load(Inputs {
        root: PathBuf::from("."),
        out: dir.clone(),
        criterion_home: dir.clone(),
        build_secs: Some(5),
        started_unix: Some(0),
        load_start: "0.5 0.4 0.3".into(),
    });
    let text = report.render();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.starts_with("# Benchmarks\n"), "{text}");
    assert!(
        text.contains(
            "Rust medians are criterion's (1 s warm-up, 2 s of measurement, 30 samples per benchmark)"
        ),
        "{text}"
    );
    // The criterion median is read from its estimates file.
    assert!(text.contains("51.2 µs"), "{text}");
    for heading in [
        "## Machine",
        "## Targets",
        "## Local validation of access tokens",
        "## Against the alternatives",
        "## Session manager",
        "## Session stores",
        "## Memory",
        "## How to read this",
    ] {
        assert!(text.contains(heading), "{heading} missing in {text}");
    }
    assert!(text.contains("| This run |"), "{text}");
    // The layer's own cost: the protected request minus the open one,
    // beside the cached validation.
    assert!(
        text.contains(
            "**20,000** instructions without authentication, **25,000** behind `BearerAuthLayer`, \
             so the layer adds **5,000** per request (20% of the protected request), of which a \
             cached validation alone is 1,500."
        ),
        "{text}"
    );
    assert!(text.contains("not measured"), "{text}");
}
