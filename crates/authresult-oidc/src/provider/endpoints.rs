//! The provider's other endpoints: userinfo, introspection (with the
//! userinfo fallback of `introspect`), revocation (RFC 7009) and the
//! RP-initiated logout URL.

use authresult_core::{AccessToken, AuthResult, RevocableToken, TokenInfo};
use serde_json::{Map, Value};
use url::Url;

use super::OidcProvider;
use crate::discovery::Discovered;
use crate::error::{Endpoint, OidcError};
use crate::http::{error_from_status, http_error};

impl OidcProvider {
    /// The userinfo claims for `access_token`; when `expected_subject` is
    /// given (the ID token's `sub`), the answer's `sub` must equal it.
    pub async fn userinfo(
        &self,
        access_token: &AccessToken,
        expected_subject: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let d = self.inner.discovery.get().await?;
        self.userinfo_with(&d, access_token, expected_subject).await
    }

    pub(super) async fn userinfo_with(
        &self,
        d: &Discovered,
        access_token: &AccessToken,
        expected_subject: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let url =
            d.metadata
                .userinfo_endpoint()
                .map(|u| u.url().clone())
                .ok_or(OidcError::EndpointMissing {
                    endpoint: Endpoint::Userinfo,
                })?;
        let claims = authresult_http::fetch::userinfo(self.inner.http.shared(), &url, access_token.secret())
            .await
            .map_err(|e| http_error(Endpoint::Userinfo, e))?
            .ok_or(OidcError::TokenInactive)?;
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        if let Some(expected) = expected_subject
            && expected != sub
        {
            return Err(OidcError::SubjectMismatch);
        }
        Ok(claims)
    }

    /// What the provider says of `token` (the port's
    /// [`AuthProvider::introspect`](authresult_core::AuthProvider::introspect)): token introspection (RFC 7662) with
    /// `introspection_client` or the client's own credentials when the
    /// provider has an introspection endpoint and credentials are known,
    /// else userinfo. An inactive token is [`OidcError::TokenInactive`].
    pub async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo, OidcError> {
        let d = self.inner.discovery.get().await?;
        if d.extra().introspection_endpoint.is_some() && self.introspection_credentials().is_some() {
            return self.introspect_with(&d, token).await;
        }
        let claims = self.userinfo_with(&d, token, None).await?;
        Ok(token_info(claims))
    }

    fn introspection_credentials(&self) -> Option<(String, String)> {
        if let Some((id, secret)) = &self.inner.options.introspection_client {
            return Some((id.clone(), secret.secret().to_owned()));
        }
        self.inner
            .settings
            .client_secret
            .as_ref()
            .map(|s| (self.inner.settings.client_id.clone(), s.secret().to_owned()))
    }

    async fn introspect_with(&self, d: &Discovered, token: &AccessToken) -> Result<TokenInfo, OidcError> {
        let url = d
            .extra()
            .introspection_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::Introspection,
            })?;
        let (id, secret) = self
            .introspection_credentials()
            .ok_or_else(|| OidcError::config("introspection needs client credentials"))?;
        let claims =
            authresult_http::fetch::introspect(self.inner.http.shared(), &url, &id, &secret, token.secret())
                .await
                .map_err(|e| http_error(Endpoint::Introspection, e))?
                .ok_or(OidcError::TokenInactive)?;
        Ok(token_info(claims))
    }

    /// Revokes one token (RFC 7009; the port's [`AuthProvider::revoke`](authresult_core::AuthProvider::revoke)). An access token the provider cannot
    /// revoke (`unsupported_token_type`) is not an error: there is nothing to do.
    pub async fn revoke(&self, token: &RevocableToken) -> Result<(), OidcError> {
        let d = self.inner.discovery.get().await?;
        let url = d
            .extra()
            .revocation_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::Revocation,
            })?;
        match token {
            RevocableToken::Refresh(refresh) => {
                self.revoke_one(&url, refresh.secret(), "refresh_token").await
            }
            RevocableToken::Access(access) => {
                match self.revoke_one(&url, access.secret(), "access_token").await {
                    Err(e) if e.oauth_error() == Some("unsupported_token_type") => Ok(()),
                    other => other,
                }
            }
            _ => Ok(()),
        }
    }

    /// One RFC 7009 request, authenticated like the token requests.
    async fn revoke_one(&self, url: &Url, token: &str, hint: &str) -> Result<(), OidcError> {
        let settings = &self.inner.settings;
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let basic = match &settings.client_secret {
            Some(secret) => Some((settings.client_id.as_str(), secret.secret())),
            None => {
                form.push(("client_id", settings.client_id.as_str()));
                None
            }
        };
        let response = self
            .inner
            .http
            .post_form(Endpoint::Revocation, url, &form, basic)
            .await?;
        if response.status() == http::StatusCode::OK {
            Ok(())
        } else {
            Err(error_from_status(Endpoint::Revocation, url, &response))
        }
    }

    /// The RP-initiated logout URL: `end_session_endpoint` with
    /// `id_token_hint`, `client_id` and the configured
    /// `post_logout_redirect_uri`; `None` when the provider has none (the port's
    /// [`AuthProvider::end_session_url`](authresult_core::AuthProvider::end_session_url)).
    pub async fn end_session_url(&self, auth: &AuthResult) -> Result<Option<Url>, OidcError> {
        let d = self.inner.discovery.get().await?;
        let Some(mut url) = d.extra().end_session_endpoint.clone() else {
            return Ok(None);
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(id_token) = &auth.id_token {
                query.append_pair("id_token_hint", id_token.secret());
            }
            query.append_pair("client_id", &self.inner.settings.client_id);
            if let Some(post) = &self.inner.settings.post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", post.as_str());
            }
        }
        Ok(Some(url))
    }
}

/// `TokenInfo` from introspection or userinfo claims.
pub(super) fn token_info(claims: Map<String, Value>) -> TokenInfo {
    TokenInfo {
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        expires_at: claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(authresult_core::Timestamp::from_secs),
        scopes: claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        claims,
    }
}
