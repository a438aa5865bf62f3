//! The sessions port's checks ([`SessionStore`]).

use futures::future::join_all;

use super::{T0, assert_same_session, key, sample_session, sample_session_of_another_login};
use crate::{CasOutcome, RefreshToken, Session, SessionStore, Timestamp};

/// `get` of an unknown key is `None`; `list` is empty.
pub async fn get_missing<S: SessionStore + ?Sized>(store: &S) {
    assert!(
        store.get(&key("t", "p")).await.expect("get").is_none(),
        "unknown key"
    );
    assert!(
        store.list(&"t".into()).await.expect("list").is_empty(),
        "empty list"
    );
    assert!(
        !store.remove(&key("t", "p")).await.expect("remove"),
        "nothing to remove"
    );
}

/// A put session reads back with every field, at version 1.
pub async fn put_then_get<S: SessionStore + ?Sized>(store: &S) {
    let session = sample_session("tenant-a", "keycloak", 1);
    assert_eq!(store.put(&session).await.expect("put"), 1, "first version is 1");
    let stored = store
        .get(&session.key)
        .await
        .expect("get")
        .expect("stored session");
    assert_same_session(&stored, &session);
    assert_eq!(stored.version(), 1, "version read back");
    assert_eq!(stored.auth.access_token.secret(), "access-tenant-a-keycloak-1");
    assert_eq!(
        stored.auth.refresh_token.as_ref().map(RefreshToken::secret),
        Some("refresh-tenant-a-keycloak-1")
    );
    assert_eq!(stored.expires_at, Some(T0.saturating_add_secs(3600)));
}

/// A second put replaces the session (optional fields dropped included) and bumps the version.
pub async fn put_overwrites<S: SessionStore + ?Sized>(store: &S) {
    let first = sample_session("t", "p", 1);
    store.put(&first).await.expect("put");
    let mut second = sample_session("t", "p", 2);
    second.auth.refresh_token = None;
    second.auth.id_token = None;
    second.auth.profile = None;
    second.username = None;
    second.subject = None;
    second.expires_at = None;
    assert_eq!(store.put(&second).await.expect("put"), 2, "second version is 2");
    let stored = store
        .get(&second.key)
        .await
        .expect("get")
        .expect("stored session");
    assert_same_session(&stored, &second);
    assert_eq!(stored.version(), 2);
    assert_eq!(
        store.list(&"t".into()).await.expect("list").len(),
        1,
        "still one session"
    );
}

/// `remove` drops one session and says whether there was one.
pub async fn remove_session<S: SessionStore + ?Sized>(store: &S) {
    store.put(&sample_session("t", "a", 1)).await.expect("put");
    store.put(&sample_session("t", "b", 1)).await.expect("put");
    assert!(
        store.remove(&key("t", "a")).await.expect("remove"),
        "there was one"
    );
    assert!(
        !store.remove(&key("t", "a")).await.expect("remove"),
        "already removed"
    );
    assert!(store.get(&key("t", "a")).await.expect("get").is_none(), "removed");
    assert!(
        store.get(&key("t", "b")).await.expect("get").is_some(),
        "other provider kept"
    );
    // A removed session starts again at version 1.
    assert_eq!(store.put(&sample_session("t", "a", 2)).await.expect("put"), 1);
}

/// `remove_tenant` removes every session of one tenant and nothing else.
pub async fn remove_tenant_keeps_other_tenants<S: SessionStore + ?Sized>(store: &S) {
    for provider in ["a", "b", "c"] {
        store.put(&sample_session("one", provider, 1)).await.expect("put");
    }
    store.put(&sample_session("two", "a", 7)).await.expect("put");
    store
        .put(&sample_session("one-and-more", "a", 8))
        .await
        .expect("put");
    assert_eq!(
        store.remove_tenant(&"one".into()).await.expect("remove_tenant"),
        3
    );
    assert!(
        store.list(&"one".into()).await.expect("list").is_empty(),
        "tenant emptied"
    );
    let other = store
        .get(&key("two", "a"))
        .await
        .expect("get")
        .expect("other tenant kept");
    assert_same_session(&other, &sample_session("two", "a", 7));
    assert!(
        store.get(&key("one-and-more", "a")).await.expect("get").is_some(),
        "prefix kept"
    );
    assert_eq!(
        store.remove_tenant(&"one".into()).await.expect("remove_tenant"),
        0
    );
}

/// `list` returns one tenant's sessions ordered by provider.
pub async fn list_is_per_tenant_and_sorted<S: SessionStore + ?Sized>(store: &S) {
    for provider in ["zitadel", "auth0", "keycloak"] {
        store.put(&sample_session("t", provider, 1)).await.expect("put");
    }
    store.put(&sample_session("u", "aaa", 1)).await.expect("put");
    let listed = store.list(&"t".into()).await.expect("list");
    let providers: Vec<&str> = listed.iter().map(|s| s.key.provider.as_str()).collect();
    assert_eq!(providers, ["auth0", "keycloak", "zitadel"]);
    for session in &listed {
        assert_same_session(session, &sample_session("t", session.key.provider.as_str(), 1));
        assert_eq!(session.version(), 1);
    }
}

