//! The refresh lease port: one refresh per session across processes.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::session::SessionKey;
use crate::time::Timestamp;

/// The refresh lease of each session, shared by every process of the store:
/// one of the store ports (see [`Stores`](crate::Stores)).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the refresh lease of `key` for `holder` until `now + ttl` when it
    /// is free, expired at `now`, or already held by `holder` (then it is
    /// renewed: the holder calls it again while its refresh runs). True when
    /// taken.
    ///
    /// A backend shared by several machines (Postgres) measures the lease
    /// with its own clock and ignores `now`, so an instance whose clock is
    /// ahead cannot take a live lease.
    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error>;

    /// Releases the lease if `holder` holds it.
    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error>;
}
