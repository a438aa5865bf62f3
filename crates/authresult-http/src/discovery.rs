//! The discovery document (OpenID Connect Discovery 1.0), read, checked and
//! cached in one place for the workspace: the validator's discovery and the
//! login client's (`authresult-oidc`, which types the same document with
//! `openidconnect`'s metadata for request building) both go through
//! [`Discovery`] and [`DiscoveryDocument`].

use std::sync::Arc;
use std::time::Duration;

use authresult_core::Timestamp;
use http::header::ACCEPT;
use serde_json::{Map, Value};
use url::Url;

use crate::client::HttpClient;
use crate::error::HttpError;
use crate::text::display_url;
use authresult_core::parse_strict_object;

/// How long a discovery document is used before it is read again (both the
/// validator's and the login client's default).
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Every endpoint field a discovery document may list that this workspace
/// reads; each is checked by [`DiscoveryDocument::check`] before anything
/// is sent to it.
pub const ENDPOINT_FIELDS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
    "pushed_authorization_request_endpoint",
];

/// A provider's discovery document: a JSON object with a string `issuer`,
/// whose endpoint fields ([`ENDPOINT_FIELDS`]) are URLs.
#[derive(Debug, Clone)]
pub struct DiscoveryDocument {
    issuer: String,
    endpoints: Vec<(&'static str, Url)>,
    document: Map<String, Value>,
}

impl DiscoveryDocument {
    /// Where an issuer publishes its document (Keycloak and Auth0 alike):
    /// `{issuer without trailing slash}/.well-known/openid-configuration`.
    pub fn url(issuer: &Url) -> Result<Url, HttpError> {
        let base = issuer.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/openid-configuration")).map_err(|_| HttpError::BadRequest {
            url: display_url(issuer),
        })
    }

    /// Reads a document: a JSON object (members unique) with a string
    /// `issuer`, every endpoint field absent, `null` or a URL. A document
    /// that is none of these is [`HttpError::Malformed`] (`url` is where
    /// it was read, for the message).
    pub fn from_json(url: &Url, body: &[u8]) -> Result<Self, HttpError> {
        let bad = |reason: String| HttpError::Malformed {
            url: display_url(url),
            reason,
        };
        let text = std::str::from_utf8(body).map_err(|_| bad("response is not UTF-8".into()))?;
        let document = parse_strict_object(text).map_err(|e| bad(format!("response {e}")))?;
        let issuer = match document.get("issuer") {
            Some(Value::String(issuer)) => issuer.clone(),
            Some(_) => return Err(bad("`issuer` is not a string".into())),
            None => return Err(bad("`issuer` is missing".into())),
        };
        let mut endpoints = Vec::new();
        for field in ENDPOINT_FIELDS {
            match document.get(*field) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => {
                    let url = Url::parse(text).map_err(|_| bad(format!("`{field}` is not a url")))?;
                    endpoints.push((*field, url));
                }
                Some(_) => return Err(bad(format!("`{field}` is not a string"))),
            }
        }
        Ok(DiscoveryDocument {
            issuer,
            endpoints,
            document,
        })
    }

    /// The issuer exactly as the provider spells it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL of an endpoint field ([`ENDPOINT_FIELDS`]), if listed.
    pub fn endpoint(&self, field: &str) -> Option<&Url> {
        self.endpoints
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, url)| url)
    }

    /// The whole document, for typing it further (`authresult-oidc` reads it
    /// into `openidconnect`'s provider metadata).
    pub fn into_json(self) -> Map<String, Value> {
        self.document
    }

    /// The document is `configured`'s ([`issuer_matches`]; else
    /// [`HttpError::IssuerMismatch`]), and every endpoint it lists follows
    /// [`authresult_core::check_endpoint_transport`]: an `https` issuer's
    /// endpoints are `https`, plain `http` only to loopback for a loopback
    /// `http` issuer, or with `allow_insecure_http` (else
    /// [`HttpError::InsecureEndpoint`] naming the field). So nothing is
    /// ever sent in clear because a document said so.
    pub fn check(&self, configured: &Url, allow_insecure_http: bool) -> Result<(), HttpError> {
        if !issuer_matches(configured, &self.issuer) {
            return Err(HttpError::IssuerMismatch {
                expected: configured.as_str().to_owned(),
                found: self.issuer.chars().take(200).collect(),
            });
        }
        for (field, url) in &self.endpoints {
            authresult_core::check_endpoint_transport(configured, url, allow_insecure_http).map_err(
                |reason| HttpError::InsecureEndpoint {
                    issuer: configured.as_str().to_owned(),
                    field: (*field).to_owned(),
                    url: display_url(url),
                    reason,
                },
            )?;
        }
        Ok(())
    }
}

