//! Unit tests of `DpopKey`: proofs verify with their own header key and
//! carry exactly the claims RFC 9449 asks for; keys export and re-import;
//! no private key in `Debug`; RFC 9449's own `ath` and thumbprint vectors.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use authresult_core::ManualClock;
use serde_json::json;

use super::*;
use crate::{JwkSet, UnverifiedJwt};

const T: u64 = 1_700_000_123;

fn key(alg: JwsAlgorithm) -> DpopKey {
    DpopKey::generate(alg)
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(Timestamp::from_secs(T))))
}

fn header_of(token: &str) -> Map<String, Value> {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies `token` with the key its own header carries.
fn verify_with_header_key(token: &str, alg: JwsAlgorithm) -> Map<String, Value> {
    let header = header_of(token);
    let jwk = header["jwk"].clone();
    let set = JwkSet::from_json(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    let jwt = UnverifiedJwt::parse(token).unwrap();
    set.verify(&jwt, &[alg]).unwrap();
    jwt.claims()
}

#[test]
fn a_proof_verifies_with_its_header_key_and_carries_the_request() {
    for alg in [JwsAlgorithm::Es256, JwsAlgorithm::EdDsa] {
        let key = key(alg);
        let url = Url::parse("HTTPS://Server.Example.COM:443/token?code=abc#frag").unwrap();
        let proof = key.proof("POST", &url, Some("nonce-1"), Some("at")).unwrap();
        let header = header_of(&proof);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], alg.name());
        let claims = verify_with_header_key(&proof, alg);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(
            claims["htu"], "https://server.example.com/token",
            "no query, fragment or default port"
        );
        assert_eq!(claims["iat"], T, "the injected clock's time");
        assert_eq!(claims["nonce"], "nonce-1");
        assert_eq!(claims["ath"], access_token_hash("at"));
        let jti = claims["jti"].as_str().unwrap();
        assert!(jti.len() >= 22, "128 random bits: {jti}");
    }
}

#[test]
fn the_header_key_is_public_only() {
    for alg in [JwsAlgorithm::Es256, JwsAlgorithm::EdDsa] {
        let proof = key(alg)
            .proof("GET", &Url::parse("https://a.example/").unwrap(), None, None)
            .unwrap();
        let jwk = header_of(&proof)["jwk"].as_object().unwrap().clone();
        let mut names: Vec<&str> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        let expected: &[&str] = if alg == JwsAlgorithm::Es256 {
            &["crv", "kty", "x", "y"]
        } else {
            &["crv", "kty", "x"]
        };
        assert_eq!(names, expected);
        assert!(!jwk.contains_key("d"));
    }
}

#[test]
fn a_proof_without_nonce_or_token_has_neither_claim() {
    let proof = key(JwsAlgorithm::Es256)
        .proof("GET", &Url::parse("https://a.example/x").unwrap(), None, None)
        .unwrap();
    let claims = verify_with_header_key(&proof, JwsAlgorithm::Es256);
    assert!(!claims.contains_key("nonce") && !claims.contains_key("ath"));
}

