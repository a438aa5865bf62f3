//! `ValidationError`: why a bearer token was refused, as a typed reason a
//! server can log and map to a response. No message ever contains the token.

use std::fmt;

use authresult_core::FailureKind;

/// The part of a compact token a syntax error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenPart {
    /// The token as a whole (its characters or its segments).
    Token,
    /// The JOSE header (first segment).
    Header,
    /// The claims (second segment).
    Payload,
    /// The signature (third segment).
    Signature,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenPart::Token => "token",
            TokenPart::Header => "header",
            TokenPart::Payload => "payload",
            TokenPart::Signature => "signature",
        })
    }
}

/// A provider endpoint the validator talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpstreamEndpoint {
    /// `{issuer}/.well-known/openid-configuration`.
    Discovery,
    /// The issuer's key set (`jwks_uri`).
    Jwks,
    /// The token introspection endpoint (RFC 7662).
    Introspection,
    /// The userinfo endpoint.
    Userinfo,
    /// The replay cache of DPoP proofs ([`ReplayCache`](authresult_core::ReplayCache)).
    ReplayCache,
    /// The shared logout list ([`LogoutList`](authresult_core::LogoutList)),
    /// written by the back-channel logout receiver.
    LogoutList,
}

impl fmt::Display for UpstreamEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamEndpoint::Discovery => "discovery endpoint",
            UpstreamEndpoint::Jwks => "jwks endpoint",
            UpstreamEndpoint::Introspection => "introspection endpoint",
            UpstreamEndpoint::Userinfo => "userinfo endpoint",
            UpstreamEndpoint::ReplayCache => "dpop replay cache",
            UpstreamEndpoint::LogoutList => "logout list",
        })
    }
}

/// What a token is meant for.
///
/// Told from the header `typ` (`at+jwt`, RFC 9068) or, where a provider marks
/// its tokens otherwise, from the claims (Keycloak's `typ` claim, an ID
/// token's `nonce` / `at_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenPurpose {
    /// An access token: `typ: at+jwt`, Keycloak `typ: Bearer`, a token with
    /// `scope`, `scp`, `client_id` or Auth0 `gty`, or an opaque token the
    /// provider vouched for.
    Access,
    /// An OpenID Connect ID token: it carries an ID-token claim, or its only
    /// audience is a login client of the issuer.
    Id,
    /// A JWT of another declared type (`logout+jwt`, `dpop+jwt`, ...).
    Other,
    /// The token does not say (accepted only with
    /// [`IssuerConfig::accept_unclassified_tokens`](crate::IssuerConfig::accept_unclassified_tokens)).
    Unknown,
}

impl fmt::Display for TokenPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenPurpose::Access => "access",
            TokenPurpose::Id => "id",
            TokenPurpose::Other => "non-access",
            TokenPurpose::Unknown => "unmarked",
        })
    }
}

/// Why a token was not taken for an access token (see
/// [`ValidationError::WrongTokenType`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenTypeReason {
    /// The token carries a claim only ID tokens carry: `at_hash`, `c_hash`,
    /// `s_hash`, `nonce` (without Keycloak's `typ: "Bearer"`) or Keycloak's
    /// `typ: "ID"`.
    IdTokenClaim {
        /// The claim.
        claim: &'static str,
    },
    /// The token's only audience is a login client of the issuer (accepted
    /// with [`IssuerConfig::accept_login_client_audience`](crate::IssuerConfig::accept_login_client_audience))
    /// but it has no access-token claim, or it has `auth_time`: an ID token.
    IdTokenShape,
    /// Its `typ` header or Keycloak's `typ` claim declares another type
    /// (`logout+jwt`, a refresh token, ...).
    DeclaredType,
    /// Nothing marks it as an access token: no `typ: at+jwt` header, no
    /// Keycloak `typ: "Bearer"`, no `scope`, `scp`, `client_id` or Auth0
    /// `gty` claim. Accepted with
    /// [`IssuerConfig::accept_unclassified_tokens`](crate::IssuerConfig::accept_unclassified_tokens).
    Unclassified,
    /// The issuer requires the RFC 9068 header `typ: at+jwt` and the token
    /// has none.
    NotAtJwt,
    /// Every audience of the token is a login client of the issuer: the
    /// audience of that client's ID tokens, not of an API. Accepted with
    /// [`IssuerConfig::accept_login_client_audience`](crate::IssuerConfig::accept_login_client_audience).
    LoginClientAudience,
}

