//! The published JOSE vectors through the key set: RFC 7520 section 4's
//! signature examples and RFC 8037's Ed25519 example (`testdata/
//! jose_signature_examples.json`), and Wycheproof's JSON Web Key vectors
//! (`testdata/wycheproof_json_web_key_test.json`, unmodified). Their
//! payloads are text, not claims, so `UnverifiedJwt::parse` (a JWT reader)
//! refuses them; they go to [`JwkSet::verify_signature`], the body of
//! [`JwkSet::verify`], with the set parsed by [`JwkSet::from_json`].
//!
//! What the key set does with each kind of key, as `cargo xtask conformance`
//! reports it: a key published with private members is refused (anyone
//! could sign with it); two keys under one `kid` are ambiguous; keys for
//! encryption, for another algorithm or curve, and symmetric keys are never
//! used (HMAC tokens of an issuer verify only with its configured secret);
//! RSA keys under 2048 bits, with exponent 1 or with the ROCA weakness are
//! refused.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{HmacKeys, JwkSet, PRIVATE_MEMBERS};
use crate::error::{ValidationError, ValidationErrorKind};
use crate::jose::{JwsAlgorithm, UnverifiedJwt};

/// Every asymmetric algorithm the crate implements.
const ASYMMETRIC: &[JwsAlgorithm] = &[
    JwsAlgorithm::Rs256,
    JwsAlgorithm::Rs384,
    JwsAlgorithm::Rs512,
    JwsAlgorithm::Ps256,
    JwsAlgorithm::Ps384,
    JwsAlgorithm::Ps512,
    JwsAlgorithm::Es256,
    JwsAlgorithm::Es384,
    JwsAlgorithm::EdDsa,
];

