//! Each tenant's remembered username, and pending logins (single use,
//! expiring, sealed like sessions) in the SQLite file.

use authresult_core::{PendingAuthorization, TenantId, Timestamp};
use rusqlite::{OptionalExtension as _, params};

use super::encryption::ensure_writable_in_mode;
use super::worker::{Worker, count};
use crate::codec::{self, Encoded, ts};
use crate::error::StoreError;

impl Worker {
    pub(super) fn username(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, _| {
            conn.query_row(
                "SELECT username FROM usernames WHERE tenant = ?1",
                [tenant.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sqlite)
        })
    }

    pub(super) fn set_username(
        &mut self,
        tenant: &TenantId,
        username: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            let done = match username {
                Some(name) => tx.execute(
                    "INSERT INTO usernames (tenant, username) VALUES (?1, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET username = excluded.username",
                    params![tenant.as_str(), name],
                ),
                None => tx.execute("DELETE FROM usernames WHERE tenant = ?1", [tenant.as_str()]),
            };
            done.map(drop).map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    pub(super) fn put_pending(&mut self, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let Encoded { body, sealed } = codec::encode_pending(pending, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            tx.execute(
                "INSERT INTO pending (tenant, state, provider, created_at, expires_at, body, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant, state) DO UPDATE SET provider = excluded.provider,
                    created_at = excluded.created_at, expires_at = excluded.expires_at,
                    body = excluded.body, sealed = excluded.sealed",
                params![
                    pending.key.tenant.as_str(),
                    pending.state,
                    pending.key.provider.as_str(),
                    ts(pending.created_at),
                    ts(pending.expires_at),
                    body,
                    sealed,
                ],
            )
            .map(drop)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    pub(super) fn take_pending(
        &mut self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let path = self.path.clone();
        self.write(|tx, cipher| {
            let sqlite = |e| StoreError::from_sqlite(e, &path);
            let row = tx
                .query_row(
                    "SELECT expires_at, body, sealed FROM pending WHERE tenant = ?1 AND state = ?2",
                    params![tenant.as_str(), state],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(sqlite)?;
            let Some((expires_at, body, sealed)) = row else {
                return Ok(None);
            };
            tx.execute(
                "DELETE FROM pending WHERE tenant = ?1 AND state = ?2",
                params![tenant.as_str(), state],
            )
            .map_err(sqlite)?;
            if expires_at <= ts(now) {
                // Expired: gone either way, and refused.
                return Ok(None);
            }
            codec::decode_pending(tenant.as_str(), state, &body, sealed.as_deref(), cipher).map(Some)
        })
    }

    pub(super) fn purge_pending(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute("DELETE FROM pending WHERE expires_at <= ?1", [ts(now)])
                .map(count)
                .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}
