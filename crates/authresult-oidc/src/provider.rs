//! `OidcProvider`: the `AuthProvider` port over `openidconnect` for Keycloak,
//! Auth0 and any OpenID Connect provider.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{
    AccessToken, AuthProvider, AuthResult, Credentials, IdToken, LoginFlow, LoginPrompt, LoginRequest,
    LoginResponse, OidcClientSettings, PendingAuthorization, ProviderConfig, RefreshToken, RevocableToken,
    TokenInfo,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreDeviceAuthorizationResponse};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, CsrfToken, DeviceAuthorizationUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, ErrorResponseType, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse,
};
use serde_json::{Map, Value};
use url::Url;

use crate::device::DeviceProgress;
use crate::discovery::{Discovered, Discovery};
use crate::error::{Endpoint, OidcError};
use crate::http::{HttpClient, error_from_status, json_error, parse_json};
use crate::id_token::{self, NonceCheck, VerifiedIdToken, VerifyFailure, constant_time_eq};
use crate::options::OidcOptions;
use crate::pending::PendingData;
use crate::token_response::RawTokenResponse;

/// How long an authorization-code login may take by default.
const CODE_LOGIN_TTL: Duration = Duration::from_secs(600);

/// Authorization-request parameters a config or caller may not override.
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

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
    fn name(&self) -> &'static str {
        match self {
            Preset::Generic => "oidc",
            Preset::Keycloak { .. } => "keycloak",
            Preset::Auth0 { .. } => "auth0",
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
    options: OidcOptions,
    http: HttpClient,
    discovery: Discovery,
}

