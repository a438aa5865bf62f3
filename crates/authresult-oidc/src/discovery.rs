//! OpenID Connect discovery through the workspace's one discovery cache
//! (`authresult_http::Discovery`: a TTL by the injected clock, the older
//! document kept on a transient failure), typed as `openidconnect`
//! metadata; and the provider's key set: always `authresult-jwt`'s key-set
//! cache (single-flight, rate-limited refetch on an unknown `kid`, the last
//! good set kept), either the one a `TokenValidator` shares or one of the
//! provider's own.

use std::sync::Arc;
use std::time::Duration;

use authresult_http::{Discovery, DiscoveryDocument};
use authresult_jwt::{IssuerConfig, JwsAlgorithm, SharedKeySet, TokenValidator};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client_auth::ClientAssertion;
use crate::error::{Endpoint, OidcError};
use crate::http::{Requests, http_error};

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
    /// RFC 9126: where authorization requests are pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pushed_authorization_request_endpoint: Option<Url>,
    /// RFC 9126 §5: the provider accepts only pushed authorization requests.
    #[serde(default)]
    pub(crate) require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.1: the algorithms the provider accepts in DPoP proofs;
    /// absent when it does not do DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_signing_alg_values_supported: Option<Vec<String>>,
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

/// The members `openidconnect`'s provider metadata cannot do without
/// (OpenID Connect Discovery 1.0 §3's REQUIRED ones it models).
const METADATA_REQUIRED: &[&str] = &[
    "authorization_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];

/// A discovery result.
#[derive(Debug)]
pub(crate) struct Discovered {
    /// The metadata (its `jwks()` stays empty: the keys are in [`KeySets`]).
    pub(crate) metadata: Metadata,
    /// The issuer exactly as the provider spells it.
    pub(crate) issuer: String,
}

impl Discovered {
    pub(crate) fn extra(&self) -> &ExtraMetadata {
        self.metadata.additional_metadata()
    }
}

/// The provider's discovery: the document from the workspace's one cache,
/// typed once per document read.
#[derive(Debug)]
pub(crate) struct MetadataCache {
    document: Discovery,
    /// A client certificate is configured: the mTLS aliases are used.
    client_certificate: bool,
    allow_insecure_http: bool,
    /// Told the issuer as the provider spells it, for its `aud`.
    assertion: Option<Arc<ClientAssertion>>,
    typed: std::sync::Mutex<Option<(Arc<DiscoveryDocument>, Arc<Discovered>)>>,
}

impl MetadataCache {
    pub(crate) fn new(issuer: Url, http: &Requests, ttl: Duration, allow_insecure_http: bool) -> Self {
        MetadataCache {
            document: Discovery::new(issuer, http.shared().clone(), ttl, allow_insecure_http)
                .requiring(METADATA_REQUIRED),
            client_certificate: http.presents_client_certificate(),
            allow_insecure_http,
            assertion: http.assertion().cloned(),
            typed: std::sync::Mutex::new(None),
        }
    }

    /// The discovery, read (and checked: the issuer rule, every endpoint's
    /// transport) by `authresult_http::Discovery`, fetched on first use and
    /// after the TTL; when a refetch fails transiently the older document is
    /// used.
    pub(crate) async fn get(&self) -> Result<Arc<Discovered>, OidcError> {
        let document = self
            .document
            .get()
            .await
            .map_err(|e| http_error(Endpoint::Discovery, e))?;
        let mut typed = match self.typed.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((seen, discovered)) = typed.as_ref()
            && Arc::ptr_eq(seen, &document)
        {
            return Ok(Arc::clone(discovered));
        }
        let discovered = Arc::new(self.type_document(&document)?);
        if let Some(assertion) = &self.assertion {
            assertion.use_issuer(&discovered.issuer);
        }
        *typed = Some((document, Arc::clone(&discovered)));
        Ok(discovered)
    }

    /// Types the checked document with `openidconnect`'s metadata for
    /// request building.
    fn type_document(&self, document: &DiscoveryDocument) -> Result<Discovered, OidcError> {
        let issuer = self.document.issuer();
        let mut metadata: Metadata =
            serde_json::from_value(serde_json::Value::Object(document.clone().into_json()))
                .map_err(|e| crate::http::json_error(Endpoint::Discovery, &e, None))?;
        if self.client_certificate {
            use_mtls_aliases(issuer, &mut metadata, self.allow_insecure_http)?;
        }
        Ok(Discovered {
            metadata,
            issuer: document.issuer().to_owned(),
        })
    }
}

/// RFC 8705 §5: with a client certificate, the endpoints listed in
/// `mtls_endpoint_aliases` replace the plain ones (token, revocation,
/// introspection, device authorization, userinfo), so requests that
/// authenticate with the certificate go where the provider expects it. The
/// aliases follow the transport rule of every endpoint
/// ([`authresult_core::check_endpoint_transport`]), checked here since they
/// replace endpoints the document check has seen.
pub(crate) fn use_mtls_aliases(
    issuer: &Url,
    metadata: &mut Metadata,
    allow_insecure_http: bool,
) -> Result<(), OidcError> {
    let Some(aliases) = metadata.additional_metadata().mtls_endpoint_aliases.clone() else {
        return Ok(());
    };
    let alias = |field: &str| -> Result<Option<Url>, OidcError> {
        match aliases.get(field) {
            None => Ok(None),
            Some(value) => {
                let url = value
                    .as_str()
                    .and_then(|text| Url::parse(text).ok())
                    .ok_or_else(|| {
                        OidcError::malformed(
                            Endpoint::Discovery,
                            format!("`mtls_endpoint_aliases.{field}` is not a URL"),
                        )
                    })?;
                authresult_core::check_endpoint_transport(issuer, &url, allow_insecure_http).map_err(
                    |reason| {
                        OidcError::config(format!(
                            "discovery: `mtls_endpoint_aliases.{field}` ({}) {reason}",
                            authresult_http::display_url(&url)
                        ))
                    },
                )?;
                Ok(Some(url))
            }
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
    let pushed = alias("pushed_authorization_request_endpoint")?;
    let extra = metadata.additional_metadata_mut();
    for (slot, url) in [
        (&mut extra.revocation_endpoint, revocation),
        (&mut extra.introspection_endpoint, introspection),
        (&mut extra.device_authorization_endpoint, device),
        (&mut extra.pushed_authorization_request_endpoint, pushed),
    ] {
        if url.is_some() {
            *slot = url;
        }
    }
    Ok(())
}

/// Where the provider's ID tokens find their keys: always `authresult-jwt`'s
/// key-set cache, the one a `TokenValidator` shares
/// ([`OidcOptions::shared_key_set`](crate::OidcOptions::shared_key_set)) or,
/// without one, the provider's own, made on first use from the discovered
/// `jwks_uri` (and made again if a later discovery names another issuer
/// spelling or `jwks_uri`). Nothing else in this crate fetches or caches keys.
#[derive(Debug)]
pub(crate) struct KeySets {
    shared: Option<SharedKeySet>,
    own: std::sync::Mutex<Option<OwnKeySet>>,
    limits: KeySetLimits,
}

/// The provider's own key set and what it was made for.
#[derive(Debug)]
struct OwnKeySet {
    issuer: String,
    jwks_uri: Url,
    keys: SharedKeySet,
}

/// The provider's options its own key set is made with.
#[derive(Debug)]
struct KeySetLimits {
    algorithms: Vec<JwsAlgorithm>,
    allow_insecure_http: bool,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    /// The provider's roots, proxy and client certificate: its key set is
    /// fetched the way every other request of the provider goes.
    network: authresult_jwt::NetworkOptions,
    clock: Arc<dyn authresult_core::Clock>,
}

impl KeySets {
    pub(crate) fn new(options: &crate::OidcOptions) -> Self {
        KeySets {
            shared: options.shared_key_set.clone(),
            own: std::sync::Mutex::new(None),
            limits: KeySetLimits {
                // HMAC never verifies an ID token (`SharedKeySet::verify` refuses it too).
                algorithms: options
                    .allowed_algorithms
                    .iter()
                    .copied()
                    .filter(|a| !a.is_symmetric())
                    .collect(),
                allow_insecure_http: options.allow_insecure_http,
                connect_timeout: options.connect_timeout,
                request_timeout: options.request_timeout,
                max_response_bytes: options.max_response_bytes,
                network: options.network.clone(),
                clock: Arc::clone(&options.clock),
            },
        }
    }

    /// The key set for the provider as `d` describes it.
    pub(crate) fn for_provider(&self, d: &Discovered) -> Result<SharedKeySet, OidcError> {
        if let Some(shared) = &self.shared {
            return Ok(shared.clone());
        }
        let jwks_uri = d.metadata.jwks_uri().url();
        let mut own = match self.own.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(current) = own.as_ref()
            && current.issuer == d.issuer
            && current.jwks_uri == *jwks_uri
        {
            return Ok(current.keys.clone());
        }
        let keys = self.make(&d.issuer, jwks_uri)?;
        *own = Some(OwnKeySet {
            issuer: d.issuer.clone(),
            jwks_uri: jwks_uri.clone(),
            keys: keys.clone(),
        });
        Ok(keys)
    }

    /// A one-issuer key-set cache of `authresult-jwt` for `jwks_uri` (no
    /// second discovery: the document was read already). Only its key set is
    /// used; its claim rules (hence `any_audience`) never run.
    fn make(&self, issuer: &str, jwks_uri: &Url) -> Result<SharedKeySet, OidcError> {
        let limits = &self.limits;
        let config = IssuerConfig::new(issuer)
            .any_audience()
            .jwks_uri(jwks_uri.clone())
            .algorithms(limits.algorithms.iter().copied())
            .allow_insecure_http(limits.allow_insecure_http);
        let validator = TokenValidator::builder()
            .issuer(config)
            .cache_capacity(0)
            .connect_timeout(limits.connect_timeout)
            .http_timeout(limits.request_timeout)
            .max_response_bytes(limits.max_response_bytes)
            .network(limits.network.clone())
            .clock(Arc::clone(&limits.clock))
            .build()
            .map_err(|e| OidcError::config(format!("the provider's key set: {e}")))?;
        validator
            .key_set(issuer)
            .ok_or_else(|| OidcError::config("the provider's key set has no issuer"))
    }
}

#[cfg(test)]
mod tests;
