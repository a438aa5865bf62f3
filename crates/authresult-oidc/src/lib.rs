//! OpenID Connect provider adapter for authresult.
//!
//! This crate implements the [`authresult_core::AuthProvider`] port over
//! `openidconnect` and `reqwest` (rustls, redirects never followed, a
//! timeout and a response-size cap on every request):
//!
//! * [`OidcProvider`]: Keycloak, Auth0 and any OpenID Connect provider, with
//!   discovery cached per issuer (issuer compared exactly), authorization
//!   code + PKCE (S256) + `state` + `nonce` + RFC 9207 `iss`, the device
//!   authorization grant (RFC 8628), refresh with rotation, ID token
//!   verification on every token response, userinfo, introspection,
//!   revocation (RFC 7009), RP-initiated logout and client credentials;
//! * [`SyncServerProvider`]: the app's own sync server password login
//!   (`type: "default"`);
//! * [`LoopbackListener`]: the RFC 8252 loopback redirect listener of a
//!   native app;
//! * [`build_provider`]: the right provider for a DataCollect-style
//!   `{type, fields}` [`ProviderConfig`];
//! * [`DataCollectApp`]: a DataCollect app-config artifact (file, URL or QR
//!   payload) loaded into a ready manager, the `Authorization` header
//!   DataCollect's server expects ([`authorization_header`]), and the import
//!   of the tokens DataCollect's client stored.
//!
//! Applications depend on it next to `authresult-core` (the manager) and
//! `authresult-store` (persistence). Every failure is an [`OidcError`]
//! classified by [`OidcError::kind`] as transient, terminal, protocol or
//! configuration, and converts into [`authresult_core::Error`].
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use authresult_core::{AuthManager, LoginFlow, LoginPrompt, ProviderConfig, StoreBackend};
//! use authresult_oidc::{LoopbackListener, OidcOptions, build_provider};
//!
//! # async fn run(store: Arc<dyn StoreBackend>) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProviderConfig::from_json_str(
//!     r#"{"type":"keycloak","fields":{"url":"https://sso.example.org","realm":"field",
//!         "client_id":"native-app"}}"#,
//! )?;
//! let provider = build_provider(&config, OidcOptions::default())?;
//! let manager = AuthManager::builder("field-app", store).provider("keycloak", provider).build();
//!
//! // Authorization code + PKCE through the system browser and a loopback listener.
//! let listener = LoopbackListener::bind("/callback").await?;
//! let pending = manager
//!     .begin_login_with(
//!         "keycloak",
//!         LoginFlow::AuthorizationCode,
//!         Some(listener.redirect_uri().clone()),
//!         Default::default(),
//!     )
//!     .await?;
//! if let LoginPrompt::Redirect { authorization_url } = &pending.prompt {
//!     println!("open {authorization_url}");
//! }
//! let callback = listener
//!     .wait_for_callback(&pending.state, std::time::Duration::from_secs(300))
//!     .await?;
//! let session = manager.handle_callback(&callback).await?;
//! println!("signed in as {:?}", session.subject);
//! # Ok(())
//! # }
//! ```
//!
//! # Validating tokens on a sync server
//!
//! The validator lives in `authresult-jwt` (a sync server that only checks
//! tokens depends on that crate alone); this crate re-exports it whole as
//! [`jwt`]. [`jwt::TokenValidator`] checks bearer tokens locally: each trusted issuer's key
//! set is fetched through discovery and cached (one refetch for an unknown
//! `kid`, rate-limited), signatures are verified with `ring`, then `iss`,
//! `aud`, `exp`/`nbf`/`iat`, the token type and the organization. Repeated
//! tokens are answered from a bounded cache; opaque tokens can go to
//! introspection or userinfo. Every refusal is a [`jwt::ValidationError`] with a
//! [`jwt::ValidationErrorKind`] to log and map to a response. With the `tower`
//! feature, `BearerAuthLayer` protects an axum or tower service (see the
//! example of `authresult-jwt`).
//!
//! # Private CAs, proxies and client certificates
//!
//! [`OidcOptions::network`] (and `TokenValidatorBuilder::network` for the
//! validator) is a [`jwt::NetworkOptions`]: extra trusted CA certificates
//! ([`jwt::CaCertificates::from_pem`], one certificate or a bundle), the
//! platform's native roots (`native_roots`), the bundled web PKI roots (on
//! by default), the proxy ([`jwt::Proxy`]: the proxy environment variables by
//! default, [`jwt::Proxy::None`], or an explicit URL), and a client certificate
//! for mutual TLS ([`jwt::ClientIdentity::from_pem`]). A certificate the client
//! does not trust is an [`OidcError::Tls`] naming the TLS problem (e.g.
//! `invalid peer certificate: UnknownIssuer`), transient so the session is
//! kept. [`OidcOptions::client_assertion_key`] authenticates the client with
//! `private_key_jwt` (RFC 7523; a fresh assertion per request, `aud` = the
//! issuer); mutual-TLS client authentication (RFC 8705 `tls_client_auth`)
//! is a public client with a client certificate; discovery's
//! `mtls_endpoint_aliases` are then used where the provider lists them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use authresult_oidc::OidcOptions;
//! use authresult_oidc::jwt::{CaCertificates, ClientIdentity, JwsAlgorithm, Proxy, SigningKey};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = OidcOptions::default();
//! options.network.extra_roots = CaCertificates::from_pem(&std::fs::read("org-ca.pem")?)?;
//! options.network.proxy = Proxy::Url("http://proxy.field.example:3128".parse()?);
//! options.network.client_identity =
//!     Some(ClientIdentity::from_pem(&std::fs::read("app.crt")?, &std::fs::read("app.key")?)?);
//! options.client_assertion_key = Some(Arc::new(SigningKey::from_pkcs8_pem(
//!     &std::fs::read("client-key.pem")?,
//!     JwsAlgorithm::Es256,
//!     Some("app-key-1".into()),
//! )?));
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//!
//! * `tower` (off by default): turns on `authresult-jwt`'s `tower` feature,
//!   so `jwt::BearerAuthLayer` checks `Authorization: Bearer` tokens with a
//!   `TokenValidator`.
//!
//! TLS is always rustls; which roots it trusts is a run-time option
//! ([`jwt::NetworkOptions`]), not a feature.

