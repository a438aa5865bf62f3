//! Refresh leases in the SQLite file: one holder per session until the
//! lease expires on the caller's clock (one machine shares one clock).

use std::time::Duration;

use authresult_core::{SessionKey, Timestamp};
use rusqlite::params;

use super::worker::Worker;
use crate::codec::ts;
use crate::error::StoreError;

impl Worker {
    pub(super) fn try_acquire_lease(
        &mut self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let until = ts(now.saturating_add(ttl));
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO leases (tenant, user_id, provider, holder, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE
                    SET holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE leases.holder = excluded.holder OR leases.expires_at <= ?6",
                params![
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    holder,
                    until,
                    ts(now)
                ],
            )
            .map(|n| n == 1)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    pub(super) fn release_lease(&mut self, key: &SessionKey, holder: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM leases WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3 AND holder = ?4",
                params![
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    holder
                ],
            )
            .map(drop)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}
