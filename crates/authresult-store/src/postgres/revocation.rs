//! Pending revocations on PostgreSQL: tokens a logout could not revoke yet,
//! sealed like sessions and bounded per tenant as core's `Retention` says.

use authresult_core::{PendingRevocation, Retention, TenantId};
use deadpool_postgres::Object;

use super::PostgresStore;
use super::options::quote_ident;
use super::pool::{Param, column, pg, settle};
use crate::codec::{self, Encoded, ts};
use crate::error::StoreError;

/// The statements, with the schema name quoted in.
struct RevocationSql {
    lock: String,
    purge: String,
    insert: String,
    trim: String,
    list: String,
    remove: String,
}

impl RevocationSql {
    /// As `Sql::new`: a store without a key guards its insert so it never
    /// puts a clear token into a schema another instance has encrypted.
    fn new(s: &str, encrypted: bool) -> Self {
        let guard = if encrypted {
            String::new()
        } else {
            format!("WHERE NOT EXISTS (SELECT 1 FROM {s}.authresult_meta WHERE key_check IS NOT NULL)")
        };
        RevocationSql {
            // One writer per tenant at a time: at READ COMMITTED two
            // transactions would each trim without seeing the other's row,
            // leaving more than `Retention::keep`.
            lock: "SELECT pg_advisory_xact_lock(hashtextextended(
                    'authresult revocations ' || $1::text || ' ' || $2::text, 0))"
                .to_owned(),
            purge: format!("DELETE FROM {s}.revocations WHERE tenant = $1 AND expires_at <= $2"),
            insert: format!(
                "INSERT INTO {s}.revocations AS cur (tenant, id, provider, created_at, expires_at, body, sealed)
                 SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text, $7::bytea {guard}
                 ON CONFLICT (tenant, id) DO UPDATE SET provider = EXCLUDED.provider,
                    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
                    body = EXCLUDED.body, sealed = EXCLUDED.sealed"
            ),
            trim: format!(
                "DELETE FROM {s}.revocations WHERE tenant = $1 AND id IN (
                    SELECT id FROM {s}.revocations WHERE tenant = $1
                    ORDER BY created_at DESC, id DESC OFFSET $2)"
            ),
            list: format!(
                "SELECT provider, id, body, sealed FROM {s}.revocations WHERE tenant = $1"
            ),
            remove: format!("DELETE FROM {s}.revocations WHERE tenant = $1 AND id = $2"),
        }
    }
}

impl PostgresStore {
    fn revocation_sql(&self) -> RevocationSql {
        RevocationSql::new(&quote_ident(&self.schema), self.cipher.is_some())
    }

    pub(super) async fn put_revocation_once(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
        encoded: &Encoded,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let result = self
            .put_revocation_on(&mut client, revocation, retention, encoded)
            .await;
        settle(client, result)
    }

    async fn put_revocation_on(
        &self,
        client: &mut Object,
        revocation: &PendingRevocation,
        retention: Retention,
        encoded: &Encoded,
    ) -> Result<(), StoreError> {
        let sql = self.revocation_sql();
        let tenant = revocation.key.tenant.as_str();
        let created_at = ts(revocation.created_at);
        let expires_at = ts(revocation.expires_at);
        let keep = i64::try_from(retention.keep).unwrap_or(i64::MAX);
        let expired_at = ts(retention.expired_at);
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute(&sql.lock, &[&self.schema, &tenant])
            .await
            .map_err(pg)?;
        tx.execute(&sql.purge, &[&tenant, &expired_at])
            .await
            .map_err(pg)?;
        let params: [Param<'_>; 7] = [
            &tenant,
            &revocation.id,
            &revocation.key.provider.as_str(),
            &created_at,
            &expires_at,
            &encoded.body,
            &encoded.sealed,
        ];
        let written = tx.execute(&sql.insert, &params).await.map_err(pg)?;
        if written == 0 {
            // The guard found the schema encrypted: nothing written.
            tx.rollback().await.map_err(pg)?;
            return Err(StoreError::KeyRequired);
        }
        tx.execute(&sql.trim, &[&tenant, &keep]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    pub(super) async fn revocations_once(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<PendingRevocation>, StoreError> {
        let client = self.client().await?;
        let result = self.revocations_on(&client, tenant).await;
        settle(client, result)
    }

    async fn revocations_on(
        &self,
        client: &Object,
        tenant: &TenantId,
    ) -> Result<Vec<PendingRevocation>, StoreError> {
        let sql = self.revocation_sql();
        let statement = client.prepare_cached(&sql.list).await.map_err(pg)?;
        let rows = client.query(&statement, &[&tenant.as_str()]).await.map_err(pg)?;
        rows.iter()
            .map(|row| {
                let provider: String = column(row, 0)?;
                let id: String = column(row, 1)?;
                let body: String = column(row, 2)?;
                let sealed: Option<Vec<u8>> = column(row, 3)?;
                codec::decode_revocation(
                    tenant.as_str(),
                    &provider,
                    &id,
                    &body,
                    sealed.as_deref(),
                    self.cipher.as_ref(),
                )
            })
            .collect()
    }

    pub(super) async fn remove_revocation_once(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let sql = self.revocation_sql();
        let params: [Param<'_>; 2] = [&tenant.as_str(), &id];
        self.execute_once(&sql.remove, &params).await.map(|n| n > 0)
    }
}
