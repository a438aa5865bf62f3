//! `AuthManager` tests: over the test doubles (`MemoryStore`, `FakeProvider`)
//! where the store only has to keep the contract, over `mockall` mocks where a
//! test injects store failures, counts reads or checks the write order.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::refresh::Refresh;
use crate::testing::FakeProvider;
use crate::{
    AccessToken, AuthEvent, AuthManager, AuthResult, CasOutcome, Credentials, Error, FailureKind, LoginFlow,
    LoginPrompt, ManualClock, MockAuthProvider, MockBackend, Password, PendingAuthorization, PendingSecret,
    RefreshToken, Session, SessionKey, SessionStore as _, TenantId, Timestamp, TokenInfo,
};
use crate::{LeaseStore as _, MemoryStore, UsernameStore as _};

const T0: u64 = 1_700_000_000;

/// What the mocked store holds, and how it should misbehave.
#[derive(Default)]
struct State {
    sessions: HashMap<SessionKey, Session>,
    usernames: HashMap<TenantId, String>,
    pending: HashMap<(TenantId, String), PendingAuthorization>,
    lease: HashMap<SessionKey, (String, Timestamp)>,
    gets: usize,
    /// Lease attempts to refuse before granting (another process holds it).
    refuse_leases: usize,
    /// When set, lease refusals also store this session (the other process's refresh).
    other_process_writes: Option<Session>,
    fail_writes: bool,
    writes_log: Vec<String>,
    revocations: Vec<crate::PendingRevocation>,
}

type Shared = Arc<Mutex<State>>;

fn store(state: &Shared) -> MockBackend {
    let mut m = MockBackend::new();
    m.expect_access_gate().returning(|_, _| None);
    let s = state.clone();
    m.expect_get().returning(move |k| {
        let mut st = s.lock().unwrap();
        st.gets += 1;
        Ok(st.sessions.get(k).cloned())
    });
    let s = state.clone();
    m.expect_list().returning(move |t| {
        let st = s.lock().unwrap();
        let mut v: Vec<_> = st
            .sessions
            .values()
            .filter(|x| &x.key.tenant == t)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    });
    let s = state.clone();
    m.expect_list_user().returning(move |t, u| {
        let st = s.lock().unwrap();
        let mut v: Vec<_> = st
            .sessions
            .values()
            .filter(|x| &x.key.tenant == t && &x.key.user == u)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    });
    let s = state.clone();
    m.expect_put().returning(move |session| {
        let mut st = s.lock().unwrap();
        if st.fail_writes {
            return Err(Error::store(FailureKind::Protocol, "disk full"));
        }
        let version = st.sessions.get(&session.key).map_or(0, |x| x.version()) + 1;
        let mut stored = session.clone();
        stored.set_stored_version(version);
        st.writes_log.push(format!("put {}", token_of(&stored)));
        st.sessions.insert(session.key.clone(), stored);
        Ok(version)
    });
    let s = state.clone();
    m.expect_compare_and_swap().returning(move |session, expected| {
        let mut st = s.lock().unwrap();
        if st.fail_writes {
            return Err(Error::store(FailureKind::Protocol, "disk full"));
        }
        let current = st.sessions.get(&session.key).map(|x| x.version());
        let other_login = st
            .sessions
            .get(&session.key)
            .is_some_and(|x| x.login_id() != session.login_id());
        if current.unwrap_or(0) != expected || other_login {
            return Ok(CasOutcome::Conflict { current });
        }
        let mut stored = session.clone();
        stored.set_stored_version(expected + 1);
        st.writes_log.push(format!("cas {}", token_of(&stored)));
        st.sessions.insert(session.key.clone(), stored);
        Ok(CasOutcome::Stored {
            version: expected + 1,
        })
    });
    let s = state.clone();
    m.expect_remove()
        .returning(move |k| Ok(s.lock().unwrap().sessions.remove(k).is_some()));
    let s = state.clone();
    m.expect_remove_if_current().returning(move |session| {
        let mut st = s.lock().unwrap();
        let current = st
            .sessions
            .get(&session.key)
            .is_some_and(|x| x.version() == session.version() && x.login_id() == session.login_id());
        if current {
            st.sessions.remove(&session.key);
        }
        Ok(current)
    });
    let s = state.clone();
    m.expect_remove_tenant().returning(move |t| {
        let mut st = s.lock().unwrap();
        let before = st.sessions.len();
        st.sessions.retain(|k, _| &k.tenant != t);
        Ok((before - st.sessions.len()) as u64)
    });
    let s = state.clone();
    m.expect_username()
        .returning(move |t| Ok(s.lock().unwrap().usernames.get(t).cloned()));
    let s = state.clone();
    m.expect_set_username().returning(move |t, u| {
        let mut st = s.lock().unwrap();
        match u {
            Some(u) => st.usernames.insert(t.clone(), u),
            None => st.usernames.remove(t),
        };
        Ok(())
    });
    let s = state.clone();
    m.expect_put_pending().returning(move |p| {
        let key = (p.key.tenant.clone(), p.state.clone());
        s.lock().unwrap().pending.insert(key, p.clone());
        Ok(())
    });
    let s = state.clone();
    m.expect_take_pending().returning(move |t, state, now| {
        let p = s.lock().unwrap().pending.remove(&(t.clone(), state.to_owned()));
        Ok(p.filter(|p| p.expires_at > now))
    });
    let s = state.clone();
    m.expect_purge_pending().returning(move |now| {
        let mut st = s.lock().unwrap();
        let before = st.pending.len();
        st.pending.retain(|_, p| p.expires_at > now);
        Ok((before - st.pending.len()) as u64)
    });
    let s = state.clone();
    m.expect_try_acquire_lease()
        .returning(move |k, holder, now, ttl| {
            let mut st = s.lock().unwrap();
            if st.refuse_leases > 0 {
                st.refuse_leases -= 1;
                if st.refuse_leases == 0
                    && let Some(mut other) = st.other_process_writes.take()
                {
                    other.set_stored_version(st.sessions.get(k).map_or(0, |x| x.version()) + 1);
                    st.sessions.insert(k.clone(), other);
                }
                return Ok(false);
            }
            match st.lease.get(k) {
                Some((h, until)) if h != holder && *until > now => Ok(false),
                _ => {
                    st.lease
                        .insert(k.clone(), (holder.to_owned(), now.saturating_add(ttl)));
                    Ok(true)
                }
            }
        });
    let s = state.clone();
    m.expect_release_lease().returning(move |k, holder| {
        let mut st = s.lock().unwrap();
        if st.lease.get(k).is_some_and(|(h, _)| h == holder) {
            st.lease.remove(k);
        }
        Ok(())
    });
    expect_revocations(&mut m, state);
    m
}

