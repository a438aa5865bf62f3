//! Revocation at logout, and the revocations that failed transiently: kept in
//! the store and retried when the provider is reachable again.

use std::sync::atomic::Ordering;

use super::{AuthManager, Slot};
use crate::error::Error;
use crate::events::AuthEvent;
use crate::origin::Origin;
use crate::provider::{RevocableToken, TokenKind};
use crate::session::{ProviderId, Session};
use crate::store::{PENDING_REVOCATION_MAX_AGE, PendingRevocation, RevocationQueueExt as _};
use crate::time::Timestamp;

/// What [`AuthManager::retry_pending_revocations`] did. Holds no token text.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RevocationReport {
    /// Revoked by the provider, and forgotten.
    pub revoked: Vec<(ProviderId, TokenKind)>,
    /// Refused for good (a final error, e.g. no revocation endpoint), and forgotten.
    pub dropped: Vec<(ProviderId, TokenKind)>,
    /// Still to revoke: failed transiently again, or their provider is not
    /// registered in this manager.
    pub pending: Vec<(ProviderId, TokenKind)>,
}

/// The outcome of one revocation request.
enum Attempt {
    Revoked,
    /// A final error: there is no point in trying again.
    Dropped(Error),
    /// A transient error: kept for later.
    Pending(Error),
}

impl Attempt {
    /// The one rule for what a revocation answer means.
    fn of(answer: Result<(), Error>) -> Self {
        match answer {
            Ok(()) => Attempt::Revoked,
            Err(e) if e.is_transient() => Attempt::Pending(e),
            Err(e) => Attempt::Dropped(e),
        }
    }
}

