//! Helpers of the token-validation tests: test signing keys (RSA from
//! `keys/*.pk8`, P-256 and Ed25519 generated per run, all signing through
//! `authresult_test_support::JwtSigner`), their public JWKs, token signing
//! with arbitrary headers and claims, and validators.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use authresult_jwt::{
    IssuerConfig, JwkSet, TokenValidator, TokenValidatorBuilder, ValidationError, ValidationErrorKind,
};
pub use authresult_test_support::b64;
use authresult_test_support::{Idp, IdpOptions, JwtAlg, JwtSigner};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test/realms/field";
pub const AUDIENCE: &str = "urn:test:api";

/// A signing key of the tests: a [`JwtSigner`] that signs with the
/// algorithm each token's header names.
#[derive(Debug)]
pub struct TestKey(JwtSigner);

/// The issuer's RSA-2048 key (`kid: rsa-a`).
pub fn rsa_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey(JwtSigner::rsa_from_pkcs8(include_bytes!("keys/rsa2048-a.pk8")).unwrap()))
}

/// A second RSA-2048 key: the rotated-in key, or the attacker's.
pub fn rsa_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey(JwtSigner::rsa_from_pkcs8(include_bytes!("keys/rsa2048-b.pk8")).unwrap()))
}

/// A P-256 key generated for this run.
pub fn p256() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey(JwtSigner::generate(JwtAlg::Es256).unwrap()))
}

/// An Ed25519 key generated for this run.
pub fn ed25519() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey(JwtSigner::generate(JwtAlg::EdDsa).unwrap()))
}

/// The public JWK of a 1024-bit RSA key (too weak to be used).
pub fn weak_rsa_jwk(kid: &str) -> Value {
    let mut jwk: Value = serde_json::from_str(include_str!("keys/rsa1024-public.jwk.json")).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

impl TestKey {
    /// The signer.
    pub fn signer(&self) -> &JwtSigner {
        &self.0
    }

    /// The public JWK with this `kid` (no `alg`, `use: sig`).
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.0.public_jwk();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    /// The public key bytes an attacker might use as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.0.public_key_bytes().unwrap().unwrap()
    }
}

/// `header.payload` of a token, from JSON values.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string()), b64(claims.to_string()))
}

/// The algorithm a header names.
fn header_alg(header: &Value) -> JwtAlg {
    let name = header["alg"].as_str().unwrap();
    JwtAlg::from_name(name).unwrap_or_else(|| panic!("no test signer for {name}"))
}

/// A token with this header and these claims, signed by `key` with the
/// header's `alg`.
pub fn sign(key: &TestKey, header: Value, claims: Value) -> String {
    key.0
        .sign_compact(header_alg(&header), &header.to_string(), &claims.to_string())
        .unwrap()
}

/// A token whose signing input is given as text (for odd JSON), signed by `key`.
pub fn sign_raw(key: &TestKey, alg: &str, header_json: &str, claims_json: &str) -> String {
    let alg = JwtAlg::from_name(alg).unwrap();
    key.0.sign_compact(alg, header_json, claims_json).unwrap()
}

/// An HMAC-signed token (HS256, HS384 or HS512, as the header says).
pub fn sign_hmac(secret: &[u8], header: Value, claims: Value) -> String {
    let alg = header_alg(&header);
    let signer = JwtSigner::hmac(alg, secret).unwrap();
    signer.sign_jwt(&header, &claims).unwrap()
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
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
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