/// An OpenID Connect provider (Keycloak, Auth0 or generic) implementing the
/// [`AuthProvider`] port: authorization code + PKCE, the device flow,
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
        check_transport(&settings.issuer, options.allow_insecure_http, "issuer")?;
        Self::build(settings, preset, options)
    }

    fn build(settings: OidcClientSettings, preset: Preset, options: OidcOptions) -> Result<Self, OidcError> {
        if settings.client_id.is_empty() {
            return Err(OidcError::config("`client_id` is empty"));
        }
        let http = HttpClient::new(&options)?;
        let discovery = Discovery::new(
            settings.issuer.clone(),
            http.clone(),
            options.discovery_ttl,
            options.allow_insecure_http,
            options.shared_key_set.is_none(),
        );
        Ok(OidcProvider {
            inner: Arc::new(Inner {
                settings,
                preset,
                options,
                http,
                discovery,
            }),
        })
    }

    /// A provider from DataCollect's `{type, fields}` config (`keycloak`,
    /// `auth0` or `oidc`). The config's own transport check (plain http only
    /// to loopback unless `allow_insecure_http`) has already been applied.
    pub fn from_config(config: &ProviderConfig, options: OidcOptions) -> Result<Self, OidcError> {
        let (settings, preset) = match config {
            ProviderConfig::Keycloak(c) => (
                c.client.clone(),
                Preset::Keycloak {
                    realm: c.realm.clone(),
                },
            ),
            ProviderConfig::Auth0(c) => (
                c.client.clone(),
                Preset::Auth0 {
                    audience: c.audience.clone(),
                    organization: c.organization.clone(),
                },
            ),
            ProviderConfig::Oidc(c) => (c.client.clone(), Preset::Generic),
            ProviderConfig::SyncServer(_) => {
                return Err(OidcError::config(
                    "type `default` is the sync server, not an OpenID provider (use SyncServerProvider)",
                ));
            }
            _ => return Err(OidcError::config("this provider type is not supported")),
        };
        Self::build(settings, preset, options)
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

    /// Extra authorization parameters: config, preset, then the call's own.
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

    fn extra_params(&self, request: &LoginRequest) -> BTreeMap<String, String> {
        let mut params = self.inner.settings.extra_params.clone();
        if let Preset::Auth0 {
            audience,
            organization,
        } = &self.inner.preset
        {
            if let Some(audience) = audience {
                params.insert("audience".into(), audience.clone());
            }
            if let Some(organization) = organization {
                params.insert("organization".into(), organization.clone());
            }
        }
        params.extend(request.extra_params.clone());
        params.retain(|k, _| !RESERVED_PARAMS.contains(&k.as_str()));
        if let Some(max_age) = self.inner.options.max_auth_age {
            // The configured `max_age` is the one the ID token is checked against.
            params.insert("max_age".into(), max_age.as_secs().to_string());
        }
        params
    }

    /// Starts an authorization-code or device login (see [`AuthProvider::begin_login`]).
    pub async fn start_login(&self, request: &LoginRequest) -> Result<PendingAuthorization, OidcError> {
        match request.flow {
            LoginFlow::AuthorizationCode => self.begin_code(request).await,
            LoginFlow::DeviceCode => self.begin_device(request).await,
            _ => Err(OidcError::config("this login flow is not supported")),
        }
    }

    async fn begin_code(&self, request: &LoginRequest) -> Result<PendingAuthorization, OidcError> {
        let d = self.inner.discovery.get().await?;
        let redirect = request
            .redirect_uri
            .clone()
            .or_else(|| self.inner.settings.redirect_uri.clone())
            .ok_or_else(|| OidcError::config("no `redirect_uri` is configured or given"))?;
        let client = self
            .client(&d)
            .set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
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
        let (authorization_url, state, nonce) = authorize.url();
        let data = PendingData::Code {
            issuer: d.issuer.clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            redirect_uri: redirect.to_string(),
        };
        Ok(PendingAuthorization {
            key: request.key.clone(),
            state: state.secret().clone(),
            prompt: LoginPrompt::Redirect { authorization_url },
            redirect_uri: Some(redirect),
            created_at: request.now,
            expires_at: request.now.saturating_add(CODE_LOGIN_TTL),
            secret: data.to_secret()?,
        })
    }

    async fn begin_device(&self, request: &LoginRequest) -> Result<PendingAuthorization, OidcError> {
        let d = self.inner.discovery.get().await?;
        let url = d
            .extra()
            .device_authorization_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::DeviceAuthorization,
            })?;
        let client = self
            .client(&d)
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(url));
        let mut start = client.exchange_device_code().add_scopes(self.scopes());
        for (name, value) in self.extra_params(request) {
            start = start.add_extra_param(name, value);
        }
        let response: CoreDeviceAuthorizationResponse = start
            .request_async(&self.inner.http.at(Endpoint::DeviceAuthorization))
            .await
            .map_err(|e| request_error(Endpoint::DeviceAuthorization, e))?;
        let verification_uri = Url::parse(response.verification_uri().as_str()).map_err(|_| {
            OidcError::malformed(Endpoint::DeviceAuthorization, "`verification_uri` is not a URL")
        })?;
        let verification_uri_complete = match response.verification_uri_complete() {
            Some(complete) => Some(Url::parse(complete.secret()).map_err(|_| {
                OidcError::malformed(
                    Endpoint::DeviceAuthorization,
                    "`verification_uri_complete` is not a URL",
                )
            })?),
            None => None,
        };
        let interval_secs = response.interval().as_secs();
        let expires_at = request.now.saturating_add(response.expires_in());
        let data = PendingData::Device {
            issuer: d.issuer.clone(),
            device_code: response.device_code().secret().clone(),
            interval_secs,
            expires_at,
        };
        Ok(PendingAuthorization {
            key: request.key.clone(),
            state: CsrfToken::new_random().secret().clone(),
            prompt: LoginPrompt::DeviceCode {
                user_code: response.user_code().secret().clone(),
                verification_uri,
                verification_uri_complete,
                interval_secs,
            },
            redirect_uri: None,
            created_at: request.now,
            expires_at,
            secret: data.to_secret()?,
        })
    }

    /// Finishes an interactive login (see [`AuthProvider::complete_login`]).
    pub async fn finish_login(
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

    async fn finish_code(
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
        let response: RawTokenResponse = exchange
            .request_async(&self.inner.http.at(Endpoint::Token))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        self.auth_result(&d, response, TokenCheck::Login(NonceCheck::Exact(nonce)))
            .await
    }

    /// Polls the device flow to its end (RFC 8628): waits `interval` before
    /// each poll (5 s when the provider names none), adds 5 s to all later
    /// polls on `slow_down`, backs off on transient failures, and stops when
    /// the code expires. `on_progress` is called before each wait so a UI can
    /// show the time left. Dropping the future cancels; nothing keeps polling.
    pub async fn poll_device(
        &self,
        pending: &PendingAuthorization,
        on_progress: impl FnMut(DeviceProgress) + Send,
    ) -> Result<AuthResult, OidcError> {
        let data = PendingData::from_pending(pending)?;
        let PendingData::Device {
            issuer,
            device_code,
            interval_secs,
            expires_at,
        } = data
        else {
            return Err(OidcError::InvalidPending {
                reason: "not a device login".into(),
            });
        };
        let d = self.inner.discovery.get().await?;
        if issuer != d.issuer {
            return Err(OidcError::InvalidPending {
                reason: "it was started at another issuer".into(),
            });
        }
        let token_url =
            d.metadata
                .token_endpoint()
                .map(|u| u.url().clone())
                .ok_or(OidcError::EndpointMissing {
                    endpoint: Endpoint::Token,
                })?;
        let interval = self
            .inner
            .options
            .device_interval_override
            .unwrap_or_else(|| match interval_secs {
                0 => crate::options::DEFAULT_DEVICE_INTERVAL,
                secs => Duration::from_secs(secs),
            });
        let response = crate::device::poll(
            crate::device::PollSetup {
                http: &self.inner.http,
                token_url: &token_url,
                device_code: &device_code,
                client_id: &self.inner.settings.client_id,
                client_secret: self.inner.settings.client_secret.as_ref().map(|s| s.secret()),
                resource: self.resource(),
                interval,
                expires_at,
                clock: self.inner.options.clock.as_ref(),
                sleeper: self.inner.options.sleeper.as_ref(),
            },
            on_progress,
        )
        .await?;
        self.auth_result(&d, response, TokenCheck::Login(NonceCheck::IfPresent(None)))
            .await
    }

    /// Exchanges a refresh token (see [`AuthProvider::refresh`]).
    pub async fn refresh_tokens(
        &self,
        refresh_token: &RefreshToken,
        previous: &AuthResult,
    ) -> Result<AuthResult, OidcError> {
        let d = self.inner.discovery.get().await?;
        let client = self.client(&d);
        let token = openidconnect::RefreshToken::new(refresh_token.secret().to_owned());
        let refresh = client
            .exchange_refresh_token(&token)
            .map_err(|_| OidcError::EndpointMissing {
                endpoint: Endpoint::Token,
            })?;
        let refresh = match self.resource() {
            Some(resource) => refresh.add_extra_param("resource", resource),
            None => refresh,
        };
        let response: RawTokenResponse = refresh
            .request_async(&self.inner.http.at(Endpoint::Token))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        let mut result = self
            .auth_result(&d, response, TokenCheck::Refresh { previous })
            .await?;
        if result.refresh_token.is_none() {
            result.refresh_token = Some(refresh_token.clone());
        }
        Ok(result)
    }

    /// Client credentials grant for a service account: an access token for
    /// the client itself (needs a client secret). Auth0's `audience` is sent.
    pub async fn client_credentials(&self, scopes: &[&str]) -> Result<AuthResult, OidcError> {
        if self.inner.settings.client_secret.is_none() {
            return Err(OidcError::config("client credentials need a `client_secret`"));
        }
        let d = self.inner.discovery.get().await?;
        let client = self.client(&d);
        let mut request = client
            .exchange_client_credentials()
            .map_err(|_| OidcError::EndpointMissing {
                endpoint: Endpoint::Token,
            })?
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())));
        if let Preset::Auth0 {
            audience: Some(audience),
            ..
        } = &self.inner.preset
        {
            request = request.add_extra_param("audience", audience.clone());
        }
        let response: RawTokenResponse = request
            .request_async(&self.inner.http.at(Endpoint::Token))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        self.auth_result(&d, response, TokenCheck::ClientCredentials)
            .await
    }

    /// The userinfo claims for `access_token`; when `expected_subject` is
    /// given (the ID token's `sub`), the answer's `sub` must equal it.
    pub async fn userinfo(
        &self,
        access_token: &AccessToken,
        expected_subject: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let d = self.inner.discovery.get().await?;
        self.userinfo_with(&d, access_token, expected_subject).await
    }

    async fn userinfo_with(
        &self,
        d: &Discovered,
        access_token: &AccessToken,
        expected_subject: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let url =
            d.metadata
                .userinfo_endpoint()
                .map(|u| u.url().clone())
                .ok_or(OidcError::EndpointMissing {
                    endpoint: Endpoint::Userinfo,
                })?;
        let claims: Map<String, Value> = self
            .inner
            .http
            .get_json(Endpoint::Userinfo, &url, Some(access_token.secret()))
            .await?;
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err(OidcError::malformed(Endpoint::Userinfo, "`sub` is not a string")),
            None => {
                return Err(OidcError::MissingField {
                    endpoint: Endpoint::Userinfo,
                    field: "sub".into(),
                });
            }
        };
        if let Some(expected) = expected_subject
            && expected != sub
        {
            return Err(OidcError::SubjectMismatch);
        }
        Ok(claims)
    }

    /// Token introspection (RFC 7662) with `introspection_client` or the
    /// client's own credentials. An inactive token is [`OidcError::TokenInactive`].
    pub async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo, OidcError> {
        let d = self.inner.discovery.get().await?;
        self.introspect_with(&d, token).await
    }

    fn introspection_credentials(&self) -> Option<(String, String)> {
        if let Some((id, secret)) = &self.inner.options.introspection_client {
            return Some((id.clone(), secret.secret().to_owned()));
        }
        self.inner
            .settings
            .client_secret
            .as_ref()
            .map(|s| (self.inner.settings.client_id.clone(), s.secret().to_owned()))
    }

    async fn introspect_with(&self, d: &Discovered, token: &AccessToken) -> Result<TokenInfo, OidcError> {
        let url = d
            .extra()
            .introspection_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::Introspection,
            })?;
        let (id, secret) = self
            .introspection_credentials()
            .ok_or_else(|| OidcError::config("introspection needs client credentials"))?;
        let form = [("token", token.secret()), ("token_type_hint", "access_token")];
        let response = self
            .inner
            .http
            .post_form(Endpoint::Introspection, &url, &form, Some((&id, &secret)))
            .await?;
        if response.status() != http::StatusCode::OK {
            return Err(error_from_status(Endpoint::Introspection, &url, &response));
        }
        let claims: Map<String, Value> = parse_json(Endpoint::Introspection, response.body())?;
        match claims.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(OidcError::TokenInactive),
            Some(_) => {
                return Err(OidcError::malformed(
                    Endpoint::Introspection,
                    "`active` is not a boolean",
                ));
            }
            None => {
                return Err(OidcError::MissingField {
                    endpoint: Endpoint::Introspection,
                    field: "active".into(),
                });
            }
        }
        Ok(token_info(claims))
    }

    /// Revokes one token (RFC 7009). An access token the provider cannot
    /// revoke (`unsupported_token_type`) is not an error: there is nothing to do.
    pub async fn revoke_token(&self, token: &RevocableToken) -> Result<(), OidcError> {
        let d = self.inner.discovery.get().await?;
        let url = d
            .extra()
            .revocation_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::Revocation,
            })?;
        match token {
            RevocableToken::Refresh(refresh) => {
                self.revoke_one(&url, refresh.secret(), "refresh_token").await
            }
            RevocableToken::Access(access) => {
                match self.revoke_one(&url, access.secret(), "access_token").await {
                    Err(e) if e.oauth_error() == Some("unsupported_token_type") => Ok(()),
                    other => other,
                }
            }
            _ => Ok(()),
        }
    }

    /// One RFC 7009 request, authenticated like the token requests.
    async fn revoke_one(&self, url: &Url, token: &str, hint: &str) -> Result<(), OidcError> {
        let settings = &self.inner.settings;
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let basic = match &settings.client_secret {
            Some(secret) => Some((settings.client_id.as_str(), secret.secret())),
            None => {
                form.push(("client_id", settings.client_id.as_str()));
                None
            }
        };
        let response = self
            .inner
            .http
            .post_form(Endpoint::Revocation, url, &form, basic)
            .await?;
        if response.status() == http::StatusCode::OK {
            Ok(())
        } else {
            Err(error_from_status(Endpoint::Revocation, url, &response))
        }
    }

    /// The RP-initiated logout URL: `end_session_endpoint` with
    /// `id_token_hint`, `client_id` and the configured
    /// `post_logout_redirect_uri`; `None` when the provider has none.
    pub async fn logout_url(&self, auth: &AuthResult) -> Result<Option<Url>, OidcError> {
        let d = self.inner.discovery.get().await?;
        let Some(mut url) = d.extra().end_session_endpoint.clone() else {
            return Ok(None);
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(id_token) = &auth.id_token {
                query.append_pair("id_token_hint", id_token.secret());
            }
            query.append_pair("client_id", &self.inner.settings.client_id);
            if let Some(post) = &self.inner.settings.post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", post.as_str());
            }
        }
        Ok(Some(url))
    }

    /// Verifies an ID token, refetching the key set once for an unknown key.
    async fn verify_id_token(
        &self,
        d: &Arc<Discovered>,
        raw: &str,
        access: &str,
        nonce: &NonceCheck,
        max_auth_age: Option<Duration>,
    ) -> Result<VerifiedIdToken, OidcError> {
        let rules = |discovered| id_token::Rules {
            discovered,
            client_id: &self.inner.settings.client_id,
            options: &self.inner.options,
            nonce,
            max_auth_age,
        };
        if let Some(shared) = &self.inner.options.shared_key_set {
            return id_token::verify_shared(raw, access, shared, &rules(d)).await;
        }
        match id_token::verify(raw, access, &rules(d)) {
            Ok(verified) => Ok(verified),
            Err(VerifyFailure::Invalid(e)) => Err(e),
            Err(VerifyFailure::UnknownKey(first)) => {
                let fresh = self.inner.discovery.refresh_keys(d).await?;
                if Arc::ptr_eq(&fresh, d) {
                    return Err(first);
                }
                match id_token::verify(raw, access, &rules(&fresh)) {
                    Ok(verified) => Ok(verified),
                    Err(VerifyFailure::Invalid(e) | VerifyFailure::UnknownKey(e)) => Err(e),
                }
            }
        }
    }

    fn check_organization(&self, claims: &Map<String, Value>) -> Result<(), OidcError> {
        let Preset::Auth0 {
            organization: Some(expected),
            ..
        } = &self.inner.preset
        else {
            return Ok(());
        };
        let (claim, matches) = if expected.starts_with("org_") {
            (
                "org_id",
                claims.get("org_id").and_then(Value::as_str) == Some(expected.as_str()),
            )
        } else {
            (
                "org_name",
                claims
                    .get("org_name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(expected)),
            )
        };
        if matches {
            Ok(())
        } else {
            Err(OidcError::OrganizationMismatch {
                claim,
                expected: expected.clone(),
            })
        }
    }

    /// Builds the `AuthResult` of a token response after every check.
    async fn auth_result(
        &self,
        d: &Arc<Discovered>,
        response: RawTokenResponse,
        check: TokenCheck<'_>,
    ) -> Result<AuthResult, OidcError> {
        let access = response.access_token().secret();
        if access.is_empty() {
            return Err(OidcError::malformed(Endpoint::Token, "`access_token` is empty"));
        }
        let mut raw_id_token = response.raw_id_token().map(str::to_owned);
        if let TokenCheck::Refresh { previous } = &check
            && let (Some(raw), Some(stored)) = (&raw_id_token, &previous.id_token)
            && raw == stored.secret()
        {
            // The stored ID token repeated: nothing new to verify (its `iat`
            // is as old as the login); it is kept as it is.
            raw_id_token = None;
        }
        let max_auth_age = match &check {
            TokenCheck::Login(_) => self.inner.options.max_auth_age,
            TokenCheck::Refresh { .. } | TokenCheck::ClientCredentials => None,
        };
        let nonce = match &check {
            TokenCheck::Login(nonce) => nonce.clone(),
            // Checked after the identity, below: a token for another user
            // should be reported as such, not as a nonce mismatch.
            TokenCheck::Refresh { .. } => NonceCheck::IfPresent(None),
            TokenCheck::ClientCredentials => NonceCheck::IfPresent(None),
        };
        let verified = match &raw_id_token {
            Some(raw) => Some(self.verify_id_token(d, raw, access, &nonce, max_auth_age).await?),
            None if matches!(check, TokenCheck::Login(_)) => {
                return Err(OidcError::IdTokenMissing {
                    endpoint: Endpoint::Token,
                });
            }
            None => None,
        };
        if let Some(verified) = &verified {
            self.check_organization(&verified.claims)?;
            if let TokenCheck::Refresh { previous } = &check {
                check_same_identity(previous, &verified.claims)?;
                check_same_nonce(previous, &verified.claims)?;
            }
        }
        let mut profile = match (&verified, &check) {
            (Some(v), _) => Some(id_token::profile_of(&v.claims)),
            (None, TokenCheck::Refresh { previous }) => previous.profile.clone(),
            (None, _) => None,
        };
        let access_token = AccessToken::new(access.to_owned());
        if self.inner.options.fetch_userinfo
            && let Some(v) = &verified
            && d.metadata.userinfo_endpoint().is_some()
        {
            let sub = v.claims.get("sub").and_then(Value::as_str);
            let claims = self.userinfo_with(d, &access_token, sub).await?;
            let merged = profile.get_or_insert_with(BTreeMap::new);
            for (k, v) in id_token::profile_of(&claims) {
                merged.entry(k).or_insert(v);
            }
        }
        let previous = match &check {
            TokenCheck::Refresh { previous } => Some(*previous),
            _ => None,
        };
        Ok(AuthResult {
            access_token,
            id_token: match (&verified, previous) {
                (Some(v), _) => Some(IdToken::new(v.raw.clone())),
                (None, Some(p)) => p.id_token.clone(),
                (None, None) => None,
            },
            refresh_token: response
                .refresh_token()
                .map(|t| RefreshToken::new(t.secret().clone()))
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_in: response.expires_in().map(|e| e.as_secs()).unwrap_or(0),
            profile,
            user_metadata: previous.and_then(|p| p.user_metadata.clone()),
        })
    }
}