#[test]
fn every_proof_has_a_fresh_jti() {
    let key = key(JwsAlgorithm::Es256);
    let url = Url::parse("https://a.example/").unwrap();
    let jtis: std::collections::BTreeSet<String> = (0..50)
        .map(|_| {
            let proof = key.proof("GET", &url, None, None).unwrap();
            verify_with_header_key(&proof, JwsAlgorithm::Es256)["jti"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(jtis.len(), 50);
}

#[test]
fn a_key_exports_and_reimports_as_the_same_key() {
    for alg in [JwsAlgorithm::Es256, JwsAlgorithm::EdDsa] {
        let key = key(alg);
        let again = DpopKey::from_pkcs8(key.to_pkcs8().secret(), alg).unwrap();
        assert_eq!(again.thumbprint(), key.thumbprint());
        let binding = key.to_binding(true);
        assert!(binding.bound);
        let back = DpopKey::from_binding(&binding).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert_eq!(back.public_jwk(), key.public_jwk());
    }
    let a = key(JwsAlgorithm::Es256);
    let b = key(JwsAlgorithm::Es256);
    assert_ne!(a.thumbprint(), b.thumbprint(), "a new key each time");
}

#[test]
fn a_damaged_or_foreign_key_is_refused_without_showing_it() {
    let key = key(JwsAlgorithm::Es256);
    let mut binding = key.to_binding(true);
    binding.alg = "HS256".into();
    assert!(DpopKey::from_binding(&binding).is_err());
    binding.alg = "EdDSA".into();
    assert!(
        DpopKey::from_binding(&binding).is_err(),
        "an ES256 key is not an EdDSA key"
    );
    binding.alg = "ES256".into();
    binding.key = DpopPrivateKey::new("not base64!");
    let error = DpopKey::from_binding(&binding).unwrap_err();
    assert!(!error.to_string().contains("not base64!"), "{error}");
    binding.key = DpopPrivateKey::new("AAAA");
    assert!(DpopKey::from_binding(&binding).is_err());
    assert!(
        DpopKey::generate(JwsAlgorithm::Rs256).is_err(),
        "dpop keys are ES256 or EdDSA"
    );
}

#[test]
fn debug_shows_no_private_key() {
    let key = key(JwsAlgorithm::Es256);
    let der = key.to_pkcs8();
    let b64 = URL_SAFE_NO_PAD.encode(der.secret());
    for shown in [
        format!("{key:?}"),
        format!("{der:?}"),
        format!("{:?}", key.to_binding(true)),
    ] {
        assert!(shown.contains("redacted"), "{shown}");
        assert!(!shown.contains(&b64[40..60]), "{shown}");
    }
}

#[test]
fn the_signer_port_signs_with_the_sessions_key() {
    let key = key(JwsAlgorithm::Es256);
    let url = Url::parse("https://api.example.org/records?page=2").unwrap();
    let request = ProofRequest {
        method: "GET",
        url: &url,
        nonce: None,
        access_token: Some("tok"),
        now: Timestamp::from_secs(42),
    };
    let signer = DpopSigner::new();
    let proof = signer.sign_proof(&key.to_binding(true), &request).unwrap();
    let claims = verify_with_header_key(&proof, JwsAlgorithm::Es256);
    assert_eq!(claims["iat"], 42);
    assert_eq!(claims["htu"], "https://api.example.org/records");
    assert_eq!(header_of(&proof)["jwk"], Value::Object(key.public_jwk().clone()));
    // Another session's key after the first: never the remembered one.
    let other = DpopKey::generate(JwsAlgorithm::Es256).unwrap();
    let proof = signer.sign_proof(&other.to_binding(true), &request).unwrap();
    assert_eq!(
        header_of(&proof)["jwk"],
        Value::Object(other.public_jwk().clone())
    );
    let proof = signer.sign_proof(&key.to_binding(true), &request).unwrap();
    assert_eq!(header_of(&proof)["jwk"], Value::Object(key.public_jwk().clone()));
    let mut broken = key.to_binding(true);
    broken.key = DpopPrivateKey::new("AAAA");
    let error = signer.sign_proof(&broken, &request).unwrap_err();
    assert!(matches!(error, CoreError::DpopKeyUnusable { .. }), "{error:?}");
    assert!(!format!("{signer:?}").contains(key.to_binding(true).key.secret()));
}

/// RFC 9449 §7.1: the `ath` of its example access token.
#[test]
fn rfc_9449_ath_vector() {
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

/// RFC 9449 §6.1: the `jkt` of the key of its Figure 2 proof.
#[test]
fn rfc_9449_thumbprint_vector() {
    let jwk = json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256"
    });
    assert_eq!(
        crate::jwk_thumbprint(&jwk.to_string()).unwrap(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
}

/// A URL's userinfo (`user:password@`) is a credential, not part of the
/// resource: it stays out of the signed `htu` that servers may log (and
/// a server comparing `htu` to its own URI would refuse it anyway).
#[test]
fn the_htu_carries_no_userinfo() {
    let url = Url::parse("https://user:s3cret@api.example.org/sync?x=1").unwrap();
    assert_eq!(proof_htu(&url), "https://api.example.org/sync");
}
