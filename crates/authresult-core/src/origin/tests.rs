//! Tests of `Origin`: URLs compared as parsed, and what a stored session's
//! tokens say against an origin.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn jwt_with(payload: Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.sig", part(&json!({"alg": "none"})), part(&payload))
}

#[test]
fn urls_compare_as_parsed_without_a_trailing_slash() {
    assert_eq!(
        Origin::sync_server(&url("HTTPS://Sync.Example.org:443/")),
        Origin::sync_server(&url("https://sync.example.org"))
    );
    assert_eq!(
        Origin::oidc(&url("https://idp.example.org/realms/field/"), "app"),
        Origin::oidc(&url("https://idp.example.org/realms/field"), "app")
    );
    assert_ne!(
        Origin::oidc(&url("https://idp.example.org/realms/field"), "app"),
        Origin::oidc(&url("https://idp.example.org/realms/field"), "other-app")
    );
    assert_ne!(
        Origin::sync_server(&url("https://sync.example.org")),
        Origin::sync_server(&url("https://sync.example.org.attacker.test"))
    );
}

#[test]
fn serializes_tagged_and_reads_back() {
    let origin = Origin::oidc(&url("https://idp.example.org/realms/field"), "app");
    let value = serde_json::to_value(&origin).unwrap();
    assert_eq!(
        value,
        json!({"kind": "oidc", "issuer": "https://idp.example.org/realms/field", "client_id": "app"})
    );
    assert_eq!(serde_json::from_value::<Origin>(value).unwrap(), origin);
}

fn admits(origin: &Origin, tokens: &[&str]) -> bool {
    origin.admits_tokens(tokens.iter().copied())
}

#[test]
fn a_token_of_another_issuer_contradicts_an_oidc_origin() {
    let origin = Origin::oidc(&url("https://idp.example.org/realms/field"), "app");
    let own = jwt_with(json!({"iss": "https://idp.example.org/realms/field/"}));
    assert!(admits(&origin, &[&own]));
    let other = jwt_with(json!({"iss": "https://attacker.test"}));
    assert!(!admits(&origin, &[&other, &own]));
    let not_text = jwt_with(json!({"iss": 7}));
    assert!(
        !admits(&origin, &[&not_text]),
        "an issuer that is not text is not this one"
    );
}

#[test]
fn opaque_tokens_and_sync_server_origins_are_not_contradicted() {
    assert!(admits(
        &Origin::oidc(&url("https://idp.example.org"), "app"),
        &["opaque"]
    ));
    let jwt = jwt_with(json!({"iss": "elsewhere"}));
    assert!(admits(
        &Origin::sync_server(&url("https://sync.example.org")),
        &[&jwt]
    ));
}

#[test]
fn the_rule_lets_only_the_same_origin_use_what_records_one() {
    let a = Origin::sync_server(&url("https://sync.example.org"));
    let b = Origin::sync_server(&url("https://attacker.test"));
    assert!(allows(Some(&a), Some(&a), ["t"]));
    assert!(!allows(Some(&a), Some(&b), ["t"]));
    assert!(
        !allows(Some(&a), None, ["t"]),
        "an origin-less provider cannot show it is `a`"
    );
    assert!(allows(None, None, ["t"]));
    assert!(
        allows(None, Some(&b), ["t"]),
        "a row stored before origins is taken over"
    );
    let kc = Origin::oidc(&url("https://idp.example.org"), "app");
    let other_issuer = jwt_with(json!({"iss": "https://elsewhere.test"}));
    assert!(!allows(None, Some(&kc), [other_issuer.as_str()]));
}

/// A session stored before origins were recorded, its tokens issued by the
/// real issuer to client `app`: an artifact naming the same issuer with its
/// own client id cannot take it over (its refresh would be refused by the
/// issuer for good, ending the real session, and its token answered to the
/// artifact's app).
#[test]
fn a_token_authorized_to_another_client_contradicts_an_oidc_origin() {
    let issuer = url("https://idp.example.org/realms/field");
    let token = jwt_with(json!({"iss": "https://idp.example.org/realms/field", "azp": "app"}));
    assert!(Origin::oidc(&issuer, "app").admits_tokens([token.as_str()]));
    assert!(!Origin::oidc(&issuer, "evil-client").admits_tokens([token.as_str()]));
    let not_a_string = jwt_with(json!({"iss": "https://idp.example.org/realms/field", "azp": 7}));
    assert!(!Origin::oidc(&issuer, "app").admits_tokens([not_a_string.as_str()]));
    // No `azp`: nothing said about the client.
    let bare = jwt_with(json!({"iss": "https://idp.example.org/realms/field"}));
    assert!(Origin::oidc(&issuer, "evil-client").admits_tokens([bare.as_str()]));
}
