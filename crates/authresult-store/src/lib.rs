//! Session stores for authresult: where `AuthManager` keeps sessions, pending
//! logins and refresh leases.
//!
//! This crate implements the store ports of `authresult-core` ([`SessionStore`](authresult_core::SessionStore)
//! and the others, one per job; a backend implements all of them):
//!
//! * [`SqliteStore`], the embedded default: one SQLite file (WAL, `BEGIN
//!   IMMEDIATE` writes, versioned schema, mode 0600), safe for several
//!   processes at once and durable through crashes;
//! * in memory, for tests and short-lived processes: [`authresult_core::MemoryStore`]
//!   (its one path; this crate turns on core's `memory` feature for it);
//! * `PostgresStore` (feature `postgres`), for several instances of an
//!   application sharing sessions through a PostgreSQL server; see
//!   [PostgreSQL](#postgresql) below;
//! * encryption at rest, one line to turn on: [`SqliteOptions::encryption_key`]
//!   (or `PostgresOptions::encryption_key`) with an [`EncryptionKey`] (256
//!   bits of yours, or a passphrase through Argon2id). Tokens are sealed with
//!   XChaCha20-Poly1305 and bound to their row; a wrong key or a modified row
//!   is a [`StoreError`], never garbage;
//! * offline unlock for shared and lost devices: an [`OfflineVault`] per
//!   device keeps one Argon2id-wrapped data key per user, [`VaultedStore`]
//!   seals each named user's sessions with it, and [`KeySource`] names the
//!   key sources with the threat each resists (see the README's "Shared and
//!   offline devices" and `docs/offline-devices.md`). Vault records live in
//!   the SQLite file ([`VaultStore`] for [`SqliteStore`]), in the Postgres
//!   schema (`PostgresStore`, shared by every instance) or in memory
//!   ([`MemoryVaultStore`]).
//!
//! Applications depend on it next to `authresult-core` (and usually
//! `authresult-oidc`); a new backend depends on it for the conformance suite
//! (feature `testing`).
//!
//! Failures are [`StoreError`]s; through the port they arrive as
//! `authresult_core::Error::Store` with the failure kind set (busy, server
//! unavailable are transient; corrupt, full, read-only, wrong key are not)
//! and the `StoreError` as `source()`.
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
//! # let mut mock = MockAuthProvider::new();
//! # mock.expect_origin().return_const(None);
//! # let keycloak: Arc<dyn AuthProvider> = Arc::new(mock);
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
//! # PostgreSQL
//!
//! With the `postgres` feature, `PostgresStore` keeps the sessions on a
//! PostgreSQL server (11 or newer), so every instance of an application (on
//! one machine or many) shares them, and one refresh per expiry happens across
//! all of them. It behaves like the SQLite store (same conformance suite, same
//! encryption at rest) and needs a Tokio runtime.
//!
//! ## Pointing the store at an existing server
//!
//! ```text
//! let store = PostgresStore::connect("postgres://app:secret@db.internal:5432/app").await?;
//! // or, with options:
//! let store = PostgresOptions::new(std::env::var("DATABASE_URL")?)
//!     .schema("authresult")                 // default "authresult"
//!     .max_connections(20)                  // pool size, default 10
//!     .connect_timeout(Duration::from_secs(5))    // default 10 s
//!     .statement_timeout(Duration::from_secs(5))  // default 30 s
//!     .encryption_key(EncryptionKey::from_passphrase(passphrase))
//!     .connect()
//!     .await?;
//! let manager = AuthManager::builder("field-app", Arc::new(store)) /* ... */;
//! ```
//!
//! * The URL is a libpq-style `postgres://user:password@host:port/dbname`
//!   URL or `key=value` string; its `options` (`-c name=value`) are kept and
//!   the statement timeout is added to them.
//! * The role needs `CONNECT` on the database and, the first time, `CREATE`
//!   on it (to create the schema) or an existing schema it owns. On connect
//!   the store creates the schema and tables when missing and migrates them
//!   forward, under a transaction-scoped advisory lock, so instances may
//!   start at the same time. A schema written by a newer version of this
//!   crate is refused (`StoreError::NewerSchema`), as is a schema holding
//!   same-named tables that the store did not create (`StoreError::ForeignSchema`).
//! * Separate schemas are separate stores (that is how the tests isolate
//!   themselves). Tenants are separated by key inside one schema.
//! * TLS: without it the connection is in clear, which is fine on loopback
//!   or a private socket. For a remote server, pass a rustls 0.23
//!   `ClientConfig` to `PostgresOptions::tls` and add `sslmode=require` to
//!   the URL.
//! * Failures: connection refused, dropped or timed out, and a server
//!   shutting down or restarting, are `StoreError::PostgresUnavailable`;
//!   timeouts and contention are `StoreError::PostgresBusy`: both transient.
//!   The pool replaces dead connections by itself, so the store keeps working
//!   once the server is back. Serialization failures and deadlocks
//!   (SQLSTATE `40001`, `40P01`) are retried inside the store, so it also
//!   works under `default_transaction_isolation = serializable`.
//!   Authorization, privilege, read-only and disk-full refusals are
//!   `StoreError::PostgresRefused` (configuration).
//!
//! ## Tables
//!
//! All in the configured schema. Times are `BIGINT` Unix milliseconds; names
//! are `TEXT COLLATE "C"` (bytewise, independent of the database locale).
//!
//! | table | key | columns |
//! |---|---|---|
//! | `authresult_meta` | one row | `schema_version`; `key_check`, `kdf_salt` (encryption) |
//! | `sessions` | `(tenant, user_id, provider)` | `subject`, `expires_at`, `issued_at`, `version`, `updated_at`, `body`, `sealed` |
//! | `usernames` | `tenant` | `username` |
//! | `pending` | `(tenant, state)` | `provider`, `created_at`, `expires_at`, `body`, `sealed` |
//! | `leases` | `(tenant, user_id, provider)` | `holder`, `expires_at` |
//! | `revocations` | `(tenant, id)` | `provider`, `created_at`, `expires_at`, `body`, `sealed` |
//! | `vault` | `(tenant, user_id)` | `rev`, `record` |
//! | `vault_clock` | `tenant` | `seen` |
//!
//! * `sessions.body` is the session as JSON `TEXT` (not `JSONB`: sealed
//!   secrets are bound to its exact bytes). Without encryption the tokens are
//!   in it; with encryption they are taken out and sealed into `sealed`
//!   (`BYTEA`), so tenant, provider, subject and expiry stay queryable while
//!   access, refresh and ID tokens are not readable. `version` increases by
//!   one per write (compare-and-swap for refresh-token rotation).
//! * The lookup of a session uses the primary key, so it costs the same with
//!   a thousand or a million sessions; `sessions_by_expiry` and
//!   `pending_by_expiry` index the expiries.
//! * `leases` holds the refresh lease of each session: taken with one atomic
//!   `INSERT ... ON CONFLICT DO UPDATE ... WHERE holder = $me OR expires_at <= $now`,
//!   so a crashed holder blocks others only until its lease expires.
//! * `revocations` holds the tokens a logout could not revoke yet (sealed
//!   like sessions when encrypted), at most `MAX_PENDING_REVOCATIONS` per
//!   tenant; the manager retries and removes them.
//! * `vault` holds each user's offline vault record (the data key wrapped
//!   under the user's secret, Argon2id parameters, failures, lock-out,
//!   online proof, disabled), replaced only over the revision `rev` its
//!   writer read, in one statement; `vault_clock` each tenant's high-water
//!   mark of time (schema version 4).
//! * Do not write these tables by hand while instances run; removing rows of
//!   `sessions` (a logout) or `leases` is harmless.
//!
//! # Crate features
//!
//! * `sqlite` (on by default): `SqliteStore` and `SqliteOptions` (rusqlite
//!   with bundled SQLite); without it the crate compiles no C code.
//! * `postgres` (off by default): `PostgresStore` and `PostgresOptions`,
//!   with tokio-postgres, a deadpool connection pool and optional rustls TLS.
//! * `testing` (off by default): the backend conformance suites, the module
//!   `testing` re-exporting `authresult_core::testing` (`run_all` and its
//!   single checks, which every backend's tests run) and `testing::vault`
//!   (the `VaultStore` suite); with `postgres` also bulk seeding
//!   (`testing::seed_postgres`) and query plans for benchmarks. It turns on
//!   `authresult-core`'s `testing` feature; without it only core's `memory`
//!   feature (`MemoryStore`) is compiled in.

// With no backend but `MemoryStore`, the shared codec and keys are unused.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod codec;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod key_source;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod vault;

pub use error::{StoreError, UnsafeFileProblem};
pub use key::{EncryptionKey, KEY_LEN, KdfParams};
pub use key_source::KeySource;
#[cfg(feature = "postgres")]
pub use postgres::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA, DEFAULT_STATEMENT_TIMEOUT,
    PostgresOptions, PostgresStore,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteOptions, SqliteStore};
pub use vault::{
    MAX_SECRET_LEN, MemoryVaultStore, OfflinePolicy, OfflineVault, VaultStatus, VaultStore, VaultedStore,
};