/// A compact JWS's parts: the header, the signing input and the signature.
struct Jws {
    header: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn split(compact: &str) -> Jws {
    let (input, signature) = compact.rsplit_once('.').unwrap();
    let header = input.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    Jws {
        header: header.as_object().unwrap().clone(),
        signing_input: input.to_owned(),
        signature: URL_SAFE_NO_PAD.decode(signature).unwrap(),
    }
}

/// Why a JWS is not verified by `set`, or `Ok` when it is; an algorithm
/// this crate does not implement is `AlgorithmNotAllowed`, as
/// `UnverifiedJwt::alg` reports it.
fn verify(set: &JwkSet, compact: &str) -> Result<(), ValidationError> {
    let jws = split(compact);
    let name = jws.header["alg"].as_str().unwrap();
    let alg = JwsAlgorithm::from_name(name)
        .ok_or_else(|| ValidationError::AlgorithmNotAllowed { alg: name.to_owned() })?;
    let kid = jws.header.get("kid").and_then(Value::as_str);
    set.verify_signature(alg, kid, jws.signing_input.as_bytes(), &jws.signature, ASYMMETRIC)
}

fn set_of(keys: &[&Value]) -> JwkSet {
    JwkSet::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

/// `jwk` without its private members.
fn public(jwk: &Value) -> Value {
    let mut jwk = jwk.clone();
    for member in PRIVATE_MEMBERS {
        jwk.as_object_mut().unwrap().remove(member);
    }
    jwk
}

fn flip_a_bit(compact: &str) -> String {
    let (input, signature) = compact.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[7] ^= 0x10;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn kind(result: Result<(), ValidationError>) -> ValidationErrorKind {
    result.unwrap_err().kind()
}

// ---------------------------------------------------------------------------
// RFC 7520 section 4 and RFC 8037 appendix A.4.
// ---------------------------------------------------------------------------

fn example(id: &str) -> (Value, String) {
    let doc: Value = serde_json::from_str(include_str!("testdata/jose_signature_examples.json")).unwrap();
    let found = doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    (
        found["jwk"].clone(),
        found["compact"].as_str().unwrap().to_owned(),
    )
}

/// An asymmetric example: it verifies with the public key, fails with a
/// flipped bit, is refused when the set publishes the private key, and
/// (text payload) is not a JWT.
fn asymmetric_example(id: &str) {
    let (jwk, compact) = example(id);
    let set = set_of(&[&public(&jwk)]);
    verify(&set, &compact).unwrap();
    assert_eq!(
        kind(verify(&set, &flip_a_bit(&compact))),
        ValidationErrorKind::InvalidSignature
    );
    let published_private = set_of(&[&jwk]);
    let refused = verify(&published_private, &compact).unwrap_err();
    assert_eq!(refused.kind(), ValidationErrorKind::KeyRejected, "{refused}");
    assert!(refused.to_string().contains("private key material"), "{refused}");
    assert_eq!(
        UnverifiedJwt::parse(&compact).unwrap_err().kind(),
        ValidationErrorKind::Malformed,
        "the payload is text, not claims"
    );
}

#[test]
fn rfc7520_4_1_rsa_v1_5_rs256() {
    asymmetric_example("rfc7520-4.1");
}

#[test]
fn rfc7520_4_2_rsa_pss_ps384() {
    asymmetric_example("rfc7520-4.2");
}

/// ES512 (P-521) is not implemented: the key is skipped and the algorithm
/// unknown, so the example is refused.
#[test]
fn rfc7520_4_3_ecdsa_p521_es512() {
    let (jwk, compact) = example("rfc7520-4.3");
    assert_eq!(jwk["crv"], "P-521");
    assert!(JwsAlgorithm::from_name("ES512").is_none());
    let set = set_of(&[&public(&jwk)]);
    assert!(set.is_empty(), "a P-521 key is not kept");
    assert_eq!(
        kind(verify(&set, &compact)),
        ValidationErrorKind::AlgorithmNotAllowed
    );
}

/// HS256: a published set never yields a symmetric key, and HMAC is never
/// verified with one; the issuer's configured secret (`HmacKeys`) verifies
/// the example.
#[test]
fn rfc7520_4_4_hmac_hs256() {
    let (jwk, compact) = example("rfc7520-4.4");
    let set = set_of(&[&jwk]);
    assert!(set.is_empty(), "a symmetric key is not kept");
    assert_eq!(
        kind(verify(&set, &compact)),
        ValidationErrorKind::AlgorithmNotAllowed
    );
    let secret = URL_SAFE_NO_PAD.decode(jwk["k"].as_str().unwrap()).unwrap();
    let keys = HmacKeys::new(&secret);
    let jws = split(&compact);
    assert!(keys.long_enough_for(JwsAlgorithm::Hs256));
    assert!(keys.verify(JwsAlgorithm::Hs256, jws.signing_input.as_bytes(), &jws.signature));
    let tampered = split(&flip_a_bit(&compact));
    assert!(!keys.verify(
        JwsAlgorithm::Hs256,
        tampered.signing_input.as_bytes(),
        &tampered.signature
    ));
}

#[test]
fn rfc8037_a_4_ed25519_eddsa() {
    asymmetric_example("rfc8037-a.4");
}

// ---------------------------------------------------------------------------
// Wycheproof's JSON Web Key vectors.
// ---------------------------------------------------------------------------

/// One vector: the key set of its group (public when the group has one),
/// the group's private set, the JWS, and Wycheproof's verdict.
struct Vector {
    id: u64,
    public: Option<Value>,
    private: Value,
    jws: String,
    valid: bool,
}

fn wycheproof() -> Vec<Vector> {
    let doc: Value =
        serde_json::from_str(include_str!("testdata/wycheproof_json_web_key_test.json")).unwrap();
    let mut vectors = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        for test in group["tests"].as_array().unwrap() {
            vectors.push(Vector {
                id: test["tcId"].as_u64().unwrap(),
                public: group.get("public").cloned(),
                private: group["private"].clone(),
                jws: test["jws"].as_str().unwrap().to_owned(),
                valid: test["result"] == "valid",
            });
        }
    }
    assert_eq!(vectors.len(), 26, "the file's 26 vectors");
    vectors
}

/// A key set document as given: `{"keys": [...]}`, or a single JWK.
fn set_from(doc: &Value) -> JwkSet {
    match doc.get("keys") {
        Some(_) => JwkSet::from_json(doc.to_string().as_bytes()).unwrap(),
        None => set_of(&[doc]),
    }
}

/// Runs the vectors `ids` through the group's published (public) set:
/// each is refused with `expected`, except those in `accepted`.
fn run(ids: &[u64], accepted: &[u64], expected: &[ValidationErrorKind]) {
    let vectors = wycheproof();
    for id in ids {
        let v = vectors.iter().find(|v| v.id == *id).unwrap();
        let set = set_from(v.public.as_ref().unwrap_or(&v.private));
        let result = verify(&set, &v.jws);
        if accepted.contains(id) {
            assert!(v.valid, "tcId {id}: accepted here, invalid for Wycheproof");
            result.unwrap_or_else(|e| panic!("tcId {id}: {e}"));
        } else {
            let error = result.expect_err(&format!("tcId {id} accepted"));
            assert!(expected.contains(&error.kind()), "tcId {id}: {error:?}");
        }
    }
}

/// tcId 5: an RS256 signature with the published public key verifies.
#[test]
fn wycheproof_jwk_valid_rsa_signature() {
    run(&[5], &[5], &[]);
}

/// tcIds 1-3, 10-18, 25, 26: sets of symmetric keys (mixed with an EC key
/// in 1). A published set never yields a symmetric key and HMAC is never
/// verified with one, so all are refused, the `valid` ones (2, 13-15)
/// included: an issuer's HMAC tokens verify only with its configured
/// secret (`IssuerConfig::shared_secret`).
#[test]
fn wycheproof_jwk_symmetric_and_mixed_sets() {
    run(
        &[1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 25, 26],
        &[],
        &[ValidationErrorKind::AlgorithmNotAllowed],
    );
}

/// tcId 4 (two HMAC keys under one `kid`) and the same with RSA keys: two
/// keys under one `kid` fit the token, which is ambiguous and refused.
#[test]
fn wycheproof_jwk_duplicate_kid() {
    run(&[4], &[], &[ValidationErrorKind::AlgorithmNotAllowed]);
    let vectors = wycheproof();
    let valid = vectors.iter().find(|v| v.id == 5).unwrap();
    let key = &valid.public.as_ref().unwrap()["keys"][0];
    let set = set_of(&[key, key]);
    assert_eq!(kind(verify(&set, &valid.jws)), ValidationErrorKind::AmbiguousKey);
}

/// tcIds 6, 21: the key is for encryption (`use: enc`): not used.
#[test]
fn wycheproof_jwk_encryption_key() {
    run(&[6, 21], &[], &[ValidationErrorKind::UnknownKey]);
}

/// tcId 7: an RSA key with the ROCA weakness (CVE-2017-15361): refused.
#[test]
fn wycheproof_jwk_roca_rsa_key() {
    run(&[7], &[], &[ValidationErrorKind::KeyRejected]);
}

/// tcIds 8, 9: a 1024-bit modulus (refused) and public exponent 1 (the key
/// is skipped, so no key fits).
#[test]
fn wycheproof_jwk_weak_rsa_keys() {
    run(&[8], &[], &[ValidationErrorKind::KeyRejected]);
    run(&[9], &[], &[ValidationErrorKind::UnknownKey]);
}

/// tcIds 19, 20, 23, 24: the key's `alg`, curve or `kty` do not fit the
/// token (ES521 or ES224 on P-256, P-256 coordinates under P-384, EC members
/// under RSA): not used.
#[test]
fn wycheproof_jwk_mismatched_alg_curve_and_type() {
    run(&[19, 20, 23, 24], &[], &[ValidationErrorKind::UnknownKey]);
}

/// tcId 22: a modified public key: the signature does not verify.
#[test]
fn wycheproof_jwk_modified_key() {
    run(&[22], &[], &[ValidationErrorKind::InvalidSignature]);
}

/// Every group's private set used as a published set (what a provider
/// leaking its keys serves): no token verifies, the asymmetric ones refused
/// because the set publishes private key material.
#[test]
fn wycheproof_jwk_private_keys_in_a_published_set() {
    for v in wycheproof() {
        let set = set_from(&v.private);
        let error = verify(&set, &v.jws).expect_err(&format!("tcId {} accepted", v.id));
        if v.id == 5 {
            assert_eq!(error.kind(), ValidationErrorKind::KeyRejected, "{error}");
            assert!(error.to_string().contains("private key material"), "{error}");
        }
    }
}
