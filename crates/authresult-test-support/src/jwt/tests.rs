//! Tests of `JwtSigner`: each algorithm's signature verifies with its public
//! key (ring's verifiers; the weak RSA key's also with the `rsa` crate's),
//! the JWKs carry the key's parameters, a key refuses an algorithm that does
//! not suit it, and `at_hash` is the left half of SHA-256.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::json;

use super::{JwtAlg, JwtSigner, PublicKey, at_hash, b64};

/// The signing input and the decoded signature of a compact JWS.
fn split(token: &str) -> (&str, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input, URL_SAFE_NO_PAD.decode(sig).unwrap())
}

/// ring's check of an asymmetric signature made with `alg`.
fn verifies(public: PublicKey, alg: JwtAlg, input: &[u8], sig: &[u8]) -> bool {
    match public {
        PublicKey::Rsa { n, e } => {
            let params = match alg {
                JwtAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                JwtAlg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                JwtAlg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                JwtAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                _ => return false,
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, input, sig)
                .is_ok()
        }
        PublicKey::EcP256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input, sig)
            .is_ok(),
        PublicKey::Ed25519(key) => UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(input, sig)
            .is_ok(),
    }
}

#[test]
fn every_asymmetric_algorithm_signs_a_jwt_its_public_key_verifies() {
    for alg in JwtAlg::ALL.into_iter().filter(|alg| !alg.is_hmac()) {
        let signer = JwtSigner::generate(alg).unwrap();
        let token = signer
            .sign_jwt(&json!({"alg": alg.name(), "kid": "k"}), &json!({"sub": "u"}))
            .unwrap();
        let (input, sig) = split(&token);
        let public = signer.public_key().unwrap();
        assert!(
            verifies(public, alg, input.as_bytes(), &sig),
            "{} signature does not verify",
            alg.name()
        );
        let jwk = signer.jwk("k");
        assert_eq!(jwk["alg"], alg.name());
        assert_eq!(jwk["kid"], "k");
        assert_eq!(jwk["use"], "sig");
        let bare = signer.public_jwk();
        assert!(bare.get("kid").is_none() && bare.get("alg").is_none() && bare.get("use").is_none());
        assert_eq!(bare["kty"], jwk["kty"]);
    }
}

