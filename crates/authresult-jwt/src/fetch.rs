//! The validator's requests: discovery, key sets, introspection and
//! userinfo, through the workspace's one HTTP client (`client.rs`:
//! redirects never followed, timeouts, every response body capped while it
//! streams).

use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};
use url::Url;

use std::sync::Arc;

use authresult_core::Clock;

use super::client::{HttpClient, HttpError, HttpLimits, basic_auth};
use super::discovery::DiscoveryDocument;
use super::error::{UpstreamEndpoint, ValidationError};
use super::keys::JwkSet;
use super::network::NetworkOptions;
use super::strict_json::parse_object;

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

/// A successful answer: status and capped body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// The one mapping of HTTP failures into [`ValidationError`]: transport
/// failures and statuses that ask to wait are [`ValidationError::Unavailable`]
/// (transient), a redirect or an oversized answer a provider error.
fn http_error(endpoint: UpstreamEndpoint, error: HttpError) -> ValidationError {
    let unavailable = |reason: String| ValidationError::Unavailable { endpoint, reason };
    match error {
        HttpError::Timeout { .. } => unavailable("timed out".into()),
        HttpError::Connect { source, .. } => unavailable(describe(&source)),
        HttpError::Tls { reason, .. } => unavailable(format!("tls handshake failed: {reason}")),
        HttpError::Unavailable { status, .. } => unavailable(format!("http status {status}")),
        HttpError::Redirect { status, .. } => ValidationError::ProviderError {
            endpoint,
            reason: format!("http status {status}"),
        },
        HttpError::TooLarge { limit, .. } => ValidationError::ProviderError {
            endpoint,
            reason: format!("response is larger than {limit} bytes"),
        },
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

    async fn send(
        &self,
        endpoint: UpstreamEndpoint,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<Answer, ValidationError> {
        let request = request
            .body(body)
            .map_err(|_| ValidationError::config(format!("the {endpoint:?} url is not usable")))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| http_error(endpoint, e))?;
        let status = response.status();
        Ok(Answer {
            status,
            body: response.into_body(),
        })
    }

    /// The issuer's discovery document, read and checked by
    /// [`DiscoveryDocument`] (the one reader of the workspace).
    pub(crate) async fn discover(
        &self,
        issuer: &str,
        insecure_ok: bool,
    ) -> Result<Endpoints, ValidationError> {
        let issuer =
            Url::parse(issuer).map_err(|e| ValidationError::config(format!("issuer is not a url: {e}")))?;
        let url = DiscoveryDocument::url(&issuer)?;
        let endpoint = UpstreamEndpoint::Discovery;
        let answer = self
            .send(endpoint, get(&url).header(ACCEPT, "application/json"), Vec::new())
            .await?;
        if answer.status != StatusCode::OK {
            return Err(status_error(endpoint, answer.status));
        }
        let doc = DiscoveryDocument::from_json(&answer.body)?;
        doc.check(&issuer, insecure_ok)?;
        Ok(Endpoints {
            jwks_uri: doc.endpoint("jwks_uri").cloned(),
            introspection: doc.endpoint("introspection_endpoint").cloned(),
            userinfo: doc.endpoint("userinfo_endpoint").cloned(),
        })
    }

    pub(crate) async fn jwks(&self, url: &Url) -> Result<JwkSet, ValidationError> {
        let answer = self
            .send(
                UpstreamEndpoint::Jwks,
                get(url).header(ACCEPT, "application/jwk-set+json, application/json"),
                Vec::new(),
            )
            .await?;
        if answer.status != StatusCode::OK {
            return Err(status_error(UpstreamEndpoint::Jwks, answer.status));
        }
        JwkSet::from_json(&answer.body)
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
        let endpoint = UpstreamEndpoint::Introspection;
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let basic = basic_auth(client_id, client_secret);
        let answer = self
            .send(
                endpoint,
                http::Request::post(url.as_str())
                    .header(AUTHORIZATION, basic)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(ACCEPT, "application/json"),
                form.into_bytes(),
            )
            .await?;
        if answer.status != StatusCode::OK {
            return Err(status_error(endpoint, answer.status));
        }
        let doc = object(endpoint, &answer.body)?;
        match doc.get("active") {
            Some(Value::Bool(true)) => Ok(Some(doc)),
            Some(Value::Bool(false)) => Ok(None),
            _ => Err(ValidationError::ProviderError {
                endpoint,
                reason: "`active` is not a boolean".into(),
            }),
        }
    }

    /// The userinfo check: `Ok(None)` when the provider refuses the token
    /// (401/403).
    pub(crate) async fn userinfo(
        &self,
        url: &Url,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, ValidationError> {
        let endpoint = UpstreamEndpoint::Userinfo;
        let answer = self
            .send(
                endpoint,
                get(url)
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .header(ACCEPT, "application/json"),
                Vec::new(),
            )
            .await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Ok(None),
            other => return Err(status_error(endpoint, other)),
        }
        let doc = object(endpoint, &answer.body)?;
        match doc.get("sub") {
            Some(Value::String(_)) => Ok(Some(doc)),
            _ => Err(ValidationError::ProviderError {
                endpoint,
                reason: "`sub` is missing".into(),
            }),
        }
    }
}

/// RFC 7662 introspection of `token` at `url` with `client_secret_basic`,
/// through `client`: the workspace's one introspection client (the
/// validator's opaque tokens and `authresult-oidc`'s `introspect`).
/// `Ok(None)` when the token is not active; a 5xx or 429 is
/// [`ValidationError::Unavailable`], any other answer but `200` with a JSON
/// object whose `active` is a boolean a [`ValidationError::ProviderError`].
pub async fn introspect(
    client: &HttpClient,
    url: &Url,
    client_id: &str,
    client_secret: &str,
    token: &str,
) -> Result<Option<Map<String, Value>>, ValidationError> {
    let http = Http {
        client: client.clone(),
    };
    http.introspect(url, client_id, client_secret, token).await
}

/// The userinfo claims for `token` at `url`, through `client`: the
/// workspace's one userinfo client (the validator's opaque tokens and
/// `authresult-oidc`'s `userinfo`). `Ok(None)` when the provider refuses the
/// token (401/403); the answer must be a JSON object with a string `sub`.
pub async fn userinfo(
    client: &HttpClient,
    url: &Url,
    token: &str,
) -> Result<Option<Map<String, Value>>, ValidationError> {
    let http = Http {
        client: client.clone(),
    };
    http.userinfo(url, token).await
}

/// A `GET url` request.
fn get(url: &Url) -> http::request::Builder {
    http::Request::get(url.as_str())
}

fn object(endpoint: UpstreamEndpoint, body: &[u8]) -> Result<Map<String, Value>, ValidationError> {
    let bad = |reason: &str| ValidationError::ProviderError {
        endpoint,
        reason: format!("response {reason}"),
    };
    let text = std::str::from_utf8(body).map_err(|_| bad("is not UTF-8"))?;
    parse_object(text).map_err(bad)
}

fn status_error(endpoint: UpstreamEndpoint, status: StatusCode) -> ValidationError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        ValidationError::Unavailable {
            endpoint,
            reason: format!("http status {}", status.as_u16()),
        }
    } else {
        ValidationError::ProviderError {
            endpoint,
            reason: format!("http status {}", status.as_u16()),
        }
    }
}

/// A transport error, without the URL's query (there is none with a token).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
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
