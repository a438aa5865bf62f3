//! [`DpopKey`]: a client's DPoP key pair (RFC 9449) and the proofs it signs,
//! with the crate's crypto backend (`crypto.rs`); [`DpopSigner`], the core's
//! [`ProofSigner`] port over it. The server's side (checking proofs) is
//! not here.

use std::fmt;
use std::sync::Arc;

use authresult_core::{
    Clock, DpopBinding, DpopPrivateKey, Error as CoreError, ProofRequest, ProofSigner, SystemClock, Timestamp,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use url::Url;
use zeroize::Zeroizing;

use crate::crypto::rand::{SecureRandom as _, SystemRandom};
use crate::crypto::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use crate::dpop::{hash_b64, jwk_thumbprint};
use crate::jose::JwsAlgorithm;
use crate::sign::SigningKey;
use authresult_http::HttpError;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_PROOF_TYP: &str = "dpop+jwt";

/// A DPoP key's PKCS#8 document: the private key, for sealing with a
/// session. `Debug` prints `DpopKeyDer([redacted])`; there is no
/// `Serialize`, and the bytes are zeroed on drop.
#[derive(Clone)]
pub struct DpopKeyDer(Zeroizing<Vec<u8>>);

impl DpopKeyDer {
    /// The DER bytes.
    ///
    /// # Security warning
    ///
    /// They are the private key: seal them, never log them.
    pub fn secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DpopKeyDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DpopKeyDer([redacted])")
    }
}

/// A DPoP key pair: ES256 (P-256, the default) or EdDSA (Ed25519). It signs
/// proofs ([`proof`](Self::proof)) with its public key in their header; it
/// exports as PKCS#8 ([`to_pkcs8`](Self::to_pkcs8), or the session's
/// [`DpopBinding`] through [`to_binding`](Self::to_binding)) to be kept
/// sealed with a session, and reads back from either. `Debug` shows the
/// algorithm and the thumbprint, never the private key.
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<KeyInner>,
    clock: Arc<dyn Clock>,
}

struct KeyInner {
    signing: SigningKey,
    der: DpopKeyDer,
    /// The public JWK with only its required members (RFC 7638 §3.2).
    jwk: Map<String, Value>,
    thumbprint: String,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.algorithm())
            .field("jkt", &self.inner.thumbprint)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn unusable(reason: &'static str) -> HttpError {
    HttpError::InvalidCredential { reason }
}

impl DpopKey {
    /// A new random key for `alg` (`ES256` or `EdDSA`), taking proof times
    /// from the system clock ([`with_clock`](Self::with_clock) to inject one).
    pub fn generate(alg: JwsAlgorithm) -> Result<Self, HttpError> {
        let rng = SystemRandom::new();
        let der = match alg {
            JwsAlgorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
            JwsAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            _ => return Err(unusable("dpop keys are ES256 or EdDSA")),
        }
        .map_err(|_| unusable("the dpop key could not be generated"))?;
        Self::from_pkcs8(der.as_ref(), alg)
    }

