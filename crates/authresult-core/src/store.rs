//! The store ports, one per job: sessions ([`SessionStore`]), the last
//! username ([`UsernameStore`]), pending interactive logins
//! ([`PendingLoginStore`]), refresh leases ([`LeaseStore`]), tokens still to
//! be revoked ([`RevocationQueue`]), servers' DPoP nonces ([`NonceStore`]); and
//! [`Stores`], the bundle an [`AuthManager`](crate::AuthManager) takes.
//!
//! A backend usually implements all six ([`StoreBackend`]); a wrapper (an
//! offline vault sealing sessions per user) replaces one port of the bundle
//! ([`Stores::with_sessions`]) and leaves the others to the backend. Rules
//! shared by every backend live here, not in the backends: the revocation
//! queue's cap, expiry and order are [`RevocationQueueExt`]'s.

use std::fmt;
use std::sync::Arc;

mod lease;
mod logout;
#[cfg(test)]
mod mock;
mod nonces;
mod pending;
mod replay;
mod revocation;
mod sessions;
mod usernames;

pub use lease::LeaseStore;
#[cfg(any(test, feature = "mocks"))]
pub use lease::MockLeaseStore;
pub use logout::{
    DEFAULT_MAX_TOKEN_LIFETIME, Logout, LogoutFeed, LogoutList, MAX_LOGOUT_ID_LEN, MAX_LOGOUT_ISSUER_LEN,
};
#[cfg(test)]
pub(crate) use mock::MockBackend;
#[cfg(any(test, feature = "mocks"))]
pub use nonces::MockNonceStore;
pub use nonces::{MAX_DPOP_NONCE_LEN, NonceStore, is_valid_dpop_nonce};
#[cfg(any(test, feature = "mocks"))]
pub use pending::MockPendingLoginStore;
pub use pending::PendingLoginStore;
#[cfg(any(test, feature = "mocks"))]
pub use replay::MockReplayCache;
pub use replay::{DEFAULT_REPLAY_CAPACITY, MemoryReplayCache, ReplayCache};
#[cfg(any(test, feature = "mocks"))]
pub use revocation::MockRevocationQueue;
pub use revocation::{
    MAX_PENDING_REVOCATIONS, PENDING_REVOCATION_MAX_AGE, PendingRevocation, Retention, RevocationQueue,
    RevocationQueueExt,
};
#[cfg(any(test, feature = "mocks"))]
pub use sessions::MockSessionStore;
pub use sessions::{CasOutcome, SessionStore};
#[cfg(any(test, feature = "mocks"))]
pub use usernames::MockUsernameStore;
pub use usernames::UsernameStore;

/// A backend that keeps every job: all six store ports in one place (one
/// SQLite file, one Postgres schema, one process's memory). Implemented for
/// every type that implements the five; [`Stores::of`] splits one into
/// the bundle.
pub trait StoreBackend:
    SessionStore + UsernameStore + PendingLoginStore + LeaseStore + RevocationQueue + NonceStore
{
}

impl<T> StoreBackend for T where
    T: SessionStore + UsernameStore + PendingLoginStore + LeaseStore + RevocationQueue + NonceStore + ?Sized
{
}

/// The store ports an [`AuthManager`](crate::AuthManager) uses, one per job.
///
/// Usually all from one backend (`Stores::from(Arc::new(backend))`, or the
/// backend passed straight to [`AuthManager::builder`](crate::AuthManager::builder));
/// a field can be replaced by a wrapper of that job alone.
#[derive(Clone)]
pub struct Stores {
    /// Sessions (and whether a user's are locked: [`SessionStore::access_gate`]).
    pub sessions: Arc<dyn SessionStore>,
    /// The tenant's last username.
    pub usernames: Arc<dyn UsernameStore>,
    /// Pending interactive logins.
    pub pending: Arc<dyn PendingLoginStore>,
    /// Refresh leases.
    pub leases: Arc<dyn LeaseStore>,
    /// Tokens still to be revoked.
    pub revocations: Arc<dyn RevocationQueue>,
    /// Servers' DPoP nonces.
    pub nonces: Arc<dyn NonceStore>,
}

impl Stores {
    /// Every port from `backend`.
    pub fn of(backend: Arc<dyn StoreBackend>) -> Self {
        Stores {
            sessions: backend.clone(),
            usernames: backend.clone(),
            pending: backend.clone(),
            leases: backend.clone(),
            revocations: backend.clone(),
            nonces: backend,
        }
    }

    /// The same ports with `sessions` in place of the sessions port (a
    /// wrapper of the backend's sessions, e.g. `authresult-store`'s `VaultedStore`).
    #[must_use]
    pub fn with_sessions(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.sessions = sessions;
        self
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl From<Arc<dyn StoreBackend>> for Stores {
    fn from(backend: Arc<dyn StoreBackend>) -> Self {
        Stores::of(backend)
    }
}

impl<B: StoreBackend + 'static> From<Arc<B>> for Stores {
    fn from(backend: Arc<B>) -> Self {
        Stores::of(backend)
    }
}
