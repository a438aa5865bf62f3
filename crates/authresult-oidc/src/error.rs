//! `OidcError`, the one error type of this crate, and its failure classes.

use std::fmt;
use std::time::Duration;

use authresult_core::FailureKind;

/// A provider endpoint, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// The provider's key set (`jwks_uri`).
    Jwks,
    /// The browser-facing authorization endpoint.
    Authorization,
    /// The token endpoint.
    Token,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// The userinfo endpoint.
    Userinfo,
    /// The token introspection endpoint (RFC 7662).
    Introspection,
    /// The token revocation endpoint (RFC 7009).
    Revocation,
    /// The RP-initiated logout endpoint.
    EndSession,
    /// The sync server's `POST /api/users/login`.
    SyncLogin,
    /// The sync server's `GET /api/users/check-token`.
    SyncCheckToken,
    /// A DataCollect app-config artifact's URL (`/artifacts/{id}.json`).
    AppConfig,
    /// The pushed authorization request endpoint (RFC 9126).
    PushedAuthorization,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Discovery => "discovery endpoint",
            Endpoint::Jwks => "jwks endpoint",
            Endpoint::Authorization => "authorization endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::DeviceAuthorization => "device authorization endpoint",
            Endpoint::Userinfo => "userinfo endpoint",
            Endpoint::Introspection => "introspection endpoint",
            Endpoint::Revocation => "revocation endpoint",
            Endpoint::EndSession => "end-session endpoint",
            Endpoint::SyncLogin => "sync server login endpoint",
            Endpoint::SyncCheckToken => "sync server check-token endpoint",
            Endpoint::AppConfig => "app-config artifact URL",
            Endpoint::PushedAuthorization => "pushed authorization request endpoint",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Messages name the endpoint and the field at fault and never contain token
