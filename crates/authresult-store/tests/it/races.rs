//! Two managers on one store racing a slow refresh (issue 11, items 1 and
//! 2): a refresh whose lease expired, a terminal answer to a stale refresh
//! token, and a login that lands while a refresh is in flight. The provider
//! is scripted: each refresh blocks until the test answers it, the clock is
//! a `ManualClock`, and the managers' sleepers never fire unless the test
//! lets them, so nothing here depends on timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::MemoryStore;
use authresult_core::StoreBackend;
use authresult_core::{
    AccessToken, AuthEvent, AuthManager, AuthProvider, AuthResult, Clock as _, Credentials, Error,
    FailureKind, LoginRequest, LoginResponse, ManualClock, Password, PendingAuthorization, RefreshToken,
    Session, SessionKey, Sleeper, Timestamp, TokenInfo,
};
use authresult_store::SqliteStore;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

pub(crate) const TENANT: &str = "shared-device";
pub(crate) const PROVIDER: &str = "kc";
pub(crate) const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a test waits for something that must happen before calling it
/// a hang (a guard, never a condition of success).
pub(crate) const HANG: Duration = Duration::from_secs(60);

pub(crate) fn key() -> SessionKey {
    SessionKey::new(TENANT, PROVIDER)
}

/// The tokens a login of `user` gets: `at-<user>-0`/`rt-<user>-0`, subject `user`.
pub(crate) fn login_result(user: &str) -> AuthResult {
    let mut auth = tokens(&format!("{user}-0"));
    auth.profile = Some(BTreeMap::from([("sub".to_owned(), user.to_owned())]));
    auth
}

/// `at-<suffix>`/`rt-<suffix>`, valid for an hour.
pub(crate) fn tokens(suffix: &str) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(format!("at-{suffix}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("rt-{suffix}")));
    auth
}

pub(crate) fn invalid_grant() -> Error {
    Error::provider(FailureKind::Terminal, "invalid_grant")
}

/// Alice's session as a login at `T0 - 1 h` left it: expired, refreshable.
pub(crate) fn expired_alice() -> Session {
    let mut auth = login_result("alice");
    auth.expires_in = 60;
    Session::new(key(), auth, Timestamp::from_secs(T0.as_secs() - 3600))
}

/// One refresh the provider received: its refresh token, and where the test
/// sends the provider's answer.
pub(crate) struct Call {
    pub(crate) refresh_token: String,
    answer: oneshot::Sender<Result<AuthResult, Error>>,
}

impl Call {
    pub(crate) fn answer(self, result: Result<AuthResult, Error>) {
        let _ = self.answer.send(result);
    }
}

/// A provider whose refreshes wait for the test's answer; password logins
/// answer [`login_result`] of the username at once.
#[derive(Debug)]
pub(crate) struct Scripted {
    calls: mpsc::UnboundedSender<Call>,
}

impl Scripted {
    pub(crate) fn new() -> (Arc<Self>, Calls) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Scripted { calls: tx }), Calls(rx))
    }
}

/// The refreshes a [`Scripted`] provider received, in order.
pub(crate) struct Calls(mpsc::UnboundedReceiver<Call>);

impl Calls {
    /// True when no refresh was asked for so far.
    pub(crate) fn none(&mut self) -> bool {
        self.0.try_recv().is_err()
    }

    pub(crate) async fn next(&mut self) -> Call {
        tokio::time::timeout(HANG, self.0.recv())
            .await
            .expect("the provider was never asked to refresh")
            .expect("the provider is gone")
    }
}

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        provider: "scripted".into(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for Scripted {
    async fn login(&self, credentials: &Credentials) -> Result<AuthResult, Error> {
        match credentials {
            Credentials::Password { username, .. } => Ok(login_result(username)),
            _ => Err(unsupported("this login")),
        }
    }

    async fn begin_login(&self, _: &LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(unsupported("interactive login"))
    }

    async fn complete_login(&self, _: &PendingAuthorization, _: &LoginResponse) -> Result<AuthResult, Error> {
        Err(unsupported("interactive login"))
    }

    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, Error> {
        let refresh_token = previous
            .refresh_token
            .as_ref()
            .ok_or_else(|| Error::provider(authresult_core::FailureKind::Protocol, "no refresh token"))?;
        let (answer, answered) = oneshot::channel();
        let call = Call {
            refresh_token: refresh_token.secret().to_owned(),
            answer,
        };
        self.calls.send(call).map_err(|_| unsupported("refresh"))?;
        answered
            .await
            .unwrap_or_else(|_| Err(Error::provider(FailureKind::Transient, "the test went away")))
    }

    async fn introspect(&self, _: &AccessToken) -> Result<TokenInfo, Error> {
        Err(unsupported("validation"))
    }

    async fn revoke(&self, _: &authresult_core::RevocableToken) -> Result<(), Error> {
        Ok(())
    }

    async fn end_session_url(&self, _: &AuthResult) -> Result<Option<url::Url>, Error> {
        Ok(None)
    }
}

/// A sleeper that never wakes: its manager never waits for a lease and never
/// renews one (a holder that stalled, or a process the test does not let
/// renew).
#[derive(Debug)]
pub(crate) struct Parked;

impl Sleeper for Parked {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        futures::future::pending().boxed()
    }
}

