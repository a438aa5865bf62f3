//! `JwtSigner`: the one helper that signs test and benchmark JWTs (RS256,
//! RS384, RS512, PS256, ES256 and EdDSA with `ring`; HS256, HS384 and HS512
//! with `ring::hmac`; RS256 with an RSA key under 2048 bits, which `ring`
//! refuses, with the `rsa` crate), gives the public key as a JWK, and
//! computes `at_hash`.

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use ring::{digest, hmac};
use serde_json::{Value, json};

/// A signature algorithm a [`JwtSigner`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA P-256 with SHA-256 (fixed-size `r || s` signature).
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl JwtAlg {
    /// Every algorithm.
    pub const ALL: [JwtAlg; 9] = [
        JwtAlg::Rs256,
        JwtAlg::Rs384,
        JwtAlg::Rs512,
        JwtAlg::Ps256,
        JwtAlg::Es256,
        JwtAlg::EdDsa,
        JwtAlg::Hs256,
        JwtAlg::Hs384,
        JwtAlg::Hs512,
    ];

    /// The JOSE name (`RS256`, `ES256`, `EdDSA`, `HS256`...).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Rs384 => "RS384",
            JwtAlg::Rs512 => "RS512",
            JwtAlg::Ps256 => "PS256",
            JwtAlg::Es256 => "ES256",
            JwtAlg::EdDsa => "EdDSA",
            JwtAlg::Hs256 => "HS256",
            JwtAlg::Hs384 => "HS384",
            JwtAlg::Hs512 => "HS512",
        }
    }

    /// The algorithm of a JOSE name, spelled exactly.
    pub fn from_name(name: &str) -> Option<JwtAlg> {
        JwtAlg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    fn is_rsa(self) -> bool {
        matches!(
            self,
            JwtAlg::Rs256 | JwtAlg::Rs384 | JwtAlg::Rs512 | JwtAlg::Ps256
        )
    }

    fn is_hmac(self) -> bool {
        matches!(self, JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512)
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
    /// An RSA key `ring` refuses (under 2048 bits): signed with the `rsa` crate.
    WeakRsa(rsa::RsaPrivateKey),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A private key (or an HMAC secret) that signs JWTs.
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

/// The `at_hash` (or `c_hash`) of `access_token` for an algorithm on
/// SHA-256 (RS256, PS256, ES256, HS256): the left half of the token's
/// SHA-256, base64url (OpenID Connect Core §3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    let bytes = hash.as_ref();
    b64(bytes.get(..bytes.len() / 2).unwrap_or_default())
}

/// The DER `DigestInfo` prefix of a SHA-256 hash (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0x04, 0x20,
];

/// PKCS#1 v1.5 signing with SHA-256 for the `rsa` crate, whose own
/// constructor needs the `sha2` crate.
fn rsa_pkcs1_sha256() -> rsa::Pkcs1v15Sign {
    rsa::Pkcs1v15Sign {
        hash_len: Some(digest::SHA256_OUTPUT_LEN),
        prefix: SHA256_DIGEST_INFO.into(),
    }
}

fn rejected(e: ring::error::KeyRejected) -> anyhow::Error {
    anyhow!("ring refused the key: {e}")
}

fn rsa_pair(bits: usize) -> anyhow::Result<RsaKeyPair> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let private =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).context("RSA key generation failed")?;
    let der = private.to_pkcs8_der().context("RSA key to PKCS#8")?;
    RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(rejected)
}

impl JwtSigner {
    /// A fresh key for `alg`: RSA-2048 from the `rsa` crate (ring cannot
    /// generate RSA keys), P-256 and Ed25519 from ring, a random HMAC
    /// secret as long as the hash.
    pub fn generate(alg: JwtAlg) -> anyhow::Result<JwtSigner> {
        let rng = SystemRandom::new();
        let unspecified = |_: ring::error::Unspecified| anyhow!("ring could not generate a key");
        let key = match alg {
            JwtAlg::Rs256 | JwtAlg::Rs384 | JwtAlg::Rs512 | JwtAlg::Ps256 => PrivateKey::Rsa(rsa_pair(2048)?),
            JwtAlg::Es256 => {
                let sig_alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(sig_alg, &rng).map_err(unspecified)?;
                PrivateKey::Ec(EcdsaKeyPair::from_pkcs8(sig_alg, pkcs8.as_ref(), &rng).map_err(rejected)?)
            }
            JwtAlg::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(unspecified)?;
                PrivateKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(rejected)?)
            }
            JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512 => {
                let mut secret = vec![0; hmac_algorithm(alg).digest_algorithm().output_len()];
                rng.fill(&mut secret).map_err(unspecified)?;
                PrivateKey::Hmac(secret)
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

    /// An RS256 signer with a fresh RSA key of `bits` under 2048 (ring
    /// refuses such keys; the `rsa` crate signs): a key a verifier must
    /// refuse as too short.
    pub fn weak_rsa(bits: usize) -> anyhow::Result<JwtSigner> {
        if bits >= 2048 {
            bail!("an RSA key of {bits} bits is not weak: use JwtSigner::generate");
        }
        let key =
            rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).context("RSA key generation failed")?;
        Ok(JwtSigner {
            alg: JwtAlg::Rs256,
            key: PrivateKey::WeakRsa(key),
            rng: SystemRandom::new(),
        })
    }

