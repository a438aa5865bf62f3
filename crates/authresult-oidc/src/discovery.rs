//! OpenID Connect discovery and the key set, cached per issuer with a TTL and
//! refetched when a token names an unknown key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_jwt::JwkSet;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::http::{HttpClient, display_url};

/// Discovery fields `openidconnect`'s core metadata does not model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtraMetadata {
    /// RFC 8628.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) device_authorization_endpoint: Option<Url>,
    /// RFC 7009.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revocation_endpoint: Option<Url>,
    /// RFC 7662.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) introspection_endpoint: Option<Url>,
    /// OpenID Connect RP-Initiated Logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_session_endpoint: Option<Url>,
    /// RFC 9207.
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
    /// RFC 8705 §5: the endpoints to use with a client certificate. Kept
    /// as raw JSON: read (and checked) only when the client presents one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mtls_endpoint_aliases: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// The discovery document with the extra fields.
pub(crate) type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A discovery result with its key set.
#[derive(Debug)]
pub(crate) struct Discovered {
    /// The metadata (its `jwks()` stays empty: keys are in `keys`).
    pub(crate) metadata: Metadata,
    /// The provider's key set, parsed once into `ring` keys by
    /// `authresult-jwt` (the same JOSE code as the token validator).
    pub(crate) keys: JwkSet,
    /// The issuer exactly as the provider spells it.
    pub(crate) issuer: String,
    fetched_at: Instant,
    /// When the key set was last refetched for an unknown key, if ever.
    keys_refetched_at: Option<Instant>,
}

impl Discovered {
    pub(crate) fn extra(&self) -> &ExtraMetadata {
        self.metadata.additional_metadata()
    }
}

/// The per-issuer cache.
#[derive(Debug)]
pub(crate) struct Discovery {
    issuer: Url,
    http: HttpClient,
    ttl: Duration,
    allow_insecure_http: bool,
    /// False when ID tokens are verified with a shared key set: discovery
    /// then leaves `Discovered::keys` empty and fetches no keys.
    own_keys: bool,
    state: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

/// Key sets are refetched for an unknown `kid` at most this often (the
/// first refetch after a discovery is always allowed).
const MIN_KEY_REFETCH: Duration = Duration::from_secs(10);

impl Discovery {
    pub(crate) fn new(
        issuer: Url,
        http: HttpClient,
        ttl: Duration,
        allow_insecure_http: bool,
        own_keys: bool,
    ) -> Self {
        Discovery {
            issuer,
            http,
            ttl,
            allow_insecure_http,
            own_keys,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// The discovery document's URL for the issuer (Keycloak and Auth0 alike:
    /// `{issuer without trailing slash}/.well-known/openid-configuration`).
    pub(crate) fn document_url(issuer: &Url) -> Result<Url, OidcError> {
        let base = issuer.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .map_err(|_| OidcError::config("the issuer URL cannot carry a discovery path"))
    }

    /// The cached discovery, fetched on first use and after the TTL. When a
    /// refetch fails and an older result exists, the older result is used.
    pub(crate) async fn get(&self) -> Result<Arc<Discovered>, OidcError> {
        let mut state = self.state.lock().await;
        if let Some(current) = state.as_ref()
            && current.fetched_at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(current));
        }
        match self.fetch().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *state = Some(Arc::clone(&fresh));
                Ok(fresh)
            }
            Err(e) => match state.as_ref() {
                Some(stale) if e.kind() == authresult_core::FailureKind::Transient => Ok(Arc::clone(stale)),
                _ => Err(e),
            },
        }
    }

    /// Refetches the key set after a token named an unknown key; `seen` is
    /// the result the failed verification used.
    pub(crate) async fn refresh_keys(&self, seen: &Arc<Discovered>) -> Result<Arc<Discovered>, OidcError> {
        let mut state = self.state.lock().await;
        if let Some(current) = state.as_ref() {
            if !Arc::ptr_eq(current, seen) {
                // Someone else refreshed meanwhile.
                return Ok(Arc::clone(current));
            }
            if current
                .keys_refetched_at
                .is_some_and(|at| at.elapsed() < MIN_KEY_REFETCH)
            {
                return Ok(Arc::clone(current));
            }
        }
        let keys = self.fetch_keys(&seen.metadata).await?;
        let fresh = Arc::new(Discovered {
            metadata: seen.metadata.clone(),
            keys,
            issuer: seen.issuer.clone(),
            fetched_at: seen.fetched_at,
            keys_refetched_at: Some(Instant::now()),
        });
        *state = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    async fn fetch(&self) -> Result<Discovered, OidcError> {
        let url = Self::document_url(&self.issuer)?;
        let mut metadata: Metadata = self.http.get_json(Endpoint::Discovery, &url, None).await?;
        let found = metadata.issuer().as_str().to_owned();
        if !issuer_matches(&self.issuer, &found) {
            return Err(OidcError::IssuerMismatch {
                expected: self.issuer.as_str().to_owned(),
                found: found.chars().take(200).collect(),
            });
        }
        if self.http.presents_client_certificate() {
            use_mtls_aliases(&mut metadata)?;
        }
        check_endpoints(&self.issuer, &metadata, self.allow_insecure_http)?;
        let keys = if self.own_keys {
            self.fetch_keys(&metadata).await?
        } else {
            JwkSet::default()
        };
        Ok(Discovered {
            metadata,
            keys,
            issuer: found,
            fetched_at: Instant::now(),
            keys_refetched_at: None,
        })
    }

    async fn fetch_keys(&self, metadata: &Metadata) -> Result<JwkSet, OidcError> {
        let url = metadata.jwks_uri().url();
        let body = self.http.get_body(Endpoint::Jwks, url, None).await?;
        JwkSet::from_json(&body).map_err(|e| OidcError::malformed(Endpoint::Jwks, e.to_string()))
    }
}

