//! `FakeProvider`: an [`AuthProvider`] that answers what a test scripted.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::{
    AccessToken, AuthProvider, AuthResult, Credentials, Error, FailureKind, LoginPrompt, LoginRequest,
    LoginResponse, Origin, PendingAuthorization, PendingSecret, RevocableToken, Sleeper, TokenInfo,
};

/// How many times each operation of a [`FakeProvider`] was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeCalls {
    /// [`AuthProvider::login`].
    pub login: usize,
    /// [`AuthProvider::begin_login`].
    pub begin_login: usize,
    /// [`AuthProvider::complete_login`].
    pub complete_login: usize,
    /// [`AuthProvider::refresh`].
    pub refresh: usize,
    /// [`AuthProvider::introspect`].
    pub introspect: usize,
    /// [`AuthProvider::revoke`].
    pub revoke: usize,
    /// [`AuthProvider::end_session_url`].
    pub end_session_url: usize,
}

type Refresher = Box<dyn Fn(&AuthResult) -> Result<AuthResult, Error> + Send + Sync>;

/// A scriptable provider for tests and benchmarks: each operation answers
/// the next queued answer (`push_*`), counts its calls ([`calls`](Self::calls))
/// and remembers the tokens it was asked to revoke.
///
/// With nothing queued: `login`, `complete_login` and `introspect` fail with a
/// protocol error naming the operation; `refresh` uses the
/// [`refresh_with`](Self::refresh_with) function when set, else fails the same
/// way; `revoke` succeeds; `begin_login` starts a redirect login with state
/// `fake-state-<n>`; `end_session_url` is `None` unless set with
/// [`with_end_session_url`](Self::with_end_session_url); `origin` is `None`
/// unless set with [`with_origin`](Self::with_origin).
pub struct FakeProvider {
    state: Mutex<State>,
    refresher: Option<Refresher>,
    refresh_delay: Option<(Arc<dyn Sleeper>, Duration)>,
    end_session_url: Option<Url>,
    origin: Option<Origin>,
}

#[derive(Default)]
struct State {
    logins: VecDeque<Result<AuthResult, Error>>,
    completions: VecDeque<Result<AuthResult, Error>>,
    refreshes: VecDeque<Result<AuthResult, Error>>,
    introspections: VecDeque<Result<TokenInfo, Error>>,
    revocations: VecDeque<Result<(), Error>>,
    revoked: Vec<RevocableToken>,
    calls: FakeCalls,
}