/// The pending revocations of the mocked store (no cap: the backends' own
/// conformance checks cover it).
fn expect_revocations(m: &mut MockBackend, state: &Shared) {
    let s = state.clone();
    m.expect_push_revocation().returning(move |r, _| {
        let mut st = s.lock().unwrap();
        st.revocations.retain(|x| x.id != r.id);
        st.revocations.push(r.clone());
        Ok(())
    });
    let s = state.clone();
    m.expect_revocations().returning(move |t| {
        let st = s.lock().unwrap();
        Ok(st
            .revocations
            .iter()
            .filter(|r| &r.key.tenant == t)
            .cloned()
            .collect())
    });
    let s = state.clone();
    m.expect_remove_revocation().returning(move |t, id| {
        let mut st = s.lock().unwrap();
        let before = st.revocations.len();
        st.revocations.retain(|r| !(&r.key.tenant == t && r.id == id));
        Ok(st.revocations.len() < before)
    });
}

fn token_of(s: &Session) -> String {
    s.auth.access_token.secret().to_owned()
}

fn auth(access: &str, refresh: Option<&str>, expires_in: u64) -> AuthResult {
    let mut a = AuthResult::new(AccessToken::new(access), expires_in);
    a.refresh_token = refresh.map(RefreshToken::new);
    a
}

struct Fixture {
    state: Shared,
    clock: ManualClock,
    manager: AuthManager,
}

fn fixture(mut provider: MockAuthProvider) -> Fixture {
    provider.expect_origin().return_const(None);
    let state: Shared = Arc::default();
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let manager = AuthManager::builder("tenant-a", Arc::new(store(&state)))
        .provider("kc", Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .margin(Duration::from_secs(30))
        .build();
    Fixture {
        state,
        clock,
        manager,
    }
}

/// Puts a session straight into the store, as an earlier run would have left it.
fn seed(f: &Fixture, access: &str, refresh: Option<&str>, expires_in: u64) {
    let mut s = Session::new(
        SessionKey::new("tenant-a", "kc"),
        auth(access, refresh, expires_in),
        f.clock.now_ts(),
    );
    s.set_stored_version(1);
    f.state.lock().unwrap().sessions.insert(s.key.clone(), s);
}

trait NowTs {
    fn now_ts(&self) -> Timestamp;
}
impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        crate::Clock::now(self)
    }
}

fn stored(f: &Fixture) -> Option<Session> {
    f.state
        .lock()
        .unwrap()
        .sessions
        .get(&SessionKey::new("tenant-a", "kc"))
        .cloned()
}

/// The manager over the test doubles: a `MemoryStore` and a `FakeProvider`.
struct Doubles {
    store: Arc<MemoryStore>,
    provider: Arc<FakeProvider>,
    clock: ManualClock,
    manager: AuthManager,
}

fn doubles(provider: FakeProvider) -> Doubles {
    let store = Arc::new(MemoryStore::new());
    let provider = Arc::new(provider);
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let manager = AuthManager::builder("tenant-a", store.clone())
        .provider("kc", provider.clone())
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .margin(Duration::from_secs(30))
        .build();
    Doubles {
        store,
        provider,
        clock,
        manager,
    }
}

