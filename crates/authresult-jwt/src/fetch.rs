//! The validator's requests: discovery, key sets, introspection and
//! userinfo, through `authresult-http` (the workspace's one HTTP client,
//! its one discovery cache and its fetches), with its errors mapped once
//! into [`ValidationError`].

use std::sync::Arc;
use std::time::Duration;

use authresult_core::Clock;
use authresult_http::{Discovery, HttpClient, HttpError, HttpLimits, NetworkOptions, describe, fetch};
use serde_json::{Map, Value};
use url::Url;

use super::error::{UpstreamEndpoint, ValidationError};
use super::keys::JwkSet;

/// The validator's requests, through the workspace's one [`HttpClient`].
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: HttpClient,
}

/// The endpoints discovery found for an issuer.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) jwks_uri: Option<Url>,
    pub(crate) introspection: Option<Url>,
    pub(crate) userinfo: Option<Url>,
}

/// The one mapping of HTTP failures into [`ValidationError`]: transport
/// failures and statuses that ask to wait are [`ValidationError::Unavailable`]
/// (transient), a redirect, an unexpected status, a malformed or oversized
/// answer, another issuer's discovery a provider error, an endpoint the
/// transport rule refuses a configuration error.
fn http_error(endpoint: UpstreamEndpoint, error: HttpError) -> ValidationError {
    let unavailable = |reason: String| ValidationError::Unavailable { endpoint, reason };
    let provider = |reason: String| ValidationError::ProviderError { endpoint, reason };
    match error {
        HttpError::Timeout { .. } => unavailable("timed out".into()),
        HttpError::Connect { source, .. } => unavailable(describe(&source)),
        HttpError::Tls { reason, .. } => unavailable(format!("tls handshake failed: {reason}")),
        HttpError::Unavailable { status, .. } => unavailable(format!("http status {status}")),
        HttpError::Redirect { status, .. } | HttpError::Status { status, .. } => {
            provider(format!("http status {status}"))
        }
        HttpError::TooLarge { limit, .. } => provider(format!("response is larger than {limit} bytes")),
        HttpError::Malformed { reason, .. } => provider(reason),
        HttpError::MissingMember { member, .. } => provider(format!("`{member}` is missing")),
        HttpError::IssuerMismatch { .. } => provider("`issuer` differs from the configured issuer".into()),
        other @ HttpError::InsecureEndpoint { .. } => ValidationError::config(other.to_string()),
        other => ValidationError::config(format!("cannot send the request: {other}")),
    }
}

impl Http {
    pub(crate) fn new(
        limits: HttpLimits,
        network: &NetworkOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ValidationError> {
        let client = HttpClient::new(limits, network, clock)
            .map_err(|e| ValidationError::config(format!("cannot build the http client: {e}")))?;
        Ok(Http { client })
    }

    /// The time by the validator's clock.
    pub(crate) fn now(&self) -> authresult_core::Timestamp {
        self.client.now()
    }

    /// The discovery of `issuer` through this client (`None` when the issuer
    /// is not a URL: then it is never discovered, `IssuerConfig` checks that).
    pub(crate) fn discovery(&self, issuer: &str, ttl: Duration, insecure_ok: bool) -> Option<Discovery> {
        let issuer = Url::parse(issuer).ok()?;
        Some(Discovery::new(issuer, self.client.clone(), ttl, insecure_ok))
    }

    /// The endpoints of the issuer's discovery document, read through the
    /// workspace's one discovery cache.
    pub(crate) async fn endpoints(
        &self,
        discovery: Option<&Discovery>,
    ) -> Result<Endpoints, ValidationError> {
        let discovery = discovery
            .ok_or_else(|| ValidationError::config("the issuer is not a url: it cannot be discovered"))?;
        let doc = discovery
            .get()
            .await
            .map_err(|e| http_error(UpstreamEndpoint::Discovery, e))?;
        Ok(Endpoints {
            jwks_uri: doc.endpoint("jwks_uri").cloned(),
            introspection: doc.endpoint("introspection_endpoint").cloned(),
            userinfo: doc.endpoint("userinfo_endpoint").cloned(),
        })
    }

    pub(crate) async fn jwks(&self, url: &Url) -> Result<JwkSet, ValidationError> {
        let body = fetch::get(&self.client, url, "application/jwk-set+json, application/json")
            .await
            .map_err(|e| http_error(UpstreamEndpoint::Jwks, e))?;
        JwkSet::from_json(&body)
    }

    /// RFC 7662 introspection with `client_secret_basic`. `Ok(None)` when the
    /// token is not active.
    pub(crate) async fn introspect(
        &self,
        url: &Url,
        client_id: &str,
        client_secret: &str,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, ValidationError> {
        fetch::introspect(&self.client, url, client_id, client_secret, token)
            .await
            .map_err(|e| http_error(UpstreamEndpoint::Introspection, e))
    }

    /// The userinfo check: `Ok(None)` when the provider refuses the token
    /// (401/403).
    pub(crate) async fn userinfo(
        &self,
        url: &Url,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, ValidationError> {
        fetch::userinfo(&self.client, url, token)
            .await
            .map_err(|e| http_error(UpstreamEndpoint::Userinfo, e))
    }
}

/// The endpoint rule of `authresult_core` for an endpoint of `issuer` (the
/// plain transport rule when the issuer is not a URL): `https`; plain `http`
/// only when allowed, or to a loopback host when the issuer itself is a
/// plain-`http` loopback issuer. So an `https` issuer can never make the
/// validator send a token or a client secret in clear, not even to a loopback
/// port.
pub(crate) fn check_endpoint(issuer: Option<&Url>, url: &Url, insecure_ok: bool) -> Result<(), String> {
    match issuer {
        Some(issuer) => authresult_core::check_endpoint_transport(issuer, url, insecure_ok),
        None => authresult_core::check_transport(url, insecure_ok),
    }
}
