//! `MockBackend`: one `mockall` mock of every store port, for the manager's
//! unit tests that script a whole backend.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    CasOutcome, LeaseStore, NonceStore, PendingLoginStore, PendingRevocation, Retention, RevocationQueue,
    SessionStore, UsernameStore,
};
use crate::error::Error;
use crate::gate::AccessGate;
use crate::provider::PendingAuthorization;
use crate::session::{Session, SessionKey, TenantId, UserId};
use crate::time::Timestamp;

mockall::mock! {
    pub Backend {}

    #[async_trait]
    impl SessionStore for Backend {
        async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error>;
        async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error>;
        async fn list_user(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Session>, Error>;
        async fn put(&self, session: &Session) -> Result<u64, Error>;
        async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error>;
        async fn remove(&self, key: &SessionKey) -> Result<bool, Error>;
        async fn remove_if_current(&self, session: &Session) -> Result<bool, Error>;
        async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error>;
        fn access_gate(&self, tenant: &TenantId, user: &UserId) -> Option<AccessGate>;
    }

    #[async_trait]
    impl UsernameStore for Backend {
        async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error>;
        async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error>;
    }

    #[async_trait]
    impl PendingLoginStore for Backend {
        async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error>;
        async fn take_pending(
            &self,
            tenant: &TenantId,
            state: &str,
            now: Timestamp,
        ) -> Result<Option<PendingAuthorization>, Error>;
        async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error>;
    }

    #[async_trait]
    impl LeaseStore for Backend {
        async fn try_acquire_lease(
            &self,
            key: &SessionKey,
            holder: &str,
            now: Timestamp,
            ttl: Duration,
        ) -> Result<bool, Error>;
        async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error>;
    }

    #[async_trait]
    impl RevocationQueue for Backend {
        async fn push_revocation(&self, revocation: &PendingRevocation, retention: Retention) -> Result<(), Error>;
        async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error>;
        async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error>;
    }

    #[async_trait]
    impl NonceStore for Backend {
        async fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, Error>;
        async fn set_dpop_nonce(&self, tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), Error>;
    }
}