impl fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeProvider")
            .field("calls", &self.lock().calls)
            .finish_non_exhaustive()
    }
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeProvider {
    /// A provider with nothing scripted.
    pub fn new() -> Self {
        FakeProvider {
            state: Mutex::new(State::default()),
            refresher: None,
            refresh_delay: None,
            end_session_url: None,
            origin: None,
        }
    }

    /// Answers refreshes that have no queued answer with `refresh`
    /// (called with the previous result, which holds the refresh token).
    pub fn refresh_with(
        mut self,
        refresh: impl Fn(&AuthResult) -> Result<AuthResult, Error> + Send + Sync + 'static,
    ) -> Self {
        self.refresher = Some(Box::new(refresh));
        self
    }

    /// Makes every refresh wait `delay` on `sleeper` before it answers (a
    /// slow provider; the call is counted when it starts).
    pub fn refresh_delay(mut self, sleeper: Arc<dyn Sleeper>, delay: Duration) -> Self {
        self.refresh_delay = Some((sleeper, delay));
        self
    }

    /// Answers `end_session_url` with `url` (instead of `None`).
    pub fn with_end_session_url(mut self, url: Url) -> Self {
        self.end_session_url = Some(url);
        self
    }

    /// Reports `origin` as its [`AuthProvider::origin`] (instead of `None`).
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Queues the answer of the next `login`.
    pub fn push_login(&self, answer: Result<AuthResult, Error>) -> &Self {
        self.lock().logins.push_back(answer);
        self
    }

    /// Queues the answer of the next `complete_login`.
    pub fn push_complete_login(&self, answer: Result<AuthResult, Error>) -> &Self {
        self.lock().completions.push_back(answer);
        self
    }

    /// Queues the answer of the next `refresh`.
    pub fn push_refresh(&self, answer: Result<AuthResult, Error>) -> &Self {
        self.lock().refreshes.push_back(answer);
        self
    }

    /// Queues the answer of the next `introspect`.
    pub fn push_introspect(&self, answer: Result<TokenInfo, Error>) -> &Self {
        self.lock().introspections.push_back(answer);
        self
    }

    /// Queues the answer of the next `revoke`.
    pub fn push_revoke(&self, answer: Result<(), Error>) -> &Self {
        self.lock().revocations.push_back(answer);
        self
    }

    /// How many times each operation was called so far.
    pub fn calls(&self) -> FakeCalls {
        self.lock().calls
    }

    /// The tokens `revoke` was called with, in order (answered `Ok` or not).
    pub fn revoked(&self) -> Vec<RevocableToken> {
        self.lock().revoked.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; the queues stay consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unscripted(operation: &str) -> Error {
    Error::provider(
        FailureKind::Protocol,
        format!("the fake provider has no scripted answer for {operation}"),
    )
}

#[async_trait]
impl AuthProvider for FakeProvider {
    async fn login(&self, _credentials: &Credentials) -> Result<AuthResult, Error> {
        let mut state = self.lock();
        state.calls.login += 1;
        state
            .logins
            .pop_front()
            .unwrap_or_else(|| Err(unscripted("login")))
    }

    async fn begin_login(&self, request: &LoginRequest) -> Result<PendingAuthorization, Error> {
        let n = {
            let mut state = self.lock();
            state.calls.begin_login += 1;
            state.calls.begin_login
        };
        let state = format!("fake-state-{n}");
        let authorization_url = Url::parse(&format!("https://fake.invalid/authorize?state={state}"))
            .map_err(|e| Error::provider(FailureKind::Protocol, e))?;
        Ok(PendingAuthorization {
            key: request.key.clone(),
            state,
            prompt: LoginPrompt::Redirect { authorization_url },
            redirect_uri: request.redirect_uri.clone(),
            created_at: request.now,
            expires_at: request.now.saturating_add(std::time::Duration::from_secs(600)),
            secret: PendingSecret::new(format!("fake-secret-{n}")),
            origin: None,
        })
    }

    async fn complete_login(
        &self,
        _pending: &PendingAuthorization,
        _response: &LoginResponse,
    ) -> Result<AuthResult, Error> {
        let mut state = self.lock();
        state.calls.complete_login += 1;
        state
            .completions
            .pop_front()
            .unwrap_or_else(|| Err(unscripted("complete_login")))
    }

    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, Error> {
        let queued = {
            let mut state = self.lock();
            state.calls.refresh += 1;
            state.refreshes.pop_front()
        };
        if let Some((sleeper, delay)) = &self.refresh_delay {
            sleeper.sleep(*delay).await;
        }
        match (queued, &self.refresher) {
            (Some(answer), _) => answer,
            (None, Some(refresh)) => refresh(previous),
            (None, None) => Err(unscripted("refresh")),
        }
    }

    async fn introspect(&self, _token: &AccessToken) -> Result<TokenInfo, Error> {
        let mut state = self.lock();
        state.calls.introspect += 1;
        state
            .introspections
            .pop_front()
            .unwrap_or_else(|| Err(unscripted("introspect")))
    }

    async fn revoke(&self, token: &RevocableToken) -> Result<(), Error> {
        let mut state = self.lock();
        state.calls.revoke += 1;
        state.revoked.push(token.clone());
        state.revocations.pop_front().unwrap_or(Ok(()))
    }

    async fn end_session_url(&self, _auth: &AuthResult) -> Result<Option<Url>, Error> {
        self.lock().calls.end_session_url += 1;
        Ok(self.end_session_url.clone())
    }

    fn origin(&self) -> Option<Origin> {
        self.origin.clone()
    }
}

#[cfg(test)]
mod tests;
