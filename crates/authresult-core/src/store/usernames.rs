//! The usernames port: the last username typed per tenant.

use async_trait::async_trait;

use crate::error::Error;
use crate::session::TenantId;

/// Persistence for the tenant's last username (what a login screen shows
/// again): one of the store ports (see [`Stores`](crate::Stores)).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UsernameStore: Send + Sync {
    /// The tenant's last username.
    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error>;

    /// Sets (or with `None` clears) the tenant's username.
    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error>;
}
