//! [`RevocationList`]: the logouts a [`TokenValidator`](crate::TokenValidator)
//! consults, kept in memory for the fast path and in step with a
//! [`LogoutList`] shared by every instance.
//!
//! The index (`Index`) answers "is this token logged out?" with one or two
//! hash lookups under a read lock, and counts its changes in a generation
//! number: a token cache entry remembers the generation it was last checked
//! at, so a repeated token costs one atomic load while no logout arrives,
//! and is checked again once one did. `sync.rs` keeps the index in step
//! with the shared list: a load at start, each notice of the list's feed,
//! a reload when the feed is reopened after it was lost, and a periodic
//! reload in any case.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use authresult_core::{Clock, DEFAULT_MAX_TOKEN_LIFETIME, Logout, LogoutList, SystemClock, Timestamp};

use super::claims::ValidatedToken;
use super::error::ValidationError;

mod sync;

/// How often the whole list is read again even while its feed is up
/// (default): the fall-back for a notice lost on the way.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// How soon a lost feed is reopened (and the list read again) by default.
pub const DEFAULT_RESUBSCRIBE_INTERVAL: Duration = Duration::from_millis(500);

/// The logged-out sessions and users a validator refuses the tokens of.
///
/// Made over a [`LogoutList`] (the store port: `MemoryStore` for one
/// instance, `authresult-store`'s Postgres list for several) with
/// [`RevocationList::builder`]; [`RevocationListBuilder::start`] loads it and
/// keeps it in step (the list's feed, a reload when the feed is reopened, a
/// periodic reload). Give it to
/// [`TokenValidatorBuilder::revocations`](crate::TokenValidatorBuilder::revocations)
/// and to the back-channel logout receiver. Cheap to clone; clones share
/// the list. The task keeping it in step ends when the last clone is dropped.
///
/// A token is refused ([`ValidationError::LoggedOut`]) when its issuer
/// logged out its `sid`, or, for a logout naming the user, when it is the
/// user's (`sub`) and was issued (`iat`) at or before the logout and names
/// no session or the logged-out one. A token without `iat` of a logged-out
/// user is refused too: nothing shows it is newer.
#[derive(Clone)]
pub struct RevocationList {
    shared: Arc<Shared>,
}

