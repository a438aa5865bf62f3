//! `OidcProvider`: the `AuthProvider` port over `openidconnect` for Keycloak,
//! Auth0 and any OpenID Connect provider. This file is its construction
//! (presets, options, discovery, the `openidconnect` client) and the login
//! dispatch; the jobs live beside it: `code_flow.rs` (authorization code +
//! PKCE and the callback), `device_flow.rs` (RFC 8628), `tokens.rs` (refresh,
//! client credentials, and every token response turned into an `AuthResult`),
//! `endpoints.rs` (userinfo, introspection, revocation, end-session URL),
//! `pushed.rs` (pushed authorization requests, RFC 9126) and
//! `port.rs` (the `AuthProvider` implementation, delegating to the methods of
//! the same names).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use authresult_core::{
    Auth0Config, AuthResult, KeycloakConfig, LoginFlow, LoginRequest, LoginResponse, OidcClientSettings,
    OidcConfig, PendingAuthorization, ProviderConfig, ProviderKind, ProviderProfile, RESERVED_PARAMS,
};
use authresult_jwt::{DpopKey, JwsAlgorithm};
use openidconnect::{
    AuthType, ClientId, EndpointMaybeSet, EndpointNotSet, EndpointSet, ErrorResponseType, RequestTokenError,
    Scope, StandardErrorResponse,
};
use serde_json::Value;
use url::Url;

use crate::discovery::{Discovered, KeySets, MetadataCache};
use crate::dpop::{DpopNonces, Proofs};
use crate::error::{Endpoint, OidcError};
use crate::http::{Requests, json_error};
use crate::options::OidcOptions;
use crate::pending::PendingData;
use crate::token_response::RawTokenResponse;

mod code_flow;
mod device_flow;
mod endpoints;
mod port;
mod pushed;
mod tokens;

#[cfg(feature = "fuzzing")]
pub(crate) use code_flow::callback_params;

pub(crate) use code_flow::token_in_callback;

/// Provider-specific behaviour on top of plain OpenID Connect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preset {
    /// Any OpenID Connect provider.
    Generic,
    /// Keycloak: the issuer is the realm URL.
    Keycloak {
        /// The realm, when known.
        realm: Option<String>,
    },
    /// Auth0: `audience` and `organization` are sent with authorization
    /// requests, and ID tokens of another organization are rejected.
    Auth0 {
        /// The API audience.
        audience: Option<String>,
        /// The organization id (`org_...`, checked against `org_id`) or name
        /// (checked against `org_name`).
        organization: Option<String>,
    },
}

impl Preset {
    /// The preset of a profile (`None` for the sync server's).
    fn of(profile: &ProviderProfile) -> Option<Self> {
        match profile.kind() {
            ProviderKind::Keycloak => Some(Preset::Keycloak {
                realm: profile.realm().map(str::to_owned),
            }),
            ProviderKind::Auth0 => Some(Preset::Auth0 {
                audience: profile.authorization_params().get("audience").cloned(),
                organization: profile.organization().map(|o| o.expected().to_owned()),
            }),
            ProviderKind::Oidc => Some(Preset::Generic),
            _ => None,
        }
    }

    /// The config `settings` and this preset make, whose profile the
    /// provider follows.
    fn config(&self, settings: OidcClientSettings) -> ProviderConfig {
        match self {
            Preset::Generic => ProviderConfig::Oidc(OidcConfig { client: settings }),
            Preset::Keycloak { realm } => ProviderConfig::Keycloak(KeycloakConfig {
                client: settings,
                realm: realm.clone(),
            }),
            Preset::Auth0 {
                audience,
                organization,
            } => ProviderConfig::Auth0(Auth0Config {
                client: settings,
                audience: audience.clone(),
                organization: organization.clone(),
            }),
        }
    }
}

