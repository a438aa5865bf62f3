//! The provider port: what the manager needs from an identity provider.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::auth_result::AuthResult;
use crate::error::Error;
use crate::origin::Origin;
use crate::secret::{AccessToken, Password, PendingSecret, RefreshToken};
use crate::session::SessionKey;
use crate::time::Timestamp;

/// What a user gives for a non-interactive login.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// Username (or email) and password: the sync server's login.
    Password {
        /// The username or email.
        username: String,
        /// The password.
        password: Password,
    },
    /// An access token obtained elsewhere, to be checked and adopted.
    Token {
        /// The token.
        token: AccessToken,
    },
}

/// Which interactive login to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LoginFlow {
    /// Authorization code + PKCE through a browser redirect.
    AuthorizationCode,
    /// Device authorization grant (RFC 8628): a code typed in on another device.
    DeviceCode,
}

/// What to show the user to continue an interactive login. `Debug` shows no
/// query value of its URLs (`state`, `nonce`, the user code) and no user code.
/// It does not implement `Serialize` (it holds the user code); read its fields
/// to show it.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub enum LoginPrompt {
    /// Open this URL in a browser.
    Redirect {
        /// The provider's authorization URL with all parameters.
        authorization_url: Url,
    },
    /// Ask the user to enter `user_code` at `verification_uri`.
    DeviceCode {
        /// The code the user types in.
        user_code: String,
        /// Where to type it.
        verification_uri: Url,
        /// A URL that already carries the code (show it as a QR code).
        verification_uri_complete: Option<Url>,
        /// Seconds between polls the provider asked for.
        interval_secs: u64,
    },
}

/// An interactive login between its start and its end. Persisted through the
/// store port, so a callback arriving after an app restart still completes.
/// `Debug` shows neither `state`, the prompt's user code and URL values, nor
/// the secret. It does not implement `Serialize`: stores write it through
/// [`Exposed`](crate::Exposed).
#[derive(Clone, Deserialize)]
pub struct PendingAuthorization {
    /// Tenant and provider the login is for.
    pub key: SessionKey,
    /// The `state` parameter (authorization code) or a random id (device flow);
    /// the lookup key of the pending login.
    pub state: String,
    /// What to show the user.
    pub prompt: LoginPrompt,
    /// The redirect URI the provider will call back.
    pub redirect_uri: Option<Url>,
    /// When the login started.
    pub created_at: Timestamp,
    /// After this the pending login is dropped.
    pub expires_at: Timestamp,
    /// The provider's private part (PKCE verifier, nonce, device code).
    pub secret: PendingSecret,
    /// The origin of the provider that began the login, recorded by the
    /// manager when it stores it (a provider leaves it `None`): only a
    /// provider of this origin completes it, so its code, verifier or
    /// device code never goes to another origin's token endpoint. `None`
    /// in a row stored before origins were recorded.
    #[serde(default)]
    pub origin: Option<Origin>,
}

/// Parameters of an interactive login start.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Tenant and provider.
    pub key: SessionKey,
    /// The flow.
    pub flow: LoginFlow,
    /// The current time.
    pub now: Timestamp,
    /// Overrides the configured redirect URI (e.g. a loopback listener's port).
    pub redirect_uri: Option<Url>,
    /// Extra authorization-request parameters for this login only.
    pub extra_params: BTreeMap<String, String>,
}

/// How an interactive login comes back. `Debug` shows the callback URL
/// without its query and fragment values (`code`, `state`).
#[derive(Clone)]
#[non_exhaustive]
pub enum LoginResponse {
    /// The full redirect URL the browser was sent to.
    Callback(Url),
    /// Device flow: poll the provider until the user approves or denies.
    DevicePoll,
}

/// `url` for `Debug`: scheme, host, port and path, with the names of the
/// query and fragment parameters but none of their values.
fn redacted_url(url: &Url) -> String {
    fn names(text: &str) -> String {
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(name, _)| format!("{name}=[redacted]"))
            .collect::<Vec<_>>()
            .join("&")
    }
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    if let Some(query) = url.query() {
        shown.push('?');
        shown.push_str(&names(query));
    }
    if let Some(fragment) = url.fragment() {
        shown.push('#');
        shown.push_str(&names(fragment));
    }
    shown
}

