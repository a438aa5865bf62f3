//! Unit tests of `AppAuth`'s scheme table and `AppId::from_json_body` on
//! the bodies a client (or an attacker) may send.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use super::*;

#[test]
fn config_id_is_read_from_a_json_object_body_only() {
    let read = |body: &str| AppId::from_json_body(body.as_bytes(), "configId").map(|id| id.0);
    assert_eq!(
        read(r#"{"events": [], "configId": "field"}"#).as_deref(),
        Some("field")
    );
    for none in [
        r#"{"events": []}"#,
        r#"{"configId": ""}"#,
        r#"{"configId": 7}"#,
        r#"{"configId": null}"#,
        r#"[{"configId": "field"}]"#,
        r#"{"nested": {"configId": "field"}}"#,
        "configId=field",
        "",
        "{\"configId\": \"field\"",
    ] {
        assert_eq!(read(none), None, "{none}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(read(&deep), None);
}

#[test]
fn a_scheme_named_again_in_another_case_replaces_its_chain() {
    let app = AppAuth::new()
        .scheme("Bearer", [])
        .scheme("keycloak", [])
        .scheme("BEARER", []);
    assert_eq!(app.schemes().collect::<Vec<_>>(), ["Bearer", "keycloak"]);
    assert_eq!(app.find_scheme("KeyCloak"), Some("keycloak"));
    assert_eq!(app.find_scheme("auth0"), None);
}