impl fmt::Display for TokenTypeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenTypeReason::IdTokenClaim { claim } => {
                write!(f, "it carries the id token claim `{claim}`")
            }
            TokenTypeReason::IdTokenShape => {
                f.write_str("its only audience is the login client and it looks like an id token")
            }
            TokenTypeReason::DeclaredType => f.write_str("its declared type is not an access token"),
            TokenTypeReason::Unclassified => f.write_str("nothing marks it as an access token"),
            TokenTypeReason::NotAtJwt => f.write_str("its `typ` header is not `at+jwt`"),
            TokenTypeReason::LoginClientAudience => f.write_str("its only audience is the login client"),
        }
    }
}

/// Why a DPoP proof (RFC 9449) was refused (see
/// [`ValidationError::InvalidDpopProof`]). Each check has its own reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopProofReason {
    /// The request carries no `DPoP` header.
    Missing,
    /// The request carries more than one `DPoP` header.
    Multiple,
    /// Not a compact JWS with JSON header and claims (or too long).
    Malformed,
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`, symmetric (`HS*`), unknown or not allowed.
    AlgorithmNotAllowed,
    /// The `jwk` header is absent or not a usable public key.
    BadKey,
    /// The `jwk` header holds private key members (`d`, `p`, `k`, ...).
    PrivateKey,
    /// The signature does not verify with the `jwk` header.
    InvalidSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`, `ath`) is absent.
    MissingClaim {
        /// The claim.
        claim: &'static str,
    },
    /// A claim has the wrong type or an unusable value.
    InvalidClaim {
        /// The claim.
        claim: &'static str,
    },
    /// `htm` is not the request's method.
    MethodMismatch,
    /// `htu` is not the request's URI (normalised, without query and fragment).
    UriMismatch,
    /// `iat` is older than the accepted window.
    Stale,
    /// `iat` is further in the future than the accepted skew.
    IssuedInFuture,
    /// `ath` is not the hash of the presented access token: a proof made
    /// for another token.
    AccessTokenHashMismatch,
    /// The proof's key is not the one the token is bound to (`cnf.jkt`).
    KeyMismatch,
    /// The proof (its key and `jti`) was used before within the window.
    Replayed,
}

impl fmt::Display for DpopProofReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpopProofReason::Missing => f.write_str("no dpop proof"),
            DpopProofReason::Multiple => f.write_str("more than one dpop proof"),
            DpopProofReason::Malformed => f.write_str("the proof is not a well-formed jws"),
            DpopProofReason::WrongType => f.write_str("its `typ` is not `dpop+jwt`"),
            DpopProofReason::AlgorithmNotAllowed => f.write_str("its algorithm is not allowed"),
            DpopProofReason::BadKey => f.write_str("its `jwk` is not a usable public key"),
            DpopProofReason::PrivateKey => f.write_str("its `jwk` holds private key members"),
            DpopProofReason::InvalidSignature => f.write_str("its signature does not verify"),
            DpopProofReason::MissingClaim { claim } => write!(f, "missing claim `{claim}`"),
            DpopProofReason::InvalidClaim { claim } => write!(f, "invalid claim `{claim}`"),
            DpopProofReason::MethodMismatch => f.write_str("`htm` is not the request method"),
            DpopProofReason::UriMismatch => f.write_str("`htu` is not the request uri"),
            DpopProofReason::Stale => f.write_str("`iat` is too old"),
            DpopProofReason::IssuedInFuture => f.write_str("`iat` is in the future"),
            DpopProofReason::AccessTokenHashMismatch => {
                f.write_str("`ath` is not the hash of the access token")
            }
            DpopProofReason::KeyMismatch => f.write_str("its key is not the one the token is bound to"),
            DpopProofReason::Replayed => f.write_str("it was used before"),
        }
    }
}

