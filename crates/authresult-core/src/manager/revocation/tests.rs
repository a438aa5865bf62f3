//! Revocation at logout, over `mockall` mocks of both ports: the order of the
//! store writes (the behaviour over real stores is tested in `authresult-store`).
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use mockall::Sequence;

use crate::{
    AccessToken, AuthManager, AuthResult, Error, FailureKind, ManualClock, MockAuthProvider,
    MockSessionStore, RefreshToken, Session, SessionKey, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("a1"), 3600);
    auth.refresh_token = Some(RefreshToken::new("r1"));
    let mut session = Session::new(SessionKey::new("tenant-a", "kc"), auth, T0);
    session.set_stored_version(1);
    session
}

fn manager(store: MockSessionStore, mut provider: MockAuthProvider) -> AuthManager {
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
    let mut store = MockSessionStore::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    store.expect_put_pending_revocation().never();
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
        .expect_remove()
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
    let mut store = MockSessionStore::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    let mut provider = MockAuthProvider::new();
    provider.expect_end_session_url().returning(|_| Ok(None));
    provider
        .expect_revoke()
        .times(2)
        .returning(|_| Err(Error::provider(FailureKind::Transient, "offline")));
    store
        .expect_put_pending_revocation()
        .withf(|r| r.token.secret() == "r1" && r.key == SessionKey::new("tenant-a", "kc"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    store
        .expect_put_pending_revocation()
        .withf(|r| r.token.secret() == "a1" && r.expires_at == T0.saturating_add_secs(3600))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    store
        .expect_remove()
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
    let mut store = MockSessionStore::new();
    store.expect_access_gate().returning(|_, _| None);
    store.expect_get().returning(|_| Ok(Some(session())));
    store
        .expect_put_pending_revocation()
        .returning(|_| Err(Error::store(FailureKind::Configuration, "disk full")));
    store.expect_remove().never();
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
