//! The `jti`s of the logout tokens received, each kept until its token
//! leaves the `iat` window (then the token is refused as too old anyway);
//! bounded, the oldest forgotten first. Forgetting one early only lets a
//! replay record the same logout again, which changes nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use authresult_core::Timestamp;

#[derive(Debug)]
pub(crate) struct SeenTokens {
    inner: Mutex<Inner>,
    max: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Issuer and `jti` -> when it may be forgotten.
    seen: HashMap<(String, String), Timestamp>,
    /// Insertion order, oldest first.
    order: VecDeque<(String, String)>,
}

impl SeenTokens {
    pub(crate) fn new(max: usize) -> Self {
        SeenTokens {
            inner: Mutex::new(Inner::default()),
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Single inserts and removals: a panicking holder leaves it consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when this token was received before and is still remembered.
    pub(crate) fn contains(&self, issuer: &str, jti: &str, now: Timestamp) -> bool {
        let inner = self.lock();
        inner
            .seen
            .get(&(issuer.to_owned(), jti.to_owned()))
            .is_some_and(|until| *until > now)
    }

    /// Remembers a token until `until`.
    pub(crate) fn insert(&self, issuer: &str, jti: &str, until: Timestamp, now: Timestamp) {
        let mut inner = self.lock();
        let key = (issuer.to_owned(), jti.to_owned());
        // Forget what has left its window, then the oldest beyond the cap.
        while let Some(front) = inner.order.front() {
            let expired = inner.seen.get(front).is_none_or(|t| *t <= now);
            if !expired && inner.seen.len() < self.max {
                break;
            }
            if let Some(front) = inner.order.pop_front() {
                inner.seen.remove(&front);
            }
        }
        if inner.seen.insert(key.clone(), until).is_none() {
            inner.order.push_back(key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().seen.len()
    }
}
