//! The refresh path of `AuthManager`: one refresh per session in this
//! process (the slot's lock) and across processes (the store's lease, renewed
//! while the provider answers), writes fenced by version and login.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::Either;

use super::{AuthManager, Slot};
use crate::error::{Error, FailureKind};
use crate::events::AuthEvent;
use crate::session::{ProviderId, Session, SessionKey};
use crate::store::CasOutcome;
use crate::time::Timestamp;

pub(super) enum Refresh {
    /// Refresh only when the token is not fresh.
    IfNeeded,
    /// Refresh even if fresh (an explicit `refresh` call).
    Force,
}

impl AuthManager {
    pub(super) async fn refresh_slow(
        &self,
        name: &ProviderId,
        slot: &Slot,
        mode: Refresh,
    ) -> Result<Arc<Session>, Error> {
        let started = self.now();
        let result = self.refresh_slow_untraced(name, slot, mode).await;
        super::trace::refresh(name, self.now().duration_since(started), &result);
        result
    }

    async fn refresh_slow_untraced(
        &self,
        name: &ProviderId,
        slot: &Slot,
        mode: Refresh,
    ) -> Result<Arc<Session>, Error> {
        let _guard = slot.refresh.lock().await;
        let logins = slot.logins.load(Ordering::SeqCst);
        let result = self.refresh_locked(name, slot, mode, logins).await;
        if slot.logins.load(Ordering::SeqCst) == logins {
            return result;
        }
        // A login in this process overtook this call: its session wins, and
        // this call's answer (of the replaced login) is not handed out.
        let current = slot.cached.read().ok().and_then(|c| c.clone());
        match (result, current) {
            (Ok(session), Some(current)) if current.same_login(&session) => Ok(session),
            // Already announced.
            (Err(replaced @ Error::SessionReplaced { .. }), _) => Err(replaced),
            _ => Err(self.discarded(name)),
        }
    }

    /// Announces a refresh result discarded for another login's session.
    fn discarded(&self, name: &ProviderId) -> Error {
        self.inner.events.emit(AuthEvent::RefreshDiscarded {
            provider: name.clone(),
        });
        Error::SessionReplaced {
            provider: name.to_string(),
        }
    }

    /// Caches what a refresh found or wrote, unless a login (generation
    /// `logins`) came meanwhile; the login's session stays cached then.
    /// Nothing is cached while the user's gate is closed: checked under the
    /// cache lock, so a close either is seen here or clears after (its
    /// listeners take the same lock once the gate reads closed).
    fn cache_refreshed(&self, slot: &Slot, logins: u64, session: Option<Arc<Session>>) {
        if let Ok(mut cached) = slot.cached.write()
            && slot.logins.load(Ordering::SeqCst) == logins
        {
            *cached = if self.gate_open() { session } else { None };
        }
    }

    /// Keeps `session` (a rotation the store refused) for the next call,
    /// unless the user's gate is closed: then it is dropped (checked under
    /// the slot's lock, as [`cache_refreshed`](Self::cache_refreshed)).
    fn keep_unsaved(&self, slot: &Slot, session: Session) {
        if let Ok(mut u) = slot.unsaved.lock() {
            *u = self.gate_open().then_some(session);
        }
    }

