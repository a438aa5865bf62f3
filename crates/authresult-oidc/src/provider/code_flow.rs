//! The authorization-code flow: PKCE S256, `state`, `nonce`, RFC 9207 `iss`;
//! the callback checked (back to the redirect URI, no token in it, no
//! parameter twice) before the code is exchanged.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use authresult_core::{AuthResult, LoginPrompt, LoginRequest, PendingAuthorization};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl};
use url::Url;

use super::tokens::ResponseCheck;
use super::{OidcProvider, request_error};
use crate::error::{Endpoint, OidcError};
use crate::id_token::{NonceCheck, constant_time_eq};
use crate::pending::{PendingData, PendingKey};
use crate::token_response::RawTokenResponse;

/// How long an authorization-code login may take by default.
const CODE_LOGIN_TTL: Duration = Duration::from_secs(600);

impl OidcProvider {
    pub(super) async fn begin_code(&self, request: &LoginRequest) -> Result<PendingAuthorization, OidcError> {
        let d = self.inner.discovery.get().await?;
        let redirect = request
            .redirect_uri
            .clone()
            .or_else(|| self.inner.settings.redirect_uri.clone())
            .ok_or_else(|| OidcError::config("no `redirect_uri` is configured or given"))?;
        let client = self
            .client(&d)
            .set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
        let dpop_key = self.login_key(&d)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut authorize = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_scopes(self.scopes());
        for (name, value) in self.extra_params(request) {
            authorize = authorize.add_extra_param(name, value);
        }
        if let Some(key) = &dpop_key {
            // RFC 9449 §10: the code is bound to the key.
            authorize = authorize.add_extra_param("dpop_jkt", key.thumbprint().to_owned());
        }
        let (authorization_url, state, nonce) = authorize.url();
        let authorization_url = if self.pushes_authorization(&d) {
            self.push_authorization(&d, &authorization_url, dpop_key.clone())
                .await?
        } else {
            authorization_url
        };
        let data = PendingData::Code {
            issuer: d.issuer.clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            redirect_uri: redirect.to_string(),
            dpop: dpop_key.as_ref().map(PendingKey::of),
        };
        Ok(PendingAuthorization {
            key: request.key.clone(),
            state: state.secret().clone(),
            prompt: LoginPrompt::Redirect { authorization_url },
            redirect_uri: Some(redirect),
            created_at: request.now,
            expires_at: request.now.saturating_add(CODE_LOGIN_TTL),
            secret: data.to_secret()?,
            origin: None,
        })
    }

    pub(super) async fn finish_code(
        &self,
        pending: &PendingAuthorization,
        data: PendingData,
        callback: &Url,
    ) -> Result<AuthResult, OidcError> {
        let PendingData::Code {
            issuer,
            pkce_verifier,
            nonce,
            redirect_uri,
            dpop,
        } = data
        else {
            return Err(OidcError::InvalidPending {
                reason: "not an authorization-code login".into(),
            });
        };
        let d = self.inner.discovery.get().await?;
        if issuer != d.issuer {
            return Err(OidcError::InvalidPending {
                reason: "it was started at another issuer".into(),
            });
        }
        let redirect = Url::parse(&redirect_uri).map_err(|_| OidcError::InvalidPending {
            reason: "its redirect URI is not a URL".into(),
        })?;
        let params = callback_params(callback, &redirect)?;
        let state = params
            .get("state")
            .ok_or_else(|| invalid_callback("the `state` parameter is missing"))?;
        if !constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(invalid_callback("the `state` does not match the pending login"));
        }
        match params.get("iss") {
            Some(iss) if iss != &d.issuer => {
                return Err(invalid_callback(
                    "the `iss` parameter names another issuer (RFC 9207)",
                ));
            }
            None if d.extra().authorization_response_iss_parameter_supported => {
                return Err(invalid_callback(
                    "the `iss` parameter is missing although the provider advertises it (RFC 9207)",
                ));
            }
            _ => {}
        }
        if let Some(error) = params.get("error") {
            return Err(OidcError::AuthorizationDenied {
                error: crate::error::sanitize_code(error),
                description: params
                    .get("error_description")
                    .and_then(|d| crate::error::safe_description(d)),
            });
        }
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid_callback("the `code` parameter is missing"))?;
        let client = self.client(&d);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|_| OidcError::EndpointMissing {
                endpoint: Endpoint::Token,
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect)));
        let exchange = match self.resource() {
            Some(resource) => exchange.add_extra_param("resource", resource),
            None => exchange,
        };
        let proofs = dpop.map(|k| k.key()).transpose()?.map(|key| self.proofs(key));
        let response: RawTokenResponse = exchange
            .request_async(&self.inner.http.at_with(Endpoint::Token, proofs.clone()))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        let binding = self.binding_of(proofs.as_ref(), &response.token_type_name(), self.dpop_required())?;
        let mut result = self
            .auth_result(&d, response, ResponseCheck::Login(NonceCheck::Exact(nonce)))
            .await?;
        result.dpop = binding;
        Ok(result)
    }
}

fn invalid_callback(reason: &str) -> OidcError {
    OidcError::InvalidCallback {
        reason: reason.to_owned(),
    }
}

/// Parameters that only an implicit-flow answer carries; this client never
/// asks for one, so a callback carrying them is an injection.
const IMPLICIT_PARAMS: &[&str] = &["access_token", "id_token"];

/// The token parameter a callback carries in its query or fragment, if any.
pub(crate) fn token_in_callback(callback: &Url) -> Option<&'static str> {
    let query = callback.query_pairs();
    let fragment = url::form_urlencoded::parse(callback.fragment().unwrap_or("").as_bytes());
    query
        .chain(fragment)
        .find_map(|(name, _)| IMPLICIT_PARAMS.iter().copied().find(|p| *p == name))
}

/// The callback's parameters after checking it came back to the redirect URI
/// and carries no token; a parameter given twice is refused.
pub(crate) fn callback_params(callback: &Url, redirect: &Url) -> Result<BTreeMap<String, String>, OidcError> {
    let same_target = callback.scheme() == redirect.scheme()
        && callback.host_str() == redirect.host_str()
        && callback.port_or_known_default() == redirect.port_or_known_default()
        && callback.path() == redirect.path();
    if !same_target {
        return Err(invalid_callback(
            "it does not come back to the redirect URI of the login",
        ));
    }
    if let Some(parameter) = token_in_callback(callback) {
        return Err(OidcError::TokenInCallback { parameter });
    }
    let mut params = BTreeMap::new();
    for (name, value) in callback.query_pairs() {
        if params.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(OidcError::InvalidCallback {
                reason: format!(
                    "the `{}` parameter is repeated",
                    crate::error::sanitize_code(&name)
                ),
            });
        }
    }
    Ok(params)
}