/// Why a token was refused, as a stable code for logs, metrics and responses.
///
/// [`ValidationErrorKind::as_str`] gives a `snake_case` name;
/// [`ValidationErrorKind::is_transient`] tells "try again later" (the server
/// answers 503) from "this token is bad" (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// Longer than the configured cap; nothing was parsed.
    TooLarge,
    /// Not a well-formed compact JWS (segments, base64url, JSON, UTF-8).
    Malformed,
    /// A nested or encrypted token.
    Unsupported,
    /// The header lists `crit` extensions this validator does not implement.
    UnknownCritical,
    /// `alg` is `none`, unknown or not allowed for the issuer.
    AlgorithmNotAllowed,
    /// `iss` names no configured issuer.
    UntrustedIssuer,
    /// No key of the issuer matches the token's `kid` / `alg`.
    UnknownKey,
    /// Several keys match a token without `kid`.
    AmbiguousKey,
    /// The matching key is unusable (e.g. RSA under 2048 bits).
    KeyRejected,
    /// The signature does not verify.
    InvalidSignature,
    /// A required claim is absent.
    MissingClaim,
    /// A claim has the wrong JSON type or an out-of-range value.
    InvalidClaim,
    /// No audience of the token is accepted.
    AudienceMismatch,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// `iat` is older than the configured maximum age.
    TooOld,
    /// An ID token (or another non-access token) was presented.
    WrongTokenType,
    /// `org_id` is not the configured organization.
    WrongOrganization,
    /// The provider says the opaque token is not active.
    Inactive,
    /// The provider logged out the token's session or user (back-channel
    /// logout) after the token was issued.
    LoggedOut,
    /// A logout token (`jti`) already received.
    Replayed,
    /// A provider endpoint could not be reached, timed out or answered 5xx/429.
    Unavailable,
    /// A provider endpoint answered something unusable.
    ProviderError,
    /// The authorization scheme names no configured provider of the app.
    UnknownScheme,
    /// The validator is configured wrongly.
    Configuration,
    /// The DPoP proof was refused (RFC 9449 `invalid_dpop_proof`).
    InvalidDpopProof,
    /// The proof lacks the server's current nonce (RFC 9449 `use_dpop_nonce`).
    UseDpopNonce,
    /// A DPoP-bound token was presented without a proof (e.g. as `Bearer`).
    DpopBoundToken,
    /// An unbound token was presented with a proof where binding is required.
    NotDpopBound,
}

impl ValidationErrorKind {
    /// A stable `snake_case` name, e.g. `invalid_signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationErrorKind::TooLarge => "too_large",
            ValidationErrorKind::Malformed => "malformed",
            ValidationErrorKind::Unsupported => "unsupported",
            ValidationErrorKind::UnknownCritical => "unknown_critical",
            ValidationErrorKind::AlgorithmNotAllowed => "algorithm_not_allowed",
            ValidationErrorKind::UntrustedIssuer => "untrusted_issuer",
            ValidationErrorKind::UnknownKey => "unknown_key",
            ValidationErrorKind::AmbiguousKey => "ambiguous_key",
            ValidationErrorKind::KeyRejected => "key_rejected",
            ValidationErrorKind::InvalidSignature => "invalid_signature",
            ValidationErrorKind::MissingClaim => "missing_claim",
            ValidationErrorKind::InvalidClaim => "invalid_claim",
            ValidationErrorKind::AudienceMismatch => "audience_mismatch",
            ValidationErrorKind::Expired => "expired",
            ValidationErrorKind::NotYetValid => "not_yet_valid",
            ValidationErrorKind::IssuedInFuture => "issued_in_future",
            ValidationErrorKind::TooOld => "too_old",
            ValidationErrorKind::WrongTokenType => "wrong_token_type",
            ValidationErrorKind::WrongOrganization => "wrong_organization",
            ValidationErrorKind::Inactive => "inactive",
            ValidationErrorKind::LoggedOut => "logged_out",
            ValidationErrorKind::Replayed => "replayed",
            ValidationErrorKind::Unavailable => "unavailable",
            ValidationErrorKind::ProviderError => "provider_error",
            ValidationErrorKind::UnknownScheme => "unknown_scheme",
            ValidationErrorKind::Configuration => "configuration",
            ValidationErrorKind::InvalidDpopProof => "invalid_dpop_proof",
            ValidationErrorKind::UseDpopNonce => "use_dpop_nonce",
            ValidationErrorKind::DpopBoundToken => "dpop_bound_token",
            ValidationErrorKind::NotDpopBound => "not_dpop_bound",
        }
    }

    /// True when the token itself may be fine and asking again later may
    /// succeed (provider unreachable or misbehaving): answer 503, not 401.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ValidationErrorKind::Unavailable | ValidationErrorKind::ProviderError
        )
    }
}

