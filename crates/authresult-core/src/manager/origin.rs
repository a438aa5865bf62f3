//! The origin rule in the manager: a stored session is used (its token
//! answered, refreshed, revoked, replaced) only through a provider of the
//! origin it was stored from; a session of another origin is left exactly
//! as it is, and the caller gets [`Error::OriginMismatch`].

use std::iter;

use super::{AuthManager, Slot};
use crate::error::Error;
use crate::origin;
use crate::session::{ProviderId, Session};
use crate::store::{CasOutcome, PendingRevocation, RevocationQueueExt as _};

impl AuthManager {
    /// `Ok` when the provider of `slot` may use `session` ([`origin::allows`]).
    pub(super) fn check_origin(name: &ProviderId, slot: &Slot, session: &Session) -> Result<(), Error> {
        let auth = &session.auth;
        let tokens = auth
            .id_token
            .as_ref()
            .map(|t| t.secret())
            .into_iter()
            .chain(iter::once(auth.access_token.secret()));
        if origin::allows(session.origin.as_ref(), slot.origin.as_ref(), tokens) {
            Ok(())
        } else {
            Err(Error::OriginMismatch {
                provider: name.to_string(),
            })
        }
    }

    /// True when the provider of `slot` may be asked to revoke `revocation`.
    pub(super) fn may_revoke(slot: &Slot, revocation: &PendingRevocation) -> bool {
        origin::allows(
            revocation.origin.as_ref(),
            slot.origin.as_ref(),
            iter::once(revocation.token.secret()),
        )
    }

    /// `stored` when the provider of `slot` may use it. A session stored
    /// before origins were recorded is taken over first: the slot's origin
    /// is written into it (over the version read), so from then on only
    /// this origin uses it. `Ok(None)` when the store moved on meanwhile:
    /// read it again.
    pub(super) async fn owned(
        &self,
        name: &ProviderId,
        slot: &Slot,
        stored: Session,
    ) -> Result<Option<Session>, Error> {
        Self::check_origin(name, slot, &stored)?;
        if stored.origin.is_some() || slot.origin.is_none() {
            return Ok(Some(stored));
        }
        let mut claimed = stored;
        claimed.origin = slot.origin.clone();
        match self
            .inner
            .stores
            .sessions
            .compare_and_swap(&claimed, claimed.version())
            .await?
        {
            CasOutcome::Stored { version } => {
                claimed.set_stored_version(version);
                Ok(Some(claimed))
            }
            CasOutcome::Conflict { .. } => Ok(None),
        }
    }

    /// Refuses a login or import through `slot` while the store holds a
    /// session of another origin under its key: a login never silently
    /// replaces another origin's session (see
    /// [`discard_foreign_session`](Self::discard_foreign_session)).
    pub(super) async fn refuse_foreign(&self, name: &ProviderId, slot: &Slot) -> Result<(), Error> {
        // A user whose sessions are locked (an offline vault's user) cannot
        // be read before the login's write opens them: that write checks the
        // account the user is bound to (its issuer and subject) instead.
        if self.inner.gate.as_ref().is_some_and(|g| !g.is_open()) {
            return Ok(());
        }
        match self.inner.stores.sessions.get(&self.key(name)).await? {
            Some(stored) => Self::check_origin(name, slot, &stored),
            None => Ok(()),
        }
    }

    /// True when no provider of this manager may use `session`: another
    /// origin's, left alone by [`logout_all`](Self::logout_all).
    pub(super) fn foreign_to_all(&self, session: &Session) -> bool {
        match self.inner.slots.get_key_value(session.key.provider.as_str()) {
            Some((name, slot)) => Self::check_origin(name, slot, session).is_err(),
            // A provider not registered here: its session goes with the
            // user's logout unless it records an origin no provider here has.
            None => session
                .origin
                .as_ref()
                .is_some_and(|o| !self.inner.slots.values().any(|s| s.origin.as_ref() == Some(o))),
        }
    }

    /// Removes the stored session of `provider` when it belongs to another
    /// origin than the provider registered here (see
    /// [`Error::OriginMismatch`]), so a login here can store its own. It
    /// is not used: none of its tokens is sent anywhere. They are queued as
    /// pending revocations of their own origin, which only a manager with a
    /// provider of that origin revokes. `Ok(false)` when there is no such
    /// session (none, or one this provider may use).
    ///
    /// This is the app's explicit decision (e.g. after asking the user):
    /// nothing in the manager calls it.
    pub async fn discard_foreign_session(&self, provider: &str) -> Result<bool, Error> {
        let (name, slot) = self.slot(provider)?;
        let _guard = slot.refresh.lock().await;
        let Some(stored) = self.inner.stores.sessions.get(&self.key(name)).await? else {
            return Ok(false);
        };
        if Self::check_origin(name, slot, &stored).is_ok() {
            return Ok(false);
        }
        for revocation in self.revocations_of(name, stored.origin.as_ref(), iter::once(&stored)) {
            self.inner
                .stores
                .revocations
                .put_pending_revocation(&revocation)
                .await?;
        }
        self.inner.stores.sessions.remove_if_current(&stored).await
    }
}

#[cfg(test)]
mod tests;
