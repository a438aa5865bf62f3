//! The revocation queue port, and its rules (the cap, expiry and order),
//! decided here once for every backend.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::error::Error;
use crate::origin::Origin;
use crate::provider::RevocableToken;
use crate::session::{SessionKey, TenantId};
use crate::time::Timestamp;

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

/// What a write to a [`RevocationQueue`] keeps of its tenant's queue, in the
/// same atomic write: first the entries expired at `expired_at` are dropped
/// (`expires_at <= expired_at`), then all but the newest `keep` (by
/// `created_at`, then `id`). The values are chosen by
/// [`RevocationQueueExt::put_pending_revocation`]; a backend only applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Entries expired at this instant are dropped.
    pub expired_at: Timestamp,
    /// How many of the tenant's entries remain at most.
    pub keep: usize,
}

/// Storage for tokens still to be revoked, per tenant: one of the store
/// ports (see [`Stores`](crate::Stores)). A backend stores; the rules (how
/// many are kept, when one expires, in what order they are retried) are
/// [`RevocationQueueExt`]'s, which every caller goes through.
///
/// A backend seals `token` like a session's tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RevocationQueue: Send + Sync {
    /// Writes `revocation`, replacing one with the same tenant and `id`, and
    /// applies `retention` to the tenant's entries, in one atomic write.
    async fn push_revocation(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), Error>;

    /// Every stored entry of the tenant, expired or not, in any order.
    async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error>;

    /// Forgets an entry (revoked, or refused for good); true when there was one.
    async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error>;
}

/// The queue's rules over any [`RevocationQueue`], one home for all backends.
#[async_trait]
pub trait RevocationQueueExt: RevocationQueue {
    /// Remembers a token still to be revoked, replacing one with the same
    /// tenant and `id`. In the same write, drops the tenant's revocations
    /// expired at `revocation.created_at`, then the oldest (by `created_at`,
    /// then `id`) beyond [`MAX_PENDING_REVOCATIONS`].
    async fn put_pending_revocation(&self, revocation: &PendingRevocation) -> Result<(), Error> {
        let retention = Retention {
            expired_at: revocation.created_at,
            keep: MAX_PENDING_REVOCATIONS,
        };
        self.push_revocation(revocation, retention).await
    }

    /// The tenant's pending revocations not expired at `now`, oldest first
    /// (by `created_at`, then `id`).
    async fn pending_revocations(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<PendingRevocation>, Error> {
        let mut found = self.revocations(tenant).await?;
        found.retain(|r| r.expires_at > now);
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }
}

impl<Q: RevocationQueue + ?Sized> RevocationQueueExt for Q {}
