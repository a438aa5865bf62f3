//! Helpers for tests and benchmarks of [`PostgresStore`]: seeding many
//! sessions at once, and the query plan of a lookup.

use authresult_core::SessionKey;

use crate::{PostgresStore, StoreError};

/// The provider of every seeded session.
pub const SEED_PROVIDER: &str = "seed";

/// The key of the `n`-th session [`seed_postgres`] writes: tenant `seed-<n>`,
/// provider [`SEED_PROVIDER`].
pub fn seeded_key(n: u64) -> SessionKey {
    SessionKey::new(format!("seed-{n}"), SEED_PROVIDER)
}

/// Writes `count` small sessions, keys `seeded_key(0)` to
/// `seeded_key(count - 1)`, into the store's schema with one server-side
/// `INSERT ... SELECT generate_series` (a million take seconds, not
/// minutes), then runs `ANALYZE`. Each reads back through
/// [`SessionStore::get`](authresult_core::SessionStore::get).
///
/// Only for a store without encryption (the rows are written by the server,
/// which cannot seal them); an encrypted store gets
/// [`StoreError::PostgresConfig`].
pub async fn seed_postgres(store: &PostgresStore, count: u64) -> Result<(), StoreError> {
    store.seed_sessions(0, count).await
}

/// The server's `EXPLAIN (FORMAT JSON)` of the statement
/// [`SessionStore::get`](authresult_core::SessionStore::get) runs for `key`,
/// as JSON text: to check that a lookup uses the primary key index.
pub async fn explain_postgres_get(store: &PostgresStore, key: &SessionKey) -> Result<String, StoreError> {
    store.explain_get(key).await
}