/// A sleeper that tells the test each wait it starts and wakes when the test
/// says so (after moving the clock).
#[derive(Debug)]
struct Stepped {
    waits: mpsc::UnboundedSender<(Duration, oneshot::Sender<()>)>,
}

impl Sleeper for Stepped {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (wake, woken) = oneshot::channel();
        let _ = self.waits.send((duration, wake));
        woken.map(drop).boxed()
    }
}

pub(crate) fn manager(
    store: Arc<dyn StoreBackend>,
    provider: Arc<Scripted>,
    clock: &ManualClock,
    sleeper: Arc<dyn Sleeper>,
) -> AuthManager {
    AuthManager::builder(TENANT, store)
        .provider(PROVIDER, provider)
        .clock(Arc::new(clock.clone()))
        .sleeper(sleeper)
        .lease_ttl(LEASE_TTL)
        .build()
}

pub(crate) fn bob() -> Credentials {
    Credentials::Password {
        username: "bob".into(),
        password: Password::new("pw-b"),
    }
}

pub(crate) async fn stored(store: &dyn StoreBackend) -> Option<Session> {
    store.get(&key()).await.unwrap()
}

fn refresh_token_of(session: &Session) -> &str {
    session.auth.refresh_token.as_ref().unwrap().secret()
}

/// Issue 11 item 1: A's refresh outlives its lease; B takes the lease and
/// refreshes the same old refresh token; A stores the rotation; B gets
/// `invalid_grant`. B must not remove A's rotated session, and answers with it.
async fn lease_expired_mid_refresh(store_a: Arc<dyn StoreBackend>, store_b: Arc<dyn StoreBackend>) {
    let clock = ManualClock::new(T0);
    store_a.put(&expired_alice()).await.unwrap();
    let (provider, mut calls) = Scripted::new();
    let a = manager(store_a, provider.clone(), &clock, Arc::new(Parked));
    let b = manager(store_b.clone(), provider, &clock, Arc::new(Parked));

    let task_a = tokio::spawn({
        let a = a.clone();
        async move { a.access_token(PROVIDER).await }
    });
    let call_a = calls.next().await;
    assert_eq!(call_a.refresh_token, "rt-alice-0");

    // A stalls (it cannot renew): its lease expires, and B takes it.
    clock.advance(LEASE_TTL + Duration::from_secs(1));
    let mut events_b = b.subscribe();
    let task_b = tokio::spawn({
        let b = b.clone();
        async move { b.access_token(PROVIDER).await }
    });
    let call_b = calls.next().await;
    assert_eq!(
        call_b.refresh_token, "rt-alice-0",
        "B refreshes the same old token"
    );

    call_a.answer(Ok(tokens("alice-1")));
    let token_a = task_a.await.unwrap().unwrap();
    assert_eq!(token_a.secret(), "at-alice-1");

    call_b.answer(Err(invalid_grant()));
    let token_b = task_b
        .await
        .unwrap()
        .expect("B's stale invalid_grant ended the session");
    assert_eq!(token_b.secret(), "at-alice-1", "B answers with A's rotation");

    let session = stored(store_b.as_ref()).await.expect("the session was lost");
    assert_eq!(
        refresh_token_of(&session),
        "rt-alice-1",
        "the rotated token is stored"
    );
    let events: Vec<_> = std::iter::from_fn(|| events_b.try_next_event()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, AuthEvent::LoggedOut { .. })),
        "B announced a logout: {events:?}"
    );
}

