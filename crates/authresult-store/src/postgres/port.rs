//! The store ports (`SessionStore`, `UsernameStore`, `PendingLoginStore`,
//! `LeaseStore`, `RevocationQueue`, `NonceStore`) on PostgreSQL: each operation as one retried
//! statement or transaction (the refresh lease timed by the database's clock).

use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{
    CasOutcome, Error, LeaseStore, NonceStore, PendingAuthorization, PendingLoginStore, PendingRevocation,
    Retention, RevocationQueue, Session, SessionKey, SessionStore, TenantId, Timestamp, UsernameStore,
};

use super::PostgresStore;
use super::pool::Param;
use crate::codec::{self, stored_version, ts};

#[async_trait]
impl SessionStore for PostgresStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        Ok(self.retry(true, || self.get_once(key)).await?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        Ok(self.retry(true, || self.list_once(tenant)).await?)
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        Ok(self.retry(false, || self.put_once(session, &encoded)).await?)
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        Ok(self
            .retry(false, || self.compare_and_swap_once(session, &encoded, expected))
            .await?)
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        let params: [Param<'_>; 3] = [&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()];
        let removed = self
            .retry(false, || self.execute_once(&self.sql.remove, &params))
            .await?;
        Ok(removed > 0)
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        let version = stored_version(session.version())?;
        let params: [Param<'_>; 5] = [
            &session.key.tenant.as_str(),
            &session.key.provider.as_str(),
            &version,
            &session.login_id(),
            &session.key.user.as_str(),
        ];
        let removed = self
            .retry(false, || self.execute_once(&self.sql.remove_if_current, &params))
            .await?;
        Ok(removed > 0)
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        let params: [Param<'_>; 1] = [&tenant.as_str()];
        Ok(self
            .retry(false, || self.execute_once(&self.sql.remove_tenant, &params))
            .await?)
    }
}

#[async_trait]
impl UsernameStore for PostgresStore {
    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error> {
        Ok(self.retry(true, || self.username_once(tenant)).await?)
    }

    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error> {
        let tenant = tenant.as_str();
        let (sql, params): (&str, Vec<Param<'_>>) = match &username {
            Some(name) => (&self.sql.set_username, vec![&tenant, name]),
            None => (&self.sql.clear_username, vec![&tenant]),
        };
        self.retry(true, || self.execute_once(sql, &params)).await?;
        Ok(())
    }
}

#[async_trait]
impl PendingLoginStore for PostgresStore {
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        let encoded = codec::encode_pending(pending, self.cipher.as_ref())?;
        Ok(self
            .retry(true, || self.put_pending_once(pending, &encoded))
            .await?)
    }

    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        Ok(self
            .retry(false, || self.take_pending_once(tenant, state, now))
            .await?)
    }

    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error> {
        let now = ts(now);
        let params: [Param<'_>; 1] = [&now];
        Ok(self
            .retry(false, || self.execute_once(&self.sql.purge_pending, &params))
            .await?)
    }
}

#[async_trait]
impl LeaseStore for PostgresStore {
    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        _now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error> {
        // The database's clock, not `now`: instances whose clocks disagree
        // must agree on whether a lease has expired.
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let params: [Param<'_>; 5] = [
            &key.tenant.as_str(),
            &key.provider.as_str(),
            &holder,
            &ttl,
            &key.user.as_str(),
        ];
        // Repeatable: a second attempt by the same holder renews its own lease.
        let taken = self
            .retry(true, || self.execute_once(&self.sql.acquire_lease, &params))
            .await?;
        Ok(taken == 1)
    }

    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error> {
        let params: [Param<'_>; 4] = [
            &key.tenant.as_str(),
            &key.provider.as_str(),
            &holder,
            &key.user.as_str(),
        ];
        self.retry(true, || self.execute_once(&self.sql.release_lease, &params))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl RevocationQueue for PostgresStore {
    async fn push_revocation(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), Error> {
        let encoded = codec::encode_revocation(revocation, self.cipher.as_ref())?;
        // Repeatable: the same id is written again with the same content.
        Ok(self
            .retry(true, || self.put_revocation_once(revocation, retention, &encoded))
            .await?)
    }

    async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error> {
        Ok(self.retry(true, || self.revocations_once(tenant)).await?)
    }

    async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        Ok(self
            .retry(false, || self.remove_revocation_once(tenant, id))
            .await?)
    }
}

#[async_trait]
impl NonceStore for PostgresStore {
    async fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, Error> {
        Ok(self.retry(true, || self.dpop_nonce_once(tenant, origin)).await?)
    }

    async fn set_dpop_nonce(&self, tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), Error> {
        let tenant = tenant.as_str();
        let params: [Param<'_>; 3] = [&tenant, &origin, &nonce];
        self.retry(true, || self.execute_once(&self.sql.set_dpop_nonce, &params))
            .await?;
        Ok(())
    }
}
