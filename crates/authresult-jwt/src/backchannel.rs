//! [`BackchannelLogout`]: the receiver of OpenID Connect Back-Channel Logout
//! 1.0. A logout token is checked with the validator's JOSE code and the
//! issuer's key set ([`SharedKeySet`]), then recorded in the
//! [`RevocationList`], so every instance refuses the tokens it ends.
//!
//! By job: `claims.rs` (the logout token's claims), `replay.rs` (the `jti`s
//! received), `service.rs` (the HTTP endpoint, feature `tower`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::Timestamp;

use crate::error::{UpstreamEndpoint, ValidationError};
use crate::jose::{DEFAULT_MAX_TOKEN_LEN, TypHeader, UnverifiedJwt};
use crate::revocation::RevocationList;
use crate::validator::SharedKeySet;

mod claims;
mod replay;
#[cfg(feature = "tower")]
mod service;

pub use claims::BACKCHANNEL_LOGOUT_EVENT;
pub(crate) use claims::{Expected, check_claims};
use replay::SeenTokens;

/// The oldest logout token accepted by default, by its `iat`.
pub const DEFAULT_LOGOUT_TOKEN_WINDOW: Duration = Duration::from_secs(120);
/// The clock difference allowed with the provider by default.
pub const DEFAULT_LOGOUT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest request body the receiver reads by default.
pub const DEFAULT_LOGOUT_MAX_BODY: usize = 32 * 1024;
/// How many received `jti`s are remembered at most by default.
const DEFAULT_SEEN_TOKENS: usize = 100_000;

/// Receives back-channel logouts of one provider for one client.
///
/// [`BackchannelLogout::receive`] takes a `logout_token` and checks it as
/// section 2.6 of the specification says: a JWS of the issuer (its key set,
/// the algorithms it is configured for, no symmetric one), `iss` the
/// issuer, `aud` containing the client, `iat` no older than the window
/// (default 2 min) nor in the future, `exp` not passed when present, a
/// `jti` not received before, `events` with the back-channel logout event
/// as an object, `sid` or `sub`, no `nonce`, and a `typ` header, when sent,
/// of `logout+jwt` (or the generic `JWT`). Then it records the logout in
/// the [`RevocationList`] at the token's `iat`.
///
/// With the `tower` feature it is also the HTTP endpoint: a
/// `tower::Service` (for axum's `route_service`) taking `POST` forms with
/// one `logout_token`, answering 200 with `Cache-Control: no-store`, or 400
/// with a JSON error body (`invalid_request`, or `temporarily_unavailable`
/// when the keys or the shared list cannot be reached) as section 2.8
/// says; 405 for another method, 413 for a body over the cap.
#[derive(Clone)]
pub struct BackchannelLogout {
    inner: Arc<Inner>,
}

struct Inner {
    keys: SharedKeySet,
    client_id: String,
    revocations: RevocationList,
    window: Duration,
    leeway: Duration,
    max_token_len: usize,
    // Read by the HTTP endpoint (feature `tower`) only.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    max_body: usize,
    // Read by the HTTP endpoint (feature `tower`) only.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    read_timeout: Duration,
    seen: SeenTokens,
}

impl fmt::Debug for BackchannelLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackchannelLogout")
            .field("issuer", &self.inner.keys.issuer())
            .field("client_id", &self.inner.client_id)
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

/// A logout the receiver accepted and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedLogout {
    /// The provider, as configured.
    pub issuer: String,
    /// The session logged out, if named.
    pub sid: Option<String>,
    /// The user logged out, if named.
    pub sub: Option<String>,
    /// The logout token's `iat`.
    pub logged_out_at: Timestamp,
}

/// Builds a [`BackchannelLogout`]; see [`BackchannelLogout::builder`].
#[derive(Debug)]
pub struct BackchannelLogoutBuilder {
    keys: SharedKeySet,
    client_id: String,
    revocations: RevocationList,
    window: Duration,
    leeway: Duration,
    max_body: usize,
    read_timeout: Duration,
    seen: usize,
}

impl BackchannelLogoutBuilder {
    /// The oldest logout token accepted, by its `iat` (default 2 min).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The clock difference allowed with the provider (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest request body read (default 32 KiB); a larger one is
    /// answered 413 before it is read.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long reading the request body may take (default 10 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How many received `jti`s are remembered (default 100 000), each until
    /// its token leaves the window.
    pub fn remembered_tokens(mut self, max: usize) -> Self {
        self.seen = max;
        self
    }

    /// The receiver.
    pub fn build(self) -> BackchannelLogout {
        BackchannelLogout {
            inner: Arc::new(Inner {
                keys: self.keys,
                client_id: self.client_id,
                revocations: self.revocations,
                window: self.window,
                leeway: self.leeway,
                max_token_len: DEFAULT_MAX_TOKEN_LEN.min(self.max_body),
                max_body: self.max_body,
                read_timeout: self.read_timeout,
                seen: SeenTokens::new(self.seen),
            }),
        }
    }
}