    async fn refresh_locked(
        &self,
        name: &ProviderId,
        slot: &Slot,
        mode: Refresh,
        logins: u64,
    ) -> Result<Arc<Session>, Error> {
        let key = self.key(name);
        let margin = self.inner.margin;
        let store = &self.inner.stores;

        // A refreshed session the store refused earlier goes first, over the
        // version it was refreshed from only: if the store moved on (another
        // refresh, a new login), that write owns the session now.
        let unsaved = slot.unsaved.lock().ok().and_then(|mut u| u.take());
        if let Some(session) = unsaved {
            match store.sessions.compare_and_swap(&session, session.version()).await {
                Ok(CasOutcome::Stored { version }) => {
                    let mut session = session;
                    session.set_stored_version(version);
                    self.cache_refreshed(slot, logins, Some(Arc::new(session)));
                }
                Ok(CasOutcome::Conflict { .. }) => {}
                Err(e) => {
                    self.keep_unsaved(slot, session);
                    return Err(e);
                }
            }
        }

        // Another caller in this process may have refreshed while we waited.
        if matches!(mode, Refresh::IfNeeded)
            && let Ok(cached) = slot.cached.read()
            && let Some(session) = cached.as_ref()
            && session.is_fresh(self.now(), margin)
        {
            return Ok(Arc::clone(session));
        }

        let started = self.now();
        // For a forced refresh: the version first seen. If the store moves past
        // it, someone refreshed after we were called, and that answers us.
        let mut first_version: Option<u64> = None;
        let wait_limit = self.inner.lease_ttl.saturating_mul(2);
        loop {
            let now = self.now();
            let Some(stored) = store.sessions.get(&key).await? else {
                self.cache_refreshed(slot, logins, None);
                return Err(Error::NotAuthenticated {
                    provider: name.to_string(),
                });
            };
            // Another origin's session: not answered, not refreshed, kept.
            // One stored before origins is taken over (read again if the
            // store moved on meanwhile).
            let Some(stored) = self.owned(name, slot, stored).await? else {
                continue;
            };
            // Fresh in the store: another process refreshed, or a forced
            // refresh already happened since we were called.
            let baseline = *first_version.get_or_insert(stored.version());
            let refreshed_elsewhere = matches!(mode, Refresh::Force) && stored.version() != baseline;
            if (matches!(mode, Refresh::IfNeeded) || refreshed_elsewhere) && stored.is_fresh(now, margin) {
                let stored = Arc::new(stored);
                self.cache_refreshed(slot, logins, Some(Arc::clone(&stored)));
                return Ok(stored);
            }
            if !stored.is_refreshable() {
                return self.without_refresh_token(name, slot, logins, stored, now);
            }
            if store
                .leases
                .try_acquire_lease(&key, &self.inner.holder, now, self.inner.lease_ttl)
                .await?
            {
                super::trace::lease_acquired(name, now.duration_since(started));
                break;
            }
            super::trace::lease_busy(name);
            if now.duration_since(started) > wait_limit {
                // The lease holder is neither finishing nor expiring (clock skew?):
                // do not hang; report it like any transient failure.
                return self.transient_outcome(
                    name,
                    slot,
                    logins,
                    stored,
                    now,
                    Error::store(FailureKind::Transient, LeaseBusy),
                );
            }
            self.inner.sleeper.sleep(self.inner.lease_poll).await;
        }

        let result = self
            .refresh_under_lease(name, slot, logins, &key, first_version, &mode)
            .await;
        // Release even on failure so the next caller (here or elsewhere) can
        // refresh again; a failed release only delays others until the TTL.
        let released = store.leases.release_lease(&key, &self.inner.holder).await;
        super::trace::lease_released(name, released.is_ok());
        result
    }

    /// Runs `work` (the provider's refresh) while renewing this holder's
    /// lease every third of its lifetime, so the lease lasts as long as the
    /// refresh. A refused renewal (the lease expired and another holder took
    /// it) stops the renewals; the refresh goes on, and its write stays fenced:
    /// it is a compare-and-swap on the version and login it read, so it never
    /// replaces what the new holder wrote.
    async fn renewing_lease<T>(&self, key: &SessionKey, work: impl Future<Output = T>) -> T {
        let inner = &self.inner;
        let period = (inner.lease_ttl / 3).max(Duration::from_millis(1));
        let renew = async {
            loop {
                inner.sleeper.sleep(period).await;
                match inner
                    .stores
                    .leases
                    .try_acquire_lease(key, &inner.holder, inner.clock.now(), inner.lease_ttl)
                    .await
                {
                    // Renewed, or a store error: try again next period.
                    Ok(true) | Err(_) => {}
                    // Lost: never renew again (that could take it back from
                    // the new holder once it releases it).
                    Ok(false) => futures::future::pending::<()>().await,
                }
                // Let other tasks run even if the sleeper answers at once
                // (a manual clock in tests).
                YieldNow(false).await;
            }
        };
        let work = std::pin::pin!(work);
        let renew = std::pin::pin!(renew);
        match futures::future::select(work, renew).await {
            Either::Left((done, _)) => done,
            Either::Right(((), work)) => work.await,
        }
    }