impl fmt::Display for ValidationErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was not accepted, or why the validator could not be built.
///
/// Messages never contain the token. Values copied from a token (`alg`,
/// `kid`, issuer) are shortened and stripped to printable ASCII first.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is longer than the configured cap; nothing was parsed.
    #[error("token is longer than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The token is not a well-formed compact JWS.
    #[error("malformed token: {part} {reason}")]
    Malformed {
        /// Where the problem is.
        part: TokenPart,
        /// What is wrong.
        reason: &'static str,
    },
    /// A nested (`cty: JWT`) or encrypted (JWE) token.
    #[error("unsupported token: {feature} tokens are not supported")]
    Unsupported {
        /// `nested` or `encrypted`.
        feature: &'static str,
    },
    /// The header's `crit` names extensions this validator does not implement.
    #[error("token header lists unsupported critical extensions")]
    UnknownCritical,
    /// `alg` is `none`, unknown, or not allowed for the issuer.
    #[error("signature algorithm `{alg}` is not allowed")]
    AlgorithmNotAllowed {
        /// The token's `alg` (sanitized).
        alg: String,
    },
    /// `iss` names no configured issuer.
    #[error("issuer `{issuer}` is not trusted")]
    UntrustedIssuer {
        /// The token's `iss` (sanitized, shortened).
        issuer: String,
    },
    /// No key of the issuer matches the token (after at most one refetch).
    #[error("no key of the issuer matches the token (kid {})", display_kid(.kid))]
    UnknownKey {
        /// The token's `kid` (sanitized, shortened).
        kid: Option<String>,
    },
    /// Several keys fit the token: it has no `kid` and the set has several
    /// candidates, or the set repeats its `kid`.
    #[error("several keys of the issuer match the token (the token has no kid, or the key set repeats it)")]
    AmbiguousKey,
    /// The key the token names is unusable.
    #[error("the key (kid {}) is refused: {reason}", display_kid(.kid))]
    KeyRejected {
        /// The key's `kid` (sanitized, shortened).
        kid: Option<String>,
        /// Why, e.g. `rsa modulus under 2048 bits`.
        reason: &'static str,
    },
    /// The signature does not verify with the selected key.
    #[error("invalid token signature")]
    InvalidSignature,
    /// A required claim is absent.
    #[error("missing claim `{claim}`")]
    MissingClaim {
        /// The claim name.
        claim: String,
    },
    /// A claim has the wrong JSON type or an out-of-range value.
    #[error("invalid claim `{claim}`: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// None of the token's audiences is accepted.
    #[error("the token's audience is not accepted")]
    AudienceMismatch,
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) is still in the future.
    #[error("token not valid yet")]
    NotYetValid,
    /// `iat` (minus leeway) is in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iat` is older than the configured maximum token age.
    #[error("token issued too long ago")]
    TooOld,
    /// The token is not an access token (e.g. an ID token presented as bearer).
    #[error("{found} token presented where an access token is required: {reason}")]
    WrongTokenType {
        /// What the token is.
        found: TokenPurpose,
        /// Why it is not taken for an access token.
        reason: TokenTypeReason,
    },
    /// `org_id` is absent or another organization than the configured one.
    #[error("token belongs to another organization")]
    WrongOrganization,
    /// The provider says the opaque token is not (or no longer) active.
    #[error("token is not active")]
    Inactive,
    /// The provider logged out the token's session, or its user after the
    /// token was issued (see [`RevocationList`](crate::RevocationList)).
    #[error("the token's session was logged out")]
    LoggedOut,
    /// A logout token whose `jti` was received before.
    #[error("the logout token was received before")]
    Replayed,
    /// A provider endpoint could not be reached, timed out or answered 5xx/429.
    #[error("the {endpoint} is unavailable: {reason}")]
    Unavailable {
        /// The endpoint.
        endpoint: UpstreamEndpoint,
        /// What happened (no token text).
        reason: String,
    },
    /// A provider endpoint answered something unusable.
    #[error("the {endpoint} answered unexpectedly: {reason}")]
    ProviderError {
        /// The endpoint.
        endpoint: UpstreamEndpoint,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The `Authorization` scheme names no provider configured for the app
    /// ([`AppAuth`](crate::AppAuth)).
    #[error("authorization scheme `{scheme}` is not accepted")]
    UnknownScheme {
        /// The scheme as sent (sanitized, shortened).
        scheme: String,
    },
    /// The validator or an issuer is configured wrongly.
    #[error("invalid token validator configuration: {reason}")]
    Configuration {
        /// What is wrong.
        reason: String,
    },
    /// The request's DPoP proof (RFC 9449) was refused.
    #[error("invalid dpop proof: {reason}")]
    InvalidDpopProof {
        /// Which check refused it.
        reason: DpopProofReason,
    },
    /// The server requires its nonce in DPoP proofs and the proof has none,
    /// or a stale one: the client retries with `nonce`.
    #[error("the dpop proof must carry the server's current nonce")]
    UseDpopNonce {
        /// The nonce to use (the `DPoP-Nonce` response header).
        nonce: String,
    },
    /// The token is bound to a DPoP key (`cnf.jkt`) and was presented
    /// without a proof (as a `Bearer` token).
    #[error("a dpop-bound token needs the dpop scheme and a proof")]
    DpopBoundToken,
    /// The token is not bound to a key and the validator requires DPoP-bound
    /// tokens with proofs ([`DpopConfig::accept_unbound_tokens`](crate::DpopConfig::accept_unbound_tokens)).
    #[error("the token is not bound to a dpop key")]
    NotDpopBound,
}

