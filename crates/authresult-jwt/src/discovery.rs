//! The discovery document (OpenID Connect Discovery 1.0), read and checked in
//! one place for the workspace: the validator's discovery and the login
//! client's (`authresult-oidc`, which types the same document with
//! `openidconnect`'s metadata for request building) both go through
//! [`DiscoveryDocument`].

use serde_json::{Map, Value};
use url::Url;

use super::error::{UpstreamEndpoint, ValidationError};
use super::strict_json::parse_object;

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
    pub fn url(issuer: &Url) -> Result<Url, ValidationError> {
        let base = issuer.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .map_err(|_| ValidationError::config("the issuer URL cannot carry a discovery path"))
    }

    /// Reads a document: a JSON object (members unique) with a string
    /// `issuer`, every endpoint field absent, `null` or a URL. A document
    /// that is none of these is a [`ValidationError::ProviderError`].
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
        let bad = |reason: String| ValidationError::ProviderError {
            endpoint: UpstreamEndpoint::Discovery,
            reason,
        };
        let text = std::str::from_utf8(body).map_err(|_| bad("response is not UTF-8".into()))?;
        let document = parse_object(text).map_err(|e| bad(format!("response {e}")))?;
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

    /// The document is `configured`'s ([`issuer_matches`]; else a
    /// [`ValidationError::ProviderError`]), and every endpoint it lists follows
    /// [`authresult_core::check_endpoint_transport`]: an `https` issuer's
    /// endpoints are `https`, plain `http` only to loopback for a loopback
    /// `http` issuer, or with `allow_insecure_http` (else a
    /// [`ValidationError::Configuration`] naming the field). So nothing is
    /// ever sent in clear because a document said so.
    pub fn check(&self, configured: &Url, allow_insecure_http: bool) -> Result<(), ValidationError> {
        if !issuer_matches(configured, &self.issuer) {
            return Err(ValidationError::ProviderError {
                endpoint: UpstreamEndpoint::Discovery,
                reason: "`issuer` differs from the configured issuer".into(),
            });
        }
        for (field, url) in &self.endpoints {
            authresult_core::check_endpoint_transport(configured, url, allow_insecure_http).map_err(
                |reason| {
                    ValidationError::config(format!(
                        "discovery of issuer `{configured}` lists a `{field}` ({}) that {reason}",
                        super::client::display_url(url)
                    ))
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

#[cfg(test)]
mod tests;
