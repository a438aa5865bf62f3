//! Logins: with credentials, interactive (begin, callback, complete), and
//! imports; each stores a new session through `adopt`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use url::Url;

use super::{AuthManager, Slot};
use crate::auth_result::AuthResult;
use crate::error::Error;
use crate::events::AuthEvent;
use crate::gate::AccessGate;
use crate::provider::{Credentials, LoginFlow, LoginRequest, LoginResponse, PendingAuthorization};
use crate::session::{ProviderId, Session};

impl AuthManager {
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
        let result = self.login_untraced(provider, credentials).await;
        super::trace::login(provider, super::trace::credentials_flow(credentials), &result);
        result
    }

    async fn login_untraced(&self, provider: &str, credentials: &Credentials) -> Result<Session, Error> {
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
        let flow_name = super::trace::login_flow(&flow);
        let result = self
            .begin_login_untraced(provider, flow, redirect_uri, extra_params)
            .await;
        super::trace::login_begin(provider, flow_name, &result);
        result
    }

    async fn begin_login_untraced(
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
        let provider = pending.key.provider.clone();
        let flow = super::trace::response_flow(&response);
        let result = self.finish_login_untraced(pending, response).await;
        super::trace::login(provider.as_str(), flow, &result);
        result
    }

    async fn finish_login_untraced(
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
