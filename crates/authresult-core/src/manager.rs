//! `AuthManager`: logins, the session cache, race-free refresh and the offline policy.
//!
//! By job: this file (the manager's state, the cache and gate helpers, the
//! reads: tokens, sessions, users), `builder.rs` (settings, `for_user`),
//! `login.rs` (logins and imports), `logout.rs`, `refresh.rs`,
//! `revocation.rs` (pending revocations retried), `origin.rs` (the origin rule),
//! `resource.rs` (the headers of resource requests, DPoP-bound or bearer).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::error::Error;
use crate::events::{EventHub, EventStream};
use crate::gate::{AccessGate, GateListener};
use crate::origin::Origin;
use crate::provider::{AuthProvider, TokenInfo};
use crate::secret::AccessToken;
use crate::session::{ProviderId, Session, SessionKey, TenantId, UserId};
use crate::sleep::Sleeper;
use crate::store::Stores;
use crate::time::{Clock, Timestamp};

use refresh::Refresh;

mod builder;
mod login;
mod logout;
mod origin;
mod resource;
mod revocation;
mod trace;

pub use builder::AuthManagerBuilder;
pub use logout::LogoutReport;
pub use revocation::RevocationReport;

/// Default freshness margin: a token expiring sooner than this is refreshed first.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(30);
/// Default lifetime of the cross-process refresh lease: 150 s.
///
/// The holder renews its lease every third of this while its refresh runs,
/// so the lifetime mostly bounds how long a crashed holder blocks the
/// others. It still covers the longest refresh with the OIDC provider's
/// default timeouts (`request_timeout` 30 s per request: discovery, the token
/// request and up to two key-set fetches for the ID token, 120 s), so even a
/// holder that cannot renew (store unreachable) keeps it for its whole refresh.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(150);
/// Default lifetime of a pending interactive login.
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(600);

/// The user behind a session.
#[derive(Debug, Clone)]
pub struct User {
    /// The provider.
    pub provider: ProviderId,
    /// The subject (`sub`), when known.
    pub subject: Option<String>,
    /// The login name, when known.
    pub username: Option<String>,
    /// Profile claims.
    pub profile: BTreeMap<String, String>,
}

struct Slot {
    provider: Arc<dyn AuthProvider>,
    /// The provider's origin, asked once: the only origin whose sessions
    /// this slot uses, and the one its logins record.
    origin: Option<Origin>,
    /// The last session seen; read on the fast path without touching the store.
    cached: RwLock<Option<Arc<Session>>>,
    /// One refresh at a time per session inside this process.
    refresh: futures::lock::Mutex<()>,
    /// Bumped by every login (login, import, interactive login) before it
    /// writes: a refresh that sees it change was overtaken by a login and
    /// neither caches nor returns its result.
    logins: AtomicU64,
    /// A refreshed session the store refused to write (full disk): written
    /// before anything else on the next call, so the rotated refresh token is
    /// not lost and no caller sees a token that is not stored.
    unsaved: Mutex<Option<Session>>,
    /// True when the store may hold revocations of this provider to retry
    /// (set at start, so a restart retries what an earlier run left): checked
    /// after a call reached the provider, without a store read.
    revocations_pending: AtomicBool,
}

struct Inner {
    tenant: TenantId,
    /// The device user whose sessions this manager serves.
    user: UserId,
    stores: Stores,
    slots: HashMap<ProviderId, Slot>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    margin: Duration,
    lease_ttl: Duration,
    lease_poll: Duration,
    pending_ttl: Duration,
    holder: String,
    events: EventHub,
    /// One pass over the pending revocations at a time.
    revoking: futures::lock::Mutex<()>,
    /// Numbers the pending revocations this manager writes.
    revocation_seq: AtomicU64,
    /// The user's gate when the store can lock their sessions: checked
    /// before any token is answered; closing it empties the slots.
    gate: Option<AccessGate>,
    /// Signs the DPoP proofs of resource requests.
    proof_signer: Option<Arc<dyn crate::dpop::ProofSigner>>,
}

impl GateListener for Inner {
    fn gate_closed(&self) {
        for slot in self.slots.values() {
            AuthManager::forget(slot);
        }
    }
}

