//! The sync server's password login (`type: "default"`), as DataCollect's
//! server offers it: `POST {url}/api/users/login` with `{"email","password"}`
//! answering `{"token","userId"}`; and a token the user brings, logged in
//! only once the server's `GET {url}/api/users/check-token` accepts it.

use std::fmt;

use async_trait::async_trait;
use authresult_core::{
    AccessToken, AuthProvider, AuthResult, Clock, Credentials, LoginRequest, LoginResponse, Origin,
    PendingAuthorization, ProviderProfile, RevocableToken, SyncServerConfig, TokenInfo,
};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::http::{Requests, error_from_status, parse_json};
use crate::options::OidcOptions;

/// The sync server's email + password login.
///
/// Plain `http` is accepted only to a loopback host unless
/// `allow_insecure_http` is set. `Debug` shows no secret.
#[derive(Clone)]
pub struct SyncServerProvider {
    /// The server's base URL: its tokens' origin.
    url: Url,
    login_url: Url,
    check_url: Url,
    http: Requests,
    clock: std::sync::Arc<dyn Clock>,
}

impl fmt::Debug for SyncServerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncServerProvider")
            .field("login_url", &self.login_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginAnswer {
    token: String,
    #[serde(rename = "userId")]
    user_id: Value,
}

impl SyncServerProvider {
    /// A provider for the server at `url` (its base URL).
    pub fn new(url: Url, options: &OidcOptions) -> Result<Self, OidcError> {
        crate::provider::check_transport(&url, options.allow_insecure_http, "url")?;
        Self::build(&url, options)
    }

    /// A provider from a parsed `default` config; its URL is checked again
    /// against the app's own `options.allow_insecure_http`.
    pub fn from_config(config: &SyncServerConfig, options: &OidcOptions) -> Result<Self, OidcError> {
        Self::new(config.url.clone(), options)
    }

    fn build(url: &Url, options: &OidcOptions) -> Result<Self, OidcError> {
        let base = url.as_str().trim_end_matches('/');
        let login_url = Url::parse(&format!("{base}/api/users/login"))
            .map_err(|_| OidcError::config("`url` cannot carry the login path"))?;
        let check_url = Url::parse(&format!("{base}/api/users/check-token"))
            .map_err(|_| OidcError::config("`url` cannot carry the check-token path"))?;
        Ok(SyncServerProvider {
            url: url.clone(),
            login_url,
            check_url,
            http: Requests::new(options)?,
            clock: options.clock.clone(),
        })
    }

    /// `POST {url}/api/users/login`.
    pub async fn password_login(&self, email: &str, password: &str) -> Result<AuthResult, OidcError> {
        let body = json!({ "email": email, "password": password });
        let response = self
            .http
            .post_json(Endpoint::SyncLogin, &self.login_url, &body)
            .await?;
        let status = response.status().as_u16();
        if matches!(status, 400 | 401 | 403) {
            return Err(OidcError::InvalidCredentials {
                endpoint: Endpoint::SyncLogin,
                status,
            });
        }
        if status != 200 && status != 201 {
            return Err(error_from_status(Endpoint::SyncLogin, &self.login_url, &response));
        }
        let answer: LoginAnswer = parse_json(Endpoint::SyncLogin, response.body())?;
        if answer.token.is_empty() {
            return Err(OidcError::malformed(Endpoint::SyncLogin, "`token` is empty"));
        }
        let user_id = match answer.user_id {
            Value::String(s) if !s.is_empty() => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(OidcError::malformed(
                    Endpoint::SyncLogin,
                    "`userId` is not a string or number",
                ));
            }
        };
        Ok(self.adopt(AccessToken::new(answer.token), Some(user_id), Some(email)))
    }

    /// A token the user brings (`Credentials::Token`), logged in only when
    /// the server's `GET {url}/api/users/check-token` accepts it (200): its
    /// claims are read unverified, so without the server's word anyone could
    /// name any user. Refused (400, 401, 403) is `InvalidCredentials`; no
    /// answer is transient and logs nothing in.
    pub async fn token_login(&self, token: &AccessToken) -> Result<AuthResult, OidcError> {
        let endpoint = Endpoint::SyncCheckToken;
        let response = self
            .http
            .get(endpoint, &self.check_url, Some(token.secret()))
            .await?;
        let status = response.status().as_u16();
        if matches!(status, 400 | 401 | 403) {
            return Err(OidcError::InvalidCredentials { endpoint, status });
        }
        if status != 200 {
            return Err(error_from_status(endpoint, &self.check_url, &response));
        }
        Ok(self.adopt(token.clone(), None, None))
    }

    /// The `AuthResult` of one of the server's tokens: its lifetime and
    /// user as the sync server's profile reads them (`exp`; `id` and
    /// `email`: `ProviderProfile::token_user`, as a stored token's import
    /// does), unless the login answer named the user.
    fn adopt(&self, token: AccessToken, user_id: Option<String>, email: Option<&str>) -> AuthResult {
        let profile = ProviderProfile::sync_server();
        let expires_in = profile.expires_in_hint(token.secret(), self.clock.now());
        let claims = authresult_core::peek_claims(token.secret()).unwrap_or_default();
        let mut user = profile.token_user(&claims);
        if let Some(sub) = user_id {
            user.insert("sub".to_owned(), sub);
        }
        if let Some(email) = email {
            user.insert("email".to_owned(), email.to_owned());
        }
        let mut result = AuthResult::new(token, expires_in);
        result.profile = (!user.is_empty()).then_some(user);
        result
    }
}

fn unsupported(operation: &'static str) -> authresult_core::Error {
    authresult_core::Error::Unsupported {
        provider: authresult_core::SYNC_SERVER_PROVIDER.to_owned(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for SyncServerProvider {
    async fn login(&self, credentials: &Credentials) -> Result<AuthResult, authresult_core::Error> {
        match credentials {
            Credentials::Password { username, password } => {
                Ok(self.password_login(username, password.secret()).await?)
            }
            Credentials::Token { token } => Ok(self.token_login(token).await?),
            _ => Err(unsupported("this kind of credentials")),
        }
    }

    async fn begin_login(
        &self,
        _request: &LoginRequest,
    ) -> Result<PendingAuthorization, authresult_core::Error> {
        Err(unsupported("interactive login"))
    }

    async fn complete_login(
        &self,
        _pending: &PendingAuthorization,
        _response: &LoginResponse,
    ) -> Result<AuthResult, authresult_core::Error> {
        Err(unsupported("interactive login"))
    }

    async fn refresh(&self, _previous: &AuthResult) -> Result<AuthResult, authresult_core::Error> {
        Err(unsupported("token refresh"))
    }

    async fn introspect(&self, _token: &AccessToken) -> Result<TokenInfo, authresult_core::Error> {
        Err(unsupported("token validation"))
    }

    async fn revoke(&self, _token: &RevocableToken) -> Result<(), authresult_core::Error> {
        // The sync server keeps no session to end.
        Ok(())
    }

    async fn end_session_url(&self, _auth: &AuthResult) -> Result<Option<Url>, authresult_core::Error> {
        Ok(None)
    }

    /// The server's base URL: its token is sent to it (DataCollect's
    /// `Authorization: Bearer`), and to no other server.
    fn origin(&self) -> Option<Origin> {
        Some(Origin::sync_server(&self.url))
    }
}
