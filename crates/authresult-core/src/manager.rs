//! `AuthManager`: logins, the session cache, race-free refresh and the offline policy.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use url::Url;

use crate::auth_result::AuthResult;
use crate::error::Error;
use crate::events::{AuthEvent, EventHub, EventStream};
use crate::gate::{AccessGate, GateListener};
use crate::origin::Origin;
use crate::provider::{
    AuthProvider, Credentials, LoginFlow, LoginRequest, LoginResponse, PendingAuthorization, TokenInfo,
    TokenKind,
};
use crate::secret::AccessToken;
use crate::session::{ProviderId, Session, SessionKey, TenantId, UserId};
use crate::sleep::{Sleeper, ThreadSleeper};
use crate::store::{RevocationQueueExt as _, Stores};
use crate::time::{Clock, SystemClock, Timestamp};

use refresh::Refresh;

mod origin;
mod revocation;

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
/// How often a logout reads a session rotated meanwhile by another
/// process's refresh again before it gives up removing it.
const LOGOUT_ATTEMPTS: usize = 4;
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

/// What a logout did.
///
/// `Debug` leaves out the end-session URL's query: it carries the ID token
/// as `id_token_hint`.
pub struct LogoutReport {
    /// The provider.
    pub provider: ProviderId,
    /// True when a local session was removed.
    pub removed: bool,
    /// `Ok` when the provider revoked the tokens; the first error otherwise
    /// (the local session is removed either way).
    pub revocation: Result<(), Error>,
    /// The tokens whose revocation failed transiently: they are kept (sealed)
    /// in the store and revoked on the next call that reaches the provider,
    /// or by [`AuthManager::retry_pending_revocations`]. Empty when nothing
    /// is left to revoke.
    pub pending_revocations: Vec<TokenKind>,
    /// The provider's end-session URL to open in a browser, when it has one.
    pub end_session_url: Option<Url>,
}

impl fmt::Debug for LogoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.end_session_url.as_ref().map(|u| {
            let mut shown = u.clone();
            if shown.query().is_some() {
                shown.set_query(Some("[redacted]"));
            }
            shown.to_string()
        });
        f.debug_struct("LogoutReport")
            .field("provider", &self.provider)
            .field("removed", &self.removed)
            .field("revocation", &self.revocation)
            .field("pending_revocations", &self.pending_revocations)
            .field("end_session_url", &url)
            .finish()
    }
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

/// Builds an [`AuthManager`].
pub struct AuthManagerBuilder {
    tenant: TenantId,
    user: UserId,
    stores: Stores,
    providers: Vec<(ProviderId, Arc<dyn AuthProvider>)>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    margin: Duration,
    lease_ttl: Duration,
    pending_ttl: Duration,
}

impl fmt::Debug for AuthManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthManagerBuilder")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

static NEXT_HOLDER: AtomicU64 = AtomicU64::new(0);

impl AuthManagerBuilder {
    /// Registers `provider` under `name` (e.g. `keycloak`, `default`).
    pub fn provider(mut self, name: impl Into<ProviderId>, provider: Arc<dyn AuthProvider>) -> Self {
        self.providers.push((name.into(), provider));
        self
    }