impl Doubles {
    /// Puts a session into the store, as an earlier run would have left it (version 1).
    async fn seed(&self, access: &str, refresh: Option<&str>, expires_in: u64) {
        let s = Session::new(
            SessionKey::new("tenant-a", "kc"),
            auth(access, refresh, expires_in),
            self.clock.now_ts(),
        );
        assert_eq!(self.store.put(&s).await.unwrap(), 1);
    }

    async fn stored(&self) -> Option<Session> {
        self.store.get(&SessionKey::new("tenant-a", "kc")).await.unwrap()
    }
}

fn events(stream: &mut crate::EventStream) -> Vec<AuthEvent> {
    std::iter::from_fn(|| stream.try_next_event()).collect()
}

#[tokio::test]
async fn password_login_stores_the_session_and_username() {
    let mut p = MockAuthProvider::new();
    p.expect_login()
        .withf(|c| matches!(c, Credentials::Password { username, .. } if username == "alice"))
        .times(1)
        .returning(|_| Ok(auth("a1", Some("r1"), 3600)));
    let f = fixture(p);
    let mut ev = f.manager.subscribe();
    let creds = Credentials::Password {
        username: "alice".into(),
        password: Password::new("pw"),
    };
    let session = f.manager.login("kc", &creds).await.unwrap();
    assert_eq!(session.version(), 1);
    assert_eq!(token_of(&stored(&f).unwrap()), "a1");
    assert_eq!(f.manager.username().await.unwrap().as_deref(), Some("alice"));
    assert!(f.manager.is_authenticated().await.unwrap());
    let user = f.manager.current_user("kc").await.unwrap().unwrap();
    assert_eq!(user.username.as_deref(), Some("alice"));
    assert_eq!(
        events(&mut ev),
        [AuthEvent::LoggedIn {
            provider: "kc".into()
        }]
    );
    assert!(matches!(
        f.manager.login("nope", &creds).await.unwrap_err(),
        Error::UnknownProvider { .. }
    ));
}

