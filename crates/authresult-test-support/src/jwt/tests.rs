//! Tests of `JwtSigner`: each algorithm's signature verifies with its public key.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use ring::signature::{self, UnparsedPublicKey};
use serde_json::json;

use super::{JwtAlg, JwtSigner, PublicKey, b64};

#[test]
fn every_algorithm_signs_a_jwt_its_public_key_verifies() {
    for alg in [JwtAlg::Rs256, JwtAlg::Es256, JwtAlg::EdDsa] {
        let signer = JwtSigner::generate(alg).unwrap();
        let token = signer
            .sign_jwt(&json!({"alg": alg.name(), "kid": "k"}), &json!({"sub": "u"}))
            .unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
        let ok = match signer.public_key() {
            PublicKey::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
                .is_ok(),
            PublicKey::EcP256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(input.as_bytes(), &sig)
                .is_ok(),
            PublicKey::Ed25519(key) => UnparsedPublicKey::new(&signature::ED25519, key)
                .verify(input.as_bytes(), &sig)
                .is_ok(),
        };
        assert!(ok, "{} signature does not verify", alg.name());
        let jwk = signer.jwk("k");
        assert_eq!(jwk["alg"], alg.name());
        assert_eq!(jwk["kid"], "k");
        assert!(!b64(&sig).is_empty());
    }
}