/// Which checks a token response gets.
enum TokenCheck<'a> {
    /// A login: an ID token is required.
    Login(NonceCheck),
    /// A refresh: an ID token is optional, and must be for the same user.
    Refresh { previous: &'a AuthResult },
    /// Client credentials: no user.
    ClientCredentials,
}

/// `iss`, `sub`, `aud` and `azp` of a refreshed ID token must equal the
/// original's, and its `auth_time`, when both carry one (OpenID Connect Core
/// §12.2: the time of the original authentication).
fn check_same_identity(previous: &AuthResult, fresh: &Map<String, Value>) -> Result<(), OidcError> {
    let original = previous
        .id_token
        .as_ref()
        .and_then(|t| id_token::decode_payload(t.secret()));
    match original {
        Some(original) => {
            for claim in ["iss", "sub"] {
                if original.get(claim) != fresh.get(claim) {
                    return Err(OidcError::IdentityChanged { claim });
                }
            }
            if id_token::audiences(&original) != id_token::audiences(fresh) {
                return Err(OidcError::IdentityChanged { claim: "aud" });
            }
            if original.get("azp") != fresh.get("azp") {
                return Err(OidcError::IdentityChanged { claim: "azp" });
            }
            if let (Some(before), Some(now)) = (original.get("auth_time"), fresh.get("auth_time"))
                && before != now
            {
                return Err(OidcError::IdentityChanged { claim: "auth_time" });
            }
            Ok(())
        }
        None => match (previous.subject(), fresh.get("sub").and_then(Value::as_str)) {
            (Some(before), Some(now)) if before != now => Err(OidcError::IdentityChanged { claim: "sub" }),
            _ => Ok(()),
        },
    }
}