#[tokio::test]
async fn a_fresh_token_is_served_from_memory_without_reading_the_store() {
    let mut p = MockAuthProvider::new();
    p.expect_refresh().never();
    let f = fixture(p);
    seed(&f, "a1", Some("r1"), 3600);
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a1");
    let gets = f.state.lock().unwrap().gets;
    for _ in 0..100 {
        assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a1");
    }
    assert_eq!(f.state.lock().unwrap().gets, gets, "fast path read the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_cause_exactly_one_refresh() {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let mut p = MockAuthProvider::new();
    let count = refreshes.clone();
    p.expect_refresh().returning(move |previous| {
        assert_eq!(previous.refresh_token.as_ref().map(|t| t.secret()), Some("r1"));
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::sleep(Duration::from_millis(20)); // widen the race window
        Ok(auth(&format!("a-new-{n}"), Some(&format!("r-new-{n}")), 3600))
    });
    let f = fixture(p);
    seed(&f, "a-old", Some("r1"), 10); // inside the 30 s margin: must refresh
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let m = f.manager.clone();
        tasks.push(tokio::spawn(async move { m.access_token("kc").await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().secret(), "a-new-1");
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    let s = stored(&f).unwrap();
    assert_eq!(s.auth.refresh_token.unwrap().secret(), "r-new-1");
    assert!(f.state.lock().unwrap().lease.is_empty(), "lease not released");
}

#[tokio::test]
async fn the_rotated_refresh_token_is_stored_before_any_caller_sees_the_new_token() {
    let mut p = MockAuthProvider::new();
    p.expect_refresh()
        .times(1)
        .returning(|_| Ok(auth("a2", Some("r2"), 3600)));
    let f = fixture(p);
    seed(&f, "a1", Some("r1"), 5);
    f.state.lock().unwrap().fail_writes = true;
    // The store refuses the write: the caller must not get the new token.
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    assert_eq!(token_of(&stored(&f).unwrap()), "a1");
    // Still failing: still no token, and no second refresh (the rotated token is kept).
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    // The store recovers: the kept session is written first, then served.
    f.state.lock().unwrap().fail_writes = false;
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a2");
    let s = stored(&f).unwrap();
    assert_eq!(s.auth.refresh_token.unwrap().secret(), "r2");
    // Written over the version it was refreshed from, never blindly.
    assert_eq!(f.state.lock().unwrap().writes_log.last().unwrap(), "cas a2");
}

#[tokio::test]
async fn a_response_without_refresh_token_keeps_the_old_one() {
    let p = FakeProvider::new();
    p.push_refresh(Ok(auth("a2", None, 3600)));
    let f = doubles(p);
    f.seed("a1", Some("r1"), 5).await;
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a2");
    assert_eq!(
        f.stored().await.unwrap().auth.refresh_token.unwrap().secret(),
        "r1"
    );
    assert_eq!(f.provider.calls().refresh, 1);
}

#[tokio::test]
async fn transient_failure_keeps_the_session_and_the_next_call_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut p = MockAuthProvider::new();
    p.expect_refresh()
        .returning(move |_| match c.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err(Error::provider(FailureKind::Transient, "connection refused")),
            _ => Ok(auth("a2", Some("r2"), 3600)),
        });
    let f = fixture(p);
    let mut ev = f.manager.subscribe();
    seed(&f, "a1", Some("r1"), 20); // valid for 20 s, inside the margin

    // Offline but still valid: the old token, session kept.
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a1");
    assert_eq!(token_of(&stored(&f).unwrap()), "a1");
    assert_eq!(
        events(&mut ev),
        [AuthEvent::RefreshFailed {
            provider: "kc".into(),
            kind: FailureKind::Transient
        }]
    );

    // Expired and still offline: a typed offline error, session still kept.
    f.clock.advance(Duration::from_secs(60));
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(matches!(err, Error::Offline { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(stored(&f).is_some());
    assert!(
        f.state.lock().unwrap().lease.is_empty(),
        "lease kept after failure"
    );

    // Back online: the next call refreshes; the manager is not stuck.
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a2");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn terminal_failure_removes_the_session_and_requires_reauthentication() {
    let p = FakeProvider::new();
    p.push_refresh(Err(Error::provider(FailureKind::Terminal, "invalid_grant")));
    let f = doubles(p);
    let mut ev = f.manager.subscribe();
    f.seed("a1", Some("r1"), 10).await;
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(matches!(err, Error::ReauthenticationRequired { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "terminal cause kept");
    assert!(f.stored().await.is_none());
    assert!(!f.manager.is_authenticated().await.unwrap());
    assert_eq!(
        events(&mut ev),
        [
            AuthEvent::RefreshFailed {
                provider: "kc".into(),
                kind: FailureKind::Terminal
            },
            AuthEvent::LoggedOut {
                provider: "kc".into()
            }
        ]
    );
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(matches!(err, Error::NotAuthenticated { .. }), "{err:?}");
    assert_eq!(f.provider.calls().refresh, 1);
}

#[tokio::test]
async fn expired_without_refresh_token_reports_expiry() {
    let f = doubles(FakeProvider::new());
    let mut ev = f.manager.subscribe();
    f.seed("a1", None, 10).await;
    // Within the margin but not expired: still served.
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a1");
    f.clock.advance(Duration::from_secs(11));
    let err = f.manager.access_token("kc").await.unwrap_err();
    assert!(
        matches!(err, Error::ReauthenticationRequired { source: None, .. }),
        "{err:?}"
    );
    assert_eq!(
        events(&mut ev),
        [AuthEvent::Expired {
            provider: "kc".into()
        }]
    );
    assert_eq!(f.provider.calls().refresh, 0);
}

#[tokio::test]
async fn another_process_holding_the_lease_refreshes_for_us() {
    let mut p = MockAuthProvider::new();
    p.expect_refresh().never();
    let f = fixture(p);
    seed(&f, "a1", Some("r1"), 10);
    {
        let mut st = f.state.lock().unwrap();
        st.refuse_leases = 3;
        st.other_process_writes = Some(Session::new(
            SessionKey::new("tenant-a", "kc"),
            auth("a-other", Some("r-other"), 3600),
            Timestamp::from_secs(T0),
        ));
    }
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a-other");
}

#[tokio::test]
async fn a_dead_lease_holder_does_not_block_forever() {
    let p = FakeProvider::new();
    p.push_refresh(Ok(auth("a2", Some("r2"), 3600)));
    let f = doubles(p);
    f.seed("a1", Some("r1"), 10).await;
    let key = SessionKey::new("tenant-a", "kc");
    // A crashed process left its lease; it expires after its TTL (30 s).
    let taken = f
        .store
        .try_acquire_lease(
            &key,
            "dead-process",
            Timestamp::from_secs(T0),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(taken);
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a2");
    assert!(
        f.clock.now_ts() >= Timestamp::from_secs(T0 + 30),
        "waited for the TTL"
    );
    assert_eq!(f.provider.calls().refresh, 1);
}

#[tokio::test]
async fn forced_refresh_refreshes_a_fresh_token() {
    let p = FakeProvider::new();
    p.push_refresh(Ok(auth("a2", Some("r2"), 3600)));
    let f = doubles(p);
    let mut ev = f.manager.subscribe();
    f.seed("a1", Some("r1"), 3600).await;
    let s = f.manager.refresh("kc").await.unwrap();
    assert_eq!(token_of(&s), "a2");
    assert_eq!(s.version(), 2);
    assert!(matches!(&events(&mut ev)[..], [AuthEvent::Refreshed { .. }]));
    assert_eq!(f.provider.calls().refresh, 1);
}

fn pending(state: &str, expires_at: Timestamp) -> PendingAuthorization {
    PendingAuthorization {
        key: SessionKey::new("tenant-a", "kc"),
        state: state.into(),
        prompt: LoginPrompt::Redirect {
            authorization_url: "https://id.example.org/auth?state=s1".parse().unwrap(),
        },
        redirect_uri: Some("http://127.0.0.1:7777/callback".parse().unwrap()),
        created_at: Timestamp::from_secs(T0),
        expires_at,
        secret: PendingSecret::new("{\"verifier\":\"v\"}"),
        origin: None,
    }
}

#[tokio::test]
async fn redirect_login_completes_through_the_stored_pending_state_once() {
    let mut p = MockAuthProvider::new();
    p.expect_begin_login()
        .withf(|r| r.flow == LoginFlow::AuthorizationCode && r.key.tenant.as_str() == "tenant-a")
        .returning(|_| Ok(pending("s1", Timestamp::MAX)));
    p.expect_complete_login()
        .withf(|p, _| p.state == "s1" && p.secret.secret().contains("verifier"))
        .times(1)
        .returning(|_, _| {
            let mut a = auth("a1", Some("r1"), 3600);
            a.profile = Some(
                [
                    ("sub".to_owned(), "u1".to_owned()),
                    ("email".to_owned(), "u1@x".to_owned()),
                ]
                .into(),
            );
            Ok(a)
        });
    let f = fixture(p);
    let started = f
        .manager
        .begin_login("kc", LoginFlow::AuthorizationCode)
        .await
        .unwrap();
    // The pending login is capped to the manager's TTL and stored.
    assert!(started.expires_at <= Timestamp::from_secs(T0 + 600));
    assert_eq!(f.state.lock().unwrap().pending.len(), 1);
    let LoginPrompt::Redirect { authorization_url } = &started.prompt else {
        panic!()
    };
    assert!(
        authorization_url
            .as_str()
            .starts_with("https://id.example.org/auth")
    );

    let callback = "http://127.0.0.1:7777/callback?code=c&state=s1".parse().unwrap();
    let session = f.manager.handle_callback(&callback).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some("u1"));
    assert_eq!(session.username.as_deref(), Some("u1@x"));
    assert_eq!(token_of(&stored(&f).unwrap()), "a1");
    // The same state cannot be replayed.
    assert!(matches!(
        f.manager.handle_callback(&callback).await.unwrap_err(),
        Error::UnknownLoginState
    ));
    let no_state = "http://127.0.0.1:7777/callback?code=c".parse().unwrap();
    assert!(matches!(
        f.manager.handle_callback(&no_state).await.unwrap_err(),
        Error::InvalidCallback { .. }
    ));
}

#[tokio::test]
async fn an_expired_pending_login_is_refused() {
    let mut p = MockAuthProvider::new();
    p.expect_begin_login()
        .returning(|_| Ok(pending("s1", Timestamp::from_secs(T0 + 60))));
    p.expect_complete_login().never();
    let f = fixture(p);
    f.manager
        .begin_login("kc", LoginFlow::AuthorizationCode)
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(61));
    let callback = "http://127.0.0.1:7777/callback?code=c&state=s1".parse().unwrap();
    assert!(matches!(
        f.manager.handle_callback(&callback).await.unwrap_err(),
        Error::UnknownLoginState
    ));
}

#[tokio::test]
async fn logout_revokes_and_removes_even_when_revocation_fails() {
    let p = FakeProvider::new().with_end_session_url(
        "https://id.example.org/logout?id_token_hint=IDTOKEN-SECRET"
            .parse()
            .unwrap(),
    );
    p.push_revoke(Err(Error::provider(FailureKind::Transient, "timeout")))
        .push_revoke(Err(Error::provider(FailureKind::Transient, "timeout")));
    let f = doubles(p);
    let mut ev = f.manager.subscribe();
    f.seed("a1", Some("r1"), 3600).await;
    f.manager.access_token("kc").await.unwrap(); // warm the cache
    let report = f.manager.logout("kc").await.unwrap();
    assert!(report.removed);
    assert!(report.revocation.is_err());
    let shown = format!("{report:?}");
    assert!(
        !shown.contains("IDTOKEN-SECRET"),
        "the ID token leaked in {shown}"
    );
    assert!(
        shown.contains("https://id.example.org/logout?[redacted]"),
        "{shown}"
    );
    assert_eq!(
        report.end_session_url.unwrap().as_str(),
        "https://id.example.org/logout?id_token_hint=IDTOKEN-SECRET"
    );
    assert!(f.stored().await.is_none());
    // The cached token is gone too.
    assert!(matches!(
        f.manager.access_token("kc").await.unwrap_err(),
        Error::NotAuthenticated { .. }
    ));
    assert_eq!(
        events(&mut ev),
        [
            AuthEvent::RevocationPending {
                provider: "kc".into(),
                tokens: vec![crate::TokenKind::Refresh, crate::TokenKind::Access],
            },
            AuthEvent::LoggedOut {
                provider: "kc".into()
            }
        ]
    );
    assert_eq!(f.provider.calls().revoke, 2);
}

#[tokio::test]
async fn logout_all_clears_the_tenant_only() {
    let f = doubles(FakeProvider::new());
    f.seed("a1", Some("r1"), 3600).await;
    let other = Session::new(
        SessionKey::new("tenant-b", "kc"),
        auth("b1", None, 60),
        Timestamp::EPOCH,
    );
    f.store.put(&other).await.unwrap();
    f.store
        .set_username(&"tenant-a".into(), Some("alice".into()))
        .await
        .unwrap();
    let reports = f.manager.logout_all().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].revocation.is_ok());
    assert_eq!(f.provider.calls().revoke, 2);
    // Only the other tenant's session is left, and no username.
    assert!(f.store.list(&"tenant-a".into()).await.unwrap().is_empty());
    assert_eq!(f.store.list(&"tenant-b".into()).await.unwrap().len(), 1);
    assert!(f.store.username(&"tenant-a".into()).await.unwrap().is_none());
}

#[tokio::test]
async fn introspect_asks_the_provider() {
    let p = FakeProvider::new();
    p.push_introspect(Ok(TokenInfo {
        subject: Some("u1".into()),
        ..TokenInfo::default()
    }))
    .push_introspect(Err(Error::provider(FailureKind::Terminal, "inactive")));
    let f = doubles(p);
    let info = f
        .manager
        .introspect("kc", &AccessToken::new("good"))
        .await
        .unwrap();
    assert_eq!(info.subject.as_deref(), Some("u1"));
    assert!(
        f.manager
            .introspect("kc", &AccessToken::new("bad"))
            .await
            .is_err()
    );
    assert_eq!(f.provider.calls().introspect, 2);
}

#[tokio::test]
async fn far_future_expiry_never_refreshes_or_panics() {
    let f = doubles(FakeProvider::new());
    f.seed("a1", Some("r1"), u64::MAX).await;
    f.clock.set(Timestamp::from_secs(u64::MAX / 2000));
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a1");
    assert_eq!(f.provider.calls().refresh, 0);
}

/// A provider whose first refresh never answers (a hung connection).
struct HangsOnce {
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl crate::AuthProvider for HangsOnce {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        Err(unsupported())
    }
    async fn begin_login(&self, _: &crate::LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(unsupported())
    }
    async fn complete_login(
        &self,
        _: &PendingAuthorization,
        _: &crate::LoginResponse,
    ) -> Result<AuthResult, Error> {
        Err(unsupported())
    }
    async fn refresh(&self, _: &AuthResult) -> Result<AuthResult, Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            futures::future::pending::<()>().await;
        }
        Ok(auth("a2", Some("r2"), 3600))
    }
    async fn introspect(&self, _: &AccessToken) -> Result<TokenInfo, Error> {
        Err(unsupported())
    }
    async fn revoke(&self, _: &crate::RevocableToken) -> Result<(), Error> {
        Err(unsupported())
    }
    async fn end_session_url(&self, _: &AuthResult) -> Result<Option<url::Url>, Error> {
        Ok(None)
    }
}

fn unsupported() -> Error {
    Error::Unsupported {
        provider: "hangs-once".into(),
        operation: "this test",
    }
}

#[tokio::test]
async fn a_cancelled_refresh_never_leaves_the_manager_stuck() {
    let state: Shared = Arc::default();
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let provider = Arc::new(HangsOnce {
        calls: AtomicUsize::new(0),
    });
    let manager = AuthManager::builder("tenant-a", Arc::new(store(&state)))
        .provider("kc", provider.clone())
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build();
    let f = Fixture {
        state,
        clock,
        manager,
    };
    seed(&f, "a1", Some("r1"), 10);

    // The caller gives up while the refresh hangs: its future is dropped.
    let hung = tokio::time::timeout(Duration::from_millis(50), f.manager.access_token("kc")).await;
    assert!(hung.is_err(), "the first refresh should hang");

    // The next caller is neither blocked by the in-process lock nor by the
    // lease the cancelled call left behind (same holder), and refreshes.
    let token = tokio::time::timeout(Duration::from_secs(5), f.manager.access_token("kc"))
        .await
        .expect("manager stuck after a cancelled refresh")
        .unwrap();
    assert_eq!(token.secret(), "a2");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_session_stored_before_login_ids_existed_still_decodes_and_refreshes() {
    let mut p = MockAuthProvider::new();
    p.expect_refresh()
        .times(1)
        .returning(|_| Ok(auth("a2", Some("r2"), 3600)));
    let f = fixture(p);
    let mut old = serde_json::to_value(crate::Exposed(&Session::new(
        SessionKey::new("tenant-a", "kc"),
        auth("a1", Some("r1"), 10),
        f.clock.now_ts(),
    )))
    .unwrap();
    old.as_object_mut().unwrap().remove("login_id");
    let mut legacy: Session = serde_json::from_value(old).unwrap();
    assert_eq!(legacy.login_id(), "");
    legacy.set_stored_version(1);
    f.state
        .lock()
        .unwrap()
        .sessions
        .insert(legacy.key.clone(), legacy);
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a2");
    let s = stored(&f).unwrap();
    assert_eq!(s.auth.refresh_token.as_ref().unwrap().secret(), "r2");
    assert_eq!(s.login_id(), "", "a refresh keeps the login it refreshed");
}

#[tokio::test]
async fn every_login_gets_its_own_login_id_and_refreshes_keep_it() {
    let p = FakeProvider::new();
    p.push_login(Ok(auth("a1", Some("r1"), 10)))
        .push_login(Ok(auth("a1", Some("r1"), 10)))
        .push_refresh(Ok(auth("a2", Some("r2"), 3600)));
    let f = doubles(p);
    let creds = Credentials::Password {
        username: "alice".into(),
        password: Password::new("pw"),
    };
    let first = f.manager.login("kc", &creds).await.unwrap();
    let second = f.manager.login("kc", &creds).await.unwrap();
    assert!(!first.login_id().is_empty());
    assert_ne!(first.login_id(), second.login_id(), "two logins, one id");
    assert!(!first.same_login(&second));
    let refreshed = f.manager.refresh("kc").await.unwrap();
    assert_eq!(refreshed.login_id(), second.login_id());
    assert!(refreshed.same_login(&second));
    assert_eq!(f.provider.calls().refresh, 1);
}

/// Two users of one shared device: each manager (`for_user`) logs in, reads
/// and logs out only its own user's sessions; the default user is separate.
#[tokio::test]
async fn users_of_a_shared_device_keep_their_own_sessions() {
    let f = doubles(FakeProvider::new());
    let amina = f.manager.for_user("amina");
    let bob = f.manager.for_user("bob");
    assert_eq!(amina.user().as_str(), "amina");
    amina
        .import("kc", auth("a-amina", Some("r-amina"), 3600))
        .await
        .unwrap();
    bob.import("kc", auth("a-bob", Some("r-bob"), 3600))
        .await
        .unwrap();
    f.manager
        .import("kc", auth("a-single", None, 3600))
        .await
        .unwrap();

    assert_eq!(amina.access_token("kc").await.unwrap().secret(), "a-amina");
    assert_eq!(bob.access_token("kc").await.unwrap().secret(), "a-bob");
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a-single");
    let of_amina = amina.sessions().await.unwrap();
    assert_eq!(of_amina.len(), 1);
    assert_eq!(of_amina[0].key, SessionKey::for_user("tenant-a", "amina", "kc"));
    assert_eq!(of_amina[0].auth.access_token.secret(), "a-amina");

    amina.logout_all().await.unwrap();
    assert!(amina.sessions().await.unwrap().is_empty());
    assert_eq!(bob.access_token("kc").await.unwrap().secret(), "a-bob");
    assert_eq!(f.manager.access_token("kc").await.unwrap().secret(), "a-single");
    assert_eq!(f.store.list(&"tenant-a".into()).await.unwrap().len(), 2);
}

/// Issue 21 item 9 (on 1f2d0f5 a named user's `current_user` fell back to
/// the tenant's username, written by any user's login): each user sees only
/// their own name.
#[tokio::test]
async fn a_user_never_sees_another_users_name() {
    let p = FakeProvider::new();
    p.push_login(Ok(auth("a-amina", None, 3600)))
        .push_login(Ok(auth("a-bob", None, 3600)));
    let f = doubles(p);
    let password = |user: &str| Credentials::Password {
        username: user.into(),
        password: crate::Password::new("pw".to_owned()),
    };
    let amina = f.manager.for_user("amina");
    let bob = f.manager.for_user("bob");
    amina.login("kc", &password("amina@example.org")).await.unwrap();
    bob.login("kc", &password("bob@example.org")).await.unwrap();
    assert_eq!(
        amina.username().await.unwrap().as_deref(),
        Some("amina@example.org")
    );
    assert_eq!(bob.username().await.unwrap().as_deref(), Some("bob@example.org"));
    // The tenant's username is the default user's, untouched by named users.
    assert_eq!(f.manager.username().await.unwrap(), None);
    // A session without a username of its own does not borrow another's.
    let carol = f.manager.for_user("carol");
    carol.import("kc", auth("a-carol", None, 3600)).await.unwrap();
    let user = carol.current_user("kc").await.unwrap().unwrap();
    assert_eq!(user.username, None);
}

/// Issue 21 item 9 (on 1f2d0f5 the default user's `logout_all` removed every
/// user's sessions without revoking them): only the default user's go.
#[tokio::test]
async fn logout_all_of_the_default_user_leaves_the_other_users() {
    let f = doubles(FakeProvider::new());
    f.seed("a1", Some("r1"), 3600).await;
    let bobs = Session::new(
        SessionKey::for_user("tenant-a", "bob", "kc"),
        auth("b1", Some("rb1"), 3600),
        Timestamp::from_secs(T0),
    );
    f.store.put(&bobs).await.unwrap();
    let reports = f.manager.logout_all().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(f.stored().await.is_none());
    let left = f.store.list(&"tenant-a".into()).await.unwrap();
    assert_eq!(left.len(), 1, "bob's session stays");
    assert_eq!(left[0].auth.access_token.secret(), "b1");
    assert!(
        f.provider
            .revoked()
            .iter()
            .all(|t| !t.secret().starts_with('b') && !t.secret().starts_with("rb")),
        "bob's tokens were not revoked either"
    );
}

/// A store whose user `amina` has a gate that a lock closes while a login's
/// write is under way (the vault opens it for the login, then the user is
/// locked: `lock`, idle, `disable`, from another task).
struct LockDuringLogin {
    inner: Arc<MemoryStore>,
    gate: crate::AccessGate,
}

#[async_trait::async_trait]
impl crate::SessionStore for LockDuringLogin {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        self.inner.get(key).await
    }
    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        self.inner.list(tenant).await
    }
    async fn put(&self, session: &Session) -> Result<u64, Error> {
        // The login opens the gate (an unlock), then a lock comes.
        self.gate.open(Timestamp::from_secs(T0));
        let version = self.inner.put(session).await?;
        self.gate.close();
        Ok(version)
    }
    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        self.inner.compare_and_swap(session, expected).await
    }
    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        self.inner.remove(key).await
    }
    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        self.inner.remove_if_current(session).await
    }
    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        self.inner.remove_tenant(tenant).await
    }
    fn access_gate(&self, _: &TenantId, user: &crate::UserId) -> Option<crate::AccessGate> {
        (user.as_str() == "amina").then(|| self.gate.clone())
    }
}

