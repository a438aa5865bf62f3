//! Bearer-token validation for authresult: the JOSE stack of the workspace.
//!
//! This crate checks signed JWTs and opaque tokens without the login client:
//! [`UnverifiedJwt`] parses a compact JWS (size-capped, strict header and
//! claim types), [`JwkSet`] turns a key set into `ring` keys (RSA of at
//! least 2048 bits, P-256/P-384, Ed25519; `alg: none` and unknown algorithms
//! refused), and [`TokenValidator`] checks access tokens against each trusted
//! issuer ([`IssuerConfig`]): its key set is found through discovery and
//! cached (one fetch at a time, a rate-limited refetch for an unknown `kid`,
//! the last good set kept when a refetch fails), then `iss`, `aud`,
//! `exp`/`nbf`/`iat`, the token type and the organization are checked.
//! Validated tokens are answered from a bounded cache until they expire;
//! opaque tokens go to introspection or userinfo. Every refusal is a
//! [`ValidationError`] with a [`ValidationErrorKind`] to log and map to a
//! response.
//!
//! A sync server that only checks bearer tokens depends on this crate and
//! `authresult-core`; it does not compile the login client. `authresult-oidc`
//! depends on it: it verifies ID tokens with the same parsing and keys
//! ([`UnverifiedJwt`], [`JwkSet::verify`]), and re-exports this crate as
//! `authresult_oidc::jwt`. Both send every request through the internal
//! `authresult-http` crate (the one HTTP client, discovery with its TTL
//! cache, introspection and userinfo), whose settings a user names
//! ([`NetworkOptions`], [`Proxy`], [`CaCertificates`], [`ClientIdentity`],
//! [`HttpError`]) are re-exported here: their one public path.
//!
//! # Example
//!
//! ```no_run
//! use authresult_jwt::{IssuerConfig, TokenValidator, ValidationErrorKind};
//!
//! # async fn run(bearer: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let validator = TokenValidator::builder()
//!     .issuer(IssuerConfig::new("https://sso.example.org/realms/field").audience("urn:datacollect:sync"))
//!     .build()?;
//! match validator.validate(bearer).await {
//!     Ok(token) => println!("sync for {:?}", token.subject()),
//!     Err(e) if e.kind() == ValidationErrorKind::Unavailable => println!("retry later: {e}"),
//!     Err(e) => println!("refused: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With the `tower` feature, `BearerAuthLayer` protects an axum or tower
//! service:
//!
//! ```no_run
//! # #[cfg(feature = "tower")]
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Extension, Router, routing::get};
//! use authresult_core::ProviderConfig;
//! use authresult_jwt::{BearerAuthLayer, IssuerConfig, TokenValidator, ValidatedToken};
//!
//! // One trusted issuer per app/tenant provider config.
//! let keycloak = ProviderConfig::from_json_str(
//!     r#"{"type":"keycloak","fields":{"url":"https://sso.example.org","realm":"field",
//!         "client_id":"native-app"}}"#,
//! )?;
//! let validator = TokenValidator::builder()
//!     .issuer(IssuerConfig::from_provider_config(&keycloak)?.audience("urn:datacollect:sync"))
//!     .issuer(IssuerConfig::new("https://tenant.eu.auth0.com/").audience("urn:datacollect:sync")
//!         .organization("org_alpha"))
//!     .build()?;
//!
//! async fn submit(Extension(token): Extension<ValidatedToken>) -> String {
//!     format!("stored for {}", token.subject().unwrap_or("?"))
//! }
//! let app = Router::new()
//!     .route("/api/sync", get(submit).layer(BearerAuthLayer::new(validator.clone())))
//!     .route("/api/submissions", get(submit)
//!         .layer(BearerAuthLayer::new(validator).require_scope("api:write")));
//! // 401 + `WWW-Authenticate: Bearer error="invalid_token"` for bad tokens,
//! // 403 `insufficient_scope` for a missing scope, 503 when keys can't be fetched.
//! axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Standing in for DataCollect's sync server
//!
//! DataCollect's clients send `Authorization: keycloak <token>` or
//! `auth0 <token>` for a provider's token and `Bearer <token>` for the sync
//! server's own HS256 login token, and name their app (`configId`) in the
//! query or the JSON body. [`SyncServerTokens`] checks the server's own
//! tokens with its secret ([`SyncServerSecret`]) alone; an [`AppAuth`] maps
//! each accepted scheme (case-insensitive) to an ordered fallback chain of
//! [`TokenCheck`]s (the provider, then the secret, as DataCollect does);
//! `BearerAuthLayer::for_apps` picks the app per request (`AppSelector`,
//! an [`AppId`] read from a buffered body first) and
//! `BearerAuthLayer::authorize` lets the application decide roles in its
//! own database (403 on refusal). `docs/datacollect-server.md` tells which
//! endpoints this covers and how to configure it.
//!
//! ```no_run
//! # #[cfg(feature = "tower")]
//! # fn layer() -> Result<(), Box<dyn std::error::Error>> {
//! use authresult_jwt::{AppAuth, AppSelector, BearerAuthLayer, IssuerConfig, SyncServerSecret,
//!     SyncServerTokens, TokenValidator};
//!
//! let own = SyncServerTokens::builder(SyncServerSecret::new(std::env::var("JWT_SECRET")?))
//!     .max_age(std::time::Duration::from_secs(7 * 24 * 3600))
//!     .build()?;
//! let keycloak = TokenValidator::builder()
//!     .issuer(IssuerConfig::new("https://sso.example.org/realms/field").audience("urn:datacollect:sync"))
//!     .build()?;
//! let field = AppAuth::new()
//!     .scheme("Bearer", [own.clone().into()])
//!     .scheme("keycloak", [keycloak.into(), own.into()]);
//! let layer = BearerAuthLayer::for_apps([("field".to_owned(), field)], AppSelector::config_id());
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//!
//! * `ring` (default): verifies and signs with `ring`, and TLS on `ring`.
//! * `aws-lc-rs` (off by default): `aws-lc-rs` instead (its `ring`-compatible
//!   API, TLS included); with default features off, nothing depends on
//!   `ring` (`cargo xtask ci` checks it). Only `crypto.rs` names the backend.
//! * `tower` (off by default): `BearerAuthLayer`, a `tower::Layer` that
//!   checks `Authorization` tokens with a [`TokenValidator`] or each app's
//!   [`AppAuth`] (401 with `WWW-Authenticate` for bad tokens, 403
//!   `insufficient_scope` or an authorizer's refusal, 400 for an unknown
//!   app, 503 when keys cannot be fetched).
//!
//! TLS is always rustls. [`NetworkOptions`] (given to
//! [`TokenValidatorBuilder::network`] and to the login client's options)
//! says what it trusts and how it goes out: extra CA certificates
//! ([`CaCertificates`], e.g. an organisation's own CA), the platform's
//! native roots, the bundled web PKI roots (on by default), a [`Proxy`]
//! (the proxy environment variables by default, none, or an explicit URL)
//! and a [`ClientIdentity`] for mutual TLS. A refused certificate is an
//! [`HttpError::Tls`] naming the TLS problem. [`SigningKey`] signs JWS with
//! the crypto backend (client assertions for `private_key_jwt`), and
//! [`DpopKey`] a client's DPoP proofs (RFC 9449; [`DpopSigner`] is the
//! core's `ProofSigner` over it, for resource requests).

