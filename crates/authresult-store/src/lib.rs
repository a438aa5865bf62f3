//! Session store adapters for authresult (work in progress).
//!
//! This crate will implement the `authresult_core::SessionStore` port: SQLite
//! as the embedded default, an in-memory store, Postgres for shared server
//! deployments, and encryption at rest.
//!
//! # Example
//!
//! ```
//! use authresult_store::SessionKey;
//! let key = SessionKey::new("field-app", "keycloak");
//! assert_eq!(key.to_string(), "field-app/keycloak");
//! ```
//!
//! # Crate features
//!
//! None yet.

pub use authresult_core::{SessionKey, SessionStore};
