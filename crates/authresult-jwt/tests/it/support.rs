//! Helpers of the token-validation tests: test signing keys (RSA from
//! `keys/*.pk8`, P-256 and Ed25519 generated per run), their public JWKs,
//! token signing with arbitrary headers and claims, and validators.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use authresult_jwt::{
    IssuerConfig, JwkSet, TokenValidator, TokenValidatorBuilder, ValidationError, ValidationErrorKind,
};
use authresult_test_support::{Idp, IdpOptions};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test/realms/field";
pub const AUDIENCE: &str = "urn:test:api";

/// A signing key of the tests.
#[derive(Debug)]
pub enum TestKey {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn rng() -> &'static SystemRandom {
    static RNG: OnceLock<SystemRandom> = OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

/// The issuer's RSA-2048 key (`kid: rsa-a`).
pub fn rsa_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::Rsa(RsaKeyPair::from_pkcs8(include_bytes!("keys/rsa2048-a.pk8")).unwrap()))
}

/// A second RSA-2048 key: the rotated-in key, or the attacker's.
pub fn rsa_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::Rsa(RsaKeyPair::from_pkcs8(include_bytes!("keys/rsa2048-b.pk8")).unwrap()))
}

/// A P-256 key generated for this run.
pub fn p256() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng()).unwrap();
        TestKey::P256(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng()).unwrap())
    })
}

/// An Ed25519 key generated for this run.
pub fn ed25519() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(rng()).unwrap();
        TestKey::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    })
}

/// The public JWK of a 1024-bit RSA key (too weak to be used).
pub fn weak_rsa_jwk(kid: &str) -> Value {
    let mut jwk: Value = serde_json::from_str(include_str!("keys/rsa1024-public.jwk.json")).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// The public JWK with this `kid` (no `alg`, `use: sig`).
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            TestKey::Rsa(key) => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&public.n), "e": b64(&public.e)})
            }
            TestKey::P256(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            TestKey::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "x": b64(key.public_key())})
            }
        }
    }

    /// The public key bytes an attacker might use as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            TestKey::Rsa(key) => key.public().as_ref().to_vec(),
            TestKey::P256(key) => key.public_key().as_ref().to_vec(),
            TestKey::Ed25519(key) => key.public_key().as_ref().to_vec(),
        }
    }

    /// Signs `message` with `alg` (which must fit the key).
    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        match (self, alg) {
            (TestKey::Rsa(key), "RS256" | "PS256" | "RS384" | "RS512") => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PSS_SHA256,
                };
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(padding, rng(), message, &mut sig).unwrap();
                sig
            }
            (TestKey::P256(key), "ES256") => key.sign(rng(), message).unwrap().as_ref().to_vec(),
            (TestKey::Ed25519(key), "EdDSA") => key.sign(message).as_ref().to_vec(),
            _ => panic!("the test key cannot sign {alg}"),
        }
    }
}

/// `header.payload` of a token, from JSON values.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string()), b64(claims.to_string()))
}

/// A token with this header and these claims, signed by `key` with the
/// header's `alg`.
pub fn sign(key: &TestKey, header: Value, claims: Value) -> String {
    let alg = header["alg"].as_str().unwrap().to_owned();
    let input = signing_input(&header, &claims);
    let sig = key.sign(&alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// A token whose signing input is given as text (for odd JSON), signed by `key`.
pub fn sign_raw(key: &TestKey, alg: &str, header_json: &str, claims_json: &str) -> String {
    let input = format!("{}.{}", b64(header_json), b64(claims_json));
    let sig = key.sign(alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// An HMAC-signed token.
pub fn sign_hmac(secret: &[u8], header: Value, claims: Value) -> String {
    let alg = match header["alg"].as_str().unwrap() {
        "HS384" => ring::hmac::HMAC_SHA384,
        "HS512" => ring::hmac::HMAC_SHA512,
        _ => ring::hmac::HMAC_SHA256,
    };
    let input = signing_input(&header, &claims);
    let tag = ring::hmac::sign(&ring::hmac::Key::new(alg, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Good claims for [`ISSUER`] / [`AUDIENCE`], valid for five minutes.
pub fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "scope": "api:read api:write",
        "jti": format!("{:x}", rand_u64()),
    })
}

/// A header for `alg` and `kid`.
pub fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid})
}

/// A good RS256 token of `rsa_a` (`kid: rsa-a`).
pub fn good_token() -> String {
    sign(rsa_a(), header("RS256", "rsa-a"), claims())
}

/// The key set of the test issuer: `rsa-a`, `ec-1` and `ed-1`.
pub fn jwks() -> Value {
    json!({"keys": [rsa_a().jwk("rsa-a"), p256().jwk("ec-1"), ed25519().jwk("ed-1")]})
}

pub fn key_set(jwks: &Value) -> JwkSet {
    JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()
}

/// The test issuer with a static key set.
pub fn issuer_config(jwks: &Value) -> IssuerConfig {
    // The default algorithms: RS256, PS256, ES256 and EdDSA (+ HS256 with a shared secret).
    IssuerConfig::new(ISSUER).audience(AUDIENCE).jwks(key_set(jwks))
}

pub fn builder(issuer: IssuerConfig) -> TokenValidatorBuilder {
    TokenValidator::builder().issuer(issuer)
}

/// A validator of the test issuer with [`jwks`].
pub fn validator() -> TokenValidator {
    builder(issuer_config(&jwks())).build().unwrap()
}

/// Asserts that `result` failed with `kind` and that its message and debug
/// output hold nothing of `token`'s payload or signature.
#[track_caller]
pub fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, ValidationError>,
    kind: ValidationErrorKind,
    token: &str,
) -> ValidationError {
    let error = match result {
        Ok(value) => panic!("expected {kind}, got {value:?}"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), kind, "wrong kind for error `{error}`");
    let shown = format!("{error} {error:?}");
    for segment in token.split('.').skip(1).filter(|s| s.len() >= 16) {
        assert!(
            !shown.contains(segment),
            "the error shows part of the token: {shown}"
        );
    }
    error
}

/// A pseudo-random number (for `jti`s and random `kid`s).
pub fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(rng(), &mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}

/// The local OpenID provider (`xtask/idp`), started once for this binary.
pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| match Idp::start(IdpOptions::default()) {
        Ok(idp) => idp,
        Err(e) => panic!("the local OpenID provider (xtask/idp) did not start: {e:#}"),
    })
}