/// The memory store's ports, with `store` in place of its sessions.
fn lock_during_login(store: &Arc<LockDuringLogin>) -> crate::Stores {
    crate::Stores::from(Arc::clone(&store.inner)).with_sessions(store.clone())
}

/// Found attacking issue 21's change (lock means lock): a lock that came
/// while a login's session was being written left the login's tokens cached
/// in the manager (the login wrote its cache after the store answered,
/// without looking at the gate), and the login answered them. A closed gate
/// leaves no token in memory and the login says `Locked`.
#[tokio::test]
async fn a_lock_during_a_login_leaves_no_token_in_memory() {
    let store = Arc::new(LockDuringLogin {
        inner: Arc::new(MemoryStore::new()),
        gate: crate::AccessGate::new(None),
    });
    let provider = Arc::new(FakeProvider::new());
    provider.push_login(Ok(auth("a-amina", Some("r-amina"), 3600)));
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let amina = AuthManager::builder("tenant-a", lock_during_login(&store))
        .provider("kc", provider.clone())
        .clock(Arc::new(clock.clone()))
        .user("amina")
        .build();
    let credentials = Credentials::Password {
        username: "amina".into(),
        password: Password::new("pw"),
    };
    let e = amina.login("kc", &credentials).await.unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
    let slot = amina.inner.slots.get("kc").unwrap();
    assert!(
        slot.cached.read().unwrap().is_none(),
        "the login's tokens stayed cached after the lock"
    );
    // Still stored (sealed, in a vault): the next unlock reads it.
    assert!(
        store
            .inner
            .get(&SessionKey::for_user("tenant-a", "amina", "kc"))
            .await
            .unwrap()
            .is_some()
    );
}

