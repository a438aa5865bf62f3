//! Unit tests of the ID token helpers.

use super::*;

#[test]
fn profile_drops_protocol_claims_and_keeps_json_text() {
    let claims: Map<String, Value> = serde_json::from_str(
        r#"{"iss":"x","aud":"a","exp":1,"iat":1,"nonce":"n","sub":"alice","email_verified":true,
            "realm_access":{"roles":["r"]}}"#,
    )
    .unwrap_or_default();
    let profile = profile_of(&claims);
    assert_eq!(profile.get("sub").map(String::as_str), Some("alice"));
    assert_eq!(profile.get("email_verified").map(String::as_str), Some("true"));
    assert_eq!(
        profile.get("realm_access").map(String::as_str),
        Some(r#"{"roles":["r"]}"#)
    );
    assert!(!profile.contains_key("nonce") && !profile.contains_key("iss"));
}

#[test]
fn azp_rules() {
    let claims = |json: &str| serde_json::from_str::<Map<String, Value>>(json).unwrap_or_default();
    assert!(check_azp(&claims(r#"{"aud":"app"}"#), "app").is_ok());
    assert!(check_azp(&claims(r#"{"aud":["app","api"],"azp":"app"}"#), "app").is_ok());
    assert!(check_azp(&claims(r#"{"aud":["app","api"]}"#), "app").is_err());
    assert!(check_azp(&claims(r#"{"aud":"app","azp":"other"}"#), "app").is_err());
}

#[test]
fn payload_decoding_and_audiences() {
    let raw = "eyJhbGciOiJub25lIn0.eyJhdWQiOlsiYiIsImEiXSwic3ViIjoieCJ9.";
    let claims = authresult_core::peek_claims(raw).unwrap_or_default();
    assert_eq!(audiences(&claims), vec!["a".to_owned(), "b".to_owned()]);
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

/// An `aud` list with an entry that is not a string is malformed: the
/// validator of the sync server refuses it, so the login must too (the
/// entry must not slip past the untrusted-audience rule either).
#[test]
fn an_audience_list_with_a_non_string_entry_is_refused() {
    let config = authresult_core::ProviderConfig::from_json_str(
        r#"{"type":"oidc","fields":{"issuer":"https://id.example.org/tenant","client_id":"app"}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let profile = config.profile();
    let options = OidcOptions::default();
    let now = options.clock.now().as_secs();
    for aud in [
        r#"["app", 42]"#,
        r#"["app", {"evil": "api"}]"#,
        r#"["app", null]"#,
    ] {
        let claims: Map<String, Value> = serde_json::from_str(&format!(
            r#"{{"iss":"https://id.example.org/tenant","sub":"alice","aud":{aud},"azp":"app",
                "exp":{},"iat":{now}}}"#,
            now + 300
        ))
        .unwrap_or_default();
        assert!(
            check_claims(&claims, &profile, "app", &options, &NonceCheck::IfPresent(None)).is_err(),
            "aud {aud} accepted"
        );
    }
    // The same token with string audiences only is accepted (the test's
    // claims are otherwise valid).
    let claims: Map<String, Value> = serde_json::from_str(&format!(
        r#"{{"iss":"https://id.example.org/tenant","sub":"alice","aud":["app"],"azp":"app",
            "exp":{},"iat":{now}}}"#,
        now + 300
    ))
    .unwrap_or_default();
    assert!(check_claims(&claims, &profile, "app", &options, &NonceCheck::IfPresent(None)).is_ok());
}
