//! Vault records in the SQLite file: one row per (tenant, user), replaced
//! in one transaction guarded by its revision, sealed with the store key
//! when there is one. (The `vault_clock` table of schema 3 is no longer
//! used: each record keeps its user's own time mark.)

use async_trait::async_trait;
use authresult_core::{TenantId, UserId};
use rusqlite::{OptionalExtension as _, params};

use super::SqliteStore;
use crate::codec::{open_vault_record, seal_vault_record, stored_version, version_of};
use crate::error::StoreError;
use crate::vault::VaultStore;

#[async_trait]
impl VaultStore for SqliteStore {
    async fn vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.run(move |w| {
            w.read(|conn, cipher| {
                conn.query_row(
                    "SELECT record, rev FROM vault WHERE tenant = ?1 AND user_id = ?2",
                    params![tenant.as_str(), user.as_str()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()
                .map_err(|e| StoreError::from_sqlite(e, &w.path))?
                .map(|(stored, rev)| {
                    let record = open_vault_record(cipher, tenant.as_str(), user.as_str(), rev, &stored)?;
                    Ok((record, version_of(rev)?))
                })
                .transpose()
            })
        })
        .await
    }

    async fn put_vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
        record: &str,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let (tenant, user, record) = (tenant.clone(), user.clone(), record.to_owned());
        let expected = stored_version(expected)?;
        self.run(move |w| {
            let path = w.path.clone();
            w.write(|tx, cipher| {
                let sqlite = |e| StoreError::from_sqlite(e, &path);
                let current: i64 = tx
                    .query_row(
                        "SELECT rev FROM vault WHERE tenant = ?1 AND user_id = ?2",
                        params![tenant.as_str(), user.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sqlite)?
                    .unwrap_or(0);
                if current != expected {
                    return Ok(false);
                }
                let rev = expected.saturating_add(1);
                let record = seal_vault_record(cipher, tenant.as_str(), user.as_str(), rev, &record)?;
                tx.execute(
                    "INSERT INTO vault (tenant, user_id, rev, record) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, user_id) DO UPDATE SET rev = excluded.rev, record = excluded.record",
                    params![tenant.as_str(), user.as_str(), rev, record],
                )
                .map_err(sqlite)?;
                Ok(true)
            })
        })
        .await
    }

    async fn remove_vault_record(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.run(move |w| {
            let path = w.path.clone();
            w.write(|tx, _| {
                tx.execute(
                    "DELETE FROM vault WHERE tenant = ?1 AND user_id = ?2",
                    params![tenant.as_str(), user.as_str()],
                )
                .map(|n| n > 0)
                .map_err(|e| StoreError::from_sqlite(e, &path))
            })
        })
        .await
    }
}