    /// The key of a PKCS#8 document made by [`to_pkcs8`](Self::to_pkcs8).
    pub fn from_pkcs8(der: &[u8], alg: JwsAlgorithm) -> Result<Self, HttpError> {
        if !matches!(alg, JwsAlgorithm::Es256 | JwsAlgorithm::EdDsa) {
            return Err(unusable("dpop keys are ES256 or EdDSA"));
        }
        let signing = SigningKey::from_pkcs8_der(der, alg, None)
            .map_err(|_| unusable("the dpop key does not read as pkcs#8 of its algorithm"))?;
        let mut jwk = signing.public_jwk();
        // Only the members that make the key: no `alg`, `use` or `kid`.
        jwk.retain(|name, _| matches!(name.as_str(), "kty" | "crv" | "x" | "y"));
        // The one RFC 7638 rule, the resource server's.
        let thumbprint = jwk_thumbprint(&Value::Object(jwk.clone()).to_string())
            .map_err(|_| unusable("the dpop key has no thumbprint"))?;
        Ok(DpopKey {
            inner: Arc::new(KeyInner {
                signing,
                der: DpopKeyDer(Zeroizing::new(der.to_vec())),
                jwk,
                thumbprint,
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// The key a session keeps ([`DpopBinding`]); an unreadable one is
    /// [`HttpError::InvalidCredential`] (never the key in the message).
    pub fn from_binding(binding: &DpopBinding) -> Result<Self, HttpError> {
        let alg =
            JwsAlgorithm::from_name(&binding.alg).ok_or(unusable("the dpop key's algorithm is unknown"))?;
        let der = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(binding.key.secret())
                .map_err(|_| unusable("the dpop key is not base64url"))?,
        );
        Self::from_pkcs8(&der, alg)
    }

    /// This key as a session keeps it; `bound` tells whether the provider
    /// bound the session's tokens to it (`token_type: DPoP`).
    pub fn to_binding(&self, bound: bool) -> DpopBinding {
        DpopBinding {
            alg: self.algorithm().name().to_owned(),
            key: DpopPrivateKey::new(URL_SAFE_NO_PAD.encode(self.inner.der.secret())),
            bound,
        }
    }

    /// The same key taking proof times (`iat`) from `clock`.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        DpopKey {
            inner: self.inner,
            clock,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.inner.signing.algorithm()
    }

    /// The private key as PKCS#8, in its secret wrapper.
    pub fn to_pkcs8(&self) -> DpopKeyDer {
        self.inner.der.clone()
    }

    /// The public JWK of the proofs' header (required members only).
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.inner.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key (base64url): what
    /// a bound token's `cnf.jkt` and an authorization request's `dpop_jkt` say.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A proof (compact JWS, `typ: dpop+jwt`, the public `jwk` in the
    /// header) of a `htm` request to `htu` now: `jti` fresh and random,
    /// `htu` without query and fragment (RFC 9449 §4.3), `iat` from the
    /// key's clock, `nonce` when the server gave one, and `ath` (the
    /// base64url SHA-256 of `access_token`) when the request carries a token.
    pub fn proof(
        &self,
        htm: &str,
        htu: &Url,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<String, HttpError> {
        self.proof_at(htm, htu, nonce, access_token, self.clock.now())
    }

    /// [`proof`](Self::proof) at `now`.
    pub fn proof_at(
        &self,
        htm: &str,
        htu: &Url,
        nonce: Option<&str>,
        access_token: Option<&str>,
        now: Timestamp,
    ) -> Result<String, HttpError> {
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| unusable("no random bytes for the proof's jti"))?;
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::from(URL_SAFE_NO_PAD.encode(jti)));
        claims.insert("htm".into(), Value::from(htm));
        claims.insert("htu".into(), Value::from(proof_htu(htu)));
        claims.insert("iat".into(), Value::from(now.as_secs()));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), Value::from(nonce));
        }
        if let Some(token) = access_token {
            claims.insert("ath".into(), Value::from(access_token_hash(token)));
        }
        let mut header = Map::new();
        header.insert("jwk".into(), Value::Object(self.inner.jwk.clone()));
        self.inner
            .signing
            .sign_with_header(Some(DPOP_PROOF_TYP), header, &claims)
    }
}

/// The `htu` of a proof: the URL without userinfo, query and fragment (RFC
/// 9449 §4.3; scheme and host lower-case and no default port, as `Url`
/// keeps them).
pub fn proof_htu(url: &Url) -> String {
    let mut htu = url.clone();
    htu.set_query(None);
    htu.set_fragment(None);
    // Fails only for URLs without a host, which have no userinfo.
    let _ = htu.set_username("");
    let _ = htu.set_password(None);
    htu.to_string()
}

/// The `ath` of a proof: base64url SHA-256 of the access token's ASCII.
pub fn access_token_hash(token: &str) -> String {
    String::from_utf8_lossy(&hash_b64(&[token.as_bytes()])).into_owned()
}

/// The core's [`ProofSigner`] over [`DpopKey`]: what an
/// [`AuthManager`](authresult_core::AuthManager) signs resource-request
/// proofs with (`AuthManagerBuilder::proof_signer(Arc::new(DpopSigner::new()))`).
/// It keeps the last key it read (reading a PKCS#8 key costs about as much
/// as a signature), found again by comparing the stored key in constant
/// time. A key that does not read is [`CoreError::DpopKeyUnusable`].
#[derive(Default)]
pub struct DpopSigner {
    last: std::sync::Mutex<Option<(DpopBinding, DpopKey)>>,
}

impl fmt::Debug for DpopSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopSigner").finish_non_exhaustive()
    }
}

impl DpopSigner {
    /// A signer with no key read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of `binding`: the last one read when it is the same.
    fn key_of(&self, binding: &DpopBinding) -> Result<DpopKey, CoreError> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, key)) = last.as_ref()
            && seen.same_key(binding)
        {
            return Ok(key.clone());
        }
        let key = DpopKey::from_binding(binding).map_err(|_| CoreError::DpopKeyUnusable {
            provider: String::new(),
            reason: "the session's dpop key does not read",
        })?;
        *last = Some((binding.clone(), key.clone()));
        Ok(key)
    }
}

impl ProofSigner for DpopSigner {
    fn sign_proof(&self, key: &DpopBinding, request: &ProofRequest<'_>) -> Result<String, CoreError> {
        self.key_of(key)?
            .proof_at(
                request.method,
                request.url,
                request.nonce,
                request.access_token,
                request.now,
            )
            .map_err(|_| CoreError::DpopKeyUnusable {
                provider: String::new(),
                reason: "the session's dpop key does not sign",
            })
    }
}

#[cfg(test)]
mod tests;
