//! Helpers for tests and benchmarks of [`PostgresStore`]: seeding many
//! sessions at once, and the query plan of a lookup. They reach the store
//! only through its pool and schema name, so no production code serves them.

use authresult_core::{AccessToken, AuthResult, Session, SessionKey, Timestamp};

use crate::codec::{self, stored_version, ts};
use crate::{PostgresStore, StoreError};

/// The provider of every seeded session.
pub const SEED_PROVIDER: &str = "seed";

/// Stands for the tenant in the template body the server copies per row.
const MARK: &str = "@@authresult-seed-tenant@@";

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
    if store.is_encrypted() {
        return Err(StoreError::PostgresConfig {
            reason: "only a store without encryption can be seeded".into(),
            source: None,
        });
    }
    let Some(last) = count.checked_sub(1) else {
        return Ok(());
    };
    let template = seed_session(MARK);
    let encoded = codec::encode_session(&template, None)?;
    let s = store.quoted_schema();
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(StoreError::from_postgres)?;
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(StoreError::from_postgres)?;
    tx.execute(
        &format!(
            "INSERT INTO {s}.sessions (tenant, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
             SELECT 'seed-' || i, $1::text, $2::text, $3::bigint, $4::bigint, 1, $5::bigint,
                    replace($6::text, $7::text, 'seed-' || i), NULL
             FROM generate_series($8::bigint, $9::bigint) AS i"
        ),
        &[
            &template.key.provider.as_str(),
            &template.subject,
            &template.expires_at.map(ts),
            &ts(template.issued_at),
            &ts(Timestamp::now()),
            &encoded.body,
            &MARK,
            &0i64,
            &stored_version(last)?,
        ],
    )
    .await
    .map_err(StoreError::from_postgres)?;
    tx.commit().await.map_err(StoreError::from_postgres)?;
    client
        .batch_execute(&format!("ANALYZE {s}.sessions"))
        .await
        .map_err(StoreError::from_postgres)
}

/// The small session bulk seeding writes for `tenant` (provider
/// [`SEED_PROVIDER`], an access token only).
fn seed_session(tenant: &str) -> Session {
    let auth = AuthResult::new(AccessToken::new("seed-access-token"), 3600);
    Session::new(
        SessionKey::new(tenant, SEED_PROVIDER),
        auth,
        authresult_core::testing::T0,
    )
}

/// The server's `EXPLAIN (FORMAT JSON)` of the statement
/// [`SessionStore::get`](authresult_core::SessionStore::get) runs for `key`,
/// as JSON text: to check that a lookup uses the primary key index.
pub async fn explain_postgres_get(store: &PostgresStore, key: &SessionKey) -> Result<String, StoreError> {
    let client = store.client().await?;
    let row = client
        .query_one(
            &format!("EXPLAIN (FORMAT JSON) {}", store.get_statement()),
            &[&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()],
        )
        .await
        .map_err(StoreError::from_postgres)?;
    let plan: serde_json::Value = row.try_get(0).map_err(|_| StoreError::Corrupt {
        reason: "the query plan is not JSON".into(),
        source: None,
    })?;
    Ok(plan.to_string())
}