fn display_kid(kid: &Option<String>) -> &str {
    kid.as_deref().unwrap_or("none")
}

impl ValidationError {
    /// The stable reason code.
    pub fn kind(&self) -> ValidationErrorKind {
        match self {
            ValidationError::TooLarge { .. } => ValidationErrorKind::TooLarge,
            ValidationError::Malformed { .. } => ValidationErrorKind::Malformed,
            ValidationError::Unsupported { .. } => ValidationErrorKind::Unsupported,
            ValidationError::UnknownCritical => ValidationErrorKind::UnknownCritical,
            ValidationError::AlgorithmNotAllowed { .. } => ValidationErrorKind::AlgorithmNotAllowed,
            ValidationError::UntrustedIssuer { .. } => ValidationErrorKind::UntrustedIssuer,
            ValidationError::UnknownKey { .. } => ValidationErrorKind::UnknownKey,
            ValidationError::AmbiguousKey => ValidationErrorKind::AmbiguousKey,
            ValidationError::KeyRejected { .. } => ValidationErrorKind::KeyRejected,
            ValidationError::InvalidSignature => ValidationErrorKind::InvalidSignature,
            ValidationError::MissingClaim { .. } => ValidationErrorKind::MissingClaim,
            ValidationError::InvalidClaim { .. } => ValidationErrorKind::InvalidClaim,
            ValidationError::AudienceMismatch => ValidationErrorKind::AudienceMismatch,
            ValidationError::Expired => ValidationErrorKind::Expired,
            ValidationError::NotYetValid => ValidationErrorKind::NotYetValid,
            ValidationError::IssuedInFuture => ValidationErrorKind::IssuedInFuture,
            ValidationError::TooOld => ValidationErrorKind::TooOld,
            ValidationError::WrongTokenType { .. } => ValidationErrorKind::WrongTokenType,
            ValidationError::WrongOrganization => ValidationErrorKind::WrongOrganization,
            ValidationError::Inactive => ValidationErrorKind::Inactive,
            ValidationError::LoggedOut => ValidationErrorKind::LoggedOut,
            ValidationError::Replayed => ValidationErrorKind::Replayed,
            ValidationError::Unavailable { .. } => ValidationErrorKind::Unavailable,
            ValidationError::ProviderError { .. } => ValidationErrorKind::ProviderError,
            ValidationError::UnknownScheme { .. } => ValidationErrorKind::UnknownScheme,
            ValidationError::Configuration { .. } => ValidationErrorKind::Configuration,
            ValidationError::InvalidDpopProof { .. } => ValidationErrorKind::InvalidDpopProof,
            ValidationError::UseDpopNonce { .. } => ValidationErrorKind::UseDpopNonce,
            ValidationError::DpopBoundToken => ValidationErrorKind::DpopBoundToken,
            ValidationError::NotDpopBound => ValidationErrorKind::NotDpopBound,
        }
    }

    /// True when asking again later may succeed (see
    /// [`ValidationErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// The session manager's failure class: transient for an unreachable
    /// provider, configuration for a bad setup, protocol for a misbehaving
    /// provider, terminal for a token that is simply not acceptable.
    pub fn failure_kind(&self) -> FailureKind {
        match self.kind() {
            ValidationErrorKind::Unavailable => FailureKind::Transient,
            ValidationErrorKind::ProviderError => FailureKind::Protocol,
            ValidationErrorKind::Configuration => FailureKind::Configuration,
            _ => FailureKind::Terminal,
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        ValidationError::Configuration {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(part: TokenPart, reason: &'static str) -> Self {
        ValidationError::Malformed { part, reason }
    }

    pub(crate) fn dpop(reason: DpopProofReason) -> Self {
        ValidationError::InvalidDpopProof { reason }
    }

    pub(crate) fn invalid_claim(claim: &str, reason: &'static str) -> Self {
        ValidationError::InvalidClaim {
            claim: sanitize(claim, 64),
            reason,
        }
    }
}

impl From<ValidationError> for authresult_core::Error {
    fn from(error: ValidationError) -> Self {
        authresult_core::Error::provider(error.failure_kind(), error)
    }
}

/// At most `max` characters of `text`, printable ASCII only (others become
/// `?`), for values copied from a token into an error message.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}
