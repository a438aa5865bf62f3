//! DPoP mode, the stored binding, and where the key may and may not appear.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use super::*;
use crate::{AccessToken, AuthResult, Exposed, ProviderConfig, Session, SessionKey, Timestamp};

const KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET";

fn bound_auth() -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new("at"), 60);
    auth.dpop = Some(DpopBinding {
        alg: "ES256".into(),
        key: DpopPrivateKey::new(KEY),
        bound: true,
    });
    auth
}

#[test]
fn the_key_is_not_in_datacollects_json_nor_in_debug() {
    let auth = bound_auth();
    let wire = serde_json::to_string(&auth).unwrap();
    assert!(!wire.contains(KEY) && !wire.contains("dpop"), "{wire}");
    let session = Session::new(SessionKey::new("t", "p"), auth, Timestamp::from_secs(1));
    let debug = format!("{session:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("DpopPrivateKey([redacted])"), "{debug}");
}

#[test]
fn the_stored_form_keeps_the_key_and_reads_back() {
    let session = Session::new(SessionKey::new("t", "p"), bound_auth(), Timestamp::from_secs(1));
    let stored = serde_json::to_string(&Exposed(&session)).unwrap();
    assert!(stored.contains(KEY), "the store gets it (and seals it)");
    let back: Session = serde_json::from_str(&stored).unwrap();
    let dpop = back.auth.dpop.unwrap();
    assert!(dpop.bound && dpop.same_key(session.auth.dpop.as_ref().unwrap()));
}

#[test]
fn a_damaged_binding_is_a_typed_error_naming_the_field_not_the_key() {
    for bad in [
        r#"{"access_token":"a","expires_in":1,"dpop":"x"}"#,
        r#"{"access_token":"a","expires_in":1,"dpop":{"alg":"ES256"}}"#,
        r#"{"access_token":"a","expires_in":1,"dpop":{"key":"SECRETKEY"}}"#,
        r#"{"access_token":"a","expires_in":1,"dpop":{"alg":"ES256","key":"SECRETKEY","bound":"yes"}}"#,
    ] {
        let err = AuthResult::from_json_str(bad).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("dpop") && !text.contains("SECRETKEY"), "{text}");
    }
}

#[test]
fn a_refresh_keeps_the_key_of_the_login() {
    let session = Session::new(SessionKey::new("t", "p"), bound_auth(), Timestamp::from_secs(1));
    let next = session.refreshed(
        AuthResult::new(AccessToken::new("at-2"), 60),
        Timestamp::from_secs(2),
    );
    assert!(
        next.auth
            .dpop
            .unwrap()
            .same_key(session.auth.dpop.as_ref().unwrap())
    );
}

#[test]
fn same_key_tells_keys_apart() {
    let a = bound_auth().dpop.unwrap();
    let mut b = a.clone();
    b.key = DpopPrivateKey::new("another");
    assert!(a.same_key(&a.clone()));
    assert!(!a.same_key(&b));
}

#[test]
fn the_config_reads_the_mode_and_par() {
    let read = |fields: &str| {
        ProviderConfig::from_json_str(&format!(
            r#"{{"type":"oidc","fields":{{"issuer":"https://id.example.org","client_id":"c"{fields}}}}}"#
        ))
    };
    let client = |c: ProviderConfig| c.oidc_client().unwrap().clone();
    assert_eq!(client(read("").unwrap()).dpop, DpopMode::Off);
    assert!(!client(read("").unwrap()).pushed_authorization);
    assert_eq!(client(read(r#","dpop":"on""#).unwrap()).dpop, DpopMode::On);
    assert_eq!(client(read(r#","dpop":true"#).unwrap()).dpop, DpopMode::On);
    assert_eq!(
        client(read(r#","dpop":"required""#).unwrap()).dpop,
        DpopMode::Required
    );
    let par = client(read(r#","par":true"#).unwrap());
    assert!(par.pushed_authorization);
    // Neither is sent on as an authorization parameter.
    assert!(!par.extra_params.contains_key("par") && !par.extra_params.contains_key("dpop"));
    assert!(read(r#","dpop":"sometimes""#).is_err());
    assert!(read(r#","dpop":3"#).is_err());
    assert!(read(r#","par":"maybe""#).is_err());
}

#[test]
fn nonce_origins_are_scheme_host_and_port() {
    let origin = |u: &str| nonce_origin(&url::Url::parse(u).unwrap());
    assert_eq!(origin("https://api.example.org/a?b#c"), "https://api.example.org");
    assert_eq!(origin("https://api.example.org:443/"), "https://api.example.org");
    assert_eq!(origin("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
}

/// A `ProofRequest` carries the session's access token (for `ath`): its
/// `Debug` (a signer's log line, a panic message) must not print it.
#[test]
fn a_proof_requests_debug_hides_the_access_token() {
    let url = Url::parse("https://api.example.org/sync").unwrap();
    let request = ProofRequest {
        method: "POST",
        url: &url,
        nonce: Some("n-1"),
        access_token: Some("eyJsecret.access.token"),
        now: Timestamp::from_secs(1),
    };
    let debug = format!("{request:?}");
    assert!(!debug.contains("eyJsecret.access.token"), "{debug}");
    assert!(
        debug.contains("POST") && debug.contains("api.example.org"),
        "{debug}"
    );
}