    async fn refresh_under_lease(
        &self,
        name: &ProviderId,
        slot: &Slot,
        logins: u64,
        key: &SessionKey,
        first_version: Option<u64>,
        mode: &Refresh,
    ) -> Result<Arc<Session>, Error> {
        let store = &self.inner.stores;
        let now = self.now();
        // Read again under the lease: another process may have just finished.
        let Some(stored) = store.sessions.get(key).await? else {
            self.cache_refreshed(slot, logins, None);
            return Err(Error::NotAuthenticated {
                provider: name.to_string(),
            });
        };
        Self::check_origin(name, slot, &stored)?;
        let refreshed_elsewhere = matches!(mode, Refresh::Force) && Some(stored.version()) != first_version;
        if (matches!(mode, Refresh::IfNeeded) || refreshed_elsewhere)
            && stored.is_fresh(now, self.inner.margin)
        {
            let stored = Arc::new(stored);
            self.cache_refreshed(slot, logins, Some(Arc::clone(&stored)));
            return Ok(stored);
        }
        if stored.auth.refresh_token.is_none() {
            return self.without_refresh_token(name, slot, logins, stored, now);
        }
        let answer = self
            .renewing_lease(key, slot.provider.refresh(&stored.auth))
            .await;
        match answer {
            Ok(auth) => {
                let now = self.now();
                let mut next = stored.refreshed(auth, now);
                // The same origin, or this one taking over a session stored
                // before origins were recorded.
                next.origin = slot.origin.clone();
                let outcome = match store.sessions.compare_and_swap(&next, stored.version()).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // Keep the rotated refresh token in memory; it is written
                        // (over the version it was refreshed from) before
                        // anything else next time.
                        self.keep_unsaved(slot, next);
                        return Err(e);
                    }
                };
                match outcome {
                    CasOutcome::Stored { version } => next.set_stored_version(version),
                    // Someone wrote after our read: never write over it. It is
                    // a logout, a new login, or (our lease expired) another
                    // refresh of this login, which then answers us.
                    CasOutcome::Conflict { .. } => return self.overtaken(name, slot, logins, &stored).await,
                }
                let next = Arc::new(next);
                self.cache_refreshed(slot, logins, Some(Arc::clone(&next)));
                self.inner.events.emit(AuthEvent::Refreshed {
                    provider: name.clone(),
                    expires_at: next.expires_at,
                });
                Ok(next)
            }
            Err(e) if e.is_terminal() => {
                // End only the version this answer is about: if the store
                // moved on (another holder's rotation, a new login), that
                // session stays.
                if !store.sessions.remove_if_current(&stored).await? {
                    return self.overtaken(name, slot, logins, &stored).await;
                }
                self.cache_refreshed(slot, logins, None);
                self.inner.events.emit(AuthEvent::RefreshFailed {
                    provider: name.clone(),
                    kind: FailureKind::Terminal,
                });
                self.inner.events.emit(AuthEvent::LoggedOut {
                    provider: name.clone(),
                });
                Err(Error::ReauthenticationRequired {
                    provider: name.to_string(),
                    source: Some(Box::new(e)),
                })
            }
            Err(e) => {
                self.inner.events.emit(AuthEvent::RefreshFailed {
                    provider: name.clone(),
                    kind: e.kind(),
                });
                self.transient_outcome(name, slot, logins, stored, self.now(), e)
            }
        }
    }

    /// The store moved on from `read` while we refreshed it: our answer
    /// (rotation or terminal failure) is discarded and the stored session
    /// decides. The same login refreshed elsewhere: its session answers us.
    /// Removed: not authenticated. Another login: [`Error::SessionReplaced`].
    async fn overtaken(
        &self,
        name: &ProviderId,
        slot: &Slot,
        logins: u64,
        read: &Session,
    ) -> Result<Arc<Session>, Error> {
        match self.inner.stores.sessions.get(&read.key).await? {
            None => {
                self.cache_refreshed(slot, logins, None);
                Err(Error::NotAuthenticated {
                    provider: name.to_string(),
                })
            }
            Some(current) if Self::check_origin(name, slot, &current).is_err() => {
                Err(Error::OriginMismatch {
                    provider: name.to_string(),
                })
            }
            Some(current) if current.same_login(read) => {
                // Not expected to be expired (it was just written), but if
                // so, say offline like any refresh that did not happen.
                let now = self.now();
                let error = Error::store(FailureKind::Transient, LeaseBusy);
                self.transient_outcome(name, slot, logins, current, now, error)
            }
            Some(current) => {
                self.cache_refreshed(slot, logins, Some(Arc::new(current)));
                Err(self.discarded(name))
            }
        }
    }

    /// A refresh could not happen now but the session stays: the caller gets
    /// the token while it is valid, else `Offline`.
    fn transient_outcome(
        &self,
        name: &ProviderId,
        slot: &Slot,
        logins: u64,
        stored: Session,
        now: Timestamp,
        error: Error,
    ) -> Result<Arc<Session>, Error> {
        let expired = stored.is_expired(now);
        let stored = Arc::new(stored);
        self.cache_refreshed(slot, logins, Some(Arc::clone(&stored)));
        if expired {
            Err(Error::Offline {
                provider: name.to_string(),
                source: Box::new(error),
            })
        } else {
            Ok(stored)
        }
    }

    fn without_refresh_token(
        &self,
        name: &ProviderId,
        slot: &Slot,
        logins: u64,
        stored: Session,
        now: Timestamp,
    ) -> Result<Arc<Session>, Error> {
        if stored.is_expired(now) {
            self.cache_refreshed(slot, logins, None);
            self.inner.events.emit(AuthEvent::Expired {
                provider: name.clone(),
            });
            Err(Error::ReauthenticationRequired {
                provider: name.to_string(),
                source: None,
            })
        } else {
            let stored = Arc::new(stored);
            self.cache_refreshed(slot, logins, Some(Arc::clone(&stored)));
            Ok(stored)
        }
    }
}

/// Yields to the executor once (wakes itself and returns `Pending` once).
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The refresh lease stayed taken longer than its lifetime allows.
#[derive(Debug, thiserror::Error)]
#[error("the refresh lease is held by another process")]
struct LeaseBusy;
