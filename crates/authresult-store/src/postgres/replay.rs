//! The replay port ([`ReplayCache`]) on PostgreSQL: one row per value, so a
//! DPoP proof used on one instance of a server is refused on every other.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use authresult_core::{Error, ReplayCache, Timestamp};

use super::PostgresStore;
use super::pool::Param;
use crate::codec::ts;

/// Expired values are deleted at most once per this many milliseconds.
const PURGE_EVERY_MS: u64 = 60_000;

#[async_trait]
impl ReplayCache for PostgresStore {
    /// One `INSERT ... ON CONFLICT DO UPDATE ... WHERE` expired: atomic
    /// across instances. Expiry is by the caller's `now`, the clock its
    /// proof window is checked by. Not retried after a dropped connection
    /// (the value may have been recorded): the error refuses the request
    /// for now instead.
    async fn first_use(&self, key: &str, expires_at: Timestamp, now: Timestamp) -> Result<bool, Error> {
        let (expires, at) = (ts(expires_at), ts(now));
        let params: [Param<'_>; 3] = [&key, &expires, &at];
        let recorded = self
            .retry(false, || self.execute_once(&self.sql.first_use, &params))
            .await?;
        self.purge_replay_now_and_then(now).await;
        Ok(recorded == 1)
    }
}

impl PostgresStore {
    /// Deletes expired values, at most once a minute per instance; a
    /// failure only delays it.
    async fn purge_replay_now_and_then(&self, now: Timestamp) {
        let last = self.replay_purged_at.load(Ordering::Relaxed);
        let due = now.as_millis().saturating_sub(last) >= PURGE_EVERY_MS;
        if due
            && self
                .replay_purged_at
                .compare_exchange(last, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let at = ts(now);
            let params: [Param<'_>; 1] = [&at];
            let _ = self.execute_once(&self.sql.purge_replay, &params).await;
        }
    }

    /// The number of values in the replay table (expired ones included
    /// until purged), for tests.
    #[cfg(feature = "testing")]
    pub async fn replay_rows(&self) -> Result<i64, crate::StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!("SELECT count(*) FROM {}.replay", self.quoted_schema()),
                &[],
            )
            .await
            .map_err(super::pool::pg)?;
        row.try_get(0).map_err(super::pool::pg)
    }
}
