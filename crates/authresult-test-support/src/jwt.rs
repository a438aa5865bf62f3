//! `JwtSigner`: the one helper that signs test and benchmark JWTs (RS256,
//! ES256, EdDSA) with `ring`, and gives the public key as a JWK.

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

/// A signature algorithm a [`JwtSigner`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256 (fixed-size `r || s` signature).
    Es256,
    /// Ed25519.
    EdDsa,
}

impl JwtAlg {
    /// The JOSE name (`RS256`, `ES256`, `EdDSA`).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Es256 => "ES256",
            JwtAlg::EdDsa => "EdDSA",
        }
    }
}

/// The public half of a [`JwtSigner`]'s key, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent (big-endian).
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// The uncompressed SEC1 point of a P-256 key.
    EcP256(Vec<u8>),
    /// The 32 bytes of an Ed25519 key.
    Ed25519(Vec<u8>),
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key that signs JWTs.
pub struct JwtSigner {
    alg: JwtAlg,
    key: PrivateKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Unpadded base64url, as JOSE writes it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rejected(e: ring::error::KeyRejected) -> anyhow::Error {
    anyhow!("ring refused the key: {e}")
}

impl JwtSigner {
    /// A fresh key: RSA-2048 from the `rsa` crate (ring cannot generate RSA
    /// keys), P-256 and Ed25519 from ring.
    pub fn generate(alg: JwtAlg) -> anyhow::Result<JwtSigner> {
        let rng = SystemRandom::new();
        let unspecified = |_: ring::error::Unspecified| anyhow!("ring could not generate a key");
        let key = match alg {
            JwtAlg::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey as _;
                let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .context("RSA key generation failed")?;
                let der = private.to_pkcs8_der().context("RSA key to PKCS#8")?;
                PrivateKey::Rsa(RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(rejected)?)
            }
            JwtAlg::Es256 => {
                let sig_alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(sig_alg, &rng).map_err(unspecified)?;
                PrivateKey::Ec(EcdsaKeyPair::from_pkcs8(sig_alg, pkcs8.as_ref(), &rng).map_err(rejected)?)
            }
            JwtAlg::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(unspecified)?;
                PrivateKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(rejected)?)
            }
        };
        Ok(JwtSigner { alg, key, rng })
    }

    /// An RS256 signer from a PKCS#8 DER RSA key (a fixed test key).
    pub fn rsa_from_pkcs8(der: &[u8]) -> anyhow::Result<JwtSigner> {
        Ok(JwtSigner {
            alg: JwtAlg::Rs256,
            key: PrivateKey::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> JwtAlg {
        self.alg
    }

    /// The public key as raw bytes.
    pub fn public_key(&self) -> PublicKey {
        match &self.key {
            PrivateKey::Rsa(pair) => {
                let public: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                PublicKey::Rsa {
                    n: public.n,
                    e: public.e,
                }
            }
            PrivateKey::Ec(pair) => PublicKey::EcP256(pair.public_key().as_ref().to_vec()),
            PrivateKey::Ed(pair) => PublicKey::Ed25519(pair.public_key().as_ref().to_vec()),
        }
    }

    /// The public JWK with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = match self.public_key() {
            PublicKey::Rsa { n, e } => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
            PublicKey::EcP256(point) => {
                // Uncompressed SEC1: 0x04, then x and y of equal length.
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            PublicKey::Ed25519(x) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
        };
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(self.alg.name());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The signature of `message` (the JWS signing input).
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let failed = |_: ring::error::Unspecified| anyhow!("signing failed");
        Ok(match &self.key {
            PrivateKey::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(failed)?;
                sig
            }
            PrivateKey::Ec(pair) => pair.sign(&self.rng, message).map_err(failed)?.as_ref().to_vec(),
            PrivateKey::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        })
    }

    /// A compact JWS of `claims` under `header`, both written as given.
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> anyhow::Result<String> {
        let mut token = format!(
            "{}.{}",
            b64(serde_json::to_string(header)?),
            b64(serde_json::to_string(claims)?)
        );
        let sig = self.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64(sig));
        Ok(token)
    }
}

#[cfg(test)]
mod tests;
