//! The store ports (`SessionStore`, `UsernameStore`, `PendingLoginStore`,
//! `LeaseStore`, `RevocationQueue`, `NonceStore`) on SQLite: each operation a job for the worker
//! thread, awaited without blocking the caller's executor.

use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{
    CasOutcome, Error, LeaseStore, NonceStore, PendingAuthorization, PendingLoginStore, PendingRevocation,
    Retention, RevocationQueue, Session, SessionKey, SessionStore, TenantId, Timestamp, UsernameStore,
};

use super::SqliteStore;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        let key = key.clone();
        Ok(self.run(move |w| w.get(&key)).await?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.list(&tenant)).await?)
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        let session = session.clone();
        Ok(self.run(move |w| w.put(&session)).await?)
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        let session = session.clone();
        Ok(self.run(move |w| w.compare_and_swap(&session, expected)).await?)
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        let key = key.clone();
        Ok(self
            .run(move |w| w.remove(&key).inspect(|&gone| w.scrub_if(gone)))
            .await?)
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        let session = session.clone();
        Ok(self
            .run(move |w| w.remove_if_current(&session).inspect(|&gone| w.scrub_if(gone)))
            .await?)
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        let tenant = tenant.clone();
        Ok(self
            .run(move |w| w.remove_tenant(&tenant).inspect(|&n| w.scrub_if(n > 0)))
            .await?)
    }
}

#[async_trait]
impl UsernameStore for SqliteStore {
    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.username(&tenant)).await?)
    }

    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error> {
        let tenant = tenant.clone();
        Ok(self
            .run(move |w| w.set_username(&tenant, username.as_deref()))
            .await?)
    }
}

#[async_trait]
impl PendingLoginStore for SqliteStore {
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        let pending = pending.clone();
        Ok(self.run(move |w| w.put_pending(&pending)).await?)
    }

    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        let tenant = tenant.clone();
        let state = state.to_owned();
        Ok(self.run(move |w| w.take_pending(&tenant, &state, now)).await?)
    }

    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error> {
        Ok(self.run(move |w| w.purge_pending(now)).await?)
    }
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let key = key.clone();
        let holder = holder.to_owned();
        Ok(self
            .run(move |w| w.try_acquire_lease(&key, &holder, now, ttl))
            .await?)
    }

    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error> {
        let key = key.clone();
        let holder = holder.to_owned();
        Ok(self.run(move |w| w.release_lease(&key, &holder)).await?)
    }
}

#[async_trait]
impl RevocationQueue for SqliteStore {
    async fn push_revocation(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), Error> {
        let revocation = revocation.clone();
        Ok(self
            .run(move |w| w.push_revocation(&revocation, retention))
            .await?)
    }

    async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.revocations(&tenant)).await?)
    }

    async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        let tenant = tenant.clone();
        let id = id.to_owned();
        Ok(self
            .run(move |w| {
                w.remove_revocation(&tenant, &id)
                    .inspect(|&gone| w.scrub_if(gone))
            })
            .await?)
    }
}

#[async_trait]
impl NonceStore for SqliteStore {
    async fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, Error> {
        let (tenant, origin) = (tenant.clone(), origin.to_owned());
        Ok(self.run(move |w| w.dpop_nonce(&tenant, &origin)).await?)
    }

    async fn set_dpop_nonce(&self, tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), Error> {
        let (tenant, origin, nonce) = (tenant.clone(), origin.to_owned(), nonce.to_owned());
        Ok(self
            .run(move |w| w.set_dpop_nonce(&tenant, &origin, &nonce))
            .await?)
    }
}
