//! `PostgresStore`: sessions on a PostgreSQL server, shared by every instance
//! of an application, through a connection pool.
//!
//! By job: `options.rs` (connecting), `pool.rs` (connections, retries,
//! column helpers), `sql.rs` (the statements), `sessions.rs` (session rows
//! and their compare-and-swap), `pending.rs` (usernames, pending logins),
//! `revocation.rs` (pending revocations), `logouts.rs` (the sync server's
//! logout list and its `LISTEN` feed), `vault.rs` (offline vault
//! records), `replay.rs` (the `ReplayCache` port: DPoP proofs seen by any
//! instance), `port.rs` (the `SessionStore` port), `schema.rs` (the
//! versioned schema and its migrations).

use std::fmt;

use deadpool_postgres::Pool;

use crate::error::StoreError;
use crate::key::Cipher;

mod logouts;
mod options;
mod pending;
mod pool;
mod port;
mod replay;
mod revocation;
mod schema;
mod sessions;
mod sql;
mod vault;

pub use options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA, DEFAULT_STATEMENT_TIMEOUT,
    PostgresOptions,
};
use sql::Sql;

/// A [`SessionStore`](authresult_core::SessionStore) on a PostgreSQL server, shared by every instance of an
/// application (several processes, several machines).
///
/// * One pool of connections (deadpool); a connection the server dropped is
///   replaced by itself, so the store outlives server restarts: operations
///   during the outage fail with transient errors
///   ([`StoreError::PostgresUnavailable`]), later ones succeed again.
/// * Every write is one statement or one transaction; a write that returned
///   `Ok` was committed. Serialization failures and deadlocks (SQLSTATE
///   `40001`, `40P01`) are retried inside the store.
/// * Sessions are keyed by tenant, user and provider (the primary key, so a lookup
///   costs the same with a thousand or a million sessions); the store also
///   holds each tenant's username, pending logins and refresh leases.
/// * The refresh lease is one atomic `INSERT ... ON CONFLICT DO UPDATE ...
///   WHERE` on the `leases` table, with an expiry, so one instance refreshes
///   at a time and a crashed holder blocks the others only until its lease
///   expires.
/// * It is also a [`ReplayCache`](authresult_core::ReplayCache): one
///   `replay` row per value (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`
///   expired), expired rows deleted about once a minute, so a DPoP proof
///   used on one instance of a server is refused on the others.
/// * The tables live in one schema ([`PostgresOptions::schema`]), versioned
///   in `authresult_meta` and migrated forward on connect; a schema from a
///   newer version is refused.
/// * With an [`EncryptionKey`](crate::EncryptionKey), tokens are sealed (XChaCha20-Poly1305) as in
///   [`SqliteStore`](crate::SqliteStore), bound to their row; tenant,
///   provider, subject and expiry stay queryable.
///
/// Needs a Tokio runtime.
pub struct PostgresStore {
    pool: Pool,
    sql: Sql,
    cipher: Option<Cipher>,
    schema: String,
    target: String,
    application_name: String,
    /// When this instance last deleted expired replay values (ms).
    replay_purged_at: std::sync::atomic::AtomicU64,
    listen: Listen,
}

/// How the logout feed opens its own connection (it `LISTEN`s, which a
/// pooled connection cannot).
#[derive(Clone)]
struct Listen {
    config: tokio_postgres::Config,
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("encrypted", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with default options (schema
    /// `authresult`, no encryption); see [`PostgresOptions`] for more.
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        PostgresOptions::new(url).connect().await
    }

    /// The PostgreSQL schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `application_name` the store's connections report.
    pub fn application_name(&self) -> &str {
        &self.application_name
    }

    /// True when tokens are encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// Closes the pool: idle connections are closed now, busy ones when
    /// their operation ends; later operations fail with [`StoreError::Stopped`].
    pub fn close(&self) {
        self.pool.close();
    }

    /// The schema name, quoted for SQL text (for the `testing` helpers).
    #[cfg(feature = "testing")]
    pub(crate) fn quoted_schema(&self) -> String {
        options::quote_ident(&self.schema)
    }

    /// The statement [`SessionStore::get`](authresult_core::SessionStore::get)
    /// runs (for the `testing` helpers' query plans).
    #[cfg(feature = "testing")]
    pub(crate) fn get_statement(&self) -> &str {
        &self.sql.get
    }
}

#[cfg(test)]
mod tests;