/// Orchestrates providers and a session store for one tenant (app).
///
/// Cheap to clone; clones share state. See the crate docs for an example.
#[derive(Clone)]
pub struct AuthManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for AuthManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut providers: Vec<_> = self.inner.slots.keys().map(ProviderId::as_str).collect();
        providers.sort_unstable();
        f.debug_struct("AuthManager")
            .field("tenant", &self.inner.tenant)
            .field("providers", &providers)
            .field("margin", &self.inner.margin)
            .finish_non_exhaustive()
    }
}

impl AuthManager {
    /// The tenant this manager serves.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The device user this manager serves ([`UserId::default`] unless
    /// built with [`AuthManagerBuilder::user`] or made by [`for_user`](Self::for_user)).
    pub fn user(&self) -> &UserId {
        &self.inner.user
    }

    /// The registered provider names, sorted.
    pub fn providers(&self) -> Vec<ProviderId> {
        let mut names: Vec<_> = self.inner.slots.keys().cloned().collect();
        names.sort();
        names
    }

    /// Subscribes to session events.
    pub fn subscribe(&self) -> EventStream {
        self.inner.events.subscribe()
    }

    fn slot(&self, provider: &str) -> Result<(&ProviderId, &Slot), Error> {
        self.inner
            .slots
            .get_key_value(provider)
            .ok_or_else(|| Error::UnknownProvider {
                provider: provider.to_owned(),
            })
    }