/// A refresh whose answer arrives after the user's gate closed caches
/// nothing, even when its caller never gets to look (its future dropped
/// after `refresh_slow`): checked where the cache is written, not only by
/// the caller afterwards (found by the review of issue 21's change).
#[tokio::test]
async fn a_refresh_answered_after_a_lock_caches_nothing_where_it_writes() {
    let gate = crate::AccessGate::new(None);
    let store = Arc::new(LockDuringLogin {
        inner: Arc::new(MemoryStore::new()),
        gate: gate.clone(),
    });
    let mut seeded = Session::new(
        SessionKey::for_user("tenant-a", "amina", "kc"),
        auth("a1", Some("r1"), 3600),
        Timestamp::from_secs(T0),
    );
    seeded.set_stored_version(store.inner.put(&seeded).await.unwrap());
    let closing = gate.clone();
    let provider = Arc::new(FakeProvider::new().refresh_with(move |_| {
        closing.close();
        Ok(auth("a2", Some("r2"), 3600))
    }));
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    gate.open(Timestamp::from_secs(T0));
    let amina = AuthManager::builder("tenant-a", lock_during_login(&store))
        .provider("kc", provider.clone())
        .clock(Arc::new(clock.clone()))
        .user("amina")
        .build();
    let (name, slot) = amina.slot("kc").unwrap();
    let _ = amina.refresh_slow(name, slot, Refresh::Force).await;
    assert!(slot.cached.read().unwrap().is_none(), "cached after the lock");
    assert!(
        slot.unsaved.lock().unwrap().is_none(),
        "kept unsaved after the lock"
    );
}
