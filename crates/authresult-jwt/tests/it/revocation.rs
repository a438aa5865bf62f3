//! The revocation list a validator consults: a logout refuses the tokens it
//! matches on the full path and the cached fast path, and reaches the other
//! instances sharing the list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_core::{LogoutList, MemoryStore, Timestamp};
use authresult_jwt::{RevocationList, TokenValidator, ValidationErrorKind as K};
use serde_json::json;

use super::support::*;

pub async fn list_over(store: &Arc<MemoryStore>) -> RevocationList {
    let list: Arc<dyn LogoutList> = store.clone();
    RevocationList::builder(list)
        .reload_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

pub fn validator_with(list: &RevocationList) -> TokenValidator {
    builder(issuer_config(&jwks()))
        .revocations(list.clone())
        .build()
        .unwrap()
}

fn token_of(sub: &str, sid: Option<&str>, iat: u64) -> String {
    let mut claims = claims();
    claims["sub"] = json!(sub);
    claims["iat"] = json!(iat);
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    sign(rsa_a(), header("RS256", "rsa-a"), claims)
}

#[tokio::test]
async fn a_logout_refuses_a_cached_token_and_a_fresh_one() {
    let store = Arc::new(MemoryStore::new());
    let list = list_over(&store).await;
    let v = validator_with(&list);
    let issued = now() - 10;
    let old = token_of("alice", None, issued);
    let other = token_of("bob", None, issued);
    v.validate(&old).await.unwrap();
    v.validate(&other).await.unwrap();
    assert!(v.validate_cached(&old).is_some(), "cached before the logout");
    list.record(
        ISSUER,
        None,
        Some("alice".into()),
        Timestamp::from_secs(issued + 5),
    )
    .await
    .unwrap();
    assert!(
        v.validate_cached(&old).is_none(),
        "the cached fast path refuses it"
    );
    assert_rejected(v.validate(&old).await, K::LoggedOut, &old);
    // Fresh (not cached) token of the same user issued before the logout.
    let fresh_old = token_of("alice", Some("any"), issued - 1);
    assert_rejected(v.validate(&fresh_old).await, K::LoggedOut, &fresh_old);
    // Another user's cached token and the user's new login still pass.
    v.validate(&other).await.unwrap();
    v.validate(&token_of("alice", None, issued + 6)).await.unwrap();
}

#[tokio::test]
async fn a_logged_out_session_is_refused_by_sid() {
    let store = Arc::new(MemoryStore::new());
    let list = list_over(&store).await;
    let v = validator_with(&list);
    let t = now();
    let s1 = token_of("alice", Some("s1"), t);
    let s2 = token_of("alice", Some("s2"), t);
    v.validate(&s1).await.unwrap();
    v.validate(&s2).await.unwrap();
    list.record(
        ISSUER,
        Some("s1".into()),
        Some("alice".into()),
        Timestamp::from_secs(t),
    )
    .await
    .unwrap();
    assert_rejected(v.validate(&s1).await, K::LoggedOut, &s1);
    v.validate(&s2).await.unwrap();
    assert_eq!(K::LoggedOut.as_str(), "logged_out");
    assert!(!K::LoggedOut.is_transient());
}

#[tokio::test]
async fn another_instance_learns_of_the_logout_through_the_shared_list() {
    let store = Arc::new(MemoryStore::new());
    let here = list_over(&store).await;
    let there = list_over(&store).await;
    let (a, b) = (validator_with(&here), validator_with(&there));
    let t = now() - 1;
    let token = token_of("carol", None, t);
    a.validate(&token).await.unwrap();
    b.validate(&token).await.unwrap();
    here.record(ISSUER, None, Some("carol".into()), Timestamp::from_secs(t))
        .await
        .unwrap();
    let start = Instant::now();
    while b.validate(&token).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not refused within a second"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_rejected(b.validate(&token).await, K::LoggedOut, &token);
}

#[tokio::test]
async fn a_restarted_instance_loads_the_logouts_recorded_before() {
    let store = Arc::new(MemoryStore::new());
    let first = list_over(&store).await;
    let t = now() - 1;
    first
        .record(ISSUER, Some("s1".into()), None, Timestamp::from_secs(t))
        .await
        .unwrap();
    drop(first);
    let restarted = list_over(&store).await;
    assert_eq!(restarted.len(), 1);
    let v = validator_with(&restarted);
    let token = token_of("dave", Some("s1"), t);
    assert_rejected(v.validate(&token).await, K::LoggedOut, &token);
}

#[tokio::test]
async fn a_logout_naming_nothing_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let list = list_over(&store).await;
    assert!(
        list.record(ISSUER, None, None, Timestamp::from_secs(now()))
            .await
            .is_err()
    );
    assert!(
        list.record(ISSUER, Some("x".repeat(300)), None, Timestamp::from_secs(now()))
            .await
            .is_err()
    );
    assert!(list.is_empty());
}
