//! Logouts: revoking a session's tokens (or queueing them), then removing it.

use std::fmt;
use std::sync::atomic::Ordering;

use url::Url;

use super::AuthManager;
use crate::error::Error;
use crate::events::AuthEvent;
use crate::provider::TokenKind;
use crate::session::ProviderId;
use crate::store::RevocationQueueExt as _;

/// How often a logout reads a session rotated meanwhile by another
/// process's refresh again before it gives up removing it.
const LOGOUT_ATTEMPTS: usize = 4;

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

impl AuthManager {
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
        let result = self.logout_untraced(provider).await;
        super::trace::logout(provider, &result);
        result
    }

    async fn logout_untraced(&self, provider: &str) -> Result<LogoutReport, Error> {
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
}