    /// The device user whose sessions the manager serves (default: the
    /// single unnamed user, [`UserId::default`]). See [`AuthManager::for_user`].
    pub fn user(mut self, user: impl Into<UserId>) -> Self {
        self.user = user.into();
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How the manager waits for another process's refresh (default: a helper thread).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// A token is refreshed when it expires within `margin` (default 30 s).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// How long a refresh lease lasts if its holder dies (default 150 s,
    /// see [`DEFAULT_LEASE_TTL`]); the holder renews it every third of this
    /// while it refreshes.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How long an interactive login may take (default 10 min).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// The manager.
    pub fn build(self) -> AuthManager {
        let pid = std::process::id();
        let n = NEXT_HOLDER.fetch_add(1, Ordering::Relaxed);
        let holder = format!("{pid}-{n}-{}", Timestamp::now().as_millis());
        let slots = self
            .providers
            .into_iter()
            .map(|(name, provider)| {
                (
                    name,
                    Slot {
                        origin: provider.origin(),
                        provider,
                        cached: RwLock::new(None),
                        refresh: futures::lock::Mutex::new(()),
                        logins: AtomicU64::new(0),
                        unsaved: Mutex::new(None),
                        revocations_pending: AtomicBool::new(true),
                    },
                )
            })
            .collect();
        let gate = self.stores.sessions.access_gate(&self.tenant, &self.user);
        let inner = Arc::new(Inner {
            tenant: self.tenant,
            user: self.user,
            stores: self.stores,
            slots,
            clock: self.clock,
            sleeper: self.sleeper,
            margin: self.margin,
            lease_ttl: self.lease_ttl,
            lease_poll: Duration::from_millis(50),
            pending_ttl: self.pending_ttl,
            holder,
            events: EventHub::default(),
            revoking: futures::lock::Mutex::new(()),
            revocation_seq: AtomicU64::new(0),
            gate,
        });
        if let Some(gate) = &inner.gate {
            let listener: Weak<dyn GateListener> =
                Arc::downgrade(&(Arc::clone(&inner) as Arc<dyn GateListener>));
            gate.listen(listener);
        }
        AuthManager { inner }
    }
}

impl AuthManager {
    /// Starts building a manager for `tenant` over `stores`: one backend
    /// implementing every store port (`Arc::new(SqliteStore::open(..)?)`),
    /// or a [`Stores`] bundle with a port replaced.
    pub fn builder(tenant: impl Into<TenantId>, stores: impl Into<Stores>) -> AuthManagerBuilder {
        AuthManagerBuilder {
            tenant: tenant.into(),
            user: UserId::default(),
            stores: stores.into(),
            providers: Vec::new(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(ThreadSleeper),
            margin: DEFAULT_MARGIN,
            lease_ttl: DEFAULT_LEASE_TTL,
            pending_ttl: DEFAULT_PENDING_TTL,
        }
    }

    /// The tenant this manager serves.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The device user this manager serves ([`UserId::default`] unless
    /// built with [`AuthManagerBuilder::user`] or made by [`for_user`](Self::for_user)).
    pub fn user(&self) -> &UserId {
        &self.inner.user
    }

    /// A manager for `user` of this device: same tenant, store, providers
    /// and settings; its own sessions (keyed by tenant, user and provider),
    /// session cache and event stream. Several users of a shared device
    /// each get one; their sessions never mix.
    pub fn for_user(&self, user: impl Into<UserId>) -> AuthManager {
        let inner = &self.inner;
        AuthManagerBuilder {
            tenant: inner.tenant.clone(),
            user: user.into(),
            stores: inner.stores.clone(),
            providers: inner
                .slots
                .iter()
                .map(|(name, slot)| (name.clone(), Arc::clone(&slot.provider)))
                .collect(),
            clock: Arc::clone(&inner.clock),
            sleeper: Arc::clone(&inner.sleeper),
            margin: inner.margin,
            lease_ttl: inner.lease_ttl,
            pending_ttl: inner.pending_ttl,
        }
        .build()
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

    /// Stores a new session, of the slot's origin, and announces it. A
    /// login wins over a session of its own origin: it replaces it, and a
    /// refresh running meanwhile (here or in another process) discards its
    /// result. Over a session of another origin it is refused
    /// ([`Error::OriginMismatch`]) and nothing is written.
    async fn adopt(&self, name: &ProviderId, slot: &Slot, mut session: Session) -> Result<Session, Error> {
        // A login never replaces another origin's session.
        self.refuse_foreign(name, slot).await?;
        session.origin = slot.origin.clone();
        // Announce the login to a refresh in flight before writing, so it
        // cannot cache or return the replaced login's tokens after this write.
        slot.logins.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut u) = slot.unsaved.lock() {
            *u = None;
        }
        session.set_stored_version(self.inner.stores.sessions.put(&session).await?);
        // The tenant's username is the default user's; a named user's name
        // lives in their own sessions.
        if let Some(username) = &session.username
            && self.inner.user.is_default()
        {
            self.inner
                .stores
                .usernames
                .set_username(&self.inner.tenant, Some(username.clone()))
                .await?;
        }
        // A locking store opens the user's gate for the login's write; a
        // lock that came since leaves nothing in memory. Looked at under the
        // cache lock: a close after it empties the cache once we let go.
        let open = {
            let mut cached = slot.cached.write().unwrap_or_else(PoisonError::into_inner);
            // Under the cache lock: a refresh that cached after this would
            // see the new generation and leave the login's session cached.
            slot.logins.fetch_add(1, Ordering::SeqCst);
            let open = self.inner.gate.as_ref().is_none_or(AccessGate::is_open);
            *cached = open.then(|| Arc::new(session.clone()));
            open
        };
        self.inner.events.emit(AuthEvent::LoggedIn {
            provider: name.clone(),
        });
        if !open {
            return Err(Error::Locked {
                provider: name.to_string(),
            });
        }
        Ok(session)
    }

    /// Logs in with a password or a token and stores the session.
    pub async fn login(&self, provider: &str, credentials: &Credentials) -> Result<Session, Error> {
        let (name, slot) = self.slot(provider)?;
        // Checked again when storing; first so no credential is sent for nothing.
        self.refuse_foreign(name, slot).await?;
        let auth = slot.provider.login(credentials).await?;
        let mut session = Session::new(self.key(name), auth, self.now());
        if let Credentials::Password { username, .. } = credentials {
            session.username = Some(username.clone());
        }
        let session = self.adopt(name, slot, session).await?;
        self.provider_answered(name, slot).await;
        Ok(session)
    }

    /// Starts an interactive login; the pending state is saved in the store so
    /// the callback can complete after a restart.
    pub async fn begin_login(&self, provider: &str, flow: LoginFlow) -> Result<PendingAuthorization, Error> {
        self.begin_login_with(provider, flow, None, BTreeMap::new()).await
    }

    /// [`begin_login`](Self::begin_login) with a redirect URI (e.g. a loopback
    /// listener's) and extra authorization parameters for this login only.
    pub async fn begin_login_with(
        &self,
        provider: &str,
        flow: LoginFlow,
        redirect_uri: Option<Url>,
        extra_params: BTreeMap<String, String>,
    ) -> Result<PendingAuthorization, Error> {
        let (name, slot) = self.slot(provider)?;
        // Checked again when the login completes; first so the user does not
        // log in for nothing.
        self.refuse_foreign(name, slot).await?;
        let now = self.now();
        // Old abandoned logins go; failing to purge is not a reason to refuse a login.
        let _ = self.inner.stores.pending.purge_pending(now).await;
        let request = LoginRequest {
            key: self.key(name),
            flow,
            now,
            redirect_uri,
            extra_params,
        };
        let mut pending = slot.provider.begin_login(&request).await?;
        // Whatever the provider said: the login is this slot's origin's.
        pending.origin = slot.origin.clone();
        let cap = now.saturating_add(self.inner.pending_ttl);
        if pending.expires_at > cap {
            pending.expires_at = cap;
        }
        self.inner.stores.pending.put_pending(&pending).await?;
        Ok(pending)
    }

    /// Completes a redirect login from the URL the browser came back to: the
    /// `state` finds the pending login (single use), the provider exchanges the
    /// code, and the session is stored.
    pub async fn handle_callback(&self, callback: &Url) -> Result<Session, Error> {
        let state = callback
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| Error::InvalidCallback {
                reason: "the `state` parameter is missing".into(),
            })?;
        let pending = self
            .inner
            .stores
            .pending
            .take_pending(&self.inner.tenant, &state, self.now())
            .await?
            .ok_or(Error::UnknownLoginState)?;
        self.finish_login(pending, LoginResponse::Callback(callback.clone()))
            .await
    }

