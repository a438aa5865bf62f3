//! [`AppAuth`]: one app's accepted `Authorization` schemes, each mapped to an
//! ordered fallback chain of [`TokenCheck`]s, and [`AppId`], the app a request
//! is for.

use std::sync::Arc;

use super::claims::ValidatedToken;
use super::dpop::DpopRequest;
use super::error::{ValidationError, sanitize};
use super::sync_server::SyncServerTokens;
#[cfg(feature = "tower")]
use super::token68::token_text;
use super::validator::TokenValidator;

/// One link of a scheme's fallback chain.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenCheck {
    /// OpenID issuers, told apart by the token's `iss`, each with its own
    /// keys.
    Issuers(TokenValidator),
    /// The sync server's own HS256 tokens, with its secret alone.
    SyncServer(SyncServerTokens),
}

impl TokenCheck {
    /// Validates `token` with this link.
    pub async fn validate(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        match self {
            TokenCheck::Issuers(validator) => validator.validate(token).await,
            TokenCheck::SyncServer(tokens) => tokens.validate(token),
        }
    }

    /// Validates `token` sent with a DPoP proof
    /// ([`TokenValidator::validate_dpop`]); `None` for a link whose tokens
    /// are never DPoP tokens (the sync server's own).
    async fn validate_dpop(
        &self,
        token: &str,
        request: &DpopRequest<'_>,
    ) -> Option<Result<ValidatedToken, ValidationError>> {
        match self {
            TokenCheck::Issuers(validator) => Some(validator.validate_dpop(token, request).await),
            TokenCheck::SyncServer(_) => None,
        }
    }
}

impl TokenCheck {
    // Only the layer (feature `tower`) asks.
    #[cfg(feature = "tower")]
    /// The same check: a clone of the same validator or secret.
    pub(crate) fn same_as(&self, other: &TokenCheck) -> bool {
        match (self, other) {
            (TokenCheck::Issuers(a), TokenCheck::Issuers(b)) => a.same_as(b),
            (TokenCheck::SyncServer(a), TokenCheck::SyncServer(b)) => a.same_as(b),
            _ => false,
        }
    }
}

impl From<TokenValidator> for TokenCheck {
    fn from(validator: TokenValidator) -> Self {
        TokenCheck::Issuers(validator)
    }
}

impl From<SyncServerTokens> for TokenCheck {
    fn from(tokens: SyncServerTokens) -> Self {
        TokenCheck::SyncServer(tokens)
    }
}

/// The `Authorization` schemes one app accepts, each with an ordered chain
/// of checks: the first that accepts the token wins.
///
/// DataCollect's clients send `Authorization: keycloak <token>` or
/// `auth0 <token>` for a provider's token and `Bearer <token>` for the sync
/// server's own; its server tries the named provider, then its own secret.
/// Schemes are matched case-insensitively (RFC 9110 §11.1); a scheme not
/// configured is refused ([`ValidationError::UnknownScheme`]) without
/// trying any check.
///
/// ```
/// # fn build(keycloak: authresult_jwt::TokenValidator, own: authresult_jwt::SyncServerTokens) {
/// use authresult_jwt::AppAuth;
///
/// let app = AppAuth::new()
///     .scheme("Bearer", [own.clone().into()])
///     .scheme("keycloak", [keycloak.into(), own.into()]);
/// # let _ = app;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct AppAuth {
    /// Shared by clones: the layer clones an app for every request.
    schemes: Arc<Vec<(String, Vec<TokenCheck>)>>,
}

impl AppAuth {
    /// An app that accepts no scheme yet.
    pub fn new() -> Self {
        AppAuth::default()
    }

    /// Accepts `scheme` (any spelling of it), checking its tokens with
    /// `chain` in order. Naming a scheme again replaces its chain; an empty
    /// chain refuses every token of the scheme.
    pub fn scheme(mut self, scheme: impl Into<String>, chain: impl IntoIterator<Item = TokenCheck>) -> Self {
        let scheme = scheme.into();
        let chain = chain.into_iter().collect();
        let schemes = Arc::make_mut(&mut self.schemes);
        match schemes
            .iter_mut()
            .find(|(name, _)| name.eq_ignore_ascii_case(&scheme))
        {
            Some(entry) => entry.1 = chain,
            None => schemes.push((scheme, chain)),
        }
        self
    }

