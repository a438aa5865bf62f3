//! Signing keys, signed access tokens, the key set, and the raw `ring`
//! signature check the validator is measured against.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use authresult_oidc::jwt::{IssuerConfig, JwkSet, JwsAlgorithm, TokenValidator};
use authresult_test_support::{JwtAlg, JwtSigner, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Value, json};

/// The issuer of the benchmark tokens.
pub const ISSUER: &str = "https://id.example.org/realms/field";
/// The audience of the benchmark tokens (and the one the validator expects).
pub const AUDIENCE: &str = "urn:authresult:api";

/// A signature algorithm of the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in table order.
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JOSE name (`RS256`, ...).
    pub fn name(self) -> &'static str {
        self.jws().name()
    }

    /// The validator's algorithm.
    pub fn jws(self) -> JwsAlgorithm {
        match self {
            Alg::Rs256 => JwsAlgorithm::Rs256,
            Alg::Es256 => JwsAlgorithm::Es256,
            Alg::EdDsa => JwsAlgorithm::EdDsa,
        }
    }

    /// Lower-case id used in benchmark names (`rs256`, ...).
    pub fn id(self) -> &'static str {
        match self {
            Alg::Rs256 => "rs256",
            Alg::Es256 => "es256",
            Alg::EdDsa => "eddsa",
        }
    }

    /// The `kid` of the benchmark key.
    pub fn kid(self) -> &'static str {
        match self {
            Alg::Rs256 => "bench-rs256",
            Alg::Es256 => "bench-es256",
            Alg::EdDsa => "bench-eddsa",
        }
    }
}

/// A private key that signs benchmark tokens ([`JwtSigner`] of
/// `authresult-test-support`), with its public JWK.
#[derive(Debug)]
pub struct Signer {
    alg: Alg,
    key: JwtSigner,
    jwk: Value,
}

impl Signer {
    /// A fresh key: RSA-2048, P-256 or Ed25519; signing is ring's for all three.
    pub fn generate(alg: Alg) -> anyhow::Result<Signer> {
        let key = JwtSigner::generate(match alg {
            Alg::Rs256 => JwtAlg::Rs256,
            Alg::Es256 => JwtAlg::Es256,
            Alg::EdDsa => JwtAlg::EdDsa,
        })?;
        let jwk = key.jwk(alg.kid());
        Ok(Signer { alg, key, jwk })
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public JWK (`kid`, `alg`, `use` set).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A compact JWS of `claims` with header `{alg, typ: at+jwt, kid}`.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let header = json!({"alg": self.alg.name(), "typ": "at+jwt", "kid": self.alg.kid()});
        self.key.sign_jwt(&header, claims)
    }

    /// The public key, parsed the way the validator keeps it.
    pub fn raw_key(&self) -> anyhow::Result<RawKey> {
        Ok(match self.key.public_key() {
            Some(PublicKey::Rsa { n, e }) => RawKey::Rsa(RsaPublicKeyComponents { n, e }),
            Some(PublicKey::EcP256(point)) => RawKey::EcP256(point),
            Some(PublicKey::Ed25519(key)) => RawKey::Ed25519(key),
            None => bail!("a {} signer has no public key", self.alg.name()),
        })
    }
}

/// A public key ready for ring, as the validator holds it after parsing the
/// key set once: RSA as (n, e), EC as the SEC1 point, Ed25519 as 32 bytes.
#[derive(Debug, Clone)]
pub enum RawKey {
    /// RSA modulus and exponent.
    Rsa(RsaPublicKeyComponents<Vec<u8>>),
    /// Uncompressed P-256 point.
    EcP256(Vec<u8>),
    /// Ed25519 public key.
    Ed25519(Vec<u8>),
}

impl RawKey {
    /// ring's check of `sig` over `message`: exactly the call the validator makes.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            RawKey::Rsa(key) => key
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            RawKey::EcP256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok(),
            RawKey::Ed25519(key) => UnparsedPublicKey::new(&signature::ED25519, key)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// A token split for the raw check: the signed bytes and the decoded signature.
#[derive(Debug, Clone)]
pub struct RawToken {
    /// `base64url(header) "." base64url(payload)`.
    pub signing_input: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl RawToken {
    /// Splits a compact JWS.
    pub fn split(token: &str) -> anyhow::Result<RawToken> {
        let Some((signing_input, signature)) = token.rsplit_once('.') else {
            bail!("not a compact JWS");
        };
        Ok(RawToken {
            signing_input: signing_input.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(signature)?,
        })
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims of a typical RFC 9068 access token, `n` making it unique
/// (`jti`), valid for an hour from now.
pub fn access_claims(alg: Alg, n: u64) -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "sub": format!("f3b9c2a0-5d1e-4c7a-9e42-{:012x}", n % 1000),
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now - 5,
        "auth_time": now - 60,
        "jti": format!("{}-{n:08}-6f1c2e9a", alg.id()),
        "client_id": "native-app",
        "sid": "0b6d7c3e-8a51-4f0e-b2a4-1d9e7c6a5b43",
        "scope": "openid profile email sync:read sync:write",
    })
}

/// `count` distinct signed access tokens.
pub fn tokens(signer: &Signer, count: u64) -> anyhow::Result<Vec<String>> {
    (0..count)
        .map(|n| signer.sign(&access_claims(signer.alg(), n)))
        .collect()
}

/// `{"keys": [...]}` of the signers' public keys.
pub fn jwks_json(signers: &[&Signer]) -> String {
    let keys: Vec<&Value> = signers.iter().map(|s| s.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

/// A validator trusting [`ISSUER`] with this fixed key set (so the keys are
/// cached from the start), all three algorithms allowed, and a token cache
/// of `cache_capacity` entries (`None`: the default, 10 000).
pub fn validator(jwks: &str, cache_capacity: Option<usize>) -> anyhow::Result<TokenValidator> {
    let keys = JwkSet::from_json(jwks.as_bytes())?;
    let issuer = IssuerConfig::new(ISSUER)
        .audience(AUDIENCE)
        .algorithms(Alg::ALL.map(Alg::jws))
        .jwks(keys);
    let mut builder = TokenValidator::builder().issuer(issuer);
    if let Some(capacity) = cache_capacity {
        builder = builder.cache_capacity(capacity);
    }
    Ok(builder.build()?)
}