#[test]
fn one_rsa_key_signs_every_rsa_algorithm_and_refuses_the_others() {
    let signer = JwtSigner::generate(JwtAlg::Rs256).unwrap();
    for alg in [JwtAlg::Rs256, JwtAlg::Rs384, JwtAlg::Rs512, JwtAlg::Ps256] {
        let token = signer.sign_compact(alg, r#"{"alg":"x"}"#, "{}").unwrap();
        let (input, sig) = split(&token);
        assert!(
            verifies(signer.public_key().unwrap(), alg, input.as_bytes(), &sig),
            "{}",
            alg.name()
        );
    }
    for alg in [JwtAlg::Es256, JwtAlg::EdDsa, JwtAlg::Hs256] {
        let error = signer.sign_as(alg, b"m").unwrap_err();
        assert!(error.to_string().contains(alg.name()), "{error}");
    }
}

#[test]
fn sign_compact_keeps_the_json_text_as_given() {
    let signer = JwtSigner::generate(JwtAlg::EdDsa).unwrap();
    let header = r#"{"typ":"JWT", "alg":"EdDSA"}"#;
    let claims = r#"{"id":7,"email":"a@example.org","iat":1}"#;
    let token = signer.sign_compact(JwtAlg::EdDsa, header, claims).unwrap();
    let mut parts = token.split('.');
    assert_eq!(parts.next(), Some(b64(header).as_str()));
    assert_eq!(parts.next(), Some(b64(claims).as_str()));
}

#[test]
fn hmac_signatures_are_ring_hmac_tags_with_the_secret() {
    for (alg, hash) in [
        (JwtAlg::Hs256, ring::hmac::HMAC_SHA256),
        (JwtAlg::Hs384, ring::hmac::HMAC_SHA384),
        (JwtAlg::Hs512, ring::hmac::HMAC_SHA512),
    ] {
        let signer = JwtSigner::hmac(alg, b"a shared secret").unwrap();
        let token = signer
            .sign_jwt(&json!({"alg": alg.name()}), &json!({"sub": "u"}))
            .unwrap();
        let (input, sig) = split(&token);
        let key = ring::hmac::Key::new(hash, b"a shared secret");
        assert!(
            ring::hmac::verify(&key, input.as_bytes(), &sig).is_ok(),
            "{}",
            alg.name()
        );
        assert!(signer.public_key().is_none());
        assert!(signer.public_key_bytes().unwrap().is_none());
        assert_eq!(signer.jwk("s")["k"], b64(b"a shared secret"));
        assert_eq!(signer.jwk("s")["kty"], "oct");
    }
    let generated = JwtSigner::generate(JwtAlg::Hs512).unwrap();
    assert_eq!(
        generated.public_jwk()["k"].as_str().unwrap().len(),
        b64([0; 64]).len()
    );
    assert!(JwtSigner::hmac(JwtAlg::Rs256, b"s").is_err());
    let error = JwtSigner::hmac(JwtAlg::Hs256, b"s")
        .unwrap()
        .sign_as(JwtAlg::Rs256, b"m")
        .unwrap_err();
    assert!(error.to_string().contains("RS256"), "{error}");
}

#[test]
fn a_weak_rsa_key_signs_rs256_that_rsa_and_ring_legacy_verifiers_accept() {
    use rsa::traits::PublicKeyParts as _;

    let signer = JwtSigner::weak_rsa(1024).unwrap();
    assert_eq!(signer.alg(), JwtAlg::Rs256);
    let token = signer
        .sign_jwt(&json!({"alg": "RS256", "kid": "weak"}), &json!({"sub": "u"}))
        .unwrap();
    let (input, sig) = split(&token);
    assert_eq!(sig.len(), 128, "a 1024-bit signature");

    let Some(PublicKey::Rsa { n, e }) = signer.public_key() else {
        panic!("not an RSA key")
    };
    // The `rsa` crate's verifier, over the key the JWK publishes.
    let jwk = signer.jwk("weak");
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["n"], b64(&n));
    assert_eq!(jwk["e"], b64(&e));
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap()),
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap()),
    )
    .unwrap();
    assert_eq!(public.size(), 128);
    assert_eq!(public.e(), &rsa::BigUint::from(65_537u32));
    let hash = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    public
        .verify(super::rsa_pkcs1_sha256(), hash.as_ref(), &sig)
        .unwrap();
    // Another message does not verify.
    let other = ring::digest::digest(&ring::digest::SHA256, b"another input");
    assert!(
        public
            .verify(super::rsa_pkcs1_sha256(), other.as_ref(), &sig)
            .is_err()
    );
    // ring's own PKCS#1 v1.5 SHA-256 check (its legacy one, for keys from
    // 1024 bits) agrees: the padding and DigestInfo are the standard ones.
    signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            input.as_bytes(),
            &sig,
        )
        .unwrap();
    // ring's usual check refuses the key as too short, as a verifier must.
    assert!(!verifies(
        PublicKey::Rsa { n, e },
        JwtAlg::Rs256,
        input.as_bytes(),
        &sig
    ));
    assert!(signer.sign_as(JwtAlg::Ps256, b"m").is_err());
    assert!(!signer.public_key_bytes().unwrap().unwrap().is_empty());
    assert!(JwtSigner::weak_rsa(2048).is_err());
}

#[test]
fn at_hash_is_the_left_half_of_sha_256() {
    // OpenID Connect Core, appendix A.3: the ID token of the implicit flow
    // with the access token `jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y`.
    assert_eq!(
        at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    assert_eq!(JwtAlg::from_name("PS256"), Some(JwtAlg::Ps256));
    assert_eq!(JwtAlg::from_name("none"), None);
    assert!(
        JwtAlg::ALL
            .iter()
            .all(|alg| JwtAlg::from_name(alg.name()) == Some(*alg))
    );
}