/// text. [`OidcError::kind`] classifies the failure for the session manager's
/// offline policy; `From<OidcError> for authresult_core::Error` applies it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The connection could not be made (DNS, refused, TLS) or broke mid-way.
    #[error("could not reach the {endpoint} at {url}")]
    Connect {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (add the organisation's CA to `OidcOptions::network`), has expired
    /// or names another host, or the server refused this client's
    /// certificate. Transient: a captive portal or an intercepting network
    /// presents such certificates, and the next network may not.
    #[error("tls handshake with the {endpoint} at {url} failed: {reason}")]
    Tls {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// What TLS reported, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer within the request timeout.
    #[error("the {endpoint} at {url} did not answer within {timeout:?}")]
    Timeout {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// An HTTP status that carries no usable answer (5xx, 429, an
    /// unexpected status on a GET endpoint, or a 4xx without an OAuth error
    /// document). Terminal for 400 and 401 from the token endpoint.
    #[error("the {endpoint} at {url} answered HTTP {status}")]
    HttpStatus {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// The status code.
        status: u16,
        /// The wait the answer asked for (`Retry-After`, in seconds or as
        /// an HTTP date, measured with the provider's clock), when given.
        retry_after: Option<Duration>,
    },
    /// The endpoint answered with a redirect; redirects are never followed.
    #[error("the {endpoint} at {url} answered a redirect (HTTP {status}), which is not followed")]
    Redirect {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is larger than the configured cap.
    #[error("the answer of the {endpoint} at {url} exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its URL, without query.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The answer is not the JSON document expected (syntax error, truncated,
    /// wrong type, wrong content type).
    #[error("the {endpoint} answered a malformed response: {detail}")]
    MalformedResponse {
        /// The endpoint.
        endpoint: Endpoint,
        /// What is wrong (never a value from the document).
        detail: String,
    },
    /// A required field is missing from the answer.
    #[error("the {endpoint} answered without the required field `{field}`")]
    MissingField {
        /// The endpoint.
        endpoint: Endpoint,
        /// The missing field, e.g. `access_token`.
        field: String,
    },
    /// The endpoint answered an OAuth error (`invalid_grant`, ...).
    #[error("the {endpoint} answered error `{error}`{}", describe(.description))]
    ServerError {
        /// The endpoint.
        endpoint: Endpoint,
        /// The OAuth error code.
        error: String,
        /// The provider's `error_description`, when it looks safe to show.
        description: Option<String>,
    },
    /// Discovery reported an issuer other than the configured one.
    #[error("discovery: the provider reports issuer `{found}`, not the configured `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the discovery document.
        found: String,
    },
    /// The provider does not advertise an endpoint this operation needs.
    #[error("the provider does not advertise a {endpoint}")]
    EndpointMissing {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// The ID token failed verification (signature, `iss`, `aud`, `azp`,
    /// `exp`/`iat`, `nonce`, algorithm).
    #[error("invalid ID token: {reason}")]
    InvalidIdToken {
        /// What failed.
        reason: String,
        /// The JOSE check's error (`authresult-jwt`), when there is one.
        #[source]
        source: Option<authresult_jwt::ValidationError>,
    },
    /// The key set shared with a `TokenValidator` could not be fetched
    /// (transient: the session is kept).
    #[error("the provider's key set, shared with the token validator, is unavailable")]
    KeySetUnavailable {
        /// The validator's error.
        #[source]
        source: authresult_jwt::ValidationError,
    },
    /// The token response lacks the ID token an `openid` login must return.
    #[error("the {endpoint} answered without an `id_token` although `openid` was requested")]
    IdTokenMissing {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// A refreshed ID token is for another issuer, user, audience or client,
    /// or names another authentication time.
    #[error("the refreshed ID token's `{claim}` differs from the original one")]
    IdentityChanged {
        /// `iss`, `sub`, `aud`, `azp` or `auth_time`.
        claim: &'static str,
    },
    /// The ID token belongs to another Auth0 organization than configured.
    #[error("the ID token's `{claim}` does not match the configured organization `{expected}`")]
    OrganizationMismatch {
        /// `org_id` or `org_name`.
        claim: &'static str,
        /// The configured organization.
        expected: String,
    },
    /// The userinfo `sub` is not the ID token's.
    #[error("the userinfo `sub` does not match the ID token's `sub`")]
    SubjectMismatch,
    /// The redirect back from the provider is not usable.
    #[error("invalid authorization callback: {reason}")]
    InvalidCallback {
        /// What is wrong (never the code).
        reason: String,
    },
    /// The redirect back carries a token (`access_token`, `id_token`) in its
    /// query or fragment: an implicit-flow answer this client never asks
    /// for, i.e. an injection. Refused before anything is exchanged.
    #[error(
        "invalid authorization callback: it carries `{parameter}`, which this client never asks for (implicit-flow injection)"
    )]
    TokenInCallback {
        /// `access_token` or `id_token`.
        parameter: &'static str,
    },
    /// The provider answered the authorization request with an error
    /// (`access_denied`, `login_required`, ...).
    #[error("the authorization was refused with `{error}`{}", describe(.description))]
    AuthorizationDenied {
        /// The OAuth error code.
        error: String,
        /// The provider's `error_description`, when it looks safe to show.
        description: Option<String>,
    },
    /// The user denied the device authorization (`access_denied`).
    #[error("the user denied the device authorization")]
    DeviceAccessDenied,
    /// The device code expired before the user approved (`expired_token`, or
    /// `expires_in` ran out).
    #[error("the device code expired before the user approved it")]
    DeviceCodeExpired,
    /// Introspection says the token is not active.
    #[error("the token is not active (introspection)")]
    TokenInactive,
    /// The sync server refused the email and password, or a token the user
    /// brought.
    #[error("the {endpoint} refused the credentials (HTTP {status})")]
    InvalidCredentials {
        /// The endpoint.
        endpoint: Endpoint,
        /// The status code.
        status: u16,
    },
    /// The pending login cannot be used by this provider.
    #[error("invalid pending login: {reason}")]
    InvalidPending {
        /// What is wrong.
        reason: String,
    },
    /// The provider does not offer this operation (a password login at an
    /// OpenID provider: use an interactive login).
    #[error("provider `{provider}` does not support {operation}")]
    Unsupported {
        /// The provider type.
        provider: String,
        /// The operation, e.g. `password login`.
        operation: &'static str,
    },
    /// The provider configuration or a call's input is wrong.
    #[error("invalid configuration: {reason}")]
    Configuration {
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("could not build the HTTP client")]
    HttpClient {
        /// The builder's error.
        #[source]
        source: reqwest::Error,
    },
    /// The loopback listener could not bind or accept.
    #[error("loopback redirect listener: {action} failed")]
    Loopback {
        /// What was being done, e.g. `binding 127.0.0.1:0`.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A DataCollect app-config artifact file could not be read.
    #[error("could not read the app-config artifact file `{path}`")]
    ArtifactFile {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// DPoP is `required` for this provider but its discovery does not
    /// advertise the key's algorithm in `dpop_signing_alg_values_supported`.
    #[error(
        "dpop is required but the provider does not advertise {alg} in `dpop_signing_alg_values_supported`"
    )]
    DpopUnsupported {
        /// The key's algorithm.
        alg: &'static str,
    },
    /// The token endpoint answered another `token_type` than `DPoP` where
    /// a bound token was required (DPoP `required`, or the refresh of a
    /// bound session): never kept as a bearer token.
    #[error("the {endpoint} answered `token_type` {found} where a dpop-bound token was required")]
    DpopNotBound {
        /// The endpoint.
        endpoint: Endpoint,
        /// The type answered (sanitised).
        found: String,
    },
    /// The session's DPoP key is missing or does not read: its bound
    /// tokens are useless, and the user logs in again.
    #[error("the session's dpop key is unusable: {reason}")]
    DpopKeyUnusable {
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// No valid callback reached the loopback listener in time.
    #[error("no valid authorization callback arrived at the loopback listener within {timeout:?}")]
    LoopbackTimeout {
        /// The timeout.
        timeout: Duration,
    },
}

/// `: description` when there is one.
fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

/// OAuth error codes after which retrying with the same grant cannot succeed.
const TERMINAL_CODES: &[&str] = &[
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "access_denied",
    "expired_token",
    "invalid_token",
    "consent_required",
    "login_required",
    "interaction_required",
];

/// OAuth error codes that say "try again later".
const TRANSIENT_CODES: &[&str] = &["temporarily_unavailable", "server_error", "slow_down"];

/// OAuth error codes that point at the client's own configuration.
const CONFIGURATION_CODES: &[&str] = &[
    "invalid_scope",
    "unsupported_grant_type",
    "unsupported_response_type",
    "invalid_target",
    "unsupported_token_type",
];

impl OidcError {
    /// How the session manager should treat this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            OidcError::Connect { .. }
            | OidcError::Tls { .. }
            | OidcError::Timeout { .. }
            | OidcError::LoopbackTimeout { .. }
            | OidcError::KeySetUnavailable { .. } => FailureKind::Transient,
            OidcError::Loopback { .. } => FailureKind::Transient,
            OidcError::HttpStatus { endpoint, status, .. } => {
                if *status >= 500 || *status == 429 || *status == 408 {
                    FailureKind::Transient
                } else if *endpoint == Endpoint::Token && matches!(status, 400 | 401) {
                    // RFC 6749 §5.2's error statuses, without the error
                    // document (glewlwyd refuses a spent refresh token so):
                    // the grant was refused, and retrying cannot help.
                    FailureKind::Terminal
                } else {
                    FailureKind::Protocol
                }
            }
            OidcError::ServerError { error, .. } | OidcError::AuthorizationDenied { error, .. } => {
                classify_code(error, matches!(self, OidcError::AuthorizationDenied { .. }))
            }
            OidcError::Redirect { .. }
            | OidcError::ResponseTooLarge { .. }
            | OidcError::MalformedResponse { .. }
            | OidcError::MissingField { .. }
            | OidcError::InvalidIdToken { .. }
            | OidcError::IdTokenMissing { .. }
            | OidcError::IdentityChanged { .. }
            | OidcError::SubjectMismatch
            | OidcError::InvalidCallback { .. }
            | OidcError::TokenInCallback { .. }
            | OidcError::InvalidPending { .. } => FailureKind::Protocol,
            OidcError::OrganizationMismatch { .. }
            | OidcError::DeviceAccessDenied
            | OidcError::DeviceCodeExpired
            | OidcError::TokenInactive
            | OidcError::DpopNotBound { .. }
            | OidcError::DpopKeyUnusable { .. }
            | OidcError::InvalidCredentials { .. } => FailureKind::Terminal,
            OidcError::IssuerMismatch { .. }
            | OidcError::EndpointMissing { .. }
            | OidcError::Configuration { .. }
            | OidcError::DpopUnsupported { .. }
            | OidcError::Unsupported { .. }
            | OidcError::ArtifactFile { .. }
            | OidcError::HttpClient { .. } => FailureKind::Configuration,
        }
    }

    /// The OAuth error code, for [`OidcError::ServerError`] and
    /// [`OidcError::AuthorizationDenied`].
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            OidcError::ServerError { error, .. } | OidcError::AuthorizationDenied { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        OidcError::Configuration {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(endpoint: Endpoint, detail: impl Into<String>) -> Self {
        OidcError::MalformedResponse {
            endpoint,
            detail: detail.into(),
        }
    }

    pub(crate) fn id_token(reason: impl Into<String>) -> Self {
        OidcError::InvalidIdToken {
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn server_error(endpoint: Endpoint, error: &str, description: Option<&str>) -> Self {
        OidcError::ServerError {
            endpoint,
            error: sanitize_code(error),
            description: description.and_then(safe_description),
        }
    }
}

fn classify_code(code: &str, from_authorization: bool) -> FailureKind {
    if TERMINAL_CODES.contains(&code) {
        FailureKind::Terminal
    } else if TRANSIENT_CODES.contains(&code) {
        FailureKind::Transient
    } else if CONFIGURATION_CODES.contains(&code) {
        FailureKind::Configuration
    } else if from_authorization {
        // Any other refusal of an authorization request is final for this attempt.
        FailureKind::Terminal
    } else {
        FailureKind::Protocol
    }
}

/// Keeps an error code printable and short.
pub(crate) fn sanitize_code(code: &str) -> String {
    let cleaned: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "(empty)".to_owned()
    } else {
        cleaned
    }
}

/// A provider's `error_description`, unless it could carry a token: dropped
/// when it contains a long unbroken run of token-like characters.
pub(crate) fn safe_description(text: &str) -> Option<String> {
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let longest_run = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '`' | '\'' | '"'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    (longest_run <= 24).then(|| text.to_owned())
}

impl From<OidcError> for authresult_core::Error {
    fn from(error: OidcError) -> Self {
        match error {
            // The port's own answer for an operation a provider lacks.
            OidcError::Unsupported { provider, operation } => {
                authresult_core::Error::Unsupported { provider, operation }
            }
            error => authresult_core::Error::provider(error.kind(), error),
        }
    }
}

#[cfg(test)]
mod tests;
