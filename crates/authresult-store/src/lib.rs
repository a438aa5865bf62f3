//! Session stores for authresult: where `AuthManager` keeps sessions, pending
//! logins and refresh leases.
//!
//! This crate implements the [`SessionStore`] port of `authresult-core`:
//!
//! * [`SqliteStore`], the embedded default: one SQLite file (WAL, `BEGIN
//!   IMMEDIATE` writes, versioned schema, mode 0600), safe for several
//!   processes at once and durable through crashes;
//! * [`MemoryStore`], for tests and short-lived processes;
//! * encryption at rest, one line to turn on: [`SqliteOptions::encryption_key`]
//!   with an [`EncryptionKey`] (256 bits of yours, or a passphrase through
//!   Argon2id). Tokens are sealed with XChaCha20-Poly1305 and bound to their
//!   row; a wrong key or a modified row is a [`StoreError`], never garbage.
//!
//! Applications depend on it next to `authresult-core` (and usually
//! `authresult-oidc`); a new backend depends on it for the conformance suite
//! (feature `testing`).
//!
//! Failures are [`StoreError`]s; through the port they arrive as
//! `authresult_core::Error::Store` with the failure kind set (busy is
//! transient; corrupt, full, read-only, wrong key are not) and the
//! `StoreError` as `source()`.
//!
//! # Example
//!
//! Open the default store (file and folder are created if missing) and give
//! it to the session manager:
//!
//! ```
//! use std::sync::Arc;
//! use authresult_core::{AuthManager, AuthResult};
//! use authresult_store::SqliteStore;
//! # use authresult_core::{AuthProvider, MockAuthProvider};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let data_dir = dir.path();
//! # let keycloak: Arc<dyn AuthProvider> = Arc::new(MockAuthProvider::new());
//! let store = SqliteStore::open(data_dir.join("auth/sessions.db")).await?;
//! // With tokens encrypted at rest instead:
//! // SqliteOptions::new(path).encryption_key(EncryptionKey::from_passphrase(p)).open().await?
//!
//! let manager = AuthManager::builder("field-app", Arc::new(store))
//!     .provider("keycloak", keycloak)
//!     .build();
//!
//! let auth = AuthResult::from_json_str(r#"{"access_token":"eyJ...","expires_in":3600}"#)?;
//! manager.import("keycloak", auth).await?;
//! assert_eq!(manager.access_token("keycloak").await?.secret(), "eyJ...");
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//!
//! * `testing` (off by default): the backend conformance suite, the module
//!   `testing` with `run_all` and its single checks, which every backend's
//!   tests run.

mod codec;
mod error;
mod key;
mod memory;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use authresult_core::{CasOutcome, SessionKey, SessionStore};
pub use error::StoreError;
pub use key::{EncryptionKey, KEY_LEN};
pub use memory::MemoryStore;
pub use sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteOptions, SqliteStore};
