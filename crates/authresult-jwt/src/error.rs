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
    /// The token has no `kid` and several keys would fit.
    #[error("the token has no kid and several keys of the issuer match")]
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
