//! `MemoryStore`: sessions in process memory, for tests and short-lived processes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::{
    CasOutcome, Error, LeaseStore, NonceStore, PendingAuthorization, PendingLoginStore, PendingRevocation,
    ProviderId, Retention, RevocationQueue, Session, SessionKey, SessionStore, TenantId, Timestamp, UserId,
    UsernameStore,
};
use async_trait::async_trait;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};

use crate::{FailureKind, Logout, LogoutFeed, LogoutList};

/// Every store port ([`StoreBackend`](crate::StoreBackend)) in memory: nothing survives the process, nothing is
/// shared with other processes. Never blocks for long and never fails.
///
/// Tokens are held as they are in a [`Session`]: zeroed on drop, never printed.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: BTreeMap<(TenantId, UserId, ProviderId), Session>,
    usernames: BTreeMap<TenantId, String>,
    pending: BTreeMap<(TenantId, String), PendingAuthorization>,
    leases: BTreeMap<(TenantId, UserId, ProviderId), Lease>,
    revocations: BTreeMap<(TenantId, String), PendingRevocation>,
    nonces: BTreeMap<(TenantId, String), String>,
    logouts: BTreeMap<LogoutKey, Logout>,
    /// The open logout feeds; a closed one is dropped at the next send.
    feeds: Vec<UnboundedSender<Logout>>,
}

/// Issuer, `sid`, `sub`.
type LogoutKey = (String, Option<String>, Option<String>);

struct Lease {
    holder: String,
    expires_at: Timestamp,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("sessions", &state.sessions.len())
            .field("pending", &state.pending.len())
            .field("leases", &state.leases.len())
            .field("revocations", &state.revocations.len())
            .field("logouts", &state.logouts.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; if one ever did, the
        // maps are still consistent (every update is a single insert/remove).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn map_key(key: &SessionKey) -> (TenantId, UserId, ProviderId) {
    (key.tenant.clone(), key.user.clone(), key.provider.clone())
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        Ok(self.lock().sessions.get(&map_key(key)).cloned())
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        Ok(self
            .lock()
            .sessions
            .iter()
            .filter(|((t, _, _), _)| t == tenant)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        let mut state = self.lock();
        let key = map_key(&session.key);
        let version = state
            .sessions
            .get(&key)
            .map_or(0, |s| s.version())
            .saturating_add(1);
        let mut stored = session.clone();
        stored.set_stored_version(version);
        state.sessions.insert(key, stored);
        Ok(version)
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        let mut state = self.lock();
        let key = map_key(&session.key);
        let stored = state.sessions.get(&key);
        let same = stored.map_or(expected == 0, |s| {
            s.version() == expected && s.login_id() == session.login_id()
        });
        if !same {
            return Ok(CasOutcome::Conflict {
                current: stored.map(|s| s.version()),
            });
        }
        let version = expected.saturating_add(1);
        let mut stored = session.clone();
        stored.set_stored_version(version);
        state.sessions.insert(key, stored);
        Ok(CasOutcome::Stored { version })
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        Ok(self.lock().sessions.remove(&map_key(key)).is_some())
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        let mut state = self.lock();
        let key = map_key(&session.key);
        let current = state
            .sessions
            .get(&key)
            .is_some_and(|s| s.version() == session.version() && s.login_id() == session.login_id());
        if current {
            state.sessions.remove(&key);
        }
        Ok(current)
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        let mut state = self.lock();
        let before = state.sessions.len();
        state.sessions.retain(|(t, _, _), _| t != tenant);
        Ok((before - state.sessions.len()) as u64)
    }
}

#[async_trait]
impl UsernameStore for MemoryStore {
    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error> {
        Ok(self.lock().usernames.get(tenant).cloned())
    }

    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error> {
        let mut state = self.lock();
        match username {
            Some(name) => state.usernames.insert(tenant.clone(), name),
            None => state.usernames.remove(tenant),
        };
        Ok(())
    }
}

#[async_trait]
impl PendingLoginStore for MemoryStore {
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        self.lock().pending.insert(
            (pending.key.tenant.clone(), pending.state.clone()),
            pending.clone(),
        );
        Ok(())
    }

    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        let taken = self.lock().pending.remove(&(tenant.clone(), state.to_owned()));
        Ok(taken.filter(|p| p.expires_at > now))
    }

    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error> {
        let mut state = self.lock();
        let before = state.pending.len();
        state.pending.retain(|_, p| p.expires_at > now);
        Ok((before - state.pending.len()) as u64)
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        let key = map_key(key);
        let free = state
            .leases
            .get(&key)
            .is_none_or(|lease| lease.holder == holder || lease.expires_at <= now);
        if free {
            state.leases.insert(
                key,
                Lease {
                    holder: holder.to_owned(),
                    expires_at: now.saturating_add(ttl),
                },
            );
        }
        Ok(free)
    }

    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error> {
        let mut state = self.lock();
        let key = map_key(key);
        if state.leases.get(&key).is_some_and(|lease| lease.holder == holder) {
            state.leases.remove(&key);
        }
        Ok(())
    }
}