/// The endpoints discovery found, for display and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderEndpoints {
    /// The issuer exactly as the provider spells it.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Option<Url>,
    /// The key set.
    pub jwks_uri: Url,
    /// The userinfo endpoint.
    pub userinfo_endpoint: Option<Url>,
    /// The device authorization endpoint.
    pub device_authorization_endpoint: Option<Url>,
    /// The revocation endpoint.
    pub revocation_endpoint: Option<Url>,
    /// The introspection endpoint.
    pub introspection_endpoint: Option<Url>,
    /// The RP-initiated logout endpoint.
    pub end_session_endpoint: Option<Url>,
    /// Whether authorization responses carry `iss` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
}

/// `CoreClient` with token responses whose ID token stays raw text
/// (`token_response.rs`): `openidconnect` never parses or verifies it.
type BaseClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    RawTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Inner {
    settings: OidcClientSettings,
    preset: Preset,
    /// The type's rules (issuer, organisation, parameters), shared with the
    /// validator of the same config.
    profile: ProviderProfile,
    options: OidcOptions,
    http: Requests,
    discovery: MetadataCache,
    keys: KeySets,
    /// Where the servers' DPoP nonces are kept (the options' store, or
    /// this provider's own in memory).
    nonces: DpopNonces,
}

/// An OpenID Connect provider (Keycloak, Auth0 or generic) implementing the
/// [`AuthProvider`](authresult_core::AuthProvider) port: authorization code + PKCE, the device flow,
/// refresh with rotation, userinfo, introspection, revocation, RP-initiated
/// logout and client credentials.
///
/// Cheap to clone; clones share the HTTP client and the discovery cache.
/// `Debug` shows no secret.
#[derive(Clone)]
pub struct OidcProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.inner.settings.issuer.as_str())
            .field("client_id", &self.inner.settings.client_id)
            .field("preset", &self.inner.preset)
            .field("confidential", &self.inner.settings.client_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// [`authresult_core::check_transport`] for `field`, as this crate's error.
pub(crate) fn check_transport(url: &Url, allow_insecure_http: bool, field: &str) -> Result<(), OidcError> {
    authresult_core::check_transport(url, allow_insecure_http)
        .map_err(|reason| OidcError::config(format!("`{field}` {reason}")))
}

/// Maps an `openidconnect` request error, naming `endpoint`.
fn request_error<T: ErrorResponseType + fmt::Display>(
    endpoint: Endpoint,
    error: RequestTokenError<OidcError, StandardErrorResponse<T>>,
) -> OidcError {
    match error {
        RequestTokenError::Request(e) => e,
        RequestTokenError::ServerResponse(response) => {
            let code = match serde_json::to_value(response.error()) {
                Ok(Value::String(code)) => code,
                _ => "(unreadable)".to_owned(),
            };
            OidcError::server_error(endpoint, &code, response.error_description().map(String::as_str))
        }
        RequestTokenError::Parse(e, _body) => json_error(endpoint, e.inner(), Some(&e.path().to_string())),
        RequestTokenError::Other(message) => OidcError::malformed(endpoint, message.to_lowercase()),
    }
}

impl OidcProvider {
    /// A provider for `settings` with `preset` behaviour. The issuer must use
    /// https, or plain http to a loopback host (or `allow_insecure_http`).
    pub fn new(
        settings: OidcClientSettings,
        preset: Preset,
        options: OidcOptions,
    ) -> Result<Self, OidcError> {
        Self::from_config(&preset.config(settings), options)
    }

    fn build(
        settings: OidcClientSettings,
        preset: Preset,
        profile: ProviderProfile,
        options: OidcOptions,
    ) -> Result<Self, OidcError> {
        if settings.client_id.is_empty() {
            return Err(OidcError::config("`client_id` is empty"));
        }
        let http = Requests::new(&options)?.authenticating(
            &options,
            &settings.client_id,
            &settings.issuer,
            settings.client_secret.is_some(),
        )?;
        let discovery = MetadataCache::new(
            settings.issuer.clone(),
            &http,
            options.discovery_ttl,
            options.allow_insecure_http,
        );
        let keys = KeySets::new(&options);
        let nonces = options.dpop_nonces.clone().unwrap_or_else(DpopNonces::local);
        if !matches!(options.dpop_algorithm, JwsAlgorithm::Es256 | JwsAlgorithm::EdDsa) {
            return Err(OidcError::config("`dpop_algorithm` must be ES256 or EdDSA"));
        }
        Ok(OidcProvider {
            inner: Arc::new(Inner {
                settings,
                preset,
                profile,
                options,
                http,
                discovery,
                keys,
                nonces,
            }),
        })
    }

    /// A provider from DataCollect's `{type, fields}` config (`keycloak`,
    /// `auth0` or `oidc`). The issuer is checked again against the app's
    /// own `options.allow_insecure_http` (plain http only to loopback
    /// otherwise), whatever the config was read with.
    pub fn from_config(config: &ProviderConfig, options: OidcOptions) -> Result<Self, OidcError> {
        let profile = config.profile();
        let (Some(settings), Some(preset)) = (config.oidc_client(), Preset::of(&profile)) else {
            return Err(OidcError::config(
                "type `default` is the sync server, not an OpenID provider (use SyncServerProvider)",
            ));
        };
        check_transport(&settings.issuer, options.allow_insecure_http, "issuer")?;
        Self::build(settings.clone(), preset, profile, options)
    }

    /// The type's rules this provider follows (the validator of the same
    /// config follows the same profile).
    pub fn profile(&self) -> &ProviderProfile {
        &self.inner.profile
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &Url {
        &self.inner.settings.issuer
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.inner.settings.client_id
    }

    /// The preset.
    pub fn preset(&self) -> &Preset {
        &self.inner.preset
    }

    /// Runs (or reuses the cached) discovery and reports the endpoints.
    pub async fn discover(&self) -> Result<ProviderEndpoints, OidcError> {
        let d = self.inner.discovery.get().await?;
        let m = &d.metadata;
        let extra = d.extra();
        Ok(ProviderEndpoints {
            issuer: d.issuer.clone(),
            authorization_endpoint: m.authorization_endpoint().url().clone(),
            token_endpoint: m.token_endpoint().map(|u| u.url().clone()),
            jwks_uri: m.jwks_uri().url().clone(),
            userinfo_endpoint: m.userinfo_endpoint().map(|u| u.url().clone()),
            device_authorization_endpoint: extra.device_authorization_endpoint.clone(),
            revocation_endpoint: extra.revocation_endpoint.clone(),
            introspection_endpoint: extra.introspection_endpoint.clone(),
            end_session_endpoint: extra.end_session_endpoint.clone(),
            authorization_response_iss_parameter_supported: extra
                .authorization_response_iss_parameter_supported,
        })
    }

    fn client(&self, d: &Discovered) -> BaseClient {
        let secret = self
            .inner
            .settings
            .client_secret
            .as_ref()
            .map(|s| openidconnect::ClientSecret::new(s.secret().to_owned()));
        BaseClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.inner.settings.client_id.clone()),
            secret,
        )
        .set_auth_type(AuthType::BasicAuth)
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.inner
            .settings
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .map(|s| Scope::new(s.clone()))
    }

    /// A new DPoP key for a login when the provider's `dpop` is on and its
    /// discovery advertises the algorithm (`None`: bearer); DPoP
    /// `required` and not advertised: [`OidcError::DpopUnsupported`].
    fn login_key(&self, d: &Discovered) -> Result<Option<DpopKey>, OidcError> {
        let advertised = d.extra().dpop_signing_alg_values_supported.as_deref();
        let Some(alg) = crate::dpop::login_algorithm(
            self.inner.settings.dpop,
            self.inner.options.dpop_algorithm,
            advertised,
        )?
        else {
            return Ok(None);
        };
        let key = DpopKey::generate(alg).map_err(|_| OidcError::DpopKeyUnusable {
            reason: "no key could be generated",
        })?;
        Ok(Some(key.with_clock(Arc::clone(&self.inner.options.clock))))
    }

    /// Proofs with `key` (the provider's clock for `iat`), nonces kept
    /// where the provider keeps them.
    fn proofs(&self, key: DpopKey) -> Proofs {
        Proofs::new(
            key.with_clock(Arc::clone(&self.inner.options.clock)),
            self.inner.nonces.clone(),
        )
    }

    /// The session's [`DpopBinding`](authresult_core::DpopBinding) after a
    /// token response of `token_type`: bound when it says `DPoP`. A bound
    /// answer without a key sent, or an unbound one where a bound token is
    /// required (`must_bind`), is refused: never kept as bearer.
    fn binding_of(
        &self,
        proofs: Option<&Proofs>,
        token_type: &str,
        must_bind: bool,
    ) -> Result<Option<authresult_core::DpopBinding>, OidcError> {
        let bound = crate::dpop::is_dpop_type(token_type);
        let found = || crate::error::sanitize_code(token_type);
        match proofs {
            None if bound => Err(OidcError::malformed(
                Endpoint::Token,
                "`token_type` is DPoP but no proof was sent",
            )),
            _ if must_bind && !bound => Err(OidcError::DpopNotBound {
                endpoint: Endpoint::Token,
                found: found(),
            }),
            None => Ok(None),
            Some(proofs) => Ok(Some(proofs.key.to_binding(bound))),
        }
    }

    /// True when the provider's `dpop` is `required`.
    fn dpop_required(&self) -> bool {
        self.inner.settings.dpop == authresult_core::DpopMode::Required
    }

    /// The configured RFC 8707 `resource`: sent with the authorization request
    /// (as an extra parameter) and again with every token request, so the
    /// provider issues access tokens for that resource.
    fn resource(&self) -> Option<&str> {
        self.inner
            .settings
            .extra_params
            .get("resource")
            .map(String::as_str)
    }

    /// Extra authorization parameters: the profile's (config, then Auth0's
    /// `audience` and `organization`), then the call's own.
    fn extra_params(&self, request: &LoginRequest) -> BTreeMap<String, String> {
        let mut params = self.inner.profile.authorization_params().clone();
        params.extend(request.extra_params.clone());
        params.retain(|k, _| !RESERVED_PARAMS.contains(&k.as_str()));
        if let Some(max_age) = self.inner.options.max_auth_age {
            // The configured `max_age` is the one the ID token is checked against.
            params.insert("max_age".into(), max_age.as_secs().to_string());
        }
        params
    }

    /// Starts an authorization-code or device login; the port's
    /// [`AuthProvider::begin_login`](authresult_core::AuthProvider::begin_login) with this crate's error.
    pub async fn begin_login(&self, request: &LoginRequest) -> Result<PendingAuthorization, OidcError> {
        match request.flow {
            LoginFlow::AuthorizationCode => self.begin_code(request).await,
            LoginFlow::DeviceCode => self.begin_device(request).await,
            _ => Err(OidcError::config("this login flow is not supported")),
        }
    }

    /// Finishes an interactive login (the code callback, or the device flow
    /// polled to its end); the port's [`AuthProvider::complete_login`](authresult_core::AuthProvider::complete_login) with
    /// this crate's error.
    pub async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        response: &LoginResponse,
    ) -> Result<AuthResult, OidcError> {
        let data = PendingData::from_pending(pending)?;
        match (&data, response) {
            (PendingData::Code { .. }, LoginResponse::Callback(callback)) => {
                self.finish_code(pending, data, callback).await
            }
            (PendingData::Device { .. }, LoginResponse::DevicePoll) => {
                self.poll_device(pending, |_| {}).await
            }
            _ => Err(OidcError::InvalidPending {
                reason: "the response does not fit the login flow that was started".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