/// The discovered issuer must be the configured one, character for
/// character. The one allowance: `Url` writes an empty path as `/`, so a
/// configured `https://id.example.org` (read as `https://id.example.org/`)
/// matches a provider that says `https://id.example.org`.
pub(crate) fn issuer_matches(configured: &Url, found: &str) -> bool {
    let expected = configured.as_str();
    if expected == found {
        return true;
    }
    configured.path() == "/" && configured.query().is_none() && expected.strip_suffix('/') == Some(found)
}

/// Every endpoint the discovery document lists, with its field name.
fn endpoints(metadata: &Metadata) -> Vec<(&'static str, &Url)> {
    let extra = metadata.additional_metadata();
    let mut list = vec![
        ("authorization_endpoint", metadata.authorization_endpoint().url()),
        ("jwks_uri", metadata.jwks_uri().url()),
    ];
    if let Some(token) = metadata.token_endpoint() {
        list.push(("token_endpoint", token.url()));
    }
    if let Some(userinfo) = metadata.userinfo_endpoint() {
        list.push(("userinfo_endpoint", userinfo.url()));
    }
    for (field, url) in [
        (
            "device_authorization_endpoint",
            &extra.device_authorization_endpoint,
        ),
        ("revocation_endpoint", &extra.revocation_endpoint),
        ("introspection_endpoint", &extra.introspection_endpoint),
        ("end_session_endpoint", &extra.end_session_endpoint),
    ] {
        if let Some(url) = url {
            list.push((field, url));
        }
    }
    list
}

/// RFC 8705 §5: with a client certificate, the endpoints listed in
/// `mtls_endpoint_aliases` replace the plain ones (token, revocation,
/// introspection, device authorization, userinfo), so requests that
/// authenticate with the certificate go where the provider expects it. The
/// aliases then pass [`check_endpoints`] like every endpoint.
pub(crate) fn use_mtls_aliases(metadata: &mut Metadata) -> Result<(), OidcError> {
    let Some(aliases) = metadata.additional_metadata().mtls_endpoint_aliases.clone() else {
        return Ok(());
    };
    let alias = |field: &str| -> Result<Option<Url>, OidcError> {
        match aliases.get(field) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .and_then(|text| Url::parse(text).ok())
                .map(Some)
                .ok_or_else(|| {
                    OidcError::malformed(
                        Endpoint::Discovery,
                        format!("`mtls_endpoint_aliases.{field}` is not a URL"),
                    )
                }),
        }
    };
    if let Some(url) = alias("token_endpoint")? {
        *metadata = metadata
            .clone()
            .set_token_endpoint(Some(openidconnect::TokenUrl::from_url(url)));
    }
    if let Some(url) = alias("userinfo_endpoint")? {
        *metadata = metadata
            .clone()
            .set_userinfo_endpoint(Some(openidconnect::UserInfoUrl::from_url(url)));
    }
    let revocation = alias("revocation_endpoint")?;
    let introspection = alias("introspection_endpoint")?;
    let device = alias("device_authorization_endpoint")?;
    let extra = metadata.additional_metadata_mut();
    for (slot, url) in [
        (&mut extra.revocation_endpoint, revocation),
        (&mut extra.introspection_endpoint, introspection),
        (&mut extra.device_authorization_endpoint, device),
    ] {
        if url.is_some() {
            *slot = url;
        }
    }
    Ok(())
}

/// Every endpoint of the document follows
/// [`authresult_core::check_endpoint_transport`]: an `https` issuer's
/// endpoints are `https` (plain `http` only for a loopback `http` issuer or
/// with `allow_insecure_http`). Checked before any request goes to one of them.
pub(crate) fn check_endpoints(
    issuer: &Url,
    metadata: &Metadata,
    allow_insecure_http: bool,
) -> Result<(), OidcError> {
    for (field, url) in endpoints(metadata) {
        authresult_core::check_endpoint_transport(issuer, url, allow_insecure_http).map_err(|reason| {
            OidcError::config(format!("discovery: `{field}` ({}) {reason}", display_url(url)))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