    /// An HMAC signer (`alg` HS256, HS384 or HS512) with a shared `secret`.
    pub fn hmac(alg: JwtAlg, secret: &[u8]) -> anyhow::Result<JwtSigner> {
        if !alg.is_hmac() {
            bail!("{} is not an HMAC algorithm", alg.name());
        }
        Ok(JwtSigner {
            alg,
            key: PrivateKey::Hmac(secret.to_vec()),
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm [`JwtSigner::sign`] and [`JwtSigner::sign_jwt`] use.
    pub fn alg(&self) -> JwtAlg {
        self.alg
    }

    /// The public key as raw bytes; `None` for an HMAC secret.
    pub fn public_key(&self) -> Option<PublicKey> {
        Some(match &self.key {
            PrivateKey::Rsa(pair) => {
                let public: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                PublicKey::Rsa {
                    n: public.n,
                    e: public.e,
                }
            }
            PrivateKey::WeakRsa(key) => {
                use rsa::traits::PublicKeyParts as _;
                PublicKey::Rsa {
                    n: key.n().to_bytes_be(),
                    e: key.e().to_bytes_be(),
                }
            }
            PrivateKey::Ec(pair) => PublicKey::EcP256(pair.public_key().as_ref().to_vec()),
            PrivateKey::Ed(pair) => PublicKey::Ed25519(pair.public_key().as_ref().to_vec()),
            PrivateKey::Hmac(_) => return None,
        })
    }

    /// The public key in its usual binary form (RSA: the PKCS#1
    /// `RSAPublicKey` DER; P-256: the SEC1 point; Ed25519: its 32 bytes), as
    /// an attacker would use it for an HMAC secret; `None` for an HMAC secret.
    pub fn public_key_bytes(&self) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(match &self.key {
            PrivateKey::Rsa(pair) => pair.public().as_ref().to_vec(),
            PrivateKey::WeakRsa(key) => {
                use rsa::pkcs1::EncodeRsaPublicKey as _;
                let der = key
                    .to_public_key()
                    .to_pkcs1_der()
                    .context("RSA public key to DER")?;
                der.as_bytes().to_vec()
            }
            PrivateKey::Ec(pair) => pair.public_key().as_ref().to_vec(),
            PrivateKey::Ed(pair) => pair.public_key().as_ref().to_vec(),
            PrivateKey::Hmac(_) => return Ok(None),
        }))
    }

    /// The JWK of the key alone (`kty` and key parameters, no `kid`, `alg`
    /// or `use`); for an HMAC secret, the `oct` key with the secret.
    pub fn public_jwk(&self) -> Value {
        match self.public_key() {
            Some(PublicKey::Rsa { n, e }) => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
            Some(PublicKey::EcP256(point)) => {
                // Uncompressed SEC1: 0x04, then x and y of equal length.
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            Some(PublicKey::Ed25519(x)) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
            // Only an HMAC secret has no public key.
            None => match &self.key {
                PrivateKey::Hmac(secret) => json!({"kty": "oct", "k": b64(secret)}),
                _ => json!({}),
            },
        }
    }

    /// [`JwtSigner::public_jwk`] with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.public_jwk();
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(self.alg.name());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The signature of `message` (the JWS signing input) with [`JwtSigner::alg`].
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.sign_as(self.alg, message)
    }

    /// The signature of `message` with `alg`, which must suit the key: any
    /// RSA algorithm for a key of 2048 bits or more, RS256 for a weaker RSA
    /// key, ES256 for P-256, EdDSA for Ed25519, any HMAC for a secret.
    pub fn sign_as(&self, alg: JwtAlg, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let failed = |_: ring::error::Unspecified| anyhow!("signing failed");
        Ok(match (&self.key, alg) {
            (PrivateKey::Rsa(pair), alg) if alg.is_rsa() => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    JwtAlg::Rs384 => &signature::RSA_PKCS1_SHA384,
                    JwtAlg::Rs512 => &signature::RSA_PKCS1_SHA512,
                    JwtAlg::Ps256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &self.rng, message, &mut sig).map_err(failed)?;
                sig
            }
            (PrivateKey::WeakRsa(key), JwtAlg::Rs256) => {
                let hash = digest::digest(&digest::SHA256, message);
                key.sign_with_rng(&mut rsa::rand_core::OsRng, rsa_pkcs1_sha256(), hash.as_ref())
                    .context("RSA signing failed")?
            }
            (PrivateKey::Ec(pair), JwtAlg::Es256) => {
                pair.sign(&self.rng, message).map_err(failed)?.as_ref().to_vec()
            }
            (PrivateKey::Ed(pair), JwtAlg::EdDsa) => pair.sign(message).as_ref().to_vec(),
            (PrivateKey::Hmac(secret), alg) if alg.is_hmac() => {
                let key = hmac::Key::new(hmac_algorithm(alg), secret);
                hmac::sign(&key, message).as_ref().to_vec()
            }
            _ => bail!("a {} key cannot sign {}", self.alg.name(), alg.name()),
        })
    }

    /// A compact JWS of `claims` under `header`, both written as given,
    /// signed with [`JwtSigner::alg`] (whatever the header's `alg` says).
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> anyhow::Result<String> {
        self.sign_compact(
            self.alg,
            &serde_json::to_string(header)?,
            &serde_json::to_string(claims)?,
        )
    }

    /// A compact JWS of the JSON texts `header` and `claims` exactly as
    /// given (key order, spacing, odd JSON), signed with `alg`.
    pub fn sign_compact(&self, alg: JwtAlg, header: &str, claims: &str) -> anyhow::Result<String> {
        let mut token = format!("{}.{}", b64(header), b64(claims));
        let sig = self.sign_as(alg, token.as_bytes())?;
        token.push('.');
        token.push_str(&b64(sig));
        Ok(token)
    }
}

fn hmac_algorithm(alg: JwtAlg) -> hmac::Algorithm {
    match alg {
        JwtAlg::Hs384 => hmac::HMAC_SHA384,
        JwtAlg::Hs512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

#[cfg(test)]
mod tests;
