//! The one error type of the core crate, shared by the ports.

use std::fmt;

/// A boxed error from an adapter (provider or store), kept as the `source()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a failure should be treated by the session manager's offline policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Might work if tried again later: network down, timeout, HTTP 5xx or 429,
    /// a busy database. An offline device keeps its session.
    Transient,
    /// The provider's final answer: `invalid_grant`, `invalid_client`, a revoked
    /// token. The session cannot be refreshed and must be re-authenticated.
    Terminal,
    /// The other side broke the protocol: malformed JSON, a missing field, a bad
    /// signature. Not retried automatically, but the session is kept.
    Protocol,
    /// The local configuration or input is wrong (bad URL, unsupported flow).
    Configuration,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Transient => "transient",
            FailureKind::Terminal => "terminal",
            FailureKind::Protocol => "protocol",
            FailureKind::Configuration => "configuration",
        })
    }
}

/// Errors of `authresult-core` and of the ports it defines.
///
/// Messages never contain token text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An `AuthResult` JSON object is missing a required field or has one of the wrong type.
    #[error("invalid auth result: field `{field}` {reason}")]
    InvalidAuthResult {
        /// The offending field, e.g. `expires_in`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A provider configuration (`{type, fields}`) is missing a field or has a bad value.
    #[error("invalid provider config: field `{field}` {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `authority`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A token DataCollect's client stored (IndexedDB record, `localStorage`
    /// entry, oidc-client-ts `User`) cannot be read.
    #[error("cannot import the stored {shape}: `{field}` {reason}")]
    InvalidStoredToken {
        /// Which stored shape, e.g. `IndexedDB record`.
        shape: &'static str,
        /// The offending member, e.g. `token`.
        field: String,
        /// What is wrong with it (never a token).
        reason: String,
    },
    /// A stored token has expired and there is no refresh token to renew it:
    /// the user has to log in again.
    #[error("the stored {shape} of provider `{provider}` has expired and cannot be refreshed")]
    StoredTokenExpired {
        /// Which stored shape.
        shape: &'static str,
        /// The provider it belongs to.
        provider: String,
    },
    /// No provider is registered under this name.
    #[error("unknown provider `{provider}`")]
    UnknownProvider {
        /// The name asked for.
        provider: String,
    },
    /// There is no stored session for this provider.
    #[error("not authenticated with provider `{provider}`")]
    NotAuthenticated {
        /// The provider name.
        provider: String,
    },
    /// The session ended (refresh token rejected, revoked or missing) and the
    /// user has to log in again.
    #[error("re-authentication required for provider `{provider}`")]
    ReauthenticationRequired {
        /// The provider name.
        provider: String,
        /// The provider's terminal answer, when there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// Another login replaced the session while it was being refreshed: the
    /// refresh result was discarded (it belongs to the replaced login) and
    /// the new login's session kept. The caller's session has ended; asking
    /// again returns the new login's token, knowingly.
    #[error("the session for provider `{provider}` was replaced by another login during its refresh")]
    SessionReplaced {
        /// The provider name.
        provider: String,
    },
    /// The access token has expired and refreshing failed transiently (no
    /// network, timeout, 5xx). The session is kept; the next call retries.
    #[error("offline: the session for provider `{provider}` expired and could not be refreshed yet")]
    Offline {
        /// The provider name.
        provider: String,
        /// The transient failure.
        #[source]
        source: BoxError,
    },
    /// A provider adapter failed.
    #[error("{kind} provider failure")]
    Provider {
        /// How the manager should treat it.
        kind: FailureKind,
        /// The adapter's error.
        #[source]
        source: BoxError,
    },
    /// A session store adapter failed.
    #[error("{kind} session store failure")]
    Store {
        /// Transient (busy, connection lost) or not (corrupt, full disk, wrong key).
        kind: FailureKind,
        /// The adapter's error.
        #[source]
        source: BoxError,
    },
    /// The redirect back from the provider could not be used.
    #[error("invalid login callback: {reason}")]
    InvalidCallback {
        /// What is wrong with it (never the code itself).
        reason: String,
    },
    /// The user's sessions are locked (their offline vault is locked, idle
    /// too long, or disabled): no token is answered until they unlock. The
    /// session is kept.
    #[error("the sessions of this user are locked: unlock them first (provider `{provider}`)")]
    Locked {
        /// The provider name.
        provider: String,
    },
    /// The stored session of this provider name comes from another origin
    /// (another issuer or client, another sync server) than the provider
    /// registered here, e.g. an artifact that reuses another app's id over
    /// the same store. Nothing of it was used or sent anywhere, and it is
    /// kept as it was.
    #[error("the session of provider `{provider}` belongs to another origin and is not used here")]
    OriginMismatch {
        /// The provider name.
        provider: String,
    },
    /// The session's DPoP key is missing or unreadable while its tokens are
    /// bound to one (or the provider requires DPoP): the tokens are
    /// useless without it, so the session ends and the user logs in again.
    /// Never answered by falling back to a bearer token.
    #[error("the DPoP key of the session for provider `{provider}` is unusable: {reason}")]
    DpopKeyUnusable {
        /// The provider name.
        provider: String,
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// The callback's `state` matches no pending login: unknown, already used or expired.
    #[error("no pending login matches this callback (unknown, already used or expired state)")]
    UnknownLoginState,
    /// The provider does not offer this operation.
    #[error("provider `{provider}` does not support {operation}")]
    Unsupported {
        /// The provider name.
        provider: String,
        /// The operation, e.g. `password login`.
        operation: &'static str,
    },
}

impl Error {
    /// A provider failure of the given kind.
    pub fn provider(kind: FailureKind, source: impl Into<BoxError>) -> Self {
        Error::Provider {
            kind,
            source: source.into(),
        }
    }

    /// A store failure of the given kind.
    pub fn store(kind: FailureKind, source: impl Into<BoxError>) -> Self {
        Error::Store {
            kind,
            source: source.into(),
        }
    }

    /// The failure class of this error, as the offline policy sees it.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::Provider { kind, .. } | Error::Store { kind, .. } => *kind,
            Error::Offline { .. } => FailureKind::Transient,
            Error::ReauthenticationRequired { .. }
            | Error::DpopKeyUnusable { .. }
            | Error::SessionReplaced { .. }
            | Error::StoredTokenExpired { .. } => FailureKind::Terminal,
            Error::InvalidAuthResult { .. }
            | Error::InvalidCallback { .. }
            | Error::InvalidStoredToken { .. } => FailureKind::Protocol,
            Error::UnknownLoginState => FailureKind::Protocol,
            Error::InvalidConfig { .. }
            | Error::UnknownProvider { .. }
            | Error::NotAuthenticated { .. }
            | Error::Locked { .. }
            | Error::OriginMismatch { .. }
            | Error::Unsupported { .. } => FailureKind::Configuration,
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == FailureKind::Transient
    }

    /// True when the session cannot be saved by retrying.
    pub fn is_terminal(&self) -> bool {
        self.kind() == FailureKind::Terminal
    }
}