impl BackchannelLogout {
    /// A receiver for the provider whose key set is `keys`
    /// ([`TokenValidator::key_set`](crate::TokenValidator::key_set)), for
    /// the client `client_id` (the logout token's audience), recording into
    /// `revocations`.
    pub fn builder(
        keys: SharedKeySet,
        client_id: impl Into<String>,
        revocations: RevocationList,
    ) -> BackchannelLogoutBuilder {
        BackchannelLogoutBuilder {
            keys,
            client_id: client_id.into(),
            revocations,
            window: DEFAULT_LOGOUT_TOKEN_WINDOW,
            leeway: DEFAULT_LOGOUT_LEEWAY,
            max_body: DEFAULT_LOGOUT_MAX_BODY,
            read_timeout: Duration::from_secs(10),
            seen: DEFAULT_SEEN_TOKENS,
        }
    }

    /// Checks `logout_token` and records its logout. A refused token is a
    /// [`ValidationError`] (never containing the token); a failure to write
    /// the shared list is [`ValidationError::Unavailable`] of
    /// [`UpstreamEndpoint::LogoutList`], and the same token may be sent
    /// again.
    pub async fn receive(&self, logout_token: &str) -> Result<ReceivedLogout, ValidationError> {
        let result = self.receive_untraced(logout_token).await;
        match &result {
            // The issuer is a configured one (the token's signature verified).
            Ok(logout) => tracing::info!(
                event = "logout.backchannel",
                issuer = logout.issuer.as_str(),
                outcome = "recorded",
                by_session = logout.sid.is_some(),
                by_user = logout.sub.is_some(),
                "back-channel logout received"
            ),
            Err(e) if e.is_transient() => tracing::warn!(
                event = "logout.backchannel",
                outcome = "unavailable",
                reason = e.kind().as_str(),
                "back-channel logout not recorded"
            ),
            Err(e) => tracing::debug!(
                event = "logout.backchannel",
                outcome = "refused",
                reason = e.kind().as_str(),
                "back-channel logout refused"
            ),
        }
        result
    }

    async fn receive_untraced(&self, logout_token: &str) -> Result<ReceivedLogout, ValidationError> {
        let inner = &*self.inner;
        let jwt = UnverifiedJwt::parse_limited(logout_token, inner.max_token_len)?;
        if !matches!(jwt.typ(), TypHeader::Logout | TypHeader::Plain) {
            return Err(ValidationError::WrongTokenType {
                found: crate::TokenPurpose::Other,
                reason: crate::TokenTypeReason::DeclaredType,
            });
        }
        let issuer = inner.keys.issuer();
        // The issuer first: no key fetch for another issuer's token.
        match jwt.issuer() {
            Some(iss) if iss == issuer => {}
            Some(iss) => {
                return Err(ValidationError::UntrustedIssuer {
                    issuer: crate::error::sanitize(iss, 128),
                });
            }
            None => return Err(ValidationError::MissingClaim { claim: "iss".into() }),
        }
        inner.keys.verify_as_issuer(&jwt).await?;
        let now = inner.revocations.now();
        let claims = check_claims(&jwt.claims(), &self.expected(now))?;
        if inner.seen.contains(issuer, &claims.jti, now) {
            return Err(ValidationError::Replayed);
        }
        inner
            .revocations
            .record(issuer, claims.sid.clone(), claims.sub.clone(), claims.iat)
            .await
            .map_err(|e| ValidationError::Unavailable {
                endpoint: UpstreamEndpoint::LogoutList,
                reason: e.to_string(),
            })?;
        let forget_at = claims
            .iat
            .saturating_add(inner.window)
            .saturating_add(inner.leeway)
            .saturating_add(Duration::from_secs(1));
        inner.seen.insert(issuer, &claims.jti, forget_at, now);
        Ok(ReceivedLogout {
            issuer: issuer.to_owned(),
            sid: claims.sid,
            sub: claims.sub,
            logged_out_at: claims.iat,
        })
    }

    /// The `jti`s remembered.
    pub fn remembered_tokens(&self) -> usize {
        self.inner.seen.len()
    }

    fn expected(&self, now: Timestamp) -> Expected<'_> {
        Expected {
            issuer: self.inner.keys.issuer(),
            client_id: &self.inner.client_id,
            now,
            window: self.inner.window,
            leeway: self.inner.leeway,
        }
    }
}

/// The claims check of a logout token's payload alone (no signature), for
/// the fuzz target: never panics, whatever the text.
#[cfg(feature = "fuzzing")]
pub fn fuzz_logout_claims(payload: &str) {
    if let Ok(claims) = authresult_core::parse_strict_object(payload) {
        let _ = check_claims(
            &claims,
            &Expected {
                issuer: "https://issuer.test",
                client_id: "client",
                now: Timestamp::from_secs(1_700_000_000),
                window: DEFAULT_LOGOUT_TOKEN_WINDOW,
                leeway: DEFAULT_LOGOUT_LEEWAY,
            },
        );
    }
}
