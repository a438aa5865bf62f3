//! Unit tests of `MemoryStore`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::{AccessToken, AuthResult, LeaseStore as _, Session, SessionKey, SessionStore as _, Timestamp};

use super::MemoryStore;

#[tokio::test]
async fn debug_shows_counts_not_tokens() {
    let store = MemoryStore::new();
    let auth = AuthResult::new(AccessToken::new("TOKEN-TEXT"), 60);
    store
        .put(&Session::new(SessionKey::new("t", "p"), auth, Timestamp::EPOCH))
        .await
        .unwrap();
    let printed = format!("{store:?}");
    assert!(!printed.contains("TOKEN-TEXT"), "{printed}");
    assert!(printed.contains("sessions: 1"), "{printed}");
}

#[tokio::test]
async fn a_lease_taken_forever_stays_taken() {
    let store = MemoryStore::new();
    let key = SessionKey::new("t", "p");
    assert!(
        store
            .try_acquire_lease(&key, "a", Timestamp::EPOCH, Duration::MAX)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_acquire_lease(&key, "b", Timestamp::from_secs(u64::MAX / 2000), Duration::ZERO)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    crate::testing::run_all(|| async { MemoryStore::new() }).await;
}

#[tokio::test]
async fn memory_store_passes_the_logout_list_suite() {
    crate::testing::run_logout_list(|| async { MemoryStore::new() }).await;
}
