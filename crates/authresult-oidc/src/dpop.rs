//! DPoP (RFC 9449) on the provider's requests: a proof signed with the
//! session's key on every token request (and the pushed authorization
//! request), the server's `DPoP-Nonce` kept per origin in the app's
//! [`NonceStore`] (shared by its processes), and one retry when the server
//! answers `use_dpop_nonce`. The key and the proofs are `authresult-jwt`'s
//! [`DpopKey`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use authresult_core::{
    AuthResult, DpopMode, Error as CoreError, NonceStore, TenantId, is_valid_dpop_nonce, nonce_origin,
};
use authresult_jwt::{DpopKey, JwsAlgorithm};
use http::HeaderValue;
use url::Url;

use crate::error::{Endpoint, OidcError};

/// The `DPoP` request header and the `DPoP-Nonce` answer header.
pub(crate) const DPOP_HEADER: &str = "dpop";
pub(crate) const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// Where a provider keeps the servers' DPoP nonces: the app's store
/// ([`Stores::nonces`](authresult_core::Stores), so every process of the
/// app shares them) under its tenant. Without one
/// ([`OidcOptions::dpop_nonces`](crate::OidcOptions::dpop_nonces) `None`),
/// each provider keeps its own in memory.
#[derive(Clone)]
pub struct DpopNonces {
    /// The tenant (app) the nonces are kept under.
    pub tenant: TenantId,
    /// The store.
    pub store: Arc<dyn NonceStore>,
}

impl DpopNonces {
    /// Nonces of `tenant` in `store`.
    pub fn new(tenant: impl Into<TenantId>, store: Arc<dyn NonceStore>) -> Self {
        DpopNonces {
            tenant: tenant.into(),
            store,
        }
    }

    /// A provider's own nonces, in memory.
    pub(crate) fn local() -> Self {
        DpopNonces {
            tenant: TenantId::new(""),
            store: Arc::new(LocalNonces::default()),
        }
    }
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// Nonces in this process's memory.
#[derive(Debug, Default)]
struct LocalNonces(Mutex<BTreeMap<String, String>>);

#[async_trait]
impl NonceStore for LocalNonces {
    async fn dpop_nonce(&self, _tenant: &TenantId, origin: &str) -> Result<Option<String>, CoreError> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(origin).cloned())
    }

    async fn set_dpop_nonce(&self, _tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), CoreError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(origin.to_owned(), nonce.to_owned());
        Ok(())
    }
}

/// A session's key and where its nonces are kept: what signs the proofs of
/// one login's or refresh's requests.
#[derive(Clone, Debug)]
pub(crate) struct Proofs {
    pub(crate) key: DpopKey,
    nonces: DpopNonces,
}

impl Proofs {
    pub(crate) fn new(key: DpopKey, nonces: DpopNonces) -> Self {
        Proofs { key, nonces }
    }

    /// The last nonce of `url`'s origin; a store that cannot answer is
    /// treated as "none yet" (the server then asks for one, and we retry).
    pub(crate) async fn nonce(&self, url: &Url) -> Option<String> {
        self.nonces
            .store
            .dpop_nonce(&self.nonces.tenant, &nonce_origin(url))
            .await
            .ok()
            .flatten()
    }

    /// Keeps the `DPoP-Nonce` of an answer from `url`, when it carries a
    /// valid one; answers it.
    pub(crate) async fn remember(&self, url: &Url, headers: &http::HeaderMap) -> Option<String> {
        let nonce = headers.get(DPOP_NONCE_HEADER)?.to_str().ok()?;
        if !is_valid_dpop_nonce(nonce) {
            return None;
        }
        // A store that cannot keep it costs a round trip next time, no more.
        let _ = self
            .nonces
            .store
            .set_dpop_nonce(&self.nonces.tenant, &nonce_origin(url), nonce)
            .await;
        Some(nonce.to_owned())
    }

    /// Sets the `DPoP` header of `request` to a fresh proof with `nonce`.
    pub(crate) fn sign(
        &self,
        endpoint: Endpoint,
        request: &mut http::Request<Vec<u8>>,
        url: &Url,
        nonce: Option<&str>,
    ) -> Result<(), OidcError> {
        let proof = self
            .key
            .proof(request.method().as_str(), url, nonce, None)
            .map_err(|_| OidcError::DpopKeyUnusable {
                reason: "the key did not sign",
            })?;
        let value = HeaderValue::from_str(&proof)
            .map_err(|_| OidcError::malformed(endpoint, "the dpop proof is not a header value"))?;
        request.headers_mut().insert(DPOP_HEADER, value);
        Ok(())
    }
}

/// A copy of `request` (method, target, headers, body) for its retry.
pub(crate) fn copy_request(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Whether a login uses DPoP, from the provider's mode and discovery:
/// `Ok(Some(alg))` to make a key, `Ok(None)` for bearer, an error when
/// DPoP is required and the provider does not advertise `alg`.
pub(crate) fn login_algorithm(
    mode: DpopMode,
    alg: JwsAlgorithm,
    advertised: Option<&[String]>,
) -> Result<Option<JwsAlgorithm>, OidcError> {
    let supported = advertised.is_some_and(|algs| algs.iter().any(|a| a == alg.name()));
    match mode {
        DpopMode::Off => Ok(None),
        DpopMode::Required if !supported => Err(OidcError::DpopUnsupported { alg: alg.name() }),
        _ if supported => Ok(Some(alg)),
        _ => Ok(None),
    }
}

/// True for a `token_type` of `DPoP` (case-insensitive, RFC 9449 §5).
pub(crate) fn is_dpop_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("dpop")
}

/// The key a session to refresh holds: `None` for a session without one,
/// [`OidcError::DpopKeyUnusable`] for one that does not read.
pub(crate) fn session_key(previous: &AuthResult) -> Result<Option<DpopKey>, OidcError> {
    previous
        .dpop
        .as_ref()
        .map(|binding| {
            DpopKey::from_binding(binding).map_err(|_| OidcError::DpopKeyUnusable {
                reason: "the stored key does not read",
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests;
