//! Pending revocations in the SQLite file: tokens a logout could not revoke
//! yet, sealed like sessions and bounded per tenant as core's `Retention` says.

use authresult_core::{PendingRevocation, Retention, TenantId};
use rusqlite::params;

use super::encryption::ensure_writable_in_mode;
use super::worker::{Worker, all_rows};
use crate::codec::{self, Encoded, ts};
use crate::error::StoreError;

impl Worker {
    pub(super) fn push_revocation(
        &mut self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), StoreError> {
        let Encoded { body, sealed } = codec::encode_revocation(revocation, self.cipher.as_ref())?;
        let path = self.path.clone();
        let tenant = revocation.key.tenant.as_str();
        let keep = i64::try_from(retention.keep).unwrap_or(i64::MAX);
        self.write(|tx, cipher| {
            let sqlite = |e| StoreError::from_sqlite(e, &path);
            ensure_writable_in_mode(tx, cipher, &path)?;
            tx.execute(
                "DELETE FROM revocations WHERE tenant = ?1 AND expires_at <= ?2",
                params![tenant, ts(retention.expired_at)],
            )
            .map_err(sqlite)?;
            tx.execute(
                "INSERT INTO revocations (tenant, id, provider, created_at, expires_at, body, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant, id) DO UPDATE SET provider = excluded.provider,
                    created_at = excluded.created_at, expires_at = excluded.expires_at,
                    body = excluded.body, sealed = excluded.sealed",
                params![
                    tenant,
                    revocation.id,
                    revocation.key.provider.as_str(),
                    ts(revocation.created_at),
                    ts(revocation.expires_at),
                    body,
                    sealed,
                ],
            )
            .map_err(sqlite)?;
            tx.execute(
                "DELETE FROM revocations WHERE tenant = ?1 AND id IN (
                    SELECT id FROM revocations WHERE tenant = ?1
                    ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?2)",
                params![tenant, keep],
            )
            .map(drop)
            .map_err(sqlite)
        })
    }

    pub(super) fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, cipher| {
            let rows = all_rows(
                conn,
                "SELECT provider, id, body, sealed FROM revocations WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                },
                &sqlite,
            )?;
            rows.into_iter()
                .map(|(provider, id, body, sealed)| {
                    codec::decode_revocation(
                        tenant.as_str(),
                        &provider,
                        &id,
                        &body,
                        sealed.as_deref(),
                        cipher,
                    )
                })
                .collect()
        })
    }

    pub(super) fn remove_revocation(&mut self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM revocations WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}
