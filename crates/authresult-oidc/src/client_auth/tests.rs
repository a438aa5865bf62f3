//! Unit tests of `private_key_jwt`: which requests get an assertion, what
//! it claims, and that the key never shows.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::collections::HashMap;

use authresult_core::{ManualClock, Timestamp};
use authresult_jwt::{JwkSet, JwsAlgorithm, UnverifiedJwt};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use super::*;

fn key() -> Arc<SigningKey> {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    Arc::new(SigningKey::from_pkcs8_der(der.as_ref(), JwsAlgorithm::Es256, Some("app-key".into())).unwrap())
}

fn assertion(key: &Arc<SigningKey>) -> ClientAssertion {
    let options = OidcOptions {
        client_assertion_key: Some(Arc::clone(key)),
        clock: Arc::new(ManualClock::new(Timestamp::from_secs(1_800_000_000))),
        ..OidcOptions::default()
    };
    let issuer = Url::parse("https://sso.example.org/realms/field").unwrap();
    ClientAssertion::from_options(&options, "jwt-app", &issuer, false)
        .unwrap()
        .unwrap()
}

fn form_post(body: &str) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(http::Method::POST)
        .uri("https://sso.example.org/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

#[test]
fn token_requests_carry_a_fresh_signed_assertion() {
    let key = key();
    let signer = assertion(&key);
    let mut first = form_post("grant_type=refresh_token&refresh_token=r");
    signer.authenticate(Endpoint::Token, &mut first).unwrap();
    let mut second = form_post("grant_type=refresh_token&refresh_token=r");
    signer.authenticate(Endpoint::Token, &mut second).unwrap();
    let jtis: Vec<String> = [&first, &second]
        .iter()
        .map(|request| {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(request.body()).into_owned().collect();
            assert_eq!(form["grant_type"], "refresh_token");
            assert_eq!(form["client_id"], "jwt-app");
            assert_eq!(form["client_assertion_type"], JWT_BEARER_ASSERTION);
            let jwt = UnverifiedJwt::parse(&form["client_assertion"]).unwrap();
            let jwks = serde_json::json!({ "keys": [Value::Object(key.public_jwk())] }).to_string();
            JwkSet::from_json(jwks.as_bytes())
                .unwrap()
                .verify(&jwt, &[JwsAlgorithm::Es256])
                .unwrap();
            let claims = jwt.claims();
            assert_eq!(claims["iss"], "jwt-app");
            assert_eq!(claims["sub"], "jwt-app");
            assert_eq!(claims["aud"], "https://sso.example.org/realms/field");
            assert_eq!(claims["iat"], 1_800_000_000u64);
            assert_eq!(claims["exp"], 1_800_000_060u64);
            claims["jti"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_ne!(jtis[0], jtis[1], "every assertion has its own jti");
    assert!(jtis[0].len() >= 22, "128 random bits: {}", jtis[0]);
}

/// The `aud` of the assertion in `request`'s form.
fn audience_of(request: &http::Request<Vec<u8>>) -> Value {
    let form: HashMap<String, String> = url::form_urlencoded::parse(request.body()).into_owned().collect();
    UnverifiedJwt::parse(&form["client_assertion"]).unwrap().claims()["aud"].clone()
}

#[test]
fn the_audience_is_the_issuer_as_discovery_spells_it() {
    // A configured `https://sso.example.org` reads as `https://sso.example.org/`;
    // the provider's issuer identifier has no `/` (FAPI 2.0: `aud` is exactly it).
    let options = OidcOptions {
        client_assertion_key: Some(key()),
        ..OidcOptions::default()
    };
    let configured = Url::parse("https://sso.example.org").unwrap();
    let signer = ClientAssertion::from_options(&options, "jwt-app", &configured, false)
        .unwrap()
        .unwrap();
    let mut before = form_post("grant_type=refresh_token&refresh_token=r");
    signer.authenticate(Endpoint::Token, &mut before).unwrap();
    assert_eq!(audience_of(&before), "https://sso.example.org/");
    signer.use_issuer("https://sso.example.org");
    let mut after = form_post("grant_type=refresh_token&refresh_token=r");
    signer.authenticate(Endpoint::Token, &mut after).unwrap();
    assert_eq!(audience_of(&after), "https://sso.example.org");
}

#[test]
fn other_requests_are_left_alone() {
    let signer = assertion(&key());
    // Another endpoint, a GET, and a request with its own credentials.
    let mut userinfo = form_post("a=b");
    signer.authenticate(Endpoint::Userinfo, &mut userinfo).unwrap();
    assert_eq!(userinfo.body(), b"a=b");
    let mut get = form_post("");
    *get.method_mut() = http::Method::GET;
    signer.authenticate(Endpoint::Token, &mut get).unwrap();
    assert!(get.body().is_empty());
    let mut basic = form_post("token=t");
    basic
        .headers_mut()
        .insert(AUTHORIZATION, http::HeaderValue::from_static("Basic eDp5"));
    signer.authenticate(Endpoint::Introspection, &mut basic).unwrap();
    assert_eq!(basic.body(), b"token=t");
}

#[test]
fn a_secret_and_an_assertion_key_together_are_refused() {
    let options = OidcOptions {
        client_assertion_key: Some(key()),
        ..OidcOptions::default()
    };
    let issuer = Url::parse("https://sso.example.org/").unwrap();
    let error = ClientAssertion::from_options(&options, "jwt-app", &issuer, true).unwrap_err();
    assert_eq!(error.kind(), authresult_core::FailureKind::Configuration);
}

#[test]
fn debug_of_the_signer_and_options_shows_no_key() {
    let key = key();
    let shown = format!("{:?} {:?}", assertion(&key), {
        OidcOptions {
            client_assertion_key: Some(key),
            ..OidcOptions::default()
        }
    });
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("BEGIN"), "{shown}");
}