/// The discovered issuer must be the configured one, character for
/// character. The one allowance: `Url` writes an empty path as `/`, so a
/// configured `https://id.example.org` (read as `https://id.example.org/`)
/// matches a provider that says `https://id.example.org`.
pub fn issuer_matches(configured: &Url, found: &str) -> bool {
    let expected = configured.as_str();
    if expected == found {
        return true;
    }
    configured.path() == "/" && configured.query().is_none() && expected.strip_suffix('/') == Some(found)
}

/// One issuer's discovery document, read on first use and again once it is
/// older than the TTL (by the client's clock). When a read fails
/// transiently ([`HttpError::is_transient`]) and an older document exists,
/// the older one is used; any other failure is answered. One read at a time.
#[derive(Debug)]
pub struct Discovery {
    issuer: Url,
    client: HttpClient,
    ttl: Duration,
    allow_insecure_http: bool,
    /// Members a document must have, checked before its issuer.
    required: &'static [&'static str],
    state: tokio::sync::Mutex<Option<(Timestamp, Arc<DiscoveryDocument>)>>,
}

impl Discovery {
    /// The discovery of `issuer` through `client`, kept for `ttl`; the
    /// endpoints' transport rule allows plain `http` with `allow_insecure_http`.
    pub fn new(issuer: Url, client: HttpClient, ttl: Duration, allow_insecure_http: bool) -> Self {
        Discovery {
            issuer,
            client,
            ttl,
            allow_insecure_http,
            required: &[],
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// This discovery, refusing a document without one of `members`
    /// ([`HttpError::MissingMember`], before the issuer is compared: a
    /// document the caller cannot use is malformed before it is another
    /// issuer's).
    pub fn requiring(mut self, members: &'static [&'static str]) -> Self {
        self.required = members;
        self
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// The cached document, read when there is none or it is older than the TTL.
    pub async fn get(&self) -> Result<Arc<DiscoveryDocument>, HttpError> {
        let mut state = self.state.lock().await;
        let now = self.client.now();
        if let Some((at, current)) = state.as_ref()
            && now.duration_since(*at) < self.ttl
        {
            return Ok(Arc::clone(current));
        }
        match self.read().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *state = Some((now, Arc::clone(&fresh)));
                Ok(fresh)
            }
            Err(e) => match state.as_ref() {
                Some((_, stale)) if e.is_transient() => Ok(Arc::clone(stale)),
                _ => Err(e),
            },
        }
    }

    /// Drops the cached document: the next [`get`](Self::get) reads it again
    /// (the provider may have moved an endpoint).
    pub async fn forget(&self) {
        *self.state.lock().await = None;
    }

    /// Reads and checks the document once.
    async fn read(&self) -> Result<DiscoveryDocument, HttpError> {
        let url = DiscoveryDocument::url(&self.issuer)?;
        let request = http::Request::get(url.as_str())
            .header(ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| HttpError::BadRequest {
                url: display_url(&url),
            })?;
        let response = self.client.execute(request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(HttpError::Status {
                url: display_url(&url),
                status: response.status().as_u16(),
            });
        }
        let document = DiscoveryDocument::from_json(&url, response.body())?;
        if let Some(member) = self
            .required
            .iter()
            .find(|m| document.document.get(**m).is_none_or(Value::is_null))
        {
            return Err(HttpError::MissingMember {
                url: display_url(&url),
                member: (*member).to_owned(),
            });
        }
        document.check(&self.issuer, self.allow_insecure_http)?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests;