/// Issue 11 item 2: bob logs in (on B) while A refreshes alice's session. The
/// login wins: A's result is discarded, A's caller is told, bob's session stays.
async fn login_during_refresh(store_a: Arc<dyn StoreBackend>, store_b: Arc<dyn StoreBackend>) {
    let clock = ManualClock::new(T0);
    store_a.put(&expired_alice()).await.unwrap();
    let (provider, mut calls) = Scripted::new();
    let a = manager(store_a.clone(), provider.clone(), &clock, Arc::new(Parked));
    let b = manager(store_b, provider, &clock, Arc::new(Parked));
    let mut events_a = a.subscribe();

    let task_a = tokio::spawn({
        let a = a.clone();
        async move { a.access_token(PROVIDER).await }
    });
    let call_a = calls.next().await;
    b.login(PROVIDER, &bob()).await.unwrap();
    call_a.answer(Ok(tokens("alice-1")));

    let error = task_a
        .await
        .unwrap()
        .expect_err("alice's refreshed token was handed out");
    assert!(matches!(error, Error::SessionReplaced { .. }), "{error:?}");
    let session = stored(store_a.as_ref()).await.expect("bob's session");
    assert_eq!(
        session.subject.as_deref(),
        Some("bob"),
        "the login lost to a refresh"
    );
    assert_eq!(refresh_token_of(&session), "rt-bob-0");
    let events: Vec<_> = std::iter::from_fn(|| events_a.try_next_event()).collect();
    assert!(
        events.contains(&AuthEvent::RefreshDiscarded {
            provider: PROVIDER.into()
        }),
        "{events:?}"
    );
    // A now serves bob's session.
    assert_eq!(a.access_token(PROVIDER).await.unwrap().secret(), "at-bob-0");
}

/// Issue 11 item 2, with the version reused: alice is logged out and bob
/// logs in (on B) while A refreshes alice's session, so bob's session has
/// the version A read. Neither A's rotation nor a terminal answer touches it.
async fn refresh_conflict_after_another_login(
    store_a: Arc<dyn StoreBackend>,
    store_b: Arc<dyn StoreBackend>,
    answer: Result<AuthResult, Error>,
) {
    let clock = ManualClock::new(T0);
    let version = store_a.put(&expired_alice()).await.unwrap();
    let (provider, mut calls) = Scripted::new();
    let a = manager(store_a.clone(), provider.clone(), &clock, Arc::new(Parked));
    let b = manager(store_b, provider, &clock, Arc::new(Parked));

    let task_a = tokio::spawn({
        let a = a.clone();
        async move { a.access_token(PROVIDER).await }
    });
    let call_a = calls.next().await;
    b.logout(PROVIDER).await.unwrap();
    let bob_session = b.login(PROVIDER, &bob()).await.unwrap();
    assert_eq!(bob_session.version(), version, "the version A read, reused");
    call_a.answer(answer);

    let error = task_a.await.unwrap().expect_err("A answered with alice's token");
    assert!(matches!(error, Error::SessionReplaced { .. }), "{error:?}");
    let session = stored(store_a.as_ref()).await.expect("bob's session was removed");
    assert_eq!(
        session.subject.as_deref(),
        Some("bob"),
        "alice's refresh replaced bob"
    );
    assert_eq!(refresh_token_of(&session), "rt-bob-0");
}

/// A login in the same manager while its refresh is in flight wins too: the
/// refresh neither overwrites the login in the store nor in the cache.
#[tokio::test]
async fn a_login_wins_over_a_refresh_in_flight_in_the_same_manager() {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    store.put(&expired_alice()).await.unwrap();
    let (provider, mut calls) = Scripted::new();
    let a = manager(store.clone(), provider, &clock, Arc::new(Parked));
    let mut events = a.subscribe();

    let task = tokio::spawn({
        let a = a.clone();
        async move { a.access_token(PROVIDER).await }
    });
    let call = calls.next().await;
    a.login(PROVIDER, &bob()).await.unwrap();
    call.answer(Ok(tokens("alice-1")));

    let error = task
        .await
        .unwrap()
        .expect_err("alice's token handed out after bob's login");
    assert!(matches!(error, Error::SessionReplaced { .. }), "{error:?}");
    assert_eq!(
        stored(store.as_ref()).await.unwrap().subject.as_deref(),
        Some("bob")
    );
    assert_eq!(a.access_token(PROVIDER).await.unwrap().secret(), "at-bob-0");
    let events: Vec<_> = std::iter::from_fn(|| events.try_next_event()).collect();
    assert_eq!(
        events,
        [
            AuthEvent::LoggedIn {
                provider: PROVIDER.into()
            },
            AuthEvent::RefreshDiscarded {
                provider: PROVIDER.into()
            }
        ]
    );
}