#[async_trait]
impl RevocationQueue for MemoryStore {
    async fn push_revocation(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        let tenant = &revocation.key.tenant;
        state
            .revocations
            .retain(|(t, _), r| t != tenant || r.expires_at > retention.expired_at);
        state
            .revocations
            .insert((tenant.clone(), revocation.id.clone()), revocation.clone());
        let mut kept: Vec<(Timestamp, String)> = state
            .revocations
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, id), r)| (r.created_at, id.clone()))
            .collect();
        if kept.len() > retention.keep {
            kept.sort();
            let excess = kept.len() - retention.keep;
            for (_, id) in kept.into_iter().take(excess) {
                state.revocations.remove(&(tenant.clone(), id));
            }
        }
        Ok(())
    }

    async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error> {
        Ok(self
            .lock()
            .revocations
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        Ok(self
            .lock()
            .revocations
            .remove(&(tenant.clone(), id.to_owned()))
            .is_some())
    }
}

#[async_trait]
impl NonceStore for MemoryStore {
    async fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, Error> {
        Ok(self
            .lock()
            .nonces
            .get(&(tenant.clone(), origin.to_owned()))
            .cloned())
    }

    async fn set_dpop_nonce(&self, tenant: &TenantId, origin: &str, nonce: &str) -> Result<(), Error> {
        self.lock()
            .nonces
            .insert((tenant.clone(), origin.to_owned()), nonce.to_owned());
        Ok(())
    }
}

/// Every instance sharing this `MemoryStore` (one process) sees a logout at
/// once; feeds end only when the store is dropped.
#[async_trait]
impl LogoutList for MemoryStore {
    async fn record(&self, logout: &Logout) -> Result<(), Error> {
        if !logout.is_well_formed() {
            return Err(Error::store(
                FailureKind::Configuration,
                "a logout must name a session or a user, with values of allowed lengths",
            ));
        }
        let mut state = self.lock();
        let key = (logout.issuer.clone(), logout.sid.clone(), logout.sub.clone());
        let kept = state
            .logouts
            .entry(key)
            .and_modify(|kept| {
                kept.logged_out_at = kept.logged_out_at.max(logout.logged_out_at);
                kept.expires_at = kept.expires_at.max(logout.expires_at);
            })
            .or_insert_with(|| logout.clone())
            .clone();
        state
            .feeds
            .retain(|feed| feed.unbounded_send(kept.clone()).is_ok());
        Ok(())
    }

    async fn load(&self, now: Timestamp) -> Result<Vec<Logout>, Error> {
        Ok(self
            .lock()
            .logouts
            .values()
            .filter(|l| l.expires_at > now)
            .cloned()
            .collect())
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, Error> {
        let mut state = self.lock();
        let before = state.logouts.len();
        state.logouts.retain(|_, l| l.expires_at > now);
        Ok((before - state.logouts.len()) as u64)
    }

    async fn subscribe(&self) -> Result<LogoutFeed, Error> {
        let (sender, receiver) = unbounded();
        self.lock().feeds.push(sender);
        Ok(receiver.boxed())
    }
}

#[cfg(test)]
mod tests;
