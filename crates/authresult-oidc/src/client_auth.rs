//! Client authentication beyond a client secret: `private_key_jwt`
//! (RFC 7523 §2.2, OpenID Connect Core §9) and, through the HTTP client's
//! certificate, mutual TLS (RFC 8705).
//!
//! With `OidcOptions::client_assertion_key` set, every form `POST` to the
//! token, device authorization, revocation and introspection endpoints that
//! carries no `Authorization` header gets `client_assertion_type` and a
//! fresh `client_assertion`: a JWS signed by `authresult-jwt`'s
//! [`SigningKey`] with `iss` = `sub` = the client id, `aud` = the issuer
//! identifier exactly as the provider spells it in discovery (what
//! draft-ietf-oauth-rfc7523bis and FAPI 2.0 ask for, and what every
//! endpoint of a provider accepts; before discovery, the configured
//! issuer), a random 128-bit `jti`, `iat` now and
//! `exp` one minute later. The client sends no secret then (`client_id`
//! goes in the body).
//!
//! Mutual TLS (`tls_client_auth` / `self_signed_tls_client_auth`) needs
//! nothing here: configure a public client (no secret) and
//! `NetworkOptions::client_identity`; the certificate is presented to every
//! server that asks for one and `client_id` goes in the body. With a client
//! certificate, discovery's `mtls_endpoint_aliases` (RFC 8705 §5) replace
//! the token, revocation, introspection, device and userinfo endpoints
//! (`discovery.rs`), and pass the same transport check.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::Clock;
use authresult_jwt::SigningKey;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::options::OidcOptions;

/// RFC 7523 §2.2's `client_assertion_type`.
pub(crate) const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid.
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// Signs a `private_key_jwt` client assertion for each request that
/// authenticates the client. `Debug` shows no key.
pub(crate) struct ClientAssertion {
    client_id: String,
    /// The issuer identifier: the configured one until discovery names
    /// it as the provider spells it ([`use_issuer`](Self::use_issuer)).
    audience: std::sync::Mutex<String>,
    key: Arc<SigningKey>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ClientAssertion {
    /// The assertion signer `options` ask for, if any. A client secret and
    /// a client assertion key together are a configuration error.
    pub(crate) fn from_options(
        options: &OidcOptions,
        client_id: &str,
        issuer: &Url,
        has_secret: bool,
    ) -> Result<Option<Self>, OidcError> {
        let Some(key) = &options.client_assertion_key else {
            return Ok(None);
        };
        if has_secret {
            return Err(OidcError::config(
                "a `client_secret` and a client assertion key are both set: choose one client authentication",
            ));
        }
        Ok(Some(ClientAssertion {
            client_id: client_id.to_owned(),
            audience: std::sync::Mutex::new(issuer.as_str().to_owned()),
            key: Arc::clone(key),
            clock: Arc::clone(&options.clock),
        }))
    }

    /// Signs assertions for `issuer`, the issuer identifier as the
    /// provider's discovery spells it (`Url` writes a configured
    /// `https://id.example.org` with a `/` the provider may not have).
    pub(crate) fn use_issuer(&self, issuer: &str) {
        let mut audience = match self.audience.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        issuer.clone_into(&mut audience);
    }

    fn audience(&self) -> String {
        match self.audience.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A fresh signed assertion.
    pub(crate) fn sign(&self) -> Result<String, OidcError> {
        let now = self.clock.now().as_secs();
        // 128 random bits, base64url.
        let jti = openidconnect::CsrfToken::new_random().into_secret();
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::from(self.client_id.as_str()));
        claims.insert("sub".into(), Value::from(self.client_id.as_str()));
        claims.insert("aud".into(), Value::from(self.audience()));
        claims.insert("jti".into(), Value::from(jti));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + ASSERTION_LIFETIME.as_secs()));
        self.key
            .sign(None, &claims)
            .map_err(|e| OidcError::config(e.to_string()))
    }

    /// Adds the assertion to `request` when it authenticates the client: a
    /// form `POST` to an endpoint that takes client authentication, with no
    /// `Authorization` header of its own.
    pub(crate) fn authenticate(
        &self,
        endpoint: Endpoint,
        request: &mut http::Request<Vec<u8>>,
    ) -> Result<(), OidcError> {
        let authenticates = matches!(
            endpoint,
            Endpoint::Token
                | Endpoint::DeviceAuthorization
                | Endpoint::Revocation
                | Endpoint::Introspection
                | Endpoint::PushedAuthorization
        );
        let form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !authenticates
            || request.method() != http::Method::POST
            || !form
            || request.headers().contains_key(AUTHORIZATION)
        {
            return Ok(());
        }
        let assertion = self.sign()?;
        let body = request.body_mut();
        let mut extra = url::form_urlencoded::Serializer::new(String::new());
        if !url::form_urlencoded::parse(body).any(|(name, _)| name == "client_id") {
            extra.append_pair("client_id", &self.client_id);
        }
        extra
            .append_pair("client_assertion_type", JWT_BEARER_ASSERTION)
            .append_pair("client_assertion", &assertion);
        if !body.is_empty() {
            body.push(b'&');
        }
        body.extend_from_slice(extra.finish().as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
