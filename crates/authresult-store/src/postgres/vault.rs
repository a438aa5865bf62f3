//! Offline vault records on PostgreSQL: one row per (tenant, user),
//! replaced only over the revision its writer read, and each tenant's time
//! high-water mark, both single atomic statements, so instances sharing the
//! database never lose a counted failure nor overwrite each other's re-wrap.

use async_trait::async_trait;
use authresult_core::{TenantId, UserId};

use super::PostgresStore;
use super::options::quote_ident;
use super::pool::{Param, column, pg, settle};
use crate::codec::{open_vault_record, seal_vault_record, stored_version, version_of};
use crate::error::StoreError;
use crate::vault::VaultStore;

/// The statements, with the schema name quoted in.
struct VaultSql {
    get: String,
    create: String,
    replace: String,
    remove: String,
}

impl VaultSql {
    fn new(s: &str) -> Self {
        VaultSql {
            get: format!("SELECT record, rev FROM {s}.vault WHERE tenant = $1 AND user_id = $2"),
            // Only when there is none: a concurrent creator's row wins, ours is refused.
            create: format!(
                "INSERT INTO {s}.vault (tenant, user_id, rev, record) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (tenant, user_id) DO NOTHING"
            ),
            // A concurrent writer holding the row makes this wait, then
            // re-check `rev` against the row it committed: one of them wins.
            replace: format!(
                "UPDATE {s}.vault SET rev = rev + 1, record = $3
                 WHERE tenant = $1 AND user_id = $2 AND rev = $4"
            ),
            remove: format!("DELETE FROM {s}.vault WHERE tenant = $1 AND user_id = $2"),
        }
    }
}

impl PostgresStore {
    fn vault_sql(&self) -> VaultSql {
        VaultSql::new(&quote_ident(&self.schema))
    }

    async fn vault_record_once(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let result = async {
            let statement = client.prepare_cached(&self.vault_sql().get).await.map_err(pg)?;
            client
                .query_opt(&statement, &[&tenant.as_str(), &user.as_str()])
                .await
                .map_err(pg)?
                .map(|row| {
                    let rev: i64 = column(&row, 1)?;
                    let stored: String = column(&row, 0)?;
                    let record = open_vault_record(
                        self.cipher.as_ref(),
                        tenant.as_str(),
                        user.as_str(),
                        rev,
                        &stored,
                    )?;
                    Ok((record, version_of(rev)?))
                })
                .transpose()
        }
        .await;
        settle(client, result)
    }
}

#[async_trait]
impl VaultStore for PostgresStore {
    async fn vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError> {
        self.retry(true, || self.vault_record_once(tenant, user)).await
    }

    async fn put_vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
        record: &str,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let sql = self.vault_sql();
        let (tenant, user) = (tenant.as_str(), user.as_str());
        // Not repeated after a dropped connection: the first attempt may have
        // committed, and a second would then answer "changed meanwhile".
        let rev = stored_version(expected)?.saturating_add(1);
        let record = seal_vault_record(self.cipher.as_ref(), tenant, user, rev, record)?;
        let record = record.as_str();
        let written = if expected == 0 {
            let params: [Param<'_>; 3] = [&tenant, &user, &record];
            self.retry(false, || self.execute_once(&sql.create, &params))
                .await?
        } else {
            let expected = stored_version(expected)?;
            let params: [Param<'_>; 4] = [&tenant, &user, &record, &expected];
            self.retry(false, || self.execute_once(&sql.replace, &params))
                .await?
        };
        Ok(written == 1)
    }

    async fn remove_vault_record(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        let sql = self.vault_sql();
        let params: [Param<'_>; 2] = [&tenant.as_str(), &user.as_str()];
        let removed = self
            .retry(false, || self.execute_once(&sql.remove, &params))
            .await?;
        Ok(removed > 0)
    }
}
