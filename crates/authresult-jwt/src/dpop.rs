//! DPoP on the resource server (RFC 9449): [`DpopConfig`] (which proofs are
//! accepted, the replay cache, optional server nonces), [`DpopRequest`] (a
//! request's proof, method and URI), the RFC 7638 thumbprint
//! ([`jwk_thumbprint`]) and the check of a proof against the token it
//! comes with.
//!
//! By job: `proof.rs` parses and verifies a proof (one pass, no JSON tree:
//! a few borrowed members), `htu.rs` compares URIs as RFC 9449 §4.3 says,
//! `thumbprint.rs` hashes keys, `nonce.rs` issues and checks stateless
//! server nonces. The proof is checked on every request; only the token's
//! validation is cached.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authresult_core::{MemoryReplayCache, ReplayCache, Timestamp};

use super::claims::ValidatedToken;
use super::error::{DpopProofReason, UpstreamEndpoint, ValidationError};
use super::jose::JwsAlgorithm;

mod htu;
mod nonce;
pub(crate) mod proof;
mod thumbprint;

pub use nonce::DpopNonces;
pub use proof::DEFAULT_MAX_PROOF_LEN;
pub(crate) use thumbprint::hash_b64;
pub use thumbprint::jwk_thumbprint;

/// The proof algorithms accepted by default: `ES256`, `ES384`, `EdDSA`,
/// `PS256` and `RS256`.
pub const DEFAULT_DPOP_ALGORITHMS: &[JwsAlgorithm] = &[
    JwsAlgorithm::Es256,
    JwsAlgorithm::Es384,
    JwsAlgorithm::EdDsa,
    JwsAlgorithm::Ps256,
    JwsAlgorithm::Rs256,
];

/// How a [`TokenValidator`](crate::TokenValidator) checks DPoP proofs
/// (RFC 9449); given to
/// [`TokenValidatorBuilder::dpop`](crate::TokenValidatorBuilder::dpop).
///
/// A proof is accepted when its `typ` is `dpop+jwt`, its algorithm is one
/// of [`algorithms`](Self::algorithms) (never `none` or `HS*`), its `jwk`
/// header is a public key (no private members) that verifies its
/// signature, `htm` and `htu` are the request's method and URI, `iat` is no
/// older than [`max_age`](Self::max_age) and no further ahead than
/// [`future_skew`](Self::future_skew), `ath` is the hash of the presented
/// token, the `nonce` is the server's (with [`nonces`](Self::nonces)), and
/// its key and `jti` were not seen within the window (the
/// [`replay_cache`](Self::replay_cache), per process by default). A token
/// bound to a key (`cnf.jkt`) needs a proof by that key.
#[derive(Clone)]
pub struct DpopConfig {
    pub(crate) algorithms: Vec<JwsAlgorithm>,
    pub(crate) max_age: Duration,
    pub(crate) future_skew: Duration,
    pub(crate) replay: Arc<dyn ReplayCache>,
    pub(crate) nonces: Option<DpopNonces>,
    pub(crate) accept_unbound: bool,
    pub(crate) max_proof_len: usize,
}

impl fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopConfig")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("future_skew", &self.future_skew)
            .field("nonces", &self.nonces.is_some())
            .field("accept_unbound", &self.accept_unbound)
            .finish_non_exhaustive()
    }
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig::new()
    }
}

impl DpopConfig {
    /// The defaults: [`DEFAULT_DPOP_ALGORITHMS`], proofs up to 60 s old and
    /// 5 s ahead, the [`MemoryReplayCache`] of this process (one for every
    /// default config, so a proof used with one validator, e.g. one app's,
    /// is refused by every other of the process), no nonces, unbound tokens
    /// accepted with a valid proof.
    pub fn new() -> Self {
        DpopConfig {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(60),
            future_skew: Duration::from_secs(5),
            replay: process_replay_cache(),
            nonces: None,
            accept_unbound: true,
            max_proof_len: DEFAULT_MAX_PROOF_LEN,
        }
    }