impl fmt::Debug for LoginPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginPrompt::Redirect { authorization_url } => f
                .debug_struct("Redirect")
                .field("authorization_url", &redacted_url(authorization_url))
                .finish(),
            LoginPrompt::DeviceCode {
                user_code: _,
                verification_uri,
                verification_uri_complete,
                interval_secs,
            } => f
                .debug_struct("DeviceCode")
                .field("user_code", &"[redacted]")
                .field("verification_uri", &redacted_url(verification_uri))
                .field(
                    "verification_uri_complete",
                    &verification_uri_complete.as_ref().map(redacted_url),
                )
                .field("interval_secs", interval_secs)
                .finish(),
        }
    }
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("key", &self.key)
            .field("state", &"[redacted]")
            .field("prompt", &self.prompt)
            .field("redirect_uri", &self.redirect_uri.as_ref().map(redacted_url))
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("secret", &self.secret)
            .field("origin", &self.origin)
            .finish()
    }
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginResponse::Callback(url) => f.debug_tuple("Callback").field(&redacted_url(url)).finish(),
            LoginResponse::DevicePoll => f.write_str("DevicePoll"),
        }
    }
}

/// What a provider says about a valid token.
#[derive(Debug, Clone, Default)]
pub struct TokenInfo {
    /// The subject.
    pub subject: Option<String>,
    /// When the token expires, if said.
    pub expires_at: Option<Timestamp>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// All claims the provider returned.
    pub claims: Map<String, Value>,
}

/// Which kind of token a revocation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// A refresh token.
    Refresh,
    /// An access token.
    Access,
}

/// A token to revoke at its provider. `Debug` prints the kind only; it does
/// not implement `Serialize` (stores write it through [`Exposed`](crate::Exposed)).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", content = "secret", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocableToken {
    /// A refresh token (revoked first: it outlives the access token).
    Refresh(RefreshToken),
    /// An access token.
    Access(AccessToken),
}

impl RevocableToken {
    /// The kind of token.
    pub fn kind(&self) -> TokenKind {
        match self {
            RevocableToken::Refresh(_) => TokenKind::Refresh,
            RevocableToken::Access(_) => TokenKind::Access,
        }
    }

    /// The token text.
    ///
    /// # Security warning
    ///
    /// The returned text is a credential; see [`AccessToken::secret`].
    pub fn secret(&self) -> &str {
        match self {
            RevocableToken::Refresh(token) => token.secret(),
            RevocableToken::Access(token) => token.secret(),
        }
    }
}

/// An identity provider, seen from the session manager: stateless operations
/// on tokens. Adapters (the `authresult-oidc` crate) implement it.
///
/// Errors carry a [`FailureKind`](crate::FailureKind) so the manager can tell
/// a transient failure (keep the session) from a terminal one (end it).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuthProvider: Send + Sync {
    /// Non-interactive login with a password or an existing token.
    async fn login(&self, credentials: &Credentials) -> Result<AuthResult, Error>;

    /// Starts an interactive login.
    async fn begin_login(&self, request: &LoginRequest) -> Result<PendingAuthorization, Error>;

    /// Finishes an interactive login: exchanges the callback's code, or polls
    /// the device flow to its end.
    async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        response: &LoginResponse,
    ) -> Result<AuthResult, Error>;

    /// Exchanges the refresh token of `previous` (the current result, so the
    /// adapter can also check a new ID token is for the same user). Answers
    /// exactly what the provider said: a field the answer omits stays
    /// `None`, and [`Session::refreshed`](crate::Session::refreshed) keeps the
    /// old one.
    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, Error>;

    /// Asks the provider about an access token (remote introspection, or
    /// userinfo when the provider has no introspection) and says what it
    /// grants. Local token validation is `authresult-jwt`'s `TokenValidator`.
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo, Error>;

    /// Revokes one token at the provider (RFC 7009). `Ok` when revoked, or
    /// when the provider has nothing to revoke (no sessions of its own, or a
    /// token type it cannot revoke). A transient error (offline, timeout,
    /// 5xx) makes the manager keep the token and try again later; any other
    /// error is final and the token is forgotten.
    async fn revoke(&self, token: &RevocableToken) -> Result<(), Error>;

    /// The browser URL that ends the provider's own session (RP-initiated
    /// logout), when the provider has one.
    async fn end_session_url(&self, auth: &AuthResult) -> Result<Option<Url>, Error>;

    /// Where this provider's tokens come from and go back to (issuer and
    /// client id, or the sync server's URL). The manager records it in every
    /// session a login or import of this provider stores, and uses a stored
    /// session only through a provider of the same origin
    /// ([`Error::OriginMismatch`] otherwise).
    ///
    /// `None` (the default, for adapters written before origins): the
    /// provider's sessions record no origin, and it may use no session that
    /// records one. Adapters that send tokens over a network should say it.
    fn origin(&self) -> Option<Origin> {
        None
    }
}

#[cfg(test)]
mod tests;
