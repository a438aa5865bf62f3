//! The replay port: one-time values (a DPoP proof's `jti`) seen once per
//! window, by one instance or by every instance sharing a backend.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{Error, FailureKind};
use crate::time::Timestamp;

/// Remembers one-time values until they expire, so a value used twice is
/// told apart from a first use: a resource server's DPoP proofs
/// (`authresult-jwt` keys them by the proof key's thumbprint and `jti`).
///
/// Not one of the session [`Stores`](crate::Stores): a server uses it
/// alone. [`MemoryReplayCache`] keeps the values of one process (the
/// default); `authresult-store`'s `PostgresStore` shares them between every
/// instance of a server, so a value used on one instance is refused on the
/// others.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReplayCache: Send + Sync {
    /// Records `key` until `expires_at`; true when it was not recorded (or
    /// its record had expired at `now`): the first use. False for a value
    /// seen before within its window. Atomic: of two concurrent calls with
    /// the same key, at most one answers true.
    ///
    /// An error (the backend is unreachable, or a bounded cache is full of
    /// live values) is never an answer: the caller refuses the value for
    /// now rather than risk accepting a replay.
    async fn first_use(&self, key: &str, expires_at: Timestamp, now: Timestamp) -> Result<bool, Error>;
}

/// The default number of values a [`MemoryReplayCache`] keeps.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// A [`ReplayCache`] in this process's memory, bounded by entries.
///
/// Expired values are dropped first (oldest first); when every kept value
/// is still live and the cache is full, [`first_use`](ReplayCache::first_use)
/// fails with a transient error instead of forgetting a live value (which
/// would let its replay through): the server answers "try again later"
/// until values expire. Size it for the requests of one window.
pub struct MemoryReplayCache {
    capacity: usize,
    state: Mutex<ReplayState>,
}

#[derive(Default)]
struct ReplayState {
    expiry: HashMap<Arc<str>, Timestamp>,
    /// Keys in the order they were recorded, with the expiry recorded then.
    order: VecDeque<(Timestamp, Arc<str>)>,
    /// The second of the last full sweep.
    last_sweep: Option<u64>,
}

impl fmt::Debug for MemoryReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        MemoryReplayCache::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl MemoryReplayCache {
    /// A cache of at most `capacity` live values (at least one).
    pub fn new(capacity: usize) -> Self {
        MemoryReplayCache {
            capacity: capacity.max(1),
            state: Mutex::new(ReplayState::default()),
        }
    }

    /// The number of values kept (expired ones included until dropped).
    pub fn len(&self) -> usize {
        self.lock().expiry.len()
    }

    /// True when no value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayState> {
        // A poisoned lock only means a panic elsewhere mid-update of plain
        // data; the map stays consistent.
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl ReplayState {
    /// Drops expired values from the front of the order (recorded oldest
    /// first; a value with a later expiry ahead keeps those behind it a
    /// little longer, never shorter).
    fn drop_expired(&mut self, now: Timestamp) {
        while let Some((expires_at, _)) = self.order.front() {
            if *expires_at > now {
                break;
            }
            if let Some((expires_at, key)) = self.order.pop_front()
                && self.expiry.get(&key) == Some(&expires_at)
            {
                self.expiry.remove(&key);
            }
        }
    }
}

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn first_use(&self, key: &str, expires_at: Timestamp, now: Timestamp) -> Result<bool, Error> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(seen) = state.expiry.get(key) {
            if *seen > now {
                return Ok(false);
            }
            state.expiry.remove(key);
        }
        // Amortized O(1): each recorded value is popped once.
        state.drop_expired(now);
        if state.expiry.len() >= self.capacity && state.last_sweep != Some(now.as_secs()) {
            // Expired values recorded behind a live one, or entries of
            // removed keys, may still hold room: look at every value once.
            state.expiry.retain(|_, at| *at > now);
            let expiry = &state.expiry;
            state.order.retain(|(at, key)| expiry.get(key) == Some(at));
            // A cache full of live values is swept at most once a second.
            state.last_sweep = Some(now.as_secs());
        }
        if state.expiry.len() >= self.capacity {
            return Err(Error::store(
                FailureKind::Transient,
                "the replay cache is full of live values",
            ));
        }
        let key: Arc<str> = Arc::from(key);
        state.order.push_back((expires_at, key.clone()));
        state.expiry.insert(key, expires_at);
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