struct Shared {
    index: Index,
    list: Arc<dyn LogoutList>,
    clock: Arc<dyn Clock>,
    max_token_lifetime: Duration,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("entries", &self.len())
            .field("generation", &self.generation())
            .field("max_token_lifetime", &self.shared.max_token_lifetime)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RevocationList`]; see [`RevocationList::builder`].
pub struct RevocationListBuilder {
    list: Arc<dyn LogoutList>,
    clock: Arc<dyn Clock>,
    max_token_lifetime: Duration,
    reload_interval: Duration,
    resubscribe_interval: Duration,
}

impl fmt::Debug for RevocationListBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationListBuilder")
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("reload_interval", &self.reload_interval)
            .field("resubscribe_interval", &self.resubscribe_interval)
            .finish_non_exhaustive()
    }
}

impl RevocationListBuilder {
    /// The longest lifetime of a token the validator accepts (default 24 h):
    /// a logout is kept this long after it happened, as it can match no
    /// token issued after it. Set it to at least the providers' longest
    /// access-token lifetime.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// How often the whole list is read again while its feed is up
    /// (default 30 s).
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How soon a lost feed is reopened, the list then read again (default
    /// 500 ms); while it cannot be reopened, the list is read this often.
    pub fn resubscribe_interval(mut self, interval: Duration) -> Self {
        self.resubscribe_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The clock of entry expiry (default the system clock); the
    /// validator's clock in tests.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Loads the list (a restarted instance refuses what was logged out
    /// before it started) and starts the task keeping it in step, on the
    /// current Tokio runtime. Fails with the list's error when the first
    /// load fails.
    pub async fn start(self) -> Result<RevocationList, authresult_core::Error> {
        let shared = Arc::new(Shared {
            index: Index::default(),
            list: self.list,
            clock: self.clock,
            max_token_lifetime: self.max_token_lifetime,
        });
        let now = shared.clock.now();
        let loaded = shared.list.load(now).await?;
        shared.index.replace(loaded, now);
        sync::spawn(
            Arc::downgrade(&shared),
            self.reload_interval,
            self.resubscribe_interval,
        );
        Ok(RevocationList { shared })
    }
}

impl RevocationList {
    /// A list over `list` with the defaults (see the builder's methods).
    pub fn builder(list: Arc<dyn LogoutList>) -> RevocationListBuilder {
        RevocationListBuilder {
            list,
            clock: Arc::new(SystemClock),
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            resubscribe_interval: DEFAULT_RESUBSCRIBE_INTERVAL,
        }
    }

    /// Records a logout of `issuer`'s session `sid` and/or user `sub` at
    /// `logged_out_at`: in the shared list first (so every instance learns
    /// of it), then here, so this instance refuses the tokens at once.
    /// Kept for the maximum token lifetime.
    pub async fn record(
        &self,
        issuer: &str,
        sid: Option<String>,
        sub: Option<String>,
        logged_out_at: Timestamp,
    ) -> Result<(), authresult_core::Error> {
        let logout = Logout::new(issuer, sid, sub, logged_out_at, self.shared.max_token_lifetime)
            .ok_or_else(|| {
                authresult_core::Error::store(
                    authresult_core::FailureKind::Configuration,
                    "a logout must name a session or a user, with values of allowed lengths",
                )
            })?;
        self.shared.list.record(&logout).await?;
        self.shared.index.apply(&logout, self.shared.clock.now());
        tracing::debug!(event = "revocation.record", issuer, "logout recorded");
        Ok(())
    }

    /// The sessions and users held (expired ones until the next reload).
    pub fn len(&self) -> usize {
        self.shared.index.len()
    }

    /// True when no logout is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of changes seen so far; it grows with every logout
    /// applied, so a cached check older than it is done again.
    pub fn generation(&self) -> u64 {
        self.shared.index.generation()
    }

    /// Whether `token` is logged out, at `now`.
    pub fn check(&self, token: &ValidatedToken) -> Result<(), ValidationError> {
        self.shared.index.check(token, self.shared.clock.now())
    }

    pub(crate) fn index(&self) -> &Index {
        &self.shared.index
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }
}

/// The logouts in memory, by issuer then `sid` or `sub`.
#[derive(Default)]
pub(crate) struct Index {
    generation: AtomicU64,
    entries: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Issuer -> `sid` -> when the entry expires.
    sids: HashMap<String, HashMap<String, Timestamp>>,
    /// Issuer -> `sub` -> the latest logout naming the user.
    users: HashMap<String, HashMap<String, UserLogout>>,
    /// Sessions plus users held.
    count: usize,
}

#[derive(Debug, Clone, Copy)]
struct UserLogout {
    /// The latest logout of the user with no session named (every session).
    all: Option<Stamp>,
    /// The latest logout naming the user at all.
    any: Stamp,
}

#[derive(Debug, Clone, Copy)]
struct Stamp {
    at: Timestamp,
    expires_at: Timestamp,
}

impl Stamp {
    fn later(self, other: Stamp) -> Stamp {
        Stamp {
            at: self.at.max(other.at),
            expires_at: self.expires_at.max(other.expires_at),
        }
    }

    /// Matches a token issued at `iat` (or of unknown age), at `now`.
    fn matches(self, iat: Option<Timestamp>, now: Timestamp) -> bool {
        self.expires_at > now && iat.is_none_or(|iat| iat <= self.at)
    }
}

impl Index {
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        // Updates are single inserts into the maps: a panicking writer
        // leaves them consistent.
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn len(&self) -> usize {
        self.read().count
    }

    /// Adds one logout (a later one of the same key wins), then moves the
    /// generation on, so cached checks are redone after the entry is in.
    pub(crate) fn apply(&self, logout: &Logout, now: Timestamp) {
        if !logout.is_well_formed() || logout.expires_at <= now {
            return;
        }
        self.write().insert(logout);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Replaces every entry with `logouts` (a reload), dropping expired ones.
    pub(crate) fn replace(&self, logouts: Vec<Logout>, now: Timestamp) {
        let mut fresh = Entries::default();
        for logout in logouts
            .iter()
            .filter(|l| l.is_well_formed() && l.expires_at > now)
        {
            fresh.insert(logout);
        }
        *self.write() = fresh;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// `Err(LoggedOut)` when `token` is logged out at `now`.
    pub(crate) fn check(&self, token: &ValidatedToken, now: Timestamp) -> Result<(), ValidationError> {
        let entries = self.read();
        if entries.count == 0 {
            return Ok(());
        }
        let issuer = token.issuer();
        let sid = token.session_id();
        if let Some(sid) = sid
            && entries
                .sids
                .get(issuer)
                .and_then(|sids| sids.get(sid))
                .is_some_and(|expires_at| *expires_at > now)
        {
            return Err(ValidationError::LoggedOut);
        }
        if let Some(sub) = token.subject()
            && let Some(user) = entries.users.get(issuer).and_then(|users| users.get(sub))
        {
            // A token naming another session is ended only by a logout of
            // every session of the user.
            let stamp = if sid.is_some() { user.all } else { Some(user.any) };
            if stamp.is_some_and(|s| s.matches(token.issued_at(), now)) {
                return Err(ValidationError::LoggedOut);
            }
        }
        Ok(())
    }
}

impl Entries {
    fn insert(&mut self, logout: &Logout) {
        let stamp = Stamp {
            at: logout.logged_out_at,
            expires_at: logout.expires_at,
        };
        if let Some(sid) = &logout.sid {
            let sids = self.sids.entry(logout.issuer.clone()).or_default();
            match sids.get_mut(sid) {
                Some(expires_at) => *expires_at = (*expires_at).max(logout.expires_at),
                None => {
                    sids.insert(sid.clone(), logout.expires_at);
                    self.count += 1;
                }
            }
        }
        if let Some(sub) = &logout.sub {
            let all = logout.sid.is_none().then_some(stamp);
            let users = self.users.entry(logout.issuer.clone()).or_default();
            match users.get_mut(sub) {
                Some(user) => {
                    user.any = user.any.later(stamp);
                    user.all = match (user.all, all) {
                        (Some(a), Some(b)) => Some(a.later(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => {
                    users.insert(sub.clone(), UserLogout { all, any: stamp });
                    self.count += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
