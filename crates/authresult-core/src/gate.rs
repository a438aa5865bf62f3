//! `AccessGate`: whether one device user's sessions may be used right now,
//! shared by the store that seals them and every manager that caches them.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::time::Timestamp;

/// Told when a gate closes, so it drops what it holds of the user.
pub(crate) trait GateListener: Send + Sync {
    /// The gate closed: forget every token of the user held in memory.
    fn gate_closed(&self);
}

struct GateState {
    open: AtomicBool,
    /// Bumped by every close (and open): a result computed before a close
    /// is never kept after it.
    epoch: AtomicU64,
    /// Milliseconds since the epoch of the last use.
    last_used: AtomicU64,
    /// Closed when unused longer than this (0: never).
    idle_ms: u64,
    listeners: Mutex<Vec<Weak<dyn GateListener>>>,
}

/// Whether one device user's sessions may be used now.
///
/// A store that seals a user's sessions with a key only that user opens
/// (`authresult-store`'s offline vault) hands out one gate per user
/// ([`SessionStore::access_gate`](crate::SessionStore::access_gate)): it
/// opens the gate on unlock and closes it on lock, on idle timeout and when
/// the credential is disabled. Every [`AuthManager`](crate::AuthManager) of
/// that user checks it before answering a token from its cache (a few
/// atomic loads), drops its cached and unsaved sessions when it closes, and
/// never keeps a refresh that finished after a close. Clones share one gate.
#[derive(Clone)]
pub struct AccessGate {
    state: Arc<GateState>,
}

impl fmt::Debug for AccessGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessGate")
            .field("open", &self.state.open.load(Ordering::SeqCst))
            .field("epoch", &self.state.epoch.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl AccessGate {
    /// A closed gate that, once opened, closes itself after `idle` unused
    /// (`None`: only [`close`](Self::close) closes it).
    pub fn new(idle: Option<Duration>) -> Self {
        let idle_ms = idle.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        AccessGate {
            state: Arc::new(GateState {
                open: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                last_used: AtomicU64::new(0),
                idle_ms,
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Opens the gate at `now` (an unlock).
    pub fn open(&self, now: Timestamp) {
        let state = &self.state;
        state.last_used.store(now.as_millis(), Ordering::SeqCst);
        state.epoch.fetch_add(1, Ordering::SeqCst);
        state.open.store(true, Ordering::SeqCst);
    }

    /// Closes the gate (lock, idle, disabled) and tells every manager of the
    /// user to drop the tokens it holds. Closing a closed gate does nothing.
    pub fn close(&self) {
        let state = &self.state;
        // The epoch moves before anyone is told, so a refresh that checks
        // it under its cache lock either sees the close or is cleared after.
        state.epoch.fetch_add(1, Ordering::SeqCst);
        if !state.open.swap(false, Ordering::SeqCst) {
            return;
        }
        let listeners: Vec<_> = {
            let mut list = state.listeners.lock().unwrap_or_else(PoisonError::into_inner);
            list.retain(|l| l.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for listener in listeners {
            listener.gate_closed();
        }
    }

    /// Uses the gate at `now`: its epoch when open (and marks it used),
    /// `None` when closed. A gate unused longer than its idle limit, or
    /// asked at a time before its last use (the clock set back), closes here.
    pub fn pass(&self, now: Timestamp) -> Option<u64> {
        let state = &self.state;
        if !state.open.load(Ordering::SeqCst) {
            return None;
        }
        let now_ms = now.as_millis();
        let last = state.last_used.load(Ordering::SeqCst);
        let idle = now_ms.checked_sub(last);
        if idle.is_none_or(|idle| state.idle_ms != 0 && idle > state.idle_ms) {
            self.close();
            return None;
        }
        state.last_used.fetch_max(now_ms, Ordering::SeqCst);
        let epoch = state.epoch.load(Ordering::SeqCst);
        // Closed meanwhile: not a pass.
        state.open.load(Ordering::SeqCst).then_some(epoch)
    }

    /// Closes the gate when it is open and unused longer than its idle
    /// limit at `now` (or `now` is before its last use); true when it closed.
    /// Does not mark it used.
    pub fn expire_idle(&self, now: Timestamp) -> bool {
        let state = &self.state;
        if !state.open.load(Ordering::SeqCst) {
            return false;
        }
        let idle = now
            .as_millis()
            .checked_sub(state.last_used.load(Ordering::SeqCst));
        if idle.is_none_or(|idle| state.idle_ms != 0 && idle > state.idle_ms) {
            self.close();
            return true;
        }
        false
    }

    /// True when open (without marking it used or checking idleness).
    pub fn is_open(&self) -> bool {
        self.state.open.load(Ordering::SeqCst)
    }

    /// The current epoch: a value taken from [`pass`](Self::pass) that
    /// still equals it means no close came in between.
    pub fn epoch(&self) -> u64 {
        self.state.epoch.load(Ordering::SeqCst)
    }

    /// True when the gate is open and was not closed since `epoch`.
    pub fn still_open_since(&self, epoch: u64) -> bool {
        self.is_open() && self.epoch() == epoch
    }

    pub(crate) fn listen(&self, listener: Weak<dyn GateListener>) {
        let mut list = self
            .state
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        list.retain(|l| l.strong_count() > 0);
        list.push(listener);
    }
}

#[cfg(test)]
mod tests;