    /// The proof algorithms accepted; symmetric ones are dropped (a proof
    /// is signed with the client's private key).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = JwsAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().filter(|a| !a.is_symmetric()).collect();
        self
    }

    /// How old a proof's `iat` may be (default 60 s). Also how long its
    /// `jti` is remembered.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead of this server's clock a proof's `iat` may be
    /// (default 5 s).
    pub fn future_skew(mut self, skew: Duration) -> Self {
        self.future_skew = skew;
        self
    }

    /// Where used proofs are remembered: a [`MemoryReplayCache`] of this
    /// process by default; `authresult-store`'s `PostgresStore` to refuse a
    /// proof replayed against another instance of the server.
    pub fn replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = cache;
        self
    }

    /// Requires the server's nonce in every proof (RFC 9449 §8). Instances
    /// with the same secret accept each other's nonces.
    pub fn nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Whether a token that is not bound to a key (no `cnf.jkt`) is accepted
    /// with the `DPoP` scheme and a valid proof (default true: RFC 9449 §7.1
    /// lets a resource server accept it; the proof is still checked in
    /// full, `ath` included). False refuses it with
    /// [`ValidationError::NotDpopBound`].
    pub fn accept_unbound_tokens(mut self, accept: bool) -> Self {
        self.accept_unbound = accept;
        self
    }

    /// Longer proofs are refused before parsing (default
    /// [`DEFAULT_MAX_PROOF_LEN`]).
    pub fn max_proof_len(mut self, bytes: usize) -> Self {
        self.max_proof_len = bytes;
        self
    }

    /// The accepted algorithms, for the `algs` of a challenge.
    pub fn accepted_algorithms(&self) -> &[JwsAlgorithm] {
        &self.algorithms
    }

    /// The nonce a client should use now, when nonces are required.
    pub fn current_nonce(&self, now: Timestamp) -> Option<String> {
        self.nonces.as_ref().map(|n| n.current(now))
    }

    pub(crate) fn check_setup(&self) -> Result<(), ValidationError> {
        if self.algorithms.is_empty() {
            return Err(ValidationError::config("dpop accepts no asymmetric algorithm"));
        }
        Ok(())
    }

    /// Checks `request`'s proof for `token`, already validated as
    /// `validated`: the proof itself, the binding, then (last, so a refused
    /// proof is never remembered) the replay cache.
    pub(crate) async fn check(
        &self,
        validated: &ValidatedToken,
        token: &str,
        request: &DpopRequest<'_>,
        now: Timestamp,
    ) -> Result<(), ValidationError> {
        let bound = validated.dpop_thumbprint();
        if bound.is_none() && !self.accept_unbound {
            return Err(ValidationError::NotDpopBound);
        }
        let proof = proof::verify(self, request, Some(token), now)?;
        if let Some(jkt) = bound
            && jkt.as_bytes() != proof.thumbprint.as_slice()
        {
            return Err(ValidationError::dpop(DpopProofReason::KeyMismatch));
        }
        let expires_at = proof.iat.saturating_add(self.max_age).saturating_add_secs(1);
        match self.replay.first_use(proof.replay_key(), expires_at, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ValidationError::dpop(DpopProofReason::Replayed)),
            Err(error) => Err(ValidationError::Unavailable {
                endpoint: UpstreamEndpoint::ReplayCache,
                reason: error.to_string(),
            }),
        }
    }
}

/// The replay cache of every [`DpopConfig::new`] of this process: the
/// replay key (the proof key's thumbprint and `jti`) means the same to
/// every validator, so a proof accepted by one is a replay for the others.
fn process_replay_cache() -> Arc<dyn ReplayCache> {
    static CACHE: OnceLock<Arc<MemoryReplayCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| Arc::new(MemoryReplayCache::default()))
        .clone()
}

/// The DPoP part of one request: the `DPoP` header's proof, the request's
/// method and its absolute URI as the client addressed it (the public
/// origin of the server and the path; a query or fragment is ignored).
///
/// Behind a proxy the `Host` header may not be what the client used:
/// build the URI from the configured public origin (as
/// [`BearerAuthLayer::dpop`](crate::BearerAuthLayer) does), not from
/// forwarded headers.
#[derive(Clone, Copy)]
pub struct DpopRequest<'a> {
    pub(crate) proof: &'a str,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
}

impl fmt::Debug for DpopRequest<'_> {
    /// The method and URI; the proof stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl<'a> DpopRequest<'a> {
    /// `proof` (the `DPoP` header's value) for a `method` request to `uri`
    /// (absolute: `https://api.example.org/sync`).
    pub fn new(proof: &'a str, method: &'a str, uri: &'a str) -> Self {
        DpopRequest { proof, method, uri }
    }
}

#[cfg(test)]
mod tests;
