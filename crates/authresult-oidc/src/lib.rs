//! OpenID Connect provider adapter for authresult (work in progress).
//!
//! This crate will implement the `authresult_core::AuthProvider` port over
//! `openidconnect` + `reqwest` (rustls, no redirects followed): Keycloak and
//! Auth0 presets, generic OIDC, the sync-server password login and token
//! validation. Until then it only re-exports the core types it builds on.
//!
//! # Example
//!
//! ```
//! use authresult_oidc::ProviderConfig;
//! let config = ProviderConfig::from_json_str(
//!     r#"{"type":"oidc","fields":{"issuer":"https://id.example.org","client_id":"app"}}"#,
//! )?;
//! assert!(config.oidc_client().is_some());
//! # Ok::<(), authresult_oidc::Error>(())
//! ```
//!
//! # Crate features
//!
//! None yet.

pub use authresult_core::{Error, ProviderConfig};