    fn key(&self, provider: &ProviderId) -> SessionKey {
        SessionKey {
            tenant: self.inner.tenant.clone(),
            user: self.inner.user.clone(),
            provider: provider.clone(),
        }
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn set_cache(slot: &Slot, session: Option<Session>) {
        if let Ok(mut cached) = slot.cached.write() {
            *cached = session.map(Arc::new);
        }
    }

    /// Drops every token the slot holds in memory (cached and unsaved).
    fn forget(slot: &Slot) {
        Self::set_cache(slot, None);
        if let Ok(mut u) = slot.unsaved.lock() {
            *u = None;
        }
    }

    /// The gate's epoch when the user's sessions may be used now (always
    /// `Some(0)` without a gate); [`Error::Locked`] when they are locked.
    fn pass_gate(&self, name: &ProviderId) -> Result<u64, Error> {
        match &self.inner.gate {
            None => Ok(0),
            Some(gate) => gate.pass(self.now()).ok_or_else(|| Error::Locked {
                provider: name.to_string(),
            }),
        }
    }

    /// True when the user's sessions may be held in memory now (no gate, or
    /// an open one).
    fn gate_open(&self) -> bool {
        self.inner.gate.as_ref().is_none_or(AccessGate::is_open)
    }

    /// After work that began at gate `epoch`: when the gate closed
    /// meanwhile, what the work left in memory goes and it fails.
    fn still_unlocked(&self, name: &ProviderId, slot: &Slot, epoch: u64) -> Result<(), Error> {
        match &self.inner.gate {
            Some(gate) if !gate.still_open_since(epoch) => {
                Self::forget(slot);
                Err(Error::Locked {
                    provider: name.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// An access token for `provider` that stays valid for at least the
    /// configured margin, refreshing first when needed.
    ///
    /// Concurrent callers share one refresh (in this process through a lock,
    /// across processes through the store's lease). The rotated refresh token
    /// is stored before any caller sees the new access token.
    ///
    /// Offline policy: a transient refresh failure keeps the session; callers
    /// get the still-valid token, or [`Error::Offline`] once it has expired,
    /// and the next call tries again. Only a terminal answer removes the
    /// session ([`Error::ReauthenticationRequired`]).
    ///
    /// A stored session of another origin than the provider's is neither
    /// answered nor refreshed: [`Error::OriginMismatch`], the session kept.
    pub async fn access_token(&self, provider: &str) -> Result<AccessToken, Error> {
        Ok(self.fresh_session(provider).await?.auth.access_token.clone())
    }

    /// The session of [`access_token`](Self::access_token): valid for at
    /// least the margin, refreshed first when needed.
    async fn fresh_session(&self, provider: &str) -> Result<Arc<Session>, Error> {
        let (name, slot) = self.slot(provider)?;
        // Locked (vault locked, idle, disabled): nothing is answered.
        let epoch = self.pass_gate(name)?;
        // Fast path: a fresh cached session, no store read, no lock but a read lock.
        if let Ok(cached) = slot.cached.read()
            && let Some(session) = cached.as_ref()
            && session.origin == slot.origin
            && session.is_fresh(self.now(), self.inner.margin)
        {
            return Ok(Arc::clone(session));
        }
        let started = self.now();
        let session = self.refresh_slow(name, slot, Refresh::IfNeeded).await;
        self.still_unlocked(name, slot, epoch)?;
        let session = session?;
        self.after_refresh(name, slot, &session, started).await;
        Ok(session)
    }

    /// Refreshes now, even if the token is fresh; returns the new session.
    /// The refresh token of a session of another origin is never sent:
    /// [`Error::OriginMismatch`].
    pub async fn refresh(&self, provider: &str) -> Result<Session, Error> {
        let (name, slot) = self.slot(provider)?;
        let epoch = self.pass_gate(name)?;
        let started = self.now();
        let session = self.refresh_slow(name, slot, Refresh::Force).await;
        self.still_unlocked(name, slot, epoch)?;
        let session = session?;
        self.after_refresh(name, slot, &session, started).await;
        Ok((*session).clone())
    }

    /// The stored session for `provider`, if any. A session of another
    /// origin than the provider's is not shown (its tokens, subject and
    /// profile are not this app's): [`Error::OriginMismatch`], the session
    /// kept.
    pub async fn session(&self, provider: &str) -> Result<Option<Session>, Error> {
        let (name, slot) = self.slot(provider)?;
        match self.inner.stores.sessions.get(&self.key(name)).await? {
            Some(stored) => {
                Self::check_origin(name, slot, &stored)?;
                Ok(Some(stored))
            }
            None => Ok(None),
        }
    }

    /// The stored sessions of this manager's user (one per provider),
    /// except those of an origin none of its providers may use.
    pub async fn sessions(&self) -> Result<Vec<Session>, Error> {
        let mut sessions = self
            .inner
            .stores
            .sessions
            .list_user(&self.inner.tenant, &self.inner.user)
            .await?;
        sessions.retain(|s| !self.foreign_to_all(s));
        Ok(sessions)
    }

    /// True when some provider has a usable session: an unexpired access token,
    /// or a refresh token to get one (another origin's does not count).
    pub async fn is_authenticated(&self) -> Result<bool, Error> {
        let now = self.now();
        Ok(self
            .sessions()
            .await?
            .iter()
            .any(|s| !s.is_expired(now) || s.is_refreshable()))
    }

    /// True when `provider` has a usable session (of its own origin).
    pub async fn is_authenticated_with(&self, provider: &str) -> Result<bool, Error> {
        let (name, slot) = self.slot(provider)?;
        let now = self.now();
        Ok(self
            .inner
            .stores
            .sessions
            .get(&self.key(name))
            .await?
            .is_some_and(|s| {
                Self::check_origin(name, slot, &s).is_ok() && (!s.is_expired(now) || s.is_refreshable())
            }))
    }

    /// The user of `provider`'s session, if logged in; of another origin's
    /// session, [`Error::OriginMismatch`].
    pub async fn current_user(&self, provider: &str) -> Result<Option<User>, Error> {
        let Some(session) = self.session(provider).await? else {
            return Ok(None);
        };
        let username = match session.username.clone() {
            Some(u) => Some(u),
            None => self.username().await?,
        };
        Ok(Some(User {
            provider: session.key.provider,
            subject: session.subject,
            username,
            profile: session.auth.profile.unwrap_or_default(),
        }))
    }

    /// The last username of this manager's user: for the default user the
    /// tenant's, for a named user ([`for_user`](Self::for_user)) the one
    /// their own sessions carry, never another user's.
    pub async fn username(&self) -> Result<Option<String>, Error> {
        if self.inner.user.is_default() {
            return self.inner.stores.usernames.username(&self.inner.tenant).await;
        }
        let mut sessions = self.sessions().await?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.issued_at));
        Ok(sessions.into_iter().find_map(|s| s.username))
    }

    /// Asks `provider` about `token` ([`AuthProvider::introspect`]: remote
    /// introspection, or userinfo).
    pub async fn introspect(&self, provider: &str, token: &AccessToken) -> Result<TokenInfo, Error> {
        let (name, slot) = self.slot(provider)?;
        let info = slot.provider.introspect(token).await?;
        self.provider_answered(name, slot).await;
        Ok(info)
    }
}

mod refresh;

#[cfg(test)]
mod tests;
