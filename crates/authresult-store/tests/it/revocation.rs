//! Revocation at logout over real stores: a revocation that fails while the
//! provider is unreachable is kept (sealed) in the store and revoked on the
//! next call that reaches the provider, in this process or after a restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::MemoryStore;
use authresult_core::{
    AccessToken, AuthEvent, AuthManager, AuthProvider, AuthResult, Credentials, Error, EventStream,
    FailureKind, LoginRequest, LoginResponse, ManualClock, PendingAuthorization, RefreshToken,
    RevocableToken, SessionStore, Timestamp, TokenInfo, TokenKind,
};
use authresult_core::{RevocationQueueExt as _, StoreBackend};
use authresult_store::{SqliteOptions, SqliteStore};

use crate::common::test_key;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// A provider that records the tokens it revoked; switched offline, every
/// call fails transiently. Logins hand out `at-<n>`/`rt-<n>`.
#[derive(Debug, Default)]
struct RevokingProvider {
    offline: AtomicBool,
    /// Revoking a refresh token answers 503 (the access token still works).
    refresh_revocation_unavailable: AtomicBool,
    /// Revoking answers a final error (e.g. no revocation endpoint).
    revocation_refused: AtomicBool,
    logins: AtomicU64,
    revoked: Mutex<Vec<String>>,
}

impl RevokingProvider {
    fn revoked(&self) -> Vec<String> {
        self.revoked.lock().unwrap().clone()
    }

    fn go_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::SeqCst);
    }

    fn unreachable(&self) -> Result<(), Error> {
        if self.offline.load(Ordering::SeqCst) {
            return Err(Error::provider(FailureKind::Transient, "connection refused"));
        }
        Ok(())
    }

    fn tokens(n: u64, expires_in: u64) -> AuthResult {
        let mut auth = AuthResult::new(AccessToken::new(format!("at-{n}")), expires_in);
        auth.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
        auth
    }
}

#[async_trait]
impl AuthProvider for RevokingProvider {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        self.unreachable()?;
        let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Self::tokens(n, 3600))
    }

    async fn begin_login(&self, _: &LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(Error::provider(FailureKind::Configuration, "not in this test"))
    }

    async fn complete_login(&self, _: &PendingAuthorization, _: &LoginResponse) -> Result<AuthResult, Error> {
        Err(Error::provider(FailureKind::Configuration, "not in this test"))
    }

    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, Error> {
        let refresh_token = previous
            .refresh_token
            .as_ref()
            .ok_or_else(|| Error::provider(authresult_core::FailureKind::Protocol, "no refresh token"))?;
        self.unreachable()?;
        let next = format!("{}-next", refresh_token.secret());
        let mut auth = AuthResult::new(AccessToken::new(format!("at-of-{next}")), 3600);
        auth.refresh_token = Some(RefreshToken::new(next));
        Ok(auth)
    }

    async fn introspect(&self, _: &AccessToken) -> Result<TokenInfo, Error> {
        self.unreachable()?;
        Ok(TokenInfo::default())
    }

    async fn revoke(&self, token: &RevocableToken) -> Result<(), Error> {
        self.unreachable()?;
        if self.revocation_refused.load(Ordering::SeqCst) {
            return Err(Error::provider(
                FailureKind::Configuration,
                "no revocation endpoint",
            ));
        }
        if token.kind() == TokenKind::Refresh && self.refresh_revocation_unavailable.load(Ordering::SeqCst) {
            return Err(Error::provider(FailureKind::Transient, "503 service unavailable"));
        }
        self.revoked.lock().unwrap().push(token.secret().to_owned());
        Ok(())
    }

    async fn end_session_url(&self, _: &AuthResult) -> Result<Option<url::Url>, Error> {
        Ok(None)
    }
}

fn manager(
    store: Arc<dyn StoreBackend>,
    provider: &Arc<RevokingProvider>,
    clock: &ManualClock,
) -> AuthManager {
    AuthManager::builder("field-app", store)
        .provider("keycloak", provider.clone())
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build()
}

fn password() -> Credentials {
    Credentials::Password {
        username: "alice".into(),
        password: authresult_core::Password::new("pw"),
    }
}

fn events(stream: &mut EventStream) -> Vec<AuthEvent> {
    std::iter::from_fn(|| stream.try_next_event()).collect()
}

async fn stored_tokens(store: &dyn StoreBackend, now: Timestamp) -> Vec<String> {
    store
        .pending_revocations(&"field-app".into(), now)
        .await
        .unwrap()
        .iter()
        .map(|r| r.token.secret().to_owned())
        .collect()
}