    /// The configured schemes, spelled as configured, in order.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.schemes.iter().map(|(name, _)| name.as_str())
    }

    /// Every check of every scheme's chain.
    #[cfg(feature = "tower")]
    pub(crate) fn checks(&self) -> impl Iterator<Item = &TokenCheck> {
        self.schemes.iter().flat_map(|(_, chain)| chain.iter())
    }

    /// The configured spelling of `scheme`, when it is accepted.
    pub fn find_scheme(&self, scheme: &str) -> Option<&str> {
        self.chain(scheme).map(|(name, _)| name)
    }

    // Only the layer (feature `tower`) asks.
    #[cfg(feature = "tower")]
    /// Whether `other` checks `scheme` with the same chain (the same
    /// checks, shared by clones, in the same order): a token it accepts
    /// under `scheme` this app accepts too.
    pub(crate) fn same_chain(&self, other: &AppAuth, scheme: &str) -> bool {
        match (self.chain(scheme), other.chain(scheme)) {
            (Some((_, a)), Some((_, b))) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y)),
            _ => false,
        }
    }

    fn chain(&self, scheme: &str) -> Option<(&str, &[TokenCheck])> {
        self.schemes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(scheme))
            .map(|(name, chain)| (name.as_str(), chain.as_slice()))
    }

    /// Validates `token` sent with `scheme`: each check of the scheme's
    /// chain in order, the first success wins. When every check refuses,
    /// the error is a transient one if any check could not decide (the
    /// client should retry, not log in again); else the first refusal of a
    /// check the token was meant for (a trusted `iss`, an allowed
    /// algorithm), so an expired provider token reports `expired`; else the
    /// first refusal.
    pub async fn validate(&self, scheme: &str, token: &str) -> Result<ValidatedToken, ValidationError> {
        self.validate_with(scheme, token, None).await
    }

    /// [`validate`](Self::validate) for a token sent with a DPoP proof
    /// (RFC 9449): each OpenID link of the chain checks the token and the
    /// proof ([`TokenValidator::validate_dpop`]); the sync server's own
    /// links are skipped (its tokens are never bound to a key). A link that
    /// validates the token and refuses its proof answers for the chain.
    pub async fn validate_dpop(
        &self,
        scheme: &str,
        token: &str,
        request: &DpopRequest<'_>,
    ) -> Result<ValidatedToken, ValidationError> {
        self.validate_with(scheme, token, Some(request)).await
    }

    async fn validate_with(
        &self,
        scheme: &str,
        token: &str,
        proof: Option<&DpopRequest<'_>>,
    ) -> Result<ValidatedToken, ValidationError> {
        let (_, chain) = self.chain(scheme).ok_or_else(|| ValidationError::UnknownScheme {
            scheme: sanitize(scheme, 32),
        })?;
        let mut first: Option<ValidationError> = None;
        let mut meant: Option<ValidationError> = None;
        let mut transient: Option<ValidationError> = None;
        for check in chain {
            let answer = match proof {
                None => check.validate(token).await,
                Some(request) => match check.validate_dpop(token, request).await {
                    Some(answer) => answer,
                    None => continue,
                },
            };
            match answer {
                Ok(token) => return Ok(token),
                // This link took the token and refused its proof: that is
                // the answer, never another link's (other DPoP settings).
                Err(error) if refuses_the_proof(&error) => return Err(error),
                Err(error) if error.is_transient() => {
                    transient.get_or_insert(error);
                }
                Err(error) if not_meant_for(&error) => {
                    first.get_or_insert(error);
                }
                Err(error) => {
                    meant.get_or_insert(error);
                }
            }
        }
        Err(transient.or(meant).or(first).unwrap_or_else(|| match proof {
            // Only links whose tokens are never bound: nothing could check the proof.
            Some(_) => ValidationError::NotDpopBound,
            None => ValidationError::UnknownScheme {
                scheme: sanitize(scheme, 32),
            },
        }))
    }

    // Only the layer (feature `tower`) asks.
    #[cfg(feature = "tower")]
    /// The answer of [`validate`](Self::validate) when it needs no waiting:
    /// the chain's first check accepts the token at once, from its cache of
    /// validated tokens ([`TokenValidator::validate_cached`]) or, for the
    /// sync server's own tokens, with its secret. `None` when that check
    /// would have to fetch keys or verify afresh, or refuses the token: the
    /// caller then runs [`validate`](Self::validate) for the full answer.
    pub(crate) fn validate_now(&self, scheme: &str, token: &[u8]) -> Option<ValidatedToken> {
        let (_, chain) = self.chain(scheme)?;
        match chain.first()? {
            // The cache holds b64token text only: a hit needs no check.
            TokenCheck::Issuers(validator) => validator.cached_bytes(token),
            TokenCheck::SyncServer(tokens) => tokens.validate(token_text(token)?).ok(),
        }
    }
}

/// The refusal of a DPoP proof by a check that validated its token (the
/// proof is only looked at then): the proof, the nonce, an unbound token
/// where bound ones are required, or a replay cache that cannot answer.
fn refuses_the_proof(error: &ValidationError) -> bool {
    matches!(
        error,
        ValidationError::InvalidDpopProof { .. }
            | ValidationError::UseDpopNonce { .. }
            | ValidationError::NotDpopBound
            | ValidationError::Unavailable {
                endpoint: super::error::UpstreamEndpoint::ReplayCache,
                ..
            }
    )
}

/// The refusal of a check that does not handle such tokens at all (another
/// issuer, no `iss`, another algorithm).
fn not_meant_for(error: &ValidationError) -> bool {
    match error {
        ValidationError::AlgorithmNotAllowed { .. } | ValidationError::UntrustedIssuer { .. } => true,
        ValidationError::MissingClaim { claim } => claim == "iss",
        _ => false,
    }
}

/// The app (DataCollect's `configId`) a request is for.
///
/// [`BearerAuthLayer`](crate::BearerAuthLayer)'s app selection takes an
/// `AppId` found in the request extensions first: an application that
/// buffers the body (a `POST /api/sync/push` carries `configId` in its JSON)
/// inserts the `AppId` it read with [`AppId::from_json_body`]. The layer
/// puts the app it chose in the extensions for the handler.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppId(pub String);

impl AppId {
    /// The top-level string member `member` of a whole JSON object body, as
    /// DataCollect reads `req.body.configId`, found by a streaming scan (no
    /// JSON tree is built): `None` when the body is not a JSON object, or
    /// the member is absent, empty, not a string, longer than 256 bytes or
    /// given twice, or the JSON is broken or nested deeper than 128.
    ///
    /// This needs the body already buffered. A server should let
    /// [`BearerAuthLayer::json_body_app`](crate::BearerAuthLayer::json_body_app)
    /// read it instead: it authenticates from the header first where it
    /// can, reads only what the scan needs (a cap and a time limit), bounds
    /// the requests it reads unauthenticated, and refuses (400) a member
    /// given twice rather than fall back to another app.
    pub fn from_json_body(body: &[u8], member: &str) -> Option<AppId> {
        crate::json_member::scan_all(body, member)
            .ok()
            .flatten()
            .map(AppId)
    }

    /// The app's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests;
