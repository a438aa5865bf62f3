//! The nonces port: the last `DPoP-Nonce` (RFC 9449 §8) each server gave,
//! per tenant and origin, shared by every process of the app.

use async_trait::async_trait;

use crate::error::Error;
use crate::session::TenantId;

/// The longest nonce kept: a server's nonce is opaque but short; a longer
/// one is refused before it reaches a store.
pub const MAX_DPOP_NONCE_LEN: usize = 1024;

/// True for a nonce as RFC 9449 §8.1 allows it (`1*NQCHAR`: visible ASCII
/// but `"` and `\`), of at most [`MAX_DPOP_NONCE_LEN`] bytes: the only
/// nonces kept and sent.
pub fn is_valid_dpop_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= MAX_DPOP_NONCE_LEN
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// Persistence for the servers' DPoP nonces: one of the store ports (see
/// [`Stores`](crate::Stores)). A nonce is no secret (the server sends it
/// in a header); keeping it in the store lets every process of the app
/// use the latest one, so a nonce rotation costs the app one extra round
/// trip, not one per process. `origin` is [`nonce_origin`](crate::nonce_origin)
/// of the server's URL.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// The last nonce of `origin` for `tenant`.
    async fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, Error>;

    /// Keeps `nonce` as the last nonce of `origin` for `tenant`, replacing
    /// the one before.
    async fn set_dpop_nonce(&self, tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), Error>;
}
