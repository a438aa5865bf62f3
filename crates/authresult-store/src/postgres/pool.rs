//! The pool and retry helpers every operation goes through: taking a
//! connection, retrying serialization failures and dropped connections,
//! discarding dead connections, and reading columns and times.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSqlOwned, ToSql};

use super::PostgresStore;
use crate::error::StoreError;
use crate::key::fill_random;

/// Extra attempts after a serialization failure or deadlock.
const CONFLICT_RETRIES: u32 = 5;

/// A statement parameter.
pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

impl PostgresStore {
    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(StoreError::from_pool)
    }

    /// Runs `attempt` again after a serialization failure or deadlock (the
    /// server rolled it back) and, for operations that give the same answer
    /// when repeated, once after a dropped connection.
    pub(super) async fn retry<T, F, Fut>(&self, repeatable: bool, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut conflicts = 0;
        let mut reconnected = false;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable_conflict() && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::warn!(
                        event = "store.retry",
                        backend = "postgres",
                        cause = "conflict",
                        attempt = conflicts,
                        "store retry"
                    );
                    tokio::time::sleep(backoff(conflicts)).await;
                }
                Err(StoreError::PostgresUnavailable { .. }) if repeatable && !reconnected => {
                    reconnected = true;
                    tracing::warn!(
                        event = "store.retry",
                        backend = "postgres",
                        cause = "reconnect",
                        attempt = 1u32,
                        "store retry"
                    );
                }
                other => return other,
            }
        }
    }

    /// Runs one statement on a pooled connection; the rows it changed.
    pub(super) async fn execute_once(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let result = self.execute_on(&client, sql, params).await;
        settle(client, result)
    }

    async fn execute_on(&self, client: &Object, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(sql).await.map_err(pg)?;
        client.execute(&statement, params).await.map_err(pg)
    }
}

/// Hands `client` back to the pool, unless `result` says its connection
/// failed: then it is dropped for good, so no later operation gets it before
/// the pool has noticed it is closed.
pub(super) fn settle<T>(client: Object, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if matches!(result, Err(StoreError::PostgresUnavailable { .. })) {
        drop(Object::take(client));
    }
    result
}

pub(super) fn pg(error: tokio_postgres::Error) -> StoreError {
    StoreError::from_postgres(error)
}

pub(super) fn config_error(reason: &str) -> StoreError {
    StoreError::PostgresConfig {
        reason: reason.to_owned(),
        source: None,
    }
}

/// A column of `row`; a value of the wrong type is damage, not a session.
pub(super) fn column<T: FromSqlOwned>(row: &Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(|_| StoreError::Corrupt {
        reason: "a stored value has the wrong type".into(),
        source: None,
    })
}

/// The pause before retry `attempt` (1-based): 5, 10, 20, ... ms plus up to
/// as much again at random, so conflicting writers spread out.
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.saturating_sub(1).min(6);
    let mut byte = [0u8];
    let jitter = match fill_random(&mut byte) {
        Ok(()) => base * u64::from(byte[0]) / 255,
        Err(_) => 0,
    };
    Duration::from_millis(base + jitter)
}