impl AuthManager {
    /// The revocations a logout of `sessions` (of `origin`) must do,
    /// refresh tokens first. An access token already expired needs none;
    /// duplicates are left out.
    pub(super) fn revocations_of<'a>(
        &self,
        name: &ProviderId,
        origin: Option<&Origin>,
        sessions: impl Iterator<Item = &'a Session>,
    ) -> Vec<PendingRevocation> {
        let now = self.now();
        let limit = now.saturating_add(PENDING_REVOCATION_MAX_AGE);
        let mut tokens: Vec<(RevocableToken, Timestamp)> = Vec::new();
        for session in sessions {
            if let Some(refresh) = &session.auth.refresh_token {
                tokens.push((RevocableToken::Refresh(refresh.clone()), limit));
            }
            let access_until = session.expires_at.map_or(limit, |exp| exp.min(limit));
            if access_until > now {
                tokens.push((
                    RevocableToken::Access(session.auth.access_token.clone()),
                    access_until,
                ));
            }
        }
        tokens.sort_by_key(|(token, _)| token.kind());
        let mut revocations: Vec<PendingRevocation> = Vec::with_capacity(tokens.len());
        for (token, expires_at) in tokens {
            if revocations.iter().any(|r| r.token.secret() == token.secret()) {
                continue;
            }
            let seq = self.inner.revocation_seq.fetch_add(1, Ordering::Relaxed);
            revocations.push(PendingRevocation {
                key: self.key(name),
                id: format!("{}-{seq}", self.inner.holder),
                token,
                created_at: now,
                expires_at,
                origin: origin.cloned(),
            });
        }
        revocations
    }

    /// Revokes `revocations` (not in the store) one by one at the
    /// provider. Returns the first error and the revocations that failed
    /// transiently (the caller stores them); those refused for good are
    /// dropped.
    pub(super) async fn revoke_now(
        &self,
        name: &ProviderId,
        slot: &Slot,
        revocations: Vec<PendingRevocation>,
    ) -> (Result<(), Error>, Vec<PendingRevocation>) {
        let _guard = self.inner.revoking.lock().await;
        let mut first_error = None;
        let mut revoked = Vec::new();
        let mut pending = Vec::new();
        for revocation in revocations {
            match Attempt::of(slot.provider.revoke(&revocation.token).await) {
                Attempt::Revoked => revoked.push(revocation.token.kind()),
                Attempt::Dropped(e) => {
                    first_error.get_or_insert(e);
                }
                Attempt::Pending(e) => {
                    first_error.get_or_insert(e);
                    pending.push(revocation);
                }
            }
        }
        self.announce(name, revoked, pending.iter().map(|r| r.token.kind()).collect());
        (first_error.map_or(Ok(()), Err), pending)
    }

    /// Asks the provider to revoke one stored revocation; forgets it unless
    /// the failure was transient.
    async fn attempt(&self, slot: &Slot, revocation: &PendingRevocation) -> Attempt {
        let outcome = Attempt::of(slot.provider.revoke(&revocation.token).await);
        let forgotten = match outcome {
            Attempt::Pending(_) => false,
            Attempt::Revoked | Attempt::Dropped(_) => self
                .inner
                .stores
                .revocations
                .remove_revocation(&revocation.key.tenant, &revocation.id)
                .await
                .is_ok(),
        };
        if !forgotten {
            // Still in the store: look again next time (revoking twice is harmless).
            slot.revocations_pending.store(true, Ordering::Release);
        }
        outcome
    }

    fn announce(&self, name: &ProviderId, revoked: Vec<TokenKind>, pending: Vec<TokenKind>) {
        if !revoked.is_empty() {
            self.inner.events.emit(AuthEvent::Revoked {
                provider: name.clone(),
                tokens: revoked,
            });
        }
        if !pending.is_empty() {
            self.inner.events.emit(AuthEvent::RevocationPending {
                provider: name.clone(),
                tokens: pending,
            });
        }
    }

    /// Revokes what earlier logouts of this tenant (in this process or
    /// another, before a restart too) left pending in the store, for every
    /// registered provider. Also happens by itself on the next call that
    /// reaches a provider (login, a refresh, token validation).
    pub async fn retry_pending_revocations(&self) -> Result<RevocationReport, Error> {
        let _guard = self.inner.revoking.lock().await;
        self.retry_locked(None).await
    }

    /// A call to `name`'s provider just got an answer: the provider is
    /// reachable, so revoke what is pending for it. A flag check when nothing is.
    pub(super) async fn provider_answered(&self, name: &ProviderId, slot: &Slot) {
        if !slot.revocations_pending.load(Ordering::Acquire) {
            return;
        }
        // Another pass is running: it will see the same rows.
        let Some(_guard) = self.inner.revoking.try_lock() else {
            return;
        };
        // Failures are kept and retried: this call's caller wanted something else.
        let _ = self.retry_locked(Some(name)).await;
    }

    /// After a refresh call: when the returned session was issued during the
    /// call, a provider answered (here, or in the process that refreshed).
    /// A still-valid token kept through a transient failure does not count.
    pub(super) async fn after_refresh(
        &self,
        name: &ProviderId,
        slot: &Slot,
        session: &Session,
        started: Timestamp,
    ) {
        if session.issued_at >= started {
            self.provider_answered(name, slot).await;
        }
    }

    /// One pass over the stored revocations (of `only`, or all providers);
    /// the caller holds the `revoking` lock.
    async fn retry_locked(&self, only: Option<&ProviderId>) -> Result<RevocationReport, Error> {
        let slots = self
            .inner
            .slots
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == *name));
        // Cleared first: anything found still pending sets it again.
        for (_, slot) in slots.clone() {
            slot.revocations_pending.store(false, Ordering::Release);
        }
        let stored = match self
            .inner
            .stores
            .revocations
            .pending_revocations(&self.inner.tenant, self.now())
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                for (_, slot) in slots {
                    slot.revocations_pending.store(true, Ordering::Release);
                }
                return Err(e);
            }
        };
        let mut report = RevocationReport::default();
        let mut revoked: Vec<(ProviderId, Vec<TokenKind>)> = Vec::new();
        for revocation in stored {
            let provider = &revocation.key.provider;
            if only.is_some_and(|o| o != provider) {
                continue;
            }
            let kind = revocation.token.kind();
            let Some((name, slot)) = self.inner.slots.get_key_value(provider.as_str()) else {
                report.pending.push((provider.clone(), kind));
                continue;
            };
            // Another origin's token never goes to this provider; a manager
            // of its own origin revokes it.
            if !Self::may_revoke(slot, &revocation) {
                report.pending.push((name.clone(), kind));
                continue;
            }
            match self.attempt(slot, &revocation).await {
                Attempt::Revoked => {
                    report.revoked.push((name.clone(), kind));
                    match revoked.iter_mut().find(|(p, _)| p == name) {
                        Some((_, kinds)) => kinds.push(kind),
                        None => revoked.push((name.clone(), vec![kind])),
                    }
                }
                Attempt::Dropped(_) => report.dropped.push((name.clone(), kind)),
                Attempt::Pending(_) => report.pending.push((name.clone(), kind)),
            }
        }
        // What is still pending was announced when its logout failed.
        for (name, kinds) in revoked {
            self.announce(&name, kinds, Vec::new());
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
