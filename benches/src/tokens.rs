//! Signing keys, signed access tokens, the key set, and the raw `ring`
//! signature check the validator is measured against.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use authresult_oidc::{IssuerConfig, JwkSet, JwsAlgorithm, TokenValidator};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
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

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key that signs benchmark tokens, with its public JWK.
pub struct Signer {
    alg: Alg,
    key: PrivateKey,
    rng: SystemRandom,
    jwk: Value,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// A fresh key: RSA-2048 from the `rsa` crate (ring cannot generate RSA
    /// keys), P-256 and Ed25519 from ring. Signing is ring's for all three.
    pub fn generate(alg: Alg) -> anyhow::Result<Signer> {
        let rng = SystemRandom::new();
        let bad = |e: ring::error::KeyRejected| anyhow!("ring refused the generated key: {e}");
        let unspecified = |_: ring::error::Unspecified| anyhow!("ring could not generate a key");
        let (key, jwk) = match alg {
            Alg::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey as _;
                let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .context("RSA key generation failed")?;
                let der = private.to_pkcs8_der().context("RSA key to PKCS#8")?;
                let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(bad)?;
                let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
                (PrivateKey::Rsa(pair), jwk)
            }
            Alg::Es256 => {
                let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(unspecified)?;
                let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(bad)?;
                let point = pair.public_key().as_ref();
                let (x, y) = point[1..].split_at(32);
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
                (PrivateKey::Ec(pair), jwk)
            }
            Alg::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(unspecified)?;
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(bad)?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
                (PrivateKey::Ed(pair), jwk)
            }
        };
        let mut jwk = jwk;
        jwk["kid"] = json!(alg.kid());
        jwk["alg"] = json!(alg.name());
        jwk["use"] = json!("sig");
        Ok(Signer { alg, key, rng, jwk })
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
        let mut token = format!(
            "{}.{}",
            b64(serde_json::to_string(&header)?.as_bytes()),
            b64(serde_json::to_string(claims)?.as_bytes())
        );
        let message = token.as_bytes();
        let failed = |_: ring::error::Unspecified| anyhow!("signing failed");
        let sig = match &self.key {
            PrivateKey::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(failed)?;
                sig
            }
            PrivateKey::Ec(pair) => pair.sign(&self.rng, message).map_err(failed)?.as_ref().to_vec(),
            PrivateKey::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&b64(&sig));
        Ok(token)
    }

    /// The public key, parsed the way the validator keeps it.
    pub fn raw_key(&self) -> RawKey {
        match &self.key {
            PrivateKey::Rsa(pair) => RawKey::Rsa(pair.public().into()),
            PrivateKey::Ec(pair) => RawKey::EcP256(pair.public_key().as_ref().to_vec()),
            PrivateKey::Ed(pair) => RawKey::Ed25519(pair.public_key().as_ref().to_vec()),
        }
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
