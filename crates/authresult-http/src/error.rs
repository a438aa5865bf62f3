//! [`HttpError`], the one error of this crate.

use std::time::Duration;

/// Why the HTTP client could not be built or a request failed. URLs are
/// shown without query, fragment or credentials ([`display_url`](crate::display_url)).
///
/// The one error of this crate: the client, its network options, the
/// fetches and discovery. `authresult-jwt` and `authresult-oidc` each map an
/// `HttpError` once into their own error (`ValidationError`, `OidcError`)
/// naming the endpoint (see ARCHITECTURE.md).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The client could not be built (TLS backend, root certificates).
    #[error("could not build the http client")]
    Build(#[source] reqwest::Error),
    /// A PEM text of [`NetworkOptions`](crate::NetworkOptions) is unusable.
    #[error("invalid {what}: {reason}")]
    InvalidPem {
        /// `ca certificate`, `client certificate`, `client key`...
        what: &'static str,
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// The proxy URL is not usable.
    #[error("the proxy url is not usable")]
    InvalidProxy,
    /// A client credential (a client assertion key) is unusable.
    #[error("invalid client credential: {reason}")]
    InvalidCredential {
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// The request could not be formed from its URL.
    #[error("the url `{url}` is not usable")]
    BadRequest {
        /// The URL, shown safely.
        url: String,
    },
    /// Connecting or reading failed (transient).
    #[error("could not reach `{url}`")]
    Connect {
        /// The URL, shown safely.
        url: String,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (unknown issuer, expired, wrong name), or the server refused this
    /// client's certificate, or none was presented where one is required.
    #[error("tls handshake with `{url}` failed: {reason}")]
    Tls {
        /// The URL, shown safely.
        url: String,
        /// What TLS reported, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The request timed out (transient).
    #[error("`{url}` timed out after {timeout:?}")]
    Timeout {
        /// The URL, shown safely.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// A 3xx answer: redirects are never followed.
    #[error("`{url}` answered a redirect ({status}), which is never followed")]
    Redirect {
        /// The URL, shown safely.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A status that asks to wait: 5xx, 429 or 408 (transient).
    #[error("`{url}` answered http status {status}")]
    Unavailable {
        /// The URL, shown safely.
        url: String,
        /// The status code.
        status: u16,
        /// The wait its `Retry-After` asked for.
        retry_after: Option<Duration>,
    },
    /// The body is larger than [`HttpLimits::max_body`](crate::HttpLimits::max_body).
    #[error("the answer of `{url}` is larger than {limit} bytes")]
    TooLarge {
        /// The URL, shown safely.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// An answer status the request does not accept (not a status that
    /// asks to wait: those are [`HttpError::Unavailable`]).
    #[error("`{url}` answered http status {status}")]
    Status {
        /// The URL, shown safely.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is not what the endpoint must send (not JSON, a member
    /// missing or of the wrong type).
    #[error("the answer of `{url}` is malformed: {reason}")]
    Malformed {
        /// The URL, shown safely.
        url: String,
        /// What is wrong (never a value of the answer).
        reason: String,
    },
    /// The answer lacks a member the caller requires (`null` counts as
    /// missing).
    #[error("the answer of `{url}` has no `{member}`")]
    MissingMember {
        /// The URL, shown safely.
        url: String,
        /// The member's name.
        member: String,
    },
    /// The discovery document names another issuer than the configured one.
    #[error("discovery of `{expected}` names another issuer: `{found}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's issuer, cut to 200 characters.
        found: String,
    },
    /// The discovery document lists an endpoint the transport rule refuses
    /// (plain `http` for an `https` issuer...): nothing is ever sent there.
    #[error("discovery of issuer `{issuer}` lists a `{field}` ({url}) that {reason}")]
    InsecureEndpoint {
        /// The configured issuer.
        issuer: String,
        /// The document's field.
        field: String,
        /// The endpoint, shown safely.
        url: String,
        /// Why the rule refuses it.
        reason: String,
    },
}

impl HttpError {
    /// True when trying again later may succeed (the network, a timeout, a
    /// status that asks to wait, a TLS handshake that failed): a cache keeps
    /// what it had on such a failure.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Connect { .. }
                | HttpError::Timeout { .. }
                | HttpError::Unavailable { .. }
                | HttpError::Tls { .. }
        )
    }
}
