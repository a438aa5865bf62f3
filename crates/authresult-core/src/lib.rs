//! The pure core of authresult: the types, the ports and the session manager.
//!
//! `authresult-core` holds everything about authentication that does not
//! touch a network, a disk or an async runtime:
//!
//! * [`AuthResult`], the JSON object ID PASS DataCollect stores and exchanges,
//!   read and written in exactly its shape;
//! * [`Session`], an `AuthResult` with its tenant, provider, subject and an
//!   absolute expiry that survives a restart;
//! * secret newtypes ([`AccessToken`], [`RefreshToken`], ...) that print
//!   `[redacted]`, are zeroed on drop and do not implement `Serialize`
//!   (stores write them through [`Exposed`]);
//! * [`ProviderConfig`], DataCollect's `{type, fields}` provider configuration;
//! * DataCollect's formats: its app-config artifact ([`AppArtifact`]), the
//!   `Authorization` scheme its client sends ([`datacollect_scheme`]) and the
//!   tokens its client stores ([`StoredToken`], for [`AuthManager::import`]);
//! * the ports: [`AuthProvider`], and the store ports, one per job
//!   ([`SessionStore`], [`UsernameStore`], [`PendingLoginStore`], [`LeaseStore`],
//!   [`RevocationQueue`]), which an [`AuthManager`] takes as [`Stores`];
//! * [`AuthManager`], which logs in, keeps sessions fresh with exactly one
//!   refresh per expiry, and keeps an offline device's session through
//!   transient failures.
//! * [`parse_strict_object`] and [`read_strict_object`], the workspace's one
//!   strict reader of JSON objects from outside (no top-level member twice),
//!   also used by `authresult-http` and `authresult-jwt`.
//!
//! Depend on it directly when you write an adapter (a provider or a store) or
//! want only the types; applications usually also take `authresult-oidc`
//! (providers) and `authresult-store` (persistence).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use authresult_core::{AuthResult, Session, SessionKey, Timestamp};
//!
//! let json = r#"{"access_token":"eyJ...","refresh_token":"def502...","expires_in":3600,
//!               "profile":{"sub":"user-123","email_verified":true}}"#;
//! let auth = AuthResult::from_json_str(json)?;
//! assert_eq!(auth.profile.as_ref().unwrap()["email_verified"], "true");
//! assert_eq!(format!("{:?}", auth.access_token), "AccessToken([redacted])");
//!
//! let issued = Timestamp::from_secs(1_700_000_000);
//! let session = Session::new(SessionKey::new("field-app", "keycloak"), auth, issued);
//! assert_eq!(session.expires_at, Some(Timestamp::from_secs(1_700_003_600)));
//! assert!(session.is_fresh(issued, Duration::from_secs(30)));
//! assert_eq!(session.subject.as_deref(), Some("user-123"));
//! # Ok::<(), authresult_core::Error>(())
//! ```
//!
//! # Crate features
//!
//! * `mocks` (off by default): `mockall` mocks of the ports,
//!   [`MockAuthProvider`] and one per store port ([`MockSessionStore`], ...),
//!   for other crates' tests.
//! * `memory` (off by default): `MemoryStore`, every store port in process
//!   memory, alone (what `authresult-store` turns on in production builds).
//! * `testing` (off by default, implies `memory`): the module `testing` with
//!   test doubles beside the contract: the store ports' conformance suites
//!   and `FakeProvider`, a scriptable provider.

mod auth_result;
mod config;
mod datacollect;
mod dpop;
mod error;
mod events;
mod exposed;
mod gate;
mod jwt;
mod manager;
#[cfg(any(test, feature = "memory"))]
mod memory;
mod origin;
mod profile;
mod provider;
mod secret;
mod session;
mod sleep;
mod store;
mod strict_json;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time;

pub use auth_result::AuthResult;
pub use config::{
    APP_ONLY_FIELDS, AppSecurity, Auth0Config, DEFAULT_SCOPES, KeycloakConfig, OidcClientSettings,
    OidcConfig, ProviderConfig, RESERVED_PARAMS, SyncServerConfig, check_endpoint_transport, check_transport,
    ignored_fields, is_loopback,
};
pub use datacollect::{
    AppArtifact, ArtifactProvider, ArtifactWarning, MAX_ARTIFACT_BYTES, MAX_STORED_TOKEN_BYTES, StoredToken,
};
pub use dpop::{DpopBinding, DpopMode, ProofRequest, ProofSigner, ResourceHeaders, nonce_origin};
pub use error::{BoxError, Error, FailureKind};
pub use events::{AuthEvent, EventStream};
pub use exposed::Exposed;
pub use gate::AccessGate;
pub use jwt::{MAX_PEEK_LEN, peek_claims};
pub use manager::{
    AuthManager, AuthManagerBuilder, DEFAULT_LEASE_TTL, DEFAULT_MARGIN, DEFAULT_PENDING_TTL, LogoutReport,
    RevocationReport, User,
};
#[cfg(any(test, feature = "memory"))]
pub use memory::MemoryStore;
pub use origin::Origin;
pub use profile::{Organization, ProviderKind, ProviderProfile, SYNC_SERVER_PROVIDER, datacollect_scheme};
#[cfg(any(test, feature = "mocks"))]
pub use provider::MockAuthProvider;
pub use provider::{
    AuthProvider, Credentials, LoginFlow, LoginPrompt, LoginRequest, LoginResponse, PendingAuthorization,
    RevocableToken, TokenInfo, TokenKind,
};
pub use secret::{
    AccessToken, ClientSecret, DpopPrivateKey, IdToken, Password, PendingSecret, RefreshToken, SealedAuth,
};
pub use session::{ProviderId, Session, SessionKey, TenantId, UserId};
pub use sleep::{Sleeper, ThreadSleeper};
#[cfg(test)]
pub(crate) use store::MockBackend;
pub use store::{
    CasOutcome, DEFAULT_MAX_TOKEN_LIFETIME, DEFAULT_REPLAY_CAPACITY, LeaseStore, Logout, LogoutFeed,
    LogoutList, MAX_DPOP_NONCE_LEN, MAX_LOGOUT_ID_LEN, MAX_LOGOUT_ISSUER_LEN, MAX_PENDING_REVOCATIONS,
    MemoryReplayCache, NonceStore, PENDING_REVOCATION_MAX_AGE, PendingLoginStore, PendingRevocation,
    ReplayCache, Retention, RevocationQueue, RevocationQueueExt, SessionStore, StoreBackend, Stores,
    UsernameStore, is_valid_dpop_nonce,
};
#[cfg(any(test, feature = "mocks"))]
pub use store::{
    MockLeaseStore, MockNonceStore, MockPendingLoginStore, MockReplayCache, MockRevocationQueue,
    MockSessionStore, MockUsernameStore,
};
pub use strict_json::{StrictMembers, parse_strict_object, read_strict_object};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
