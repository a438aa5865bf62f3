//! Revocation at logout, over `mockall` mocks of both ports: the order of the
//! store writes (the behaviour over real stores is tested in `authresult-store`).
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use mockall::Sequence;

use crate::{
    AccessToken, AuthManager, AuthResult, Error, FailureKind, ManualClock, MockAuthProvider, MockBackend,
    RefreshToken, Session, SessionKey, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("a1"), 3600);
    auth.refresh_token = Some(RefreshToken::new("r1"));
    let mut session = Session::new(SessionKey::new("tenant-a", "kc"), auth, T0);
    session.set_stored_version(1);
    session
}

fn manager(store: MockBackend, mut provider: MockAuthProvider) -> AuthManager {
    provider.expect_origin().return_const(None);
    let clock = ManualClock::new(T0);
    AuthManager::builder("tenant-a", Arc::new(store))
        .provider("kc", Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock))
        .build()
}

/// Issue 21 item 7 (on 1f2d0f5 the revocations were written to the store
/// before the provider was asked): a logout the provider answers writes no
/// token outside the session, and removes the session after the revocations.
#[tokio::test]
async fn a_logout_the_provider_answers_writes_no_pending_revocation() {
    let mut seq = Sequence::new();
    let mut store = MockBackend::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    store.expect_push_revocation().never();
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    provider
        .expect_revoke()
        .withf(|t| t.secret() == "r1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    provider
        .expect_revoke()
        .withf(|t| t.secret() == "a1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    store
        .expect_remove_if_current()
        .withf(|s| s.auth.access_token.secret() == "a1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(true));
    let report = manager(store, provider).logout("kc").await.unwrap();
    assert!(report.removed);
    assert!(report.revocation.is_ok());
    assert!(report.pending_revocations.is_empty());
}

/// Offline: the revocations that failed transiently are written before the
/// session goes, so a crash in between loses nothing.
#[tokio::test]
async fn an_offline_logout_writes_its_revocations_before_it_removes_the_session() {
    let mut seq = Sequence::new();
    let mut store = MockBackend::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    provider
        .expect_revoke()
        .times(2)
        .returning(|_| Err(Error::provider(FailureKind::Transient, "offline")));
    store
        .expect_push_revocation()
        .withf(|r, _| r.token.secret() == "r1" && r.key == SessionKey::new("tenant-a", "kc"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    store
        .expect_push_revocation()
        .withf(|r, _| r.token.secret() == "a1" && r.expires_at == T0.saturating_add_secs(3600))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    store
        .expect_remove_if_current()
        .withf(|s| s.auth.access_token.secret() == "a1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(true));
    let report = manager(store, provider).logout("kc").await.unwrap();
    assert!(report.removed);
    assert!(report.revocation.is_err());
    assert_eq!(report.pending_revocations.len(), 2);
}

#[tokio::test]
async fn a_logout_that_cannot_remember_the_revocation_keeps_the_session() {
    let mut store = MockBackend::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    store
        .expect_push_revocation()
        .returning(|_, _| Err(Error::store(FailureKind::Configuration, "disk full")));
    store.expect_remove().never();
    store.expect_remove_if_current().never();
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    provider
        .expect_revoke()
        .returning(|_| Err(Error::provider(FailureKind::Transient, "offline")));
    let error = manager(store, provider).logout("kc").await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Configuration);
}

#[test]
fn revocations_never_print_their_token() {
    let revocation = crate::PendingRevocation {
        key: SessionKey::new("tenant-a", "kc"),
        id: "id-1".into(),
        token: crate::RevocableToken::Refresh(RefreshToken::new("SECRET-REFRESH")),
        created_at: T0,
        expires_at: T0,
        origin: None,
    };
    let shown = format!(
        "{revocation:?} {:?}",
        crate::RevocableToken::Access(AccessToken::new("SECRET-ACCESS"))
    );
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("Refresh(RefreshToken([redacted]))"), "{shown}");
}

/// A logout removes only the version it read: when another process's
/// refresh rotated the same login meanwhile, the rotated tokens are revoked
/// too, then that version is removed; nothing is removed unconditionally.
#[tokio::test]
async fn a_logout_racing_a_refresh_elsewhere_revokes_the_rotated_tokens_too() {
    let first = session();
    let mut rotated = first.refreshed(
        {
            let mut auth = AuthResult::new(AccessToken::new("a2"), 3600);
            auth.refresh_token = Some(RefreshToken::new("r2"));
            auth
        },
        T0,
    );
    rotated.set_stored_version(2);
    let mut store = MockBackend::new();
    store.expect_access_gate().returning(|_, _| None);
    let reads = std::sync::Mutex::new(vec![rotated.clone(), first.clone()]);
    store
        .expect_get()
        .returning(move |_| Ok(reads.lock().unwrap().pop()));
    store.expect_push_revocation().never();
    store.expect_remove().never();
    store
        .expect_remove_if_current()
        .withf(|s| s.version() == 1)
        .times(1)
        .returning(|_| Ok(false));
    store
        .expect_remove_if_current()
        .withf(|s| s.version() == 2)
        .times(1)
        .returning(|_| Ok(true));
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    let revoked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = revoked.clone();
    provider.expect_revoke().returning(move |t| {
        seen.lock().unwrap().push(t.secret().to_owned());
        Ok(())
    });
    let report = manager(store, provider).logout("kc").await.unwrap();
    assert!(report.removed);
    let revoked = revoked.lock().unwrap().clone();
    assert_eq!(revoked, ["r1", "a1", "r2", "a2"]);
}

/// A session of another login written meanwhile (a login in another
/// process) is not this logout's to remove.
#[tokio::test]
async fn a_logout_leaves_a_login_written_meanwhile() {
    let first = session();
    let mut other = Session::new(
        SessionKey::new("tenant-a", "kc"),
        AuthResult::new(AccessToken::new("b1"), 3600),
        T0,
    );
    other.set_stored_version(1);
    let mut store = MockBackend::new();
    store.expect_access_gate().returning(|_, _| None);
    let reads = std::sync::Mutex::new(vec![other, first]);
    store
        .expect_get()
        .returning(move |_| Ok(reads.lock().unwrap().pop()));
    store.expect_remove().never();
    store.expect_remove_if_current().times(1).returning(|_| Ok(false));
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    provider.expect_revoke().times(2).returning(|_| Ok(()));
    let report = manager(store, provider).logout("kc").await.unwrap();
    assert!(!report.removed, "the other login's session stays");
}
