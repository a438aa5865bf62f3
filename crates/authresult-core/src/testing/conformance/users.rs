//! Conformance checks for several users on one device: sessions and leases
//! are kept per (tenant, user, provider).

use std::time::Duration;

use super::{T0, assert_same_session, sample_session};
use crate::{CasOutcome, LeaseStore, Session, SessionKey, SessionStore, UserId};

/// [`sample_session`] of `user`: its tokens name the user, so a session of
/// one user read under another's key is noticed.
pub fn sample_user_session(tenant: &str, user: &str, provider: &str, n: u64) -> Session {
    let mut session = sample_session(tenant, &format!("{provider}-of-{user}"), n);
    session.key = SessionKey::for_user(tenant, user, provider);
    session.set_login_id_for_tests(format!("login-{tenant}-{user}-{provider}"));
    session
}

/// Two users of one tenant each keep their own session at the same
/// provider: get, list per user, compare-and-swap and removal touch only
/// the named user; the default user is one more user; `remove_tenant`
/// removes every user's sessions.
pub async fn sessions_are_per_user<S: SessionStore + ?Sized>(store: &S) {
    let (amina, bob) = (
        sample_user_session("t", "amina", "p", 1),
        sample_user_session("t", "bob", "p", 2),
    );
    let single = sample_session("t", "p", 3);
    for session in [&amina, &bob, &single] {
        assert_eq!(store.put(session).await.expect("put"), 1);
    }
    for session in [&amina, &bob, &single] {
        let stored = store.get(&session.key).await.expect("get").expect("session");
        assert_same_session(&stored, session);
    }
    let of_amina = store
        .list_user(&"t".into(), &UserId::from("amina"))
        .await
        .expect("list_user");
    assert_eq!(of_amina.len(), 1, "list_user returns only that user's sessions");
    assert_same_session(&of_amina[0], &amina);
    let of_default = store
        .list_user(&"t".into(), &UserId::default())
        .await
        .expect("list_user");
    assert_eq!(of_default.len(), 1);
    assert_same_session(&of_default[0], &single);
    let users: Vec<String> = store
        .list(&"t".into())
        .await
        .expect("list")
        .iter()
        .map(|s| s.key.user.to_string())
        .collect();
    assert_eq!(users, ["", "amina", "bob"], "list has every user, ordered");

    // A write of one user never conflicts with another's version.
    let mut next = sample_user_session("t", "bob", "p", 4);
    next.set_stored_version(1);
    assert_eq!(
        store.compare_and_swap(&next, 1).await.expect("cas"),
        CasOutcome::Stored { version: 2 }
    );
    let mut stale_amina = amina.clone();
    stale_amina.set_stored_version(2);
    assert!(
        !store
            .remove_if_current(&stale_amina)
            .await
            .expect("remove_if_current"),
        "bob's version 2 does not remove amina's version 1"
    );
    assert!(store.remove(&amina.key).await.expect("remove"));
    assert!(store.get(&amina.key).await.expect("get").is_none());
    assert!(
        store.get(&bob.key).await.expect("get").is_some(),
        "bob keeps his session"
    );
    assert_eq!(store.remove_tenant(&"t".into()).await.expect("remove_tenant"), 2);
    assert!(store.list(&"t".into()).await.expect("list").is_empty());
}

/// Each user's session has its own refresh lease.
pub async fn leases_are_per_user<S: LeaseStore + ?Sized>(store: &S) {
    let ttl = Duration::from_secs(30);
    for (user, holder) in [("amina", "one"), ("bob", "two"), ("", "three")] {
        let key = SessionKey::for_user("t", user, "p");
        assert!(
            store
                .try_acquire_lease(&key, holder, T0, ttl)
                .await
                .expect("lease"),
            "the lease of {user:?} is free"
        );
    }
    let bob = SessionKey::for_user("t", "bob", "p");
    assert!(
        !store
            .try_acquire_lease(&bob, "four", T0, ttl)
            .await
            .expect("lease")
    );
    store.release_lease(&bob, "two").await.expect("release");
    assert!(
        store
            .try_acquire_lease(&bob, "four", T0, ttl)
            .await
            .expect("lease")
    );
    let amina = SessionKey::for_user("t", "amina", "p");
    assert!(
        !store
            .try_acquire_lease(&amina, "four", T0, ttl)
            .await
            .expect("lease")
    );
}

/// User names with quotes, slashes, wildcards and non-ASCII text round-trip.
pub async fn unusual_user_names<S: SessionStore + ?Sized>(store: &S) {
    let names = ["it's", "100%", "a_b", "x/y", "Ω≈ç√", " spaced "];
    for (n, name) in (0u64..).zip(names) {
        store
            .put(&sample_user_session("t", name, "p", n))
            .await
            .expect("put");
    }
    for (n, name) in (0u64..).zip(names) {
        let stored = store
            .get(&SessionKey::for_user("t", name, "p"))
            .await
            .expect("get")
            .expect("session");
        assert_same_session(&stored, &sample_user_session("t", name, "p", n));
        let listed = store
            .list_user(&"t".into(), &name.into())
            .await
            .expect("list_user");
        assert_eq!(listed.len(), 1, "only {name:?}'s session");
    }
}
