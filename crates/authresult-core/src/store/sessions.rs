//! The sessions port: the stored sessions and their compare-and-swap.

use async_trait::async_trait;

use crate::error::Error;
use crate::gate::AccessGate;
use crate::session::{Session, SessionKey, TenantId, UserId};

/// The answer to a [`SessionStore::compare_and_swap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// Written; the session now has this version.
    Stored {
        /// The new version.
        version: u64,
    },
    /// Not written: the stored version was not the expected one.
    Conflict {
        /// The version found, `None` when there is no session.
        current: Option<u64>,
    },
}

/// Persistence for sessions, keyed by tenant, user and provider: one of the
/// store ports (see [`Stores`](crate::Stores)). Adapters live in
/// `authresult-store` (SQLite, Postgres) and at `MemoryStore`
/// (feature `memory`); `VaultedStore` wraps this port alone.
///
/// Every write that returns `Ok` must be durable for the backend's promise
/// (on disk for SQLite). A backend that cannot read its data (corrupt file,
/// wrong encryption key) returns an error, never "no session".
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session for `key`, if any.
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error>;

    /// All sessions of a tenant (every user), ordered by user, then provider.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error>;

    /// The sessions of one user of a tenant, ordered by provider. The
    /// default filters [`list`](Self::list); a backend may query directly.
    async fn list_user(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Session>, Error> {
        let mut sessions = self.list(tenant).await?;
        sessions.retain(|s| &s.key.user == user);
        Ok(sessions)
    }

    /// Writes `session` whatever is stored; returns the new version (the
    /// stored one plus one, or 1).
    async fn put(&self, session: &Session) -> Result<u64, Error>;

    /// Writes `session` only when the stored version is `expected` (0 = no
    /// session stored) and, when one is stored, it is of the same login
    /// ([`Session::login_id`]), so a stale writer cannot overwrite a newer
    /// rotated refresh token, nor a session of a login that replaced it
    /// (versions restart at 1 after a removal). Otherwise `Conflict`, with
    /// the stored version.
    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error>;

    /// Removes the session; true when there was one.
    async fn remove(&self, key: &SessionKey) -> Result<bool, Error>;

    /// Removes the session of `session.key` only when the stored one is
    /// still this version (`session.version`) of this login
    /// ([`Session::login_id`]), in one atomic step; true when removed. A
    /// terminal refresh answer uses it, so it ends only the session version
    /// it was about to refresh, never a session written meanwhile (another
    /// refresh's rotation, a new login).
    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error>;

    /// Removes every session of a tenant, of every user (other tenants
    /// untouched); returns how many.
    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error>;

    /// The gate of `user`'s sessions when this store can lock them (a store
    /// sealing them per user: `authresult-store`'s `VaultedStore`), `None`
    /// (the default) when they are always readable. Every manager of the
    /// user asks it once and checks it before answering from its cache.
    fn access_gate(&self, tenant: &TenantId, user: &UserId) -> Option<AccessGate> {
        let _ = (tenant, user);
        None
    }
}