/// The holder renews its lease while its refresh runs, so no one else can
/// take it however long the refresh takes.
#[tokio::test]
async fn the_lease_is_renewed_for_as_long_as_the_refresh_runs() {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    store.put(&expired_alice()).await.unwrap();
    let (provider, mut calls) = Scripted::new();
    let (waits, mut wait_rx) = mpsc::unbounded_channel();
    let a = manager(store.clone(), provider, &clock, Arc::new(Stepped { waits }));

    let task = tokio::spawn({
        let a = a.clone();
        async move { a.access_token(PROVIDER).await }
    });
    let call = calls.next().await;
    // Let ten renewal periods pass: over three lease lifetimes.
    for _ in 0..10 {
        let (period, wake) = tokio::time::timeout(HANG, wait_rx.recv())
            .await
            .expect("the holder never renewed its lease")
            .unwrap();
        assert!(period <= LEASE_TTL / 3, "renewed every {period:?}");
        clock.advance(period);
        wake.send(()).unwrap();
    }
    // The tenth renewal is done once the holder waits again.
    let (_, _next) = tokio::time::timeout(HANG, wait_rx.recv()).await.unwrap().unwrap();
    assert!(clock.now() > T0.saturating_add(LEASE_TTL * 3));
    assert!(
        !store
            .try_acquire_lease(&key(), "intruder", clock.now(), LEASE_TTL)
            .await
            .unwrap(),
        "the lease of a running refresh expired"
    );
    call.answer(Ok(tokens("alice-1")));
    assert_eq!(task.await.unwrap().unwrap().secret(), "at-alice-1");
    assert!(
        store
            .try_acquire_lease(&key(), "intruder", clock.now(), LEASE_TTL)
            .await
            .unwrap(),
        "the lease is released after the refresh"
    );
}

// --- The scenarios on each store: two managers sharing one MemoryStore, and
// two managers each with its own connection to one SQLite file.

fn memory() -> (Arc<dyn StoreBackend>, Arc<dyn StoreBackend>) {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    (store.clone(), store)
}

async fn sqlite(dir: &tempfile::TempDir) -> (Arc<dyn StoreBackend>, Arc<dyn StoreBackend>) {
    let path = dir.path().join("sessions.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    (Arc::new(a), Arc::new(b))
}

#[tokio::test]
async fn memory_a_refresh_outliving_its_lease_keeps_the_rotated_session_despite_invalid_grant() {
    let (a, b) = memory();
    lease_expired_mid_refresh(a, b).await;
}

#[tokio::test]
async fn sqlite_a_refresh_outliving_its_lease_keeps_the_rotated_session_despite_invalid_grant() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sqlite(&dir).await;
    lease_expired_mid_refresh(a, b).await;
}

#[tokio::test]
async fn memory_a_login_during_a_refresh_wins() {
    let (a, b) = memory();
    login_during_refresh(a, b).await;
}

#[tokio::test]
async fn sqlite_a_login_during_a_refresh_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sqlite(&dir).await;
    login_during_refresh(a, b).await;
}

#[tokio::test]
async fn memory_a_refresh_conflict_after_another_login_keeps_bobs_session() {
    let (a, b) = memory();
    refresh_conflict_after_another_login(a, b, Ok(tokens("alice-1"))).await;
}

#[tokio::test]
async fn sqlite_a_refresh_conflict_after_another_login_keeps_bobs_session() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sqlite(&dir).await;
    refresh_conflict_after_another_login(a, b, Ok(tokens("alice-1"))).await;
}

#[tokio::test]
async fn memory_a_terminal_answer_after_another_login_keeps_bobs_session() {
    let (a, b) = memory();
    refresh_conflict_after_another_login(a, b, Err(invalid_grant())).await;
}

#[tokio::test]
async fn sqlite_a_terminal_answer_after_another_login_keeps_bobs_session() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sqlite(&dir).await;
    refresh_conflict_after_another_login(a, b, Err(invalid_grant())).await;
}
