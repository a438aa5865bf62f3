//! The pending logins port: interactive logins between their start and their callback.

use async_trait::async_trait;

use crate::error::Error;
use crate::provider::PendingAuthorization;
use crate::session::TenantId;
use crate::time::Timestamp;

/// Persistence for pending interactive logins, keyed by tenant and `state`:
/// one of the store ports (see [`Stores`](crate::Stores)).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PendingLoginStore: Send + Sync {
    /// Saves a pending interactive login under its tenant and `state`.
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error>;

    /// Removes and returns the pending login with this `state`, unless it has
    /// expired at `now`. A state can be taken once.
    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error>;

    /// Drops pending logins expired at `now`; returns how many.
    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error>;
}
