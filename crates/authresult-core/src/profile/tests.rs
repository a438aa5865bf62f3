//! Tests of the provider profile: one rule per `{type}`.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use serde_json::{Map, Value, json};

use super::*;
use crate::ProviderConfig;

fn profile(config: Value) -> ProviderProfile {
    ProviderConfig::from_json_str(&config.to_string())
        .unwrap()
        .profile()
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn issuers_are_spelt_as_each_type_issues_them() {
    let kc = profile(
        json!({"type": "keycloak", "fields": {"authority": "https://kc.example.org/realms/field/", "client_id": "c"}}),
    );
    assert_eq!(kc.issuer(), Some("https://kc.example.org/realms/field"));
    assert_eq!(kc.issuer_spellings().count(), 1);
    assert_eq!(kc.realm(), Some("field"));
    let by_realm = profile(
        json!({"type": "keycloak", "fields": {"url": "https://kc.example.org/", "realm": "field", "client_id": "c"}}),
    );
    assert_eq!(by_realm.issuer(), kc.issuer());

    let auth0 =
        profile(json!({"type": "auth0", "fields": {"domain": "tenant.eu.auth0.com", "client_id": "c"}}));
    assert_eq!(auth0.issuer(), Some("https://tenant.eu.auth0.com/"));
    assert!(!auth0.accepts_issuer("https://tenant.eu.auth0.com"));

    let root =
        profile(json!({"type": "oidc", "fields": {"issuer": "https://id.example.org", "client_id": "c"}}));
    assert_eq!(root.issuer(), Some("https://id.example.org"));
    assert!(root.accepts_issuer("https://id.example.org/"));
    assert!(!root.accepts_issuer("https://id.example.org/other"));
    let path = profile(
        json!({"type": "oidc", "fields": {"issuer": "https://id.example.org/tenant", "client_id": "c"}}),
    );
    assert!(!path.accepts_issuer("https://id.example.org/tenant/"));
}

#[test]
fn audiences_parties_and_parameters_follow_the_type() {
    let kc = profile(
        json!({"type": "keycloak", "fields": {"authority": "https://kc.example.org/realms/f", "client_id": "c", "resource": "urn:api"}}),
    );
    assert_eq!(kc.audiences(), ["c", "urn:api"]);
    assert_eq!(kc.authorized_parties(), ["c"]);
    let auth0 = profile(
        json!({"type": "auth0", "fields": {"domain": "t.auth0.com", "client_id": "c", "audience": "https://api", "organization": "Acme"}}),
    );
    assert_eq!(auth0.audiences(), ["https://api"]);
    assert!(auth0.authorized_parties().is_empty());
    assert_eq!(auth0.authorization_params()["audience"], "https://api");
    assert_eq!(auth0.authorization_params()["organization"], "Acme");
    assert_eq!(auth0.scheme(), "auth0");
    assert_eq!(ProviderProfile::sync_server().scheme(), "Bearer");
    let sync = profile(json!({"type": "default", "fields": {"url": "https://sync.example.org"}}));
    assert_eq!(sync, ProviderProfile::sync_server());
}

#[test]
fn the_organization_is_an_id_with_org_prefix_else_a_name_in_any_case() {
    let by_id = Organization::from_config("org_abc");
    assert_eq!(by_id.claim(), "org_id");
    assert!(by_id.matches_claims(&claims(json!({"org_id": "org_abc"}))));
    assert!(!by_id.matches_claims(&claims(json!({"org_id": "ORG_ABC"}))));
    assert!(!by_id.matches_claims(&claims(json!({"org_name": "org_abc"}))));
    let by_name = Organization::from_config("Acme");
    assert_eq!(by_name.claim(), "org_name");
    assert!(by_name.matches_claims(&claims(json!({"org_name": "acme", "org_id": "org_x"}))));
    assert!(!by_name.matches_claims(&claims(json!({"org_id": "Acme"}))));
    assert!(!by_name.matches_claims(&claims(json!({"org_name": "acme-2"}))));
}

#[test]
fn the_subject_is_id_for_the_sync_server_and_sub_otherwise() {
    let sync = ProviderProfile::sync_server();
    assert_eq!(
        sync.subject(&claims(json!({"id": 42, "sub": "x"}))),
        Ok(Some("42".into()))
    );
    assert_eq!(
        sync.subject(&claims(json!({"id": "u-1"}))),
        Ok(Some("u-1".into()))
    );
    assert_eq!(sync.subject(&claims(json!({"sub": "x"}))), Ok(None));
    assert!(sync.subject(&claims(json!({"id": 1.5}))).is_err());
    assert!(sync.subject(&claims(json!({"id": ""}))).is_err());
    let oidc =
        profile(json!({"type": "oidc", "fields": {"issuer": "https://id.example.org", "client_id": "c"}}));
    assert_eq!(
        oidc.subject(&claims(json!({"id": 42, "sub": "x"}))),
        Ok(Some("x".into()))
    );
    assert!(oidc.subject(&claims(json!({"sub": 7}))).is_err());
}

#[test]
fn a_raw_token_names_its_user_for_the_sync_server_only() {
    let token = claims(json!({"id": 42, "email": "ana@example.org", "sub": "x", "name": "Ana"}));
    let user = ProviderProfile::sync_server().token_user(&token);
    assert_eq!(user.len(), 2, "{user:?}");
    assert_eq!(user["sub"], "42");
    assert_eq!(user["email"], "ana@example.org");
    assert!(
        ProviderProfile::sync_server()
            .token_user(&claims(json!({"id": 1.5, "email": 7})))
            .is_empty()
    );
    let oidc =
        profile(json!({"type": "oidc", "fields": {"issuer": "https://id.example.org", "client_id": "c"}}));
    assert!(oidc.token_user(&token).is_empty());
}

#[test]
fn an_organisation_is_stated_by_org_id_or_org_name() {
    assert!(Organization::stated_in(&claims(json!({"org_id": "org_x"}))));
    assert!(Organization::stated_in(&claims(json!({"org_name": "acme"}))));
    assert!(!Organization::stated_in(&claims(
        json!({"org_id": null, "sub": "x"})
    )));
}

#[test]
fn the_expiry_hint_is_the_jwt_exp_after_now() {
    use base64::Engine as _;
    let token = |claims: Value| {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"HS256"}"#),
            b64(claims.to_string().as_bytes())
        )
    };
    let now = Timestamp::from_secs(1_000);
    let sync = ProviderProfile::sync_server();
    assert_eq!(sync.expires_in_hint(&token(json!({"exp": 1_600})), now), 600);
    assert_eq!(sync.expires_in_hint(&token(json!({"exp": 900})), now), 0);
    assert_eq!(sync.expires_in_hint(&token(json!({"iat": 900})), now), 0);
    assert_eq!(sync.expires_in_hint("opaque", now), 0);
}
