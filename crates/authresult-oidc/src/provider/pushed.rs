//! Pushed authorization requests (RFC 9126): the authorization request's
//! parameters go to the provider in a back-channel `POST` (with the client's
//! authentication, and a DPoP proof when DPoP is on), and the browser's URL
//! carries only `client_id` and the `request_uri` the provider answered.

use authresult_jwt::DpopKey;
use serde::Deserialize;
use url::Url;

use super::OidcProvider;
use crate::discovery::Discovered;
use crate::error::{Endpoint, OidcError};
use crate::http::{error_from_status, parse_json};

/// The longest `request_uri` kept (RFC 9126 leaves it opaque; a sane
/// provider's is short).
const MAX_REQUEST_URI_LEN: usize = 2048;

#[derive(Deserialize)]
struct PushedResponse {
    request_uri: String,
    #[allow(dead_code)] // Read so a malformed answer is refused; the login's own TTL applies.
    expires_in: u64,
}

impl OidcProvider {
    /// True when authorization requests are pushed: configured
    /// (`pushed_authorization_requests`), or required by the provider's
    /// discovery (`require_pushed_authorization_requests`).
    pub(super) fn pushes_authorization(&self, d: &Discovered) -> bool {
        self.inner.settings.pushed_authorization || d.extra().require_pushed_authorization_requests
    }

    /// Pushes the parameters of `authorization_url` and answers the URL for
    /// the browser: the authorization endpoint with `client_id` and
    /// `request_uri` only.
    pub(super) async fn push_authorization(
        &self,
        d: &Discovered,
        authorization_url: &Url,
        key: Option<DpopKey>,
    ) -> Result<Url, OidcError> {
        let endpoint =
            d.extra()
                .pushed_authorization_request_endpoint
                .clone()
                .ok_or(OidcError::EndpointMissing {
                    endpoint: Endpoint::PushedAuthorization,
                })?;
        let params: Vec<(String, String)> = authorization_url.query_pairs().into_owned().collect();
        let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let client_id = self.inner.settings.client_id.as_str();
        let basic = self
            .inner
            .settings
            .client_secret
            .as_ref()
            .map(|secret| (client_id, secret.secret()));
        let proofs = key.map(|key| self.proofs(key));
        let response = self
            .inner
            .http
            .post_form_with(
                Endpoint::PushedAuthorization,
                &endpoint,
                &form,
                basic,
                proofs.as_ref(),
            )
            .await?;
        if !matches!(response.status().as_u16(), 200 | 201) {
            return Err(error_from_status(
                Endpoint::PushedAuthorization,
                &endpoint,
                &response,
            ));
        }
        let pushed: PushedResponse = parse_json(Endpoint::PushedAuthorization, response.body())?;
        if pushed.request_uri.is_empty() || pushed.request_uri.len() > MAX_REQUEST_URI_LEN {
            return Err(OidcError::malformed(
                Endpoint::PushedAuthorization,
                "`request_uri` is empty or too long",
            ));
        }
        let mut browser = d.metadata.authorization_endpoint().url().clone();
        // The endpoint's own query, if any, is kept (RFC 6749 §3.1).
        browser
            .query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(browser)
    }
}