/// `remove_if_current` removes only the version it names: not a newer one.
pub async fn remove_if_current_spares_newer_versions<S: SessionStore + ?Sized>(store: &S) {
    let read = sample_session("t", "p", 1);
    assert!(
        !store.remove_if_current(&read).await.expect("remove_if_current"),
        "nothing to remove"
    );
    let mut read = read;
    read.set_stored_version(store.put(&read).await.expect("put"));
    let rotated = sample_session("t", "p", 2);
    assert_eq!(
        store
            .compare_and_swap(&rotated, read.version())
            .await
            .expect("cas"),
        CasOutcome::Stored { version: 2 }
    );
    assert!(
        !store.remove_if_current(&read).await.expect("remove_if_current"),
        "a stale version removed the rotated session"
    );
    let stored = store.get(&read.key).await.expect("get").expect("session kept");
    assert_same_session(&stored, &rotated);
    assert!(
        store.remove_if_current(&stored).await.expect("remove_if_current"),
        "the current version is removed"
    );
    assert!(store.get(&read.key).await.expect("get").is_none());
}

/// `remove_if_current` spares another login's session, even at the same
/// version (versions restart after a removal).
pub async fn remove_if_current_spares_another_login<S: SessionStore + ?Sized>(store: &S) {
    let mut alice = sample_session("t", "p", 1);
    alice.set_stored_version(store.put(&alice).await.expect("put"));
    assert!(store.remove(&alice.key).await.expect("remove"));
    let bob = sample_session_of_another_login("t", "p", 2);
    assert_eq!(store.put(&bob).await.expect("put"), alice.version());
    assert!(
        !store.remove_if_current(&alice).await.expect("remove_if_current"),
        "another login's session was removed"
    );
    let stored = store.get(&bob.key).await.expect("get").expect("bob kept");
    assert_same_session(&stored, &bob);
}

/// Compare-and-swap never replaces a session of another login, even when
/// its version is the expected one (the old login was removed and a new one
/// stored, so versions restarted).
pub async fn swap_never_replaces_another_login<S: SessionStore + ?Sized>(store: &S) {
    let alice = sample_session("t", "p", 1);
    let read = store.put(&alice).await.expect("put");
    assert!(store.remove(&alice.key).await.expect("remove"));
    let bob = sample_session_of_another_login("t", "p", 2);
    assert_eq!(store.put(&bob).await.expect("put"), read);
    let rotated = sample_session("t", "p", 3);
    assert_eq!(
        store.compare_and_swap(&rotated, read).await.expect("cas"),
        CasOutcome::Conflict { current: Some(read) },
        "a refresh of alice replaced bob"
    );
    let stored = store.get(&bob.key).await.expect("get").expect("bob kept");
    assert_same_session(&stored, &bob);
}

/// Compare-and-swap: 0 means "no session"; versions go up by one.
pub async fn compare_and_swap_versions<S: SessionStore + ?Sized>(store: &S) {
    let session = sample_session("t", "p", 1);
    assert_eq!(
        store.compare_and_swap(&session, 0).await.expect("cas"),
        CasOutcome::Stored { version: 1 },
        "creates when absent"
    );
    assert_eq!(
        store.compare_and_swap(&session, 0).await.expect("cas"),
        CasOutcome::Conflict { current: Some(1) },
        "0 expects no session"
    );
    assert_eq!(
        store
            .compare_and_swap(&sample_session("t", "p", 2), 1)
            .await
            .expect("cas"),
        CasOutcome::Stored { version: 2 }
    );
    assert_eq!(
        store.put(&sample_session("t", "p", 3)).await.expect("put"),
        3,
        "put continues"
    );
    assert_eq!(
        store
            .compare_and_swap(&sample_session("t", "p", 4), 2)
            .await
            .expect("cas"),
        CasOutcome::Conflict { current: Some(3) }
    );
    let stored = store.get(&session.key).await.expect("get").expect("session");
    assert_same_session(&stored, &sample_session("t", "p", 3));
    store.remove(&session.key).await.expect("remove");
    assert_eq!(
        store.compare_and_swap(&session, 3).await.expect("cas"),
        CasOutcome::Conflict { current: None },
        "a removed session is not brought back"
    );
    assert!(store.get(&session.key).await.expect("get").is_none());
}

