//! The headers of a request to a resource server with a session's token:
//! DPoP-bound (`Authorization: DPoP` + a proof with `ath`, RFC 9449 §7) or
//! bearer, and the resource server's `DPoP-Nonce` kept for the next proof.

use url::Url;

use super::AuthManager;
use crate::dpop::{ProofRequest, ResourceHeaders, nonce_origin};
use crate::error::Error;
use crate::events::AuthEvent;
use crate::store::is_valid_dpop_nonce;

impl AuthManager {
    /// The headers of a `method` request to `url` with `provider`'s access
    /// token (refreshed first when needed, as
    /// [`access_token`](Self::access_token) does):
    ///
    /// * a bound session (the provider answered `token_type: DPoP`, or the
    ///   JWT access token names a key, `cnf.jkt`):
    ///   `Authorization: DPoP <token>` and `DPoP: <proof>`, a fresh proof of
    ///   `method` and `url` with the token's hash (`ath`) and the last nonce
    ///   the server at `url`'s origin gave
    ///   ([`record_dpop_nonce`](Self::record_dpop_nonce));
    /// * otherwise `Authorization: Bearer <token>`.
    ///
    /// A bound session never goes out as bearer: when its key is missing
    /// (a JWT access token names a key, `cnf.jkt`, that the session does
    /// not hold) or unreadable, the session ends and the answer is
    /// [`Error::DpopKeyUnusable`]: the user logs in again. Without a
    /// [`proof_signer`](crate::AuthManagerBuilder::proof_signer), a bound
    /// session is [`Error::InvalidConfig`].
    pub async fn resource_headers(
        &self,
        provider: &str,
        method: &str,
        url: &Url,
    ) -> Result<ResourceHeaders, Error> {
        let session = self.fresh_session(provider).await?;
        let token = session.auth.access_token.secret();
        // A token naming a key (`cnf.jkt`) is bound whatever the session's
        // flag says (a provider that answered `Bearer`, an edited row).
        let names_key = names_a_key(token);
        let Some(binding) = session.auth.dpop.as_ref().filter(|b| b.bound || names_key) else {
            if names_key {
                return Err(self
                    .end_unusable(
                        provider,
                        &session,
                        "the token is bound (`cnf.jkt`) but the session holds no key",
                    )
                    .await);
            }
            return Ok(ResourceHeaders {
                authorization: format!("Bearer {token}"),
                dpop: None,
            });
        };
        let signer = self
            .inner
            .proof_signer
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig {
                field: "proof_signer".into(),
                reason: "is not set, and the session's tokens are DPoP-bound".into(),
            })?;
        let nonce = self
            .inner
            .stores
            .nonces
            .dpop_nonce(&self.inner.tenant, &nonce_origin(url))
            .await?;
        let request = ProofRequest {
            method,
            url,
            nonce: nonce.as_deref(),
            access_token: Some(token),
            now: self.now(),
        };
        match signer.sign_proof(binding, &request) {
            Ok(proof) => Ok(ResourceHeaders {
                authorization: format!("DPoP {token}"),
                dpop: Some(proof),
            }),
            Err(Error::DpopKeyUnusable { reason, .. }) => {
                Err(self.end_unusable(provider, &session, reason).await)
            }
            Err(other) => Err(other),
        }
    }

    /// Keeps the `DPoP-Nonce` a server answered for `url` (RFC 9449 §8/§9:
    /// with a `use_dpop_nonce` error, or on any answer) as the nonce of its
    /// origin for every process of the app; the next
    /// [`resource_headers`](Self::resource_headers) for that origin uses
    /// it. Call it, then retry the refused request once with new headers.
    /// A nonce that is not one (empty, too long, characters the RFC does
    /// not allow) is refused with [`Error::InvalidConfig`] naming the header
    /// and not kept.
    pub async fn record_dpop_nonce(&self, url: &Url, nonce: &str) -> Result<(), Error> {
        if !is_valid_dpop_nonce(nonce) {
            return Err(Error::InvalidConfig {
                field: "DPoP-Nonce".into(),
                reason: "is not a nonce (RFC 9449 §8.1)".into(),
            });
        }
        tracing::debug!(event = "dpop.nonce_recorded", origin = %nonce_origin(url), "resource server's dpop nonce kept");
        self.inner
            .stores
            .nonces
            .set_dpop_nonce(&self.inner.tenant, &nonce_origin(url), nonce)
            .await
    }

    /// Ends `session` (its key is lost or unreadable) and answers why.
    async fn end_unusable(&self, provider: &str, session: &crate::Session, reason: &'static str) -> Error {
        if let Ok((name, slot)) = self.slot(provider) {
            // Only this login's version ends; a newer one stays.
            if let Ok(true) = self.inner.stores.sessions.remove_if_current(session).await {
                Self::forget(slot);
                self.inner.events.emit(AuthEvent::LoggedOut {
                    provider: name.clone(),
                });
            }
        }
        Error::DpopKeyUnusable {
            provider: provider.to_owned(),
            reason,
        }
    }
}

/// True when `token` is a JWT naming a confirmation key (`cnf.jkt`): a
/// bound token, useless without its key.
fn names_a_key(token: &str) -> bool {
    crate::jwt::peek_claims(token)
        .and_then(|claims| claims.get("cnf").cloned())
        .is_some_and(|cnf| cnf.get("jkt").is_some())
}

#[cfg(test)]
mod tests;