/// Logs in (online) and logs out while the provider is unreachable.
async fn logout_offline(manager: &AuthManager, provider: &RevokingProvider) -> authresult_core::LogoutReport {
    manager.login("keycloak", &password()).await.unwrap();
    provider.go_offline(true);
    manager.logout("keycloak").await.unwrap()
}

async fn each_store(test: impl AsyncFn(Arc<dyn StoreBackend>)) {
    test(Arc::new(MemoryStore::new())).await;
    let dir = tempfile::tempdir().unwrap();
    test(Arc::new(
        SqliteStore::open(dir.path().join("sessions.db")).await.unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn logout_while_offline_keeps_the_revocation_and_reports_it() {
    each_store(async |store| {
        let provider = Arc::new(RevokingProvider::default());
        let clock = ManualClock::new(T0);
        let manager = manager(store.clone(), &provider, &clock);
        let mut ev = manager.subscribe();
        let report = logout_offline(&manager, &provider).await;
        assert!(report.removed);
        assert!(report.revocation.as_ref().unwrap_err().is_transient());
        assert_eq!(
            report.pending_revocations,
            [TokenKind::Refresh, TokenKind::Access]
        );
        assert!(
            manager.session("keycloak").await.unwrap().is_none(),
            "logged out locally"
        );
        assert!(provider.revoked().is_empty());
        assert_eq!(stored_tokens(&*store, T0).await, ["rt-1", "at-1"]);
        let shown = format!("{report:?}");
        assert!(
            shown.contains("pending_revocations: [Refresh, Access]"),
            "{shown}"
        );
        assert!(!shown.contains("rt-1") && !shown.contains("at-1"), "{shown}");
        assert_eq!(
            events(&mut ev),
            [
                AuthEvent::LoggedIn {
                    provider: "keycloak".into()
                },
                // The revocations are asked for before the session goes.
                AuthEvent::RevocationPending {
                    provider: "keycloak".into(),
                    tokens: vec![TokenKind::Refresh, TokenKind::Access],
                },
                AuthEvent::LoggedOut {
                    provider: "keycloak".into()
                },
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn the_next_login_revokes_what_an_offline_logout_left() {
    each_store(async |store| {
        let provider = Arc::new(RevokingProvider::default());
        let clock = ManualClock::new(T0);
        let manager = manager(store.clone(), &provider, &clock);
        logout_offline(&manager, &provider).await;
        let mut ev = manager.subscribe();
        provider.go_offline(false);
        manager.login("keycloak", &password()).await.unwrap();
        assert_eq!(provider.revoked(), ["rt-1", "at-1"]);
        assert!(
            stored_tokens(&*store, T0).await.is_empty(),
            "forgotten once revoked"
        );
        assert!(events(&mut ev).contains(&AuthEvent::Revoked {
            provider: "keycloak".into(),
            tokens: vec![TokenKind::Refresh, TokenKind::Access],
        }));
        // Nothing left: the next calls do not revoke again.
        manager.login("keycloak", &password()).await.unwrap();
        assert_eq!(provider.revoked().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_refresh_that_reaches_the_provider_revokes_what_logout_left() {
    each_store(async |store| {
        let provider = Arc::new(RevokingProvider::default());
        let clock = ManualClock::new(T0);
        let manager = manager(store.clone(), &provider, &clock);
        logout_offline(&manager, &provider).await;
        // Back online in a session that came from elsewhere (no provider call).
        manager
            .import("keycloak", RevokingProvider::tokens(7, 60))
            .await
            .unwrap();
        provider.go_offline(false);
        // Fresh: answered from the cache, the provider is not called.
        manager.access_token("keycloak").await.unwrap();
        assert!(provider.revoked().is_empty());
        clock.advance(Duration::from_secs(61));
        let token = manager.access_token("keycloak").await.unwrap();
        assert_eq!(token.secret(), "at-of-rt-7-next");
        assert_eq!(provider.revoked(), ["rt-1", "at-1"]);
        assert!(stored_tokens(&*store, clock_now(&clock)).await.is_empty());
    })
    .await;
}

fn clock_now(clock: &ManualClock) -> Timestamp {
    authresult_core::Clock::now(clock)
}

#[tokio::test]
async fn a_refresh_kept_through_a_transient_failure_does_not_retry_revocations() {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    let provider = Arc::new(RevokingProvider::default());
    let clock = ManualClock::new(T0);
    let manager = manager(store.clone(), &provider, &clock);
    logout_offline(&manager, &provider).await;
    manager
        .import("keycloak", RevokingProvider::tokens(7, 60))
        .await
        .unwrap();
    // Within the margin but not expired: the refresh fails, the token is kept.
    clock.advance(Duration::from_secs(40));
    assert_eq!(manager.access_token("keycloak").await.unwrap().secret(), "at-7");
    // The provider came back just after the refresh failed: had the manager
    // taken the kept token for a provider answer, it would have revoked now.
    provider.go_offline(false);
    assert!(provider.revoked().is_empty());
    assert_eq!(stored_tokens(&*store, clock_now(&clock)).await.len(), 2);
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.revoked.len(), 2);
}

#[tokio::test]
async fn the_access_token_is_revoked_even_when_the_refresh_token_revocation_fails() {
    each_store(async |store| {
        let provider = Arc::new(RevokingProvider::default());
        provider
            .refresh_revocation_unavailable
            .store(true, Ordering::SeqCst);
        let clock = ManualClock::new(T0);
        let manager = manager(store.clone(), &provider, &clock);
        manager.login("keycloak", &password()).await.unwrap();
        let report = manager.logout("keycloak").await.unwrap();
        assert_eq!(provider.revoked(), ["at-1"]);
        assert!(report.revocation.is_err());
        assert_eq!(report.pending_revocations, [TokenKind::Refresh]);
        assert_eq!(stored_tokens(&*store, T0).await, ["rt-1"]);

        provider
            .refresh_revocation_unavailable
            .store(false, Ordering::SeqCst);
        let report = manager.retry_pending_revocations().await.unwrap();
        assert_eq!(report.revoked, [("keycloak".into(), TokenKind::Refresh)]);
        assert!(report.pending.is_empty() && report.dropped.is_empty());
        assert_eq!(provider.revoked(), ["at-1", "rt-1"]);
        assert!(stored_tokens(&*store, T0).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_final_revocation_answer_forgets_the_token() {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    let provider = Arc::new(RevokingProvider::default());
    let clock = ManualClock::new(T0);
    let manager = manager(store.clone(), &provider, &clock);
    logout_offline(&manager, &provider).await;
    provider.go_offline(false);
    provider.revocation_refused.store(true, Ordering::SeqCst);
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.dropped.len(), 2);
    assert!(report.revoked.is_empty() && report.pending.is_empty());
    assert!(stored_tokens(&*store, T0).await.is_empty());
}

#[tokio::test]
async fn a_revocation_still_failing_stays_pending_until_its_age_limit() {
    let store: Arc<dyn StoreBackend> = Arc::new(MemoryStore::new());
    let provider = Arc::new(RevokingProvider::default());
    let clock = ManualClock::new(T0);
    let manager = manager(store.clone(), &provider, &clock);
    logout_offline(&manager, &provider).await;
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.pending.len(), 2, "still offline: kept");
    // The access token expired after an hour: only the refresh token is left.
    clock.advance(Duration::from_secs(3600));
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.pending, [("keycloak".into(), TokenKind::Refresh)]);
    // Past the age limit nothing is left to revoke.
    clock.advance(authresult_core::PENDING_REVOCATION_MAX_AGE);
    let report = manager.retry_pending_revocations().await.unwrap();
    assert!(report.pending.is_empty());
}

#[tokio::test]
async fn a_restarted_manager_on_the_same_sqlite_file_still_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = ManualClock::new(T0);
    let open = || async {
        let store = SqliteOptions::new(&path)
            .encryption_key(test_key())
            .open()
            .await
            .unwrap();
        Arc::new(store)
    };

    let store = open().await;
    let provider = Arc::new(RevokingProvider::default());
    let first = manager(store.clone(), &provider, &clock);
    let report = logout_offline(&first, &provider).await;
    assert_eq!(report.pending_revocations.len(), 2);
    drop(first);
    Arc::into_inner(store).unwrap().close().await;

    // A new process: new store, new manager, the provider reachable again.
    let provider = Arc::new(RevokingProvider::default());
    provider.logins.store(10, Ordering::SeqCst);
    let store = open().await;
    let second = manager(store.clone(), &provider, &clock);
    second.login("keycloak", &password()).await.unwrap();
    assert_eq!(provider.revoked(), ["rt-1", "at-1"]);
    assert!(stored_tokens(&*store, T0).await.is_empty());
}

#[tokio::test]
async fn a_version_1_sqlite_file_migrates_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let session = authresult_core::testing::sample_session("field-app", "keycloak", 1);
    store.put(&session).await.unwrap();
    store.close().await;
    // Back to what version 1 wrote: no users, no revocations table.
    crate::users::downgrade_sqlite_to_v2(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE revocations; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).await.unwrap();
    let stored = store.get(&session.key).await.unwrap().unwrap();
    authresult_core::testing::assert_same_session(&stored, &session);
    let revocation = authresult_core::testing::sample_revocation("field-app", "keycloak", "1", false, T0);
    store.put_pending_revocation(&revocation).await.unwrap();
    assert_eq!(stored_tokens(&store, T0).await.len(), 1);
    store.check_integrity().await.unwrap();
}
