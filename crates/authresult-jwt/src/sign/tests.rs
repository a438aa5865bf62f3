//! Unit tests of `SigningKey`: what it signs verifies with the crate's own
//! `JwkSet::verify`, for every algorithm it signs with; the key stays out of
//! `Debug`.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use crate::crypto::rand::SystemRandom;
use crate::crypto::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::*;
use crate::{JwkSet, UnverifiedJwt};

fn pkcs8(alg: JwsAlgorithm) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        JwsAlgorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        JwsAlgorithm::Es384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        _ => Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref().to_vec(),
    }
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

fn claims() -> Map<String, Value> {
    match json!({"iss": "app", "jti": "one"}) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn signed_jws_verifies_with_the_public_jwk() {
    for alg in [JwsAlgorithm::Es256, JwsAlgorithm::Es384, JwsAlgorithm::EdDsa] {
        let key = SigningKey::from_pkcs8_pem(pem(&pkcs8(alg)).as_bytes(), alg, Some("k1".into())).unwrap();
        let token = key.sign(Some("client-authentication+jwt"), &claims()).unwrap();
        let jwks = json!({ "keys": [Value::Object(key.public_jwk())] }).to_string();
        let set = JwkSet::from_json(jwks.as_bytes()).unwrap();
        let jwt = UnverifiedJwt::parse(&token).unwrap();
        assert_eq!(jwt.key_id(), Some("k1"));
        set.verify(&jwt, &[alg]).unwrap();
        assert_eq!(jwt.claims()["jti"], "one");
    }
}

#[test]
fn a_key_of_another_algorithm_is_refused() {
    let der = pkcs8(JwsAlgorithm::Es256);
    let error = SigningKey::from_pkcs8_der(&der, JwsAlgorithm::EdDsa, None).unwrap_err();
    assert!(matches!(error, HttpError::InvalidCredential { .. }), "{error}");
    let error = SigningKey::from_pkcs8_der(&der, JwsAlgorithm::Hs256, None).unwrap_err();
    assert!(error.to_string().contains("signing supports"), "{error}");
    let error = SigningKey::from_pkcs8_pem(b"not pem", JwsAlgorithm::Es256, None).unwrap_err();
    assert!(error.to_string().contains("no pkcs#8 private key"), "{error}");
}

#[test]
fn signing_key_debug_shows_no_key_material() {
    let der = pkcs8(JwsAlgorithm::Es256);
    let key = SigningKey::from_pkcs8_der(&der, JwsAlgorithm::Es256, Some("k1".into())).unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&der);
    assert!(!shown.contains(&encoded[40..60]), "{shown}");
}
