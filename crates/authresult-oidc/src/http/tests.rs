//! Unit tests of the HTTP helpers: JSON errors without values.

use super::*;

#[test]
fn json_errors_never_quote_values() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Answer {
        token: String,
        count: u32,
    }
    let error = parse_json::<Answer>(Endpoint::Token, br#"{"token":"SECRET","count":"SECRET"}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!error.contains("SECRET"), "{error}");
    assert!(error.contains("wrong type"), "{error}");
    let missing = parse_json::<Answer>(Endpoint::Token, br#"{"count":1}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("`token`"), "{missing}");
    let truncated = parse_json::<Answer>(Endpoint::Token, br#"{"token":"SEC"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(truncated.contains("truncated"), "{truncated}");
}