/// Two writers read version 1; the one that rotates first wins, the stale
/// one gets a conflict and the rotated refresh token stays.
pub async fn stale_writer_cannot_overwrite_rotation<S: SessionStore + ?Sized>(store: &S) {
    let original = sample_session("t", "p", 1);
    store.put(&original).await.expect("put");
    let read_by_a = store.get(&original.key).await.expect("get").expect("session");
    let read_by_b = store.get(&original.key).await.expect("get").expect("session");
    let rotated_by_a = read_by_a.refreshed(sample_session("t", "p", 2).auth, T0.saturating_add_secs(60));
    let rotated_by_b = read_by_b.refreshed(sample_session("t", "p", 3).auth, T0.saturating_add_secs(61));
    assert_eq!(
        store
            .compare_and_swap(&rotated_by_a, read_by_a.version())
            .await
            .expect("cas"),
        CasOutcome::Stored { version: 2 }
    );
    assert_eq!(
        store
            .compare_and_swap(&rotated_by_b, read_by_b.version())
            .await
            .expect("cas"),
        CasOutcome::Conflict { current: Some(2) },
        "stale writer refused"
    );
    let stored = store.get(&original.key).await.expect("get").expect("session");
    assert_eq!(
        stored.auth.refresh_token.as_ref().map(RefreshToken::secret),
        Some("refresh-t-p-2"),
        "the first rotation is kept"
    );
    assert_same_session(&stored, &rotated_by_a);
}

/// Concurrent swaps from the same version: exactly one is stored.
pub async fn concurrent_swaps_have_one_winner<S: SessionStore + ?Sized>(store: &S) {
    let base = sample_session("t", "p", 0);
    store.put(&base).await.expect("put");
    let candidates: Vec<Session> = (1..=8).map(|n| sample_session("t", "p", n)).collect();
    let outcomes = join_all(candidates.iter().map(|s| store.compare_and_swap(s, 1))).await;
    let mut winners = Vec::new();
    for (outcome, candidate) in outcomes.into_iter().zip(&candidates) {
        match outcome.expect("cas") {
            CasOutcome::Stored { version } => {
                assert_eq!(version, 2);
                winners.push(candidate);
            }
            CasOutcome::Conflict { current } => assert_eq!(current, Some(2)),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent swap wins");
    let stored = store.get(&base.key).await.expect("get").expect("session");
    assert_same_session(&stored, winners[0]);
}

/// Concurrent puts on one key: each gets its own version, none is lost.
pub async fn concurrent_puts_are_all_counted<S: SessionStore + ?Sized>(store: &S) {
    let sessions: Vec<Session> = (1..=16).map(|n| sample_session("t", "p", n)).collect();
    let versions = join_all(sessions.iter().map(|s| store.put(s))).await;
    let mut versions: Vec<u64> = versions.into_iter().map(|v| v.expect("put")).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<u64>>(), "one version per put");
    let stored = store.get(&key("t", "p")).await.expect("get").expect("session");
    assert_eq!(stored.version(), 16);
}

/// Names with quotes, wildcards, separators and non-ASCII are plain data.
pub async fn unusual_names<S: SessionStore + ?Sized>(store: &S) {
    let names = ["it's", "100%", "a_b", "x/y", "Ω≈ç√", "semi;colon\"--", " spaced "];
    for (n, name) in (0u64..).zip(names) {
        store.put(&sample_session(name, name, n)).await.expect("put");
    }
    for (n, name) in (0u64..).zip(names) {
        let stored = store.get(&key(name, name)).await.expect("get").expect("session");
        assert_same_session(&stored, &sample_session(name, name, n));
    }
    assert_eq!(
        store.remove_tenant(&"100%".into()).await.expect("remove_tenant"),
        1
    );
    assert_eq!(store.remove_tenant(&"a%".into()).await.expect("remove_tenant"), 0);
    assert!(store.get(&key("a_b", "a_b")).await.expect("get").is_some());
}

/// A session that never expires is stored and read back whole.
pub async fn extreme_times<S: SessionStore + ?Sized>(store: &S) {
    let mut session = sample_session("t", "p", 1);
    session.auth.expires_in = u64::MAX;
    session.expires_at = Some(Timestamp::MAX);
    store.put(&session).await.expect("put");
    let stored = store.get(&session.key).await.expect("get").expect("session");
    assert_same_session(&stored, &session);
}

/// A session whose `AuthResult` a wrapper sealed (`Session::sealed_auth`,
/// an empty access token) reads back with its box.
pub async fn sealed_auth_round_trips<S: SessionStore + ?Sized>(store: &S) {
    let mut session = sample_session("t", "p", 1);
    session.auth = crate::AuthResult::new(crate::AccessToken::new(""), 3600);
    session.sealed_auth = Some(crate::SealedAuth::new("00ff".repeat(40)));
    store.put(&session).await.expect("put");
    let stored = store.get(&session.key).await.expect("get").expect("session");
    assert_same_session(&stored, &session);
    assert_eq!(
        stored.sealed_auth.as_ref().map(crate::SealedAuth::secret),
        session.sealed_auth.as_ref().map(crate::SealedAuth::secret)
    );
}
