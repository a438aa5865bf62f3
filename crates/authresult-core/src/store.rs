//! The session store port: where sessions, pending logins and refresh leases live.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::error::Error;
use crate::gate::AccessGate;
use crate::origin::Origin;
use crate::provider::{PendingAuthorization, RevocableToken};
use crate::session::{Session, SessionKey, TenantId, UserId};
use crate::time::Timestamp;

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

/// How many pending revocations a store keeps per tenant: writing one more
/// drops the oldest. A device logged out offline 16 times (two tokens each)
/// still retries them all.
pub const MAX_PENDING_REVOCATIONS: usize = 32;

/// How long a failed revocation is retried: after this its refresh token is
/// taken as expired at the provider (30 days, the longest default idle
/// lifetime of Keycloak offline and Auth0 refresh tokens). An access token is
/// retried only until it expires.
pub const PENDING_REVOCATION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// A token that must still be revoked at its provider: written before a
/// logout removes the session, and kept while revoking fails transiently.
///
/// Stores seal `token` like a session's tokens. `Debug` prints no token text;
/// it does not implement `Serialize` (stores write it through [`Exposed`](crate::Exposed)).
#[derive(Debug, Clone, Deserialize)]
pub struct PendingRevocation {
    /// The tenant and the provider that issued the token.
    pub key: SessionKey,
    /// Unique within the tenant (the manager makes it from its holder id and a counter).
    pub id: String,
    /// The token.
    pub token: RevocableToken,
    /// When the logout that left it happened.
    pub created_at: Timestamp,
    /// After this there is nothing left to revoke and it is dropped.
    pub expires_at: Timestamp,
    /// The origin of the session the token came from: only a provider of
    /// this origin is asked to revoke it. `None` for a session without one
    /// (and rows written before origins were recorded).
    #[serde(default)]
    pub origin: Option<Origin>,
}

/// Persistence for sessions, keyed by tenant, user and provider. Adapters live in
/// `authresult-store` (SQLite, in-memory, Postgres).
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

    /// The tenant's last username.
    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error>;

    /// Sets (or with `None` clears) the tenant's username.
    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error>;

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

    /// Remembers a token still to be revoked, replacing one with the same
    /// tenant and `id`. In the same write, drops the tenant's revocations
    /// expired at `revocation.created_at`, then the oldest (by `created_at`,
    /// then `id`) beyond [`MAX_PENDING_REVOCATIONS`].
    async fn put_pending_revocation(&self, revocation: &PendingRevocation) -> Result<(), Error>;

    /// The tenant's pending revocations not expired at `now`, oldest first.
    async fn pending_revocations(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<PendingRevocation>, Error>;

    /// Forgets a pending revocation (revoked, or refused for good); true when there was one.
    async fn remove_pending_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error>;

    /// The gate of `user`'s sessions when this store can lock them (a store
    /// sealing them per user: `authresult-store`'s `VaultedStore`), `None`
    /// (the default) when they are always readable. Every manager of the
    /// user asks it once and checks it before answering from its cache.
    fn access_gate(&self, tenant: &TenantId, user: &UserId) -> Option<AccessGate> {
        let _ = (tenant, user);
        None
    }
}
