//! The [`AuthProvider`](authresult_core::AuthProvider) port of [`OidcProvider`]: each operation is the
//! inherent method of the same name, its `OidcError` converted into
//! `authresult_core::Error`.

use async_trait::async_trait;
use authresult_core::{
    AccessToken, AuthProvider, AuthResult, Credentials, LoginRequest, LoginResponse, Origin,
    PendingAuthorization, RevocableToken, TokenInfo,
};
use url::Url;

use super::OidcProvider;

#[async_trait]
impl AuthProvider for OidcProvider {
    async fn login(&self, credentials: &Credentials) -> Result<AuthResult, authresult_core::Error> {
        Ok(OidcProvider::login(self, credentials).await?)
    }

    async fn begin_login(
        &self,
        request: &LoginRequest,
    ) -> Result<PendingAuthorization, authresult_core::Error> {
        Ok(OidcProvider::begin_login(self, request).await?)
    }

    async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        response: &LoginResponse,
    ) -> Result<AuthResult, authresult_core::Error> {
        Ok(OidcProvider::complete_login(self, pending, response).await?)
    }

    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, authresult_core::Error> {
        Ok(OidcProvider::refresh(self, previous).await?)
    }

    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo, authresult_core::Error> {
        Ok(OidcProvider::introspect(self, token).await?)
    }

    async fn revoke(&self, token: &RevocableToken) -> Result<(), authresult_core::Error> {
        Ok(OidcProvider::revoke(self, token).await?)
    }

    async fn end_session_url(&self, auth: &AuthResult) -> Result<Option<Url>, authresult_core::Error> {
        Ok(OidcProvider::end_session_url(self, auth).await?)
    }

    /// The configured issuer and client id: every token request and
    /// revocation goes to that issuer's endpoints as that client.
    fn origin(&self) -> Option<Origin> {
        Some(Origin::oidc(
            &self.inner.settings.issuer,
            &self.inner.settings.client_id,
        ))
    }
}
