//! Each tenant's remembered username, its servers' DPoP nonces, and pending
//! logins (single use, expiring, sealed like sessions).

use authresult_core::{PendingAuthorization, TenantId, Timestamp};
use deadpool_postgres::Object;

use super::PostgresStore;
use super::pool::{column, pg, settle};
use crate::codec::{self, Encoded, ts};
use crate::error::StoreError;

impl PostgresStore {
    pub(super) async fn username_once(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let result = self.username_on(&client, tenant).await;
        settle(client, result)
    }

    async fn username_on(&self, client: &Object, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let statement = client.prepare_cached(&self.sql.username).await.map_err(pg)?;
        client
            .query_opt(&statement, &[&tenant.as_str()])
            .await
            .map_err(pg)?
            .map(|row| column(&row, 0))
            .transpose()
    }

    pub(super) async fn dpop_nonce_once(
        &self,
        tenant: &TenantId,
        origin: &str,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let result = async {
            let statement = client.prepare_cached(&self.sql.dpop_nonce).await.map_err(pg)?;
            client
                .query_opt(&statement, &[&tenant.as_str(), &origin])
                .await
                .map_err(pg)?
                .map(|row| column(&row, 0))
                .transpose()
        }
        .await;
        settle(client, result)
    }

    pub(super) async fn put_pending_once(
        &self,
        pending: &PendingAuthorization,
        encoded: &Encoded,
    ) -> Result<(), StoreError> {
        let created_at = ts(pending.created_at);
        let expires_at = ts(pending.expires_at);
        let written = self
            .execute_once(
                &self.sql.put_pending,
                &[
                    &pending.key.tenant.as_str(),
                    &pending.state,
                    &pending.key.provider.as_str(),
                    &created_at,
                    &expires_at,
                    &encoded.body,
                    &encoded.sealed,
                ],
            )
            .await?;
        if written == 0 {
            return Err(StoreError::KeyRequired);
        }
        Ok(())
    }

    pub(super) async fn take_pending_once(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let mut client = self.client().await?;
        let result = self.take_pending_on(&mut client, tenant, state, now).await;
        settle(client, result)
    }

    async fn take_pending_on(
        &self,
        client: &mut Object,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let statement = client.prepare_cached(&self.sql.take_pending).await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let Some(row) = tx
            .query_opt(&statement, &[&tenant.as_str(), &state])
            .await
            .map_err(pg)?
        else {
            tx.commit().await.map_err(pg)?;
            return Ok(None);
        };
        let expires_at: i64 = column(&row, 0)?;
        if expires_at <= ts(now) {
            // Expired: gone either way, and refused.
            tx.commit().await.map_err(pg)?;
            return Ok(None);
        }
        let body: String = column(&row, 1)?;
        let sealed: Option<Vec<u8>> = column(&row, 2)?;
        // A row that cannot be read stays.
        let pending = match codec::decode_pending(
            tenant.as_str(),
            state,
            &body,
            sealed.as_deref(),
            self.cipher.as_ref(),
        ) {
            Ok(pending) => pending,
            Err(e) => {
                tx.rollback().await.map_err(pg)?;
                return Err(e);
            }
        };
        tx.commit().await.map_err(pg)?;
        Ok(Some(pending))
    }
}
