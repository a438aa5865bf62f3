//! The report's reading of libtest's output and its tables: a failing or
//! missing test shows as such and fails the run.

use super::*;

const RUN: &str = "\
running 3 tests
test conformance::basic::oidcc_client_test_invalid_iss ... ok
test conformance::basic::oidcc_client_test_missing_sub ... FAILED
test conformance::config::oidcc_client_test_signing_key_rotation ... ignored, needs a provider
test result: FAILED. 1 passed; 1 failed; 1 ignored
";

#[test]
fn libtest_lines_are_read_per_test() {
    let outcomes = parse_libtest(RUN);
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes["conformance::basic::oidcc_client_test_invalid_iss"] == Outcome::Passed);
    assert!(outcomes["conformance::basic::oidcc_client_test_missing_sub"] == Outcome::Failed);
    assert!(outcomes["conformance::config::oidcc_client_test_signing_key_rotation"] == Outcome::Ignored);
}

#[test]
fn ids_name_their_test_functions() {
    assert_eq!(
        function_of("oidcc-client-test-invalid-iss"),
        "oidcc_client_test_invalid_iss"
    );
    assert_eq!(
        function_of("rfc7520-4.1-rsa-v1_5-rs256"),
        "rfc7520_4_1_rsa_v1_5_rs256"
    );
    let outcomes = parse_libtest(RUN);
    assert!(find(&outcomes, "oidcc-client-test-invalid-iss").is_some());
    // A suffix of another name is not a match.
    assert!(find(&outcomes, "client-test-invalid-iss").is_none());
}

#[test]
fn failing_missing_and_ignored_tests_show_and_fail() {
    let (doc, problems) = render(&parse_libtest(RUN));
    assert!(doc.contains(
        "| `oidcc-client-test-invalid-iss` | an ID token naming another issuer is refused | pass |"
    ));
    assert!(
        doc.contains("| `oidcc-client-test-missing-sub` | an ID token without `sub` is refused | **FAIL** |")
    );
    assert!(doc.contains("**ignored**"));
    assert!(doc.contains("**missing**"));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("oidcc-client-test-missing-sub"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("oidcc-client-test-signing-key-rotation "))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rfc7520-4.1-rsa-v1_5-rs256"))
    );
}

#[test]
fn every_plan_names_each_test_once() {
    for plan in PLANS {
        let mut ids: Vec<&str> = plan.rows.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "{}: a test listed twice", plan.title);
    }
}