    /// Completes an interactive login given its pending state, e.g. a device
    /// flow (`LoginResponse::DevicePoll` polls until approved or denied).
    pub async fn complete_login(
        &self,
        pending: &PendingAuthorization,
        response: LoginResponse,
    ) -> Result<Session, Error> {
        let taken = self
            .inner
            .stores
            .pending
            .take_pending(&pending.key.tenant, &pending.state, self.now())
            .await?
            .ok_or(Error::UnknownLoginState)?;
        self.finish_login(taken, response).await
    }

    async fn finish_login(
        &self,
        pending: PendingAuthorization,
        response: LoginResponse,
    ) -> Result<Session, Error> {
        if pending.key.tenant != self.inner.tenant {
            return Err(Error::UnknownLoginState);
        }
        let (name, slot) = self.slot(pending.key.provider.as_str())?;
        // A login begun at another origin (another app's manager over the
        // same store and tenant) is not completed here: its code, verifier
        // or device code would go to this provider's token endpoint. It is
        // consumed, nothing is sent.
        if pending.origin != slot.origin {
            return Err(Error::OriginMismatch {
                provider: name.to_string(),
            });
        }
        let auth = slot.provider.complete_login(&pending, &response).await?;
        let mut session = Session::new(self.key(name), auth, self.now());
        session.username = session
            .auth
            .profile
            .as_ref()
            .and_then(|p| p.get("preferred_username").or_else(|| p.get("email")))
            .cloned();
        let session = self.adopt(name, slot, session).await?;
        self.provider_answered(name, slot).await;
        Ok(session)
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
        let (name, slot) = self.slot(provider)?;
        // Locked (vault locked, idle, disabled): nothing is answered.
        let epoch = self.pass_gate(name)?;
        // Fast path: a fresh cached session, no store read, no lock but a read lock.
        if let Ok(cached) = slot.cached.read()
            && let Some(session) = cached.as_ref()
            && session.origin == slot.origin
            && session.is_fresh(self.now(), self.inner.margin)
        {
            return Ok(session.auth.access_token.clone());
        }
        let started = self.now();
        let session = self.refresh_slow(name, slot, Refresh::IfNeeded).await;
        self.still_unlocked(name, slot, epoch)?;
        let session = session?;
        self.after_refresh(name, slot, &session, started).await;
        Ok(session.auth.access_token.clone())
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

    /// Logs out of `provider`: revokes its refresh and access tokens at the
    /// provider (each on its own, so the access token is revoked even when
    /// the refresh token could not be), then removes the local session.
    ///
    /// No token leaves the session's own protection when the provider
    /// answers: the tokens are asked to be revoked while the session still
    /// holds them, and only a revocation that fails transiently (offline,
    /// timeout, 5xx) is written to the store's pending revocations (sealed
    /// by the store's key, not a vault user's) before the session goes, so a
    /// crash in between loses nothing. A pending revocation is retried on the
    /// next call that reaches the provider, or by
    /// [`retry_pending_revocations`](Self::retry_pending_revocations); the
    /// report and an [`AuthEvent::RevocationPending`] say so. A final answer
    /// (revoked, or refused for good) forgets it. The cached token is
    /// dropped first: nothing is answered while the logout runs.
    ///
    /// A stored session of another origin than the provider's is left as it
    /// is, and nothing is sent to the provider: [`Error::OriginMismatch`].
    pub async fn logout(&self, provider: &str) -> Result<LogoutReport, Error> {
        let (name, slot) = self.slot(provider)?;
        let _guard = slot.refresh.lock().await;
        Self::set_cache(slot, None);
        let key = self.key(name);
        let stored = self.inner.stores.sessions.get(&key).await?;
        if let Some(stored) = &stored {
            Self::check_origin(name, slot, stored)?;
        }
        // A refreshed session the store refused holds the live refresh token.
        let unsaved = slot.unsaved.lock().ok().and_then(|u| u.clone());
        let end_session_url = match stored.as_ref().or(unsaved.as_ref()) {
            Some(session) => slot.provider.end_session_url(&session.auth).await.ok().flatten(),
            None => None,
        };
        let mut revocations =
            self.revocations_of(name, slot.origin.as_ref(), stored.iter().chain(unsaved.iter()));
        let mut current = stored;
        let mut revocation = Ok(());
        let mut pending = Vec::new();
        let mut removed = false;
        // Removed only as the version read: another process's refresh of
        // this login (a rotation) is read again and its tokens revoked too;
        // a session of another login written meanwhile is not this logout's.
        for _ in 0..LOGOUT_ATTEMPTS {
            let (answer, failed) = self
                .revoke_now(name, slot, std::mem::take(&mut revocations))
                .await;
            if revocation.is_ok() {
                revocation = answer;
            }
            for r in &failed {
                self.inner.stores.revocations.put_pending_revocation(r).await?;
            }
            pending.extend(failed);
            let Some(session) = &current else { break };
            if self.inner.stores.sessions.remove_if_current(session).await? {
                removed = true;
                break;
            }
            match self.inner.stores.sessions.get(&key).await? {
                Some(next) if next.same_login(session) => {
                    revocations = self.revocations_of(name, slot.origin.as_ref(), std::iter::once(&next));
                    current = Some(next);
                }
                _ => break,
            }
        }
        if !pending.is_empty() {
            slot.revocations_pending.store(true, Ordering::Release);
        }
        Self::forget(slot);
        if removed {
            self.inner.events.emit(AuthEvent::LoggedOut {
                provider: name.clone(),
            });
        }
        Ok(LogoutReport {
            provider: name.clone(),
            removed,
            revocation,
            pending_revocations: pending.iter().map(|r| r.token.kind()).collect(),
            end_session_url,
        })
    }

    /// Logs out of every provider with a session of this manager's user
    /// (each revoked as [`logout`](Self::logout) does), then removes what
    /// is left of that user's sessions; the default user's manager also
    /// clears the tenant's username. Only this user's sessions are touched:
    /// the other users of a shared device keep theirs, and nothing is
    /// removed without its revocation being asked for or queued. Sessions
    /// of an origin none of this manager's providers has are left as they
    /// are.
    pub async fn logout_all(&self) -> Result<Vec<LogoutReport>, Error> {
        let mut reports = Vec::new();
        for session in self.sessions().await? {
            if self.inner.slots.contains_key(session.key.provider.as_str()) {
                reports.push(self.logout(session.key.provider.as_str()).await?);
            }
        }
        // Sessions of providers this manager does not know: queue their
        // revocations (no provider to ask here), then remove them.
        for session in self.sessions().await? {
            let name = session.key.provider.clone();
            let origin = session.origin.as_ref();
            for revocation in self.revocations_of(&name, origin, std::iter::once(&session)) {
                self.inner
                    .stores
                    .revocations
                    .put_pending_revocation(&revocation)
                    .await?;
            }
            self.inner.stores.sessions.remove_if_current(&session).await?;
        }
        if self.inner.user.is_default() {
            self.inner
                .stores
                .usernames
                .set_username(&self.inner.tenant, None)
                .await?;
        }
        Ok(reports)
    }

    /// Stores an `AuthResult` obtained elsewhere (e.g. imported from the
    /// TypeScript side) as the session of `provider`, of its origin; refused
    /// over a session of another origin ([`Error::OriginMismatch`]).
    ///
    /// An import is no online login: no provider answered it here, so for a
    /// user whose sessions a store locks (an offline vault's user) it needs
    /// the user unlocked, [`Error::Locked`] otherwise. It never opens a
    /// locked user's sessions: a vault would otherwise try the secret
    /// waiting for a login against the stored record, uncounted and past a
    /// disabled credential, for any forged result.
    pub async fn import(&self, provider: &str, auth: AuthResult) -> Result<Session, Error> {
        let (name, slot) = self.slot(provider)?;
        self.pass_gate(name)?;
        let session = Session::new(self.key(name), auth, self.now());
        self.adopt(name, slot, session).await
    }
}

mod refresh;

#[cfg(test)]
mod tests;
