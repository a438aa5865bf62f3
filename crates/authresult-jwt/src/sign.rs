//! [`SigningKey`]: signs compact JWS with the crate's crypto backend
//! (`crypto.rs`: `ring`, or `aws-lc-rs`). Used for client assertions (`private_key_jwt`, RFC 7523) by
//! `authresult-oidc`; tokens are never issued here.

use std::fmt;

use crate::crypto::rand::SystemRandom;
use crate::crypto::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use crate::crypto::{ecdsa_from_pkcs8, rsa_public};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Map, Value};

use super::jose::JwsAlgorithm;
use authresult_http::HttpError;

/// A private key that signs compact JWS: RS256, PS256 (RSA of at least
/// 2048 bits), ES256, ES384 or EdDSA (Ed25519), read from PKCS#8. `Debug`
/// shows the algorithm and `kid`, never the key.
pub struct SigningKey {
    alg: JwsAlgorithm,
    kid: Option<String>,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

const BAD_KEY: HttpError = HttpError::InvalidCredential {
    reason: "the private key does not fit the algorithm (pkcs#8 expected)",
};

impl SigningKey {
    /// The key of a `PRIVATE KEY` (PKCS#8) PEM block, signing with `alg`;
    /// `kid` goes into every header when given.
    pub fn from_pkcs8_pem(pem: &[u8], alg: JwsAlgorithm, kid: Option<String>) -> Result<Self, HttpError> {
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| HttpError::InvalidCredential {
            reason: "no pkcs#8 private key block found",
        })?;
        let PrivateKeyDer::Pkcs8(der) = key else {
            return Err(HttpError::InvalidCredential {
                reason: "the key must be pkcs#8 (`BEGIN PRIVATE KEY`)",
            });
        };
        Self::from_pkcs8_der(der.secret_pkcs8_der(), alg, kid)
    }

    /// The key of a PKCS#8 DER document, signing with `alg`.
    pub fn from_pkcs8_der(der: &[u8], alg: JwsAlgorithm, kid: Option<String>) -> Result<Self, HttpError> {
        let pair = match alg {
            JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| BAD_KEY)?;
                if crate::crypto::rsa_public(&pair).n.len() < 256 {
                    return Err(HttpError::InvalidCredential {
                        reason: "rsa keys must have at least 2048 bits",
                    });
                }
                Pair::Rsa(pair)
            }
            JwsAlgorithm::Es256 => Pair::Ecdsa(
                ecdsa_from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).ok_or(BAD_KEY)?,
            ),
            JwsAlgorithm::Es384 => Pair::Ecdsa(
                ecdsa_from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der).ok_or(BAD_KEY)?,
            ),
            JwsAlgorithm::EdDsa => {
                Pair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| BAD_KEY)?)
            }
            _ => {
                return Err(HttpError::InvalidCredential {
                    reason: "signing supports RS256, PS256, ES256, ES384 and EdDSA",
                });
            }
        };
        Ok(SigningKey { alg, kid, pair })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.alg
    }

    /// The `kid`, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A compact JWS of `claims` with the header `{"alg", "typ", "kid"}`
    /// (`typ` when given).
    pub fn sign(&self, typ: Option<&str>, claims: &Map<String, Value>) -> Result<String, HttpError> {
        self.sign_with_header(typ, Map::new(), claims)
    }

    /// [`sign`](Self::sign) with `extra` members in the header besides
    /// `alg`, `typ` and `kid` (a DPoP proof's `jwk`).
    pub(crate) fn sign_with_header(
        &self,
        typ: Option<&str>,
        extra: Map<String, Value>,
        claims: &Map<String, Value>,
    ) -> Result<String, HttpError> {
        let mut header = Map::new();
        header.insert("alg".into(), Value::from(self.alg.name()));
        if let Some(typ) = typ {
            header.insert("typ".into(), Value::from(typ));
        }
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), Value::from(kid.as_str()));
        }
        header.extend(extra);
        let encode = |value: &Map<String, Value>| {
            serde_json::to_vec(value)
                .map(|json| URL_SAFE_NO_PAD.encode(json))
                .map_err(|_| HttpError::InvalidCredential {
                    reason: "the claims do not serialize",
                })
        };
        let input = format!("{}.{}", encode(&header)?, encode(claims)?);
        let rng = SystemRandom::new();
        let failed = |_| HttpError::InvalidCredential {
            reason: "signing failed",
        };
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let padding: &dyn signature::RsaEncoding = match self.alg {
                    JwsAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; rsa_public(pair).n.len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut out)
                    .map_err(failed)?;
                out
            }
            Pair::Ecdsa(pair) => pair
                .sign(&rng, input.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Pair::Ed25519(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The public key as a JWK (with `kid`, `alg` and `use: sig`), to
    /// register with the provider.
    pub fn public_jwk(&self) -> Map<String, Value> {
        let mut jwk = Map::new();
        let b64 = |bytes: &[u8]| Value::from(URL_SAFE_NO_PAD.encode(bytes));
        match &self.pair {
            Pair::Rsa(pair) => {
                let components = rsa_public(pair);
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), b64(&components.n));
                jwk.insert("e".into(), b64(&components.e));
            }
            Pair::Ecdsa(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let half = (point.len().saturating_sub(1)) / 2;
                let (x, y) = point.get(1..).unwrap_or_default().split_at(half);
                jwk.insert("kty".into(), "EC".into());
                let crv = if self.alg == JwsAlgorithm::Es384 {
                    "P-384"
                } else {
                    "P-256"
                };
                jwk.insert("crv".into(), crv.into());
                jwk.insert("x".into(), b64(x));
                jwk.insert("y".into(), b64(y));
            }
            Pair::Ed25519(pair) => {
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), b64(pair.public_key().as_ref()));
            }
        }
        jwk.insert("alg".into(), self.alg.name().into());
        jwk.insert("use".into(), "sig".into());
        if let Some(kid) = &self.kid {
            jwk.insert("kid".into(), kid.as_str().into());
        }
        jwk
    }
}

#[cfg(test)]
mod tests;