/// A refreshed ID token may drop `nonce` (Keycloak 25+); when both it and
/// the original carry one, they must be equal.
fn check_same_nonce(previous: &AuthResult, fresh: &Map<String, Value>) -> Result<(), OidcError> {
    let original = previous
        .id_token
        .as_ref()
        .and_then(|t| id_token::decode_payload(t.secret()))
        .and_then(|c| c.get("nonce").and_then(Value::as_str).map(str::to_owned));
    match (original, fresh.get("nonce").and_then(Value::as_str)) {
        (Some(before), Some(now)) if !constant_time_eq(before.as_bytes(), now.as_bytes()) => Err(
            OidcError::id_token("invalid nonce: the `nonce` claim does not match the original ID token's"),
        ),
        _ => Ok(()),
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

/// `TokenInfo` from introspection or userinfo claims.
pub(crate) fn token_info(claims: Map<String, Value>) -> TokenInfo {
    TokenInfo {
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        expires_at: claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(authresult_core::Timestamp::from_secs),
        scopes: claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        claims,
    }
}

#[async_trait]
impl AuthProvider for OidcProvider {
    async fn login(&self, credentials: &Credentials) -> Result<AuthResult, authresult_core::Error> {
        match credentials {
            Credentials::Token { token } => {
                let claims = self.userinfo(token, None).await?;
                let now = self.inner.options.clock.now().as_secs();
                let expires_in = id_token::decode_payload(token.secret())
                    .and_then(|c| c.get("exp").and_then(Value::as_u64))
                    .map(|exp| exp.saturating_sub(now))
                    .unwrap_or(0);
                let mut result = AuthResult::new(token.clone(), expires_in);
                result.profile = Some(id_token::profile_of(&claims));
                Ok(result)
            }
            _ => Err(authresult_core::Error::Unsupported {
                provider: self.inner.preset.name().to_owned(),
                operation: "password login (use an interactive login)",
            }),
        }
    }

    async fn begin_login(
        &self,
        request: &LoginRequest,
    ) -> Result<PendingAuthorization, authresult_core::Error> {
        Ok(self.start_login(request).await?)
    }

    async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        response: &LoginResponse,
    ) -> Result<AuthResult, authresult_core::Error> {
        Ok(self.finish_login(pending, response).await?)
    }

    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        previous: &AuthResult,
    ) -> Result<AuthResult, authresult_core::Error> {
        Ok(self.refresh_tokens(refresh_token, previous).await?)
    }

    async fn validate(&self, token: &AccessToken) -> Result<TokenInfo, authresult_core::Error> {
        let d = self
            .inner
            .discovery
            .get()
            .await
            .map_err(authresult_core::Error::from)?;
        if d.extra().introspection_endpoint.is_some() && self.introspection_credentials().is_some() {
            return Ok(self.introspect_with(&d, token).await?);
        }
        let claims = self.userinfo_with(&d, token, None).await?;
        Ok(token_info(claims))
    }

    async fn revoke(&self, token: &RevocableToken) -> Result<(), authresult_core::Error> {
        Ok(self.revoke_token(token).await?)
    }

    async fn end_session_url(&self, auth: &AuthResult) -> Result<Option<Url>, authresult_core::Error> {
        Ok(self.logout_url(auth).await?)
    }
}

#[cfg(test)]
mod tests;