mod backchannel;
mod cache;
mod claim_source;
mod claims;
mod classify;
mod config;
mod crypto;
mod dpop;
mod dpop_key;
mod error;
mod fetch;
/// Entry points for the fuzz targets in `fuzz/`; not a public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod jose;
mod json_member;
mod keys;
#[cfg(feature = "tower")]
mod layer;
mod revocation;
mod schemes;
mod sign;
mod sync_server;
mod token68;
mod typed_claims;
mod validator;

/// The network settings (trust anchors, proxy, client certificate) of the
/// validator and the login client, and the error their constructors
/// answer: this is their one public path (`authresult-oidc` users reach
/// them as `authresult_oidc::jwt::NetworkOptions`...).
pub use authresult_http::{CaCertificates, ClientIdentity, HttpError, NetworkOptions, Proxy};
#[cfg(feature = "fuzzing")]
pub use backchannel::fuzz_logout_claims;
pub use backchannel::{
    BACKCHANNEL_LOGOUT_EVENT, BackchannelLogout, BackchannelLogoutBuilder, DEFAULT_LOGOUT_LEEWAY,
    DEFAULT_LOGOUT_MAX_BODY, DEFAULT_LOGOUT_TOKEN_WINDOW, ReceivedLogout,
};
pub use claims::{ValidatedToken, Verification};
pub use config::IssuerConfig;
pub use dpop::{
    DEFAULT_DPOP_ALGORITHMS, DEFAULT_MAX_PROOF_LEN, DpopConfig, DpopNonces, DpopRequest, jwk_thumbprint,
};
pub use dpop_key::{DPOP_PROOF_TYP, DpopKey, DpopKeyDer, DpopSigner, access_token_hash, proof_htu};
pub use error::{
    DpopProofReason, TokenPart, TokenPurpose, TokenTypeReason, UpstreamEndpoint, ValidationError,
    ValidationErrorKind,
};
pub use jose::{DEFAULT_MAX_TOKEN_LEN, JwsAlgorithm, UnverifiedJwt};
pub use keys::JwkSet;
#[cfg(feature = "tower")]
pub use layer::{
    AccessDecision, AppSelector, BearerAuth, BearerAuthFuture, BearerAuthLayer, JsonBodyApp, JsonBodyAuth,
    JsonBodyAuthLayer, PrefixedBody,
};
pub use revocation::{
    DEFAULT_RELOAD_INTERVAL, DEFAULT_RESUBSCRIBE_INTERVAL, RevocationList, RevocationListBuilder,
};
pub use schemes::{AppAuth, AppId, TokenCheck};
pub use sign::SigningKey;
pub use sync_server::{SYNC_SERVER_ISSUER, SyncServerSecret, SyncServerTokens, SyncServerTokensBuilder};
pub use validator::{SharedKeySet, TokenValidator, TokenValidatorBuilder};

#[cfg(test)]
mod tests;