mod client_auth;
mod datacollect;
mod device;
mod discovery;
mod dpop;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod id_token;
mod loopback;
mod options;
mod pending;
mod provider;
mod sync_server;
mod token_response;

use std::sync::Arc;

use authresult_core::{AuthProvider, Error, ProviderConfig};
/// The validator crate, whole: the token validator, key sets, the tower
/// layer (its `tower` feature, turned on by this crate's), DataCollect's
/// schemes, and the network settings of [`OidcOptions::network`]
/// (`jwt::NetworkOptions`, `jwt::Proxy`, `jwt::CaCertificates`,
/// `jwt::ClientIdentity`) and client assertion keys (`jwt::SigningKey`).
pub use authresult_jwt as jwt;
pub use datacollect::{DataCollectApp, authorization_header};
pub use device::{DevicePollStatus, DeviceProgress};
pub use dpop::DpopNonces;
pub use error::{Endpoint, OidcError};
pub use loopback::LoopbackListener;
pub use options::{
    DEFAULT_CLOCK_LEEWAY, DEFAULT_DEVICE_INTERVAL, DEFAULT_MAX_ID_TOKEN_AGE, DEFAULT_MAX_RESPONSE_BYTES,
    OidcOptions, TokioSleeper,
};
pub use provider::{OidcProvider, Preset, ProviderEndpoints};
pub use sync_server::SyncServerProvider;

/// The provider for a `{type, fields}` config: [`OidcProvider`] for
/// `keycloak`, `auth0` and `oidc`, [`SyncServerProvider`] for `default`.
pub fn build_provider(config: &ProviderConfig, options: OidcOptions) -> Result<Arc<dyn AuthProvider>, Error> {
    match config {
        ProviderConfig::SyncServer(server) => {
            Ok(Arc::new(SyncServerProvider::from_config(server, &options)?))
        }
        other => Ok(Arc::new(OidcProvider::from_config(other, options)?)),
    }
}
