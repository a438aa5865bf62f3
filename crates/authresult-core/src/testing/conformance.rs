//! The conformance suite: one behaviour for every [`SessionStore`] backend.
//!
//! Enabled by the `testing` feature of `authresult-core` (a third-party
//! backend runs it without compiling SQLite); `authresult_store::testing`
//! re-exports it. A backend's tests call [`run_all`] with
//! a function making a fresh, empty store, or the single checks one by one.
//! The checks use explicit [`Timestamp`]s (they never sleep) and assume
//! nothing about the backend but the [`SessionStore`] contract.
//!
//! The checks panic with a message naming the failed expectation, like
//! `assert!`; they are test code.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::{
    AccessToken, AuthResult, CasOutcome, Exposed, IdToken, LoginPrompt, MAX_PENDING_REVOCATIONS, Origin,
    PendingAuthorization, PendingRevocation, PendingSecret, RefreshToken, RevocableToken, Session,
    SessionKey, SessionStore, TenantId, Timestamp,
};
use futures::future::join_all;

mod users;

pub use users::{leases_are_per_user, sample_user_session, sessions_are_per_user, unusual_user_names};

/// The time the sample data is issued at.
pub const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: SessionStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    get_missing(&make().await).await;
    put_then_get(&make().await).await;
    put_overwrites(&make().await).await;
    remove_session(&make().await).await;
    remove_if_current_spares_newer_versions(&make().await).await;
    remove_if_current_spares_another_login(&make().await).await;
    remove_tenant_keeps_other_tenants(&make().await).await;
    list_is_per_tenant_and_sorted(&make().await).await;
    username_per_tenant(&make().await).await;
    pending_is_single_use(&make().await).await;
    pending_expires(&make().await).await;
    pending_purge(&make().await).await;
    pending_is_per_tenant(&make().await).await;
    lease_has_one_holder(&make().await).await;
    lease_of_dead_holder_expires(&make().await).await;
    lease_release(&make().await).await;
    lease_is_per_session(&make().await).await;
    compare_and_swap_versions(&make().await).await;
    stale_writer_cannot_overwrite_rotation(&make().await).await;
    swap_never_replaces_another_login(&make().await).await;
    concurrent_swaps_have_one_winner(&make().await).await;
    concurrent_puts_are_all_counted(&make().await).await;
    unusual_names(&make().await).await;
    extreme_times(&make().await).await;
    revocations_round_trip(&make().await).await;
    revocations_are_bounded(&make().await).await;
    sessions_are_per_user(&make().await).await;
    leases_are_per_user(&make().await).await;
    unusual_user_names(&make().await).await;
}

/// The origin of the sample sessions and revocations.
pub fn sample_origin() -> Origin {
    Origin::oidc(&url_of("https://idp.example.org/realms/field"), "field-app")
}

/// A session with every field set: tokens derived from `n`, profile,
/// metadata, username, [`sample_origin`], an expiry one hour after [`T0`].
pub fn sample_session(tenant: &str, provider: &str, n: u64) -> Session {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{tenant}-{provider}-{n}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-{tenant}-{provider}-{n}")));
    auth.id_token = Some(IdToken::new(format!("idtoken-{tenant}-{provider}-{n}")));
    auth.profile = Some(BTreeMap::from([
        ("sub".to_owned(), format!("user-{n}")),
        ("name".to_owned(), "Zoë O'Brien \"ünïcödé\"".to_owned()),
    ]));
    auth.user_metadata = Some(BTreeMap::from([("team".to_owned(), format!("team-{n}"))]));
    let mut session = Session::new(SessionKey::new(tenant, provider), auth, T0);
    session.username = Some(format!("user{n}@example.org"));
    // One login per key: samples of a key stand for its successive refreshes.
    session.set_login_id_for_tests(format!("login-{tenant}-{provider}"));
    session.origin = Some(sample_origin());
    session
}

/// A session of another login than [`sample_session`]'s for the same key.
pub fn sample_session_of_another_login(tenant: &str, provider: &str, n: u64) -> Session {
    let mut session = sample_session(tenant, provider, n);
    session.set_login_id_for_tests(format!("another-login-{tenant}-{provider}"));
    session.subject = Some(format!("another-user-{n}"));
    session
}

/// A pending login for `tenant`/`provider` under `state`, expiring at `expires_at`.
pub fn sample_pending(
    tenant: &str,
    provider: &str,
    state: &str,
    expires_at: Timestamp,
) -> PendingAuthorization {
    PendingAuthorization {
        key: SessionKey::new(tenant, provider),
        state: state.to_owned(),
        prompt: LoginPrompt::Redirect {
            authorization_url: url_of(&format!("https://idp.example.org/auth?state={state}")),
        },
        redirect_uri: Some(url_of("http://127.0.0.1:8765/callback")),
        created_at: T0,
        expires_at,
        secret: PendingSecret::new(format!("pkce-verifier-{state}")),
        origin: Some(sample_origin()),
    }
}

fn url_of(text: &str) -> url::Url {
    url::Url::parse(text).expect("sample URLs are valid")
}

/// Everything of a session as JSON (tokens included), except its version.
fn comparable(session: &Session) -> serde_json::Value {
    let mut copy = session.clone();
    copy.set_stored_version(0);
    serde_json::to_value(Exposed(&copy)).expect("a session serializes")
}

/// Panics unless `actual` holds the same data as `expected` (versions aside).
pub fn assert_same_session(actual: &Session, expected: &Session) {
    assert!(
        comparable(actual) == comparable(expected),
        "stored session {} differs from what was written",
        expected.key
    );
}

fn assert_same_pending(actual: &PendingAuthorization, expected: &PendingAuthorization) {
    let a = serde_json::to_value(Exposed(actual)).expect("a pending login serializes");
    let b = serde_json::to_value(Exposed(expected)).expect("a pending login serializes");
    assert!(
        a == b,
        "pending login {} differs from what was written",
        expected.state
    );
}

fn key(tenant: &str, provider: &str) -> SessionKey {
    SessionKey::new(tenant, provider)
}

/// `get` of an unknown key is `None`; `list`, `username` are empty.
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
        store.username(&"t".into()).await.expect("username").is_none(),
        "no username"
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
    store
        .set_username(&"two".into(), Some("bob".into()))
        .await
        .expect("username");
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
        store.username(&"two".into()).await.expect("username").as_deref(),
        Some("bob")
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

/// Usernames are per tenant; set, overwrite, clear.
pub async fn username_per_tenant<S: SessionStore + ?Sized>(store: &S) {
    let (a, b): (TenantId, TenantId) = ("a".into(), "b".into());
    store.set_username(&a, Some("alice".into())).await.expect("set");
    store.set_username(&b, Some("bob".into())).await.expect("set");
    assert_eq!(store.username(&a).await.expect("get").as_deref(), Some("alice"));
    store.set_username(&a, Some("alice2".into())).await.expect("set");
    assert_eq!(store.username(&a).await.expect("get").as_deref(), Some("alice2"));
    store.set_username(&a, None).await.expect("clear");
    assert_eq!(store.username(&a).await.expect("get"), None);
    store.set_username(&a, None).await.expect("clear twice");
    assert_eq!(
        store.username(&b).await.expect("get").as_deref(),
        Some("bob"),
        "other tenant kept"
    );
}

/// A pending login is taken once, whole (secret included).
pub async fn pending_is_single_use<S: SessionStore + ?Sized>(store: &S) {
    let pending = sample_pending("t", "p", "state-1", T0.saturating_add_secs(600));
    store.put_pending(&pending).await.expect("put_pending");
    let now = T0.saturating_add_secs(1);
    let taken = store
        .take_pending(&"t".into(), "state-1", now)
        .await
        .expect("take");
    assert_same_pending(&taken.expect("pending login"), &pending);
    assert!(
        store
            .take_pending(&"t".into(), "state-1", now)
            .await
            .expect("take")
            .is_none(),
        "a state is taken once"
    );
    assert!(
        store
            .take_pending(&"t".into(), "unknown", now)
            .await
            .expect("take")
            .is_none()
    );
}

/// A pending login expired at `now` (expiry == now included) is refused.
pub async fn pending_expires<S: SessionStore + ?Sized>(store: &S) {
    let expires = T0.saturating_add_secs(600);
    store
        .put_pending(&sample_pending("t", "p", "late", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("t", "p", "edge", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("t", "p", "early", expires))
        .await
        .expect("put");
    let taken = store
        .take_pending(&"t".into(), "late", expires.saturating_add_secs(1))
        .await
        .expect("take");
    assert!(taken.is_none(), "expired pending login refused");
    assert!(
        store
            .take_pending(&"t".into(), "edge", expires)
            .await
            .expect("take")
            .is_none(),
        "a pending login has expired at its expiry"
    );
    let just_before = Timestamp::from_millis(expires.as_millis() - 1);
    assert!(
        store
            .take_pending(&"t".into(), "early", just_before)
            .await
            .expect("take")
            .is_some(),
        "valid until its expiry"
    );
}

/// `purge_pending` drops exactly the expired pending logins.
pub async fn pending_purge<S: SessionStore + ?Sized>(store: &S) {
    for (state, secs) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
        let pending = sample_pending("t", "p", state, T0.saturating_add_secs(secs));
        store.put_pending(&pending).await.expect("put");
    }
    store
        .put_pending(&sample_pending("u", "p", "e", T0.saturating_add_secs(15)))
        .await
        .expect("put");
    assert_eq!(
        store.purge_pending(T0).await.expect("purge"),
        0,
        "nothing expired yet"
    );
    assert_eq!(
        store
            .purge_pending(T0.saturating_add_secs(20))
            .await
            .expect("purge"),
        3
    );
    assert_eq!(
        store
            .purge_pending(T0.saturating_add_secs(20))
            .await
            .expect("purge"),
        0
    );
    let now = T0.saturating_add_secs(21);
    assert!(
        store
            .take_pending(&"t".into(), "a", now)
            .await
            .expect("take")
            .is_none()
    );
    assert!(
        store
            .take_pending(&"t".into(), "c", now)
            .await
            .expect("take")
            .is_some()
    );
    assert!(
        store
            .take_pending(&"t".into(), "d", now)
            .await
            .expect("take")
            .is_some()
    );
}

/// A pending login belongs to its tenant; another tenant cannot take it.
pub async fn pending_is_per_tenant<S: SessionStore + ?Sized>(store: &S) {
    let expires = T0.saturating_add_secs(600);
    store
        .put_pending(&sample_pending("a", "p", "same", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("b", "p", "same", expires))
        .await
        .expect("put");
    let taken = store
        .take_pending(&"b".into(), "same", T0)
        .await
        .expect("take")
        .expect("b's login");
    assert_eq!(taken.key.tenant.as_str(), "b");
    assert!(
        store
            .take_pending(&"c".into(), "same", T0)
            .await
            .expect("take")
            .is_none()
    );
    let taken = store
        .take_pending(&"a".into(), "same", T0)
        .await
        .expect("take")
        .expect("a's login");
    assert_eq!(taken.key.tenant.as_str(), "a");
}

/// Only one holder at a time; the holder may take it again (extending it).
pub async fn lease_has_one_holder<S: SessionStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(
        store.try_acquire_lease(&k, "one", T0, ttl).await.expect("lease"),
        "free lease taken"
    );
    assert!(
        !store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "held lease refused"
    );
    let later = T0.saturating_add_secs(20);
    assert!(
        store
            .try_acquire_lease(&k, "one", later, ttl)
            .await
            .expect("lease"),
        "holder renews"
    );
    // Renewed at T0+20 for 30 s: still held at T0+40.
    let t40 = T0.saturating_add_secs(40);
    assert!(
        !store.try_acquire_lease(&k, "two", t40, ttl).await.expect("lease"),
        "renewed lease held"
    );
}

/// The lease of a holder that died (never released) expires after its TTL
/// (here zero, so the check holds whichever clock the backend measures it by).
pub async fn lease_of_dead_holder_expires<S: SessionStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(
        store
            .try_acquire_lease(&k, "dead", T0, Duration::ZERO)
            .await
            .expect("lease")
    );
    assert!(
        store.try_acquire_lease(&k, "next", T0, ttl).await.expect("lease"),
        "expired at its end"
    );
    assert!(
        !store.try_acquire_lease(&k, "dead", T0, ttl).await.expect("lease"),
        "old holder lost it"
    );
}

/// For backends that measure leases with the caller's `now` (memory,
/// SQLite: one machine): a lease expires exactly at `now + ttl`.
pub async fn lease_expires_on_the_callers_clock<S: SessionStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(store.try_acquire_lease(&k, "dead", T0, ttl).await.expect("lease"));
    let before = T0.saturating_add(Duration::from_millis(29_999));
    assert!(
        !store
            .try_acquire_lease(&k, "next", before, ttl)
            .await
            .expect("lease"),
        "not yet expired"
    );
    let at = T0.saturating_add(ttl);
    assert!(
        store.try_acquire_lease(&k, "next", at, ttl).await.expect("lease"),
        "expired at its end"
    );
    assert!(
        !store.try_acquire_lease(&k, "dead", at, ttl).await.expect("lease"),
        "old holder lost it"
    );
}

/// For backends shared by machines (Postgres), which measure leases with
/// their own clock: an instance whose clock is far ahead (or behind) cannot
/// take a live lease, and a live lease is not made to expire by a holder's
/// clock being behind. Assumes the check runs in much less than an hour.
pub async fn lease_ignores_the_callers_clock<S: SessionStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let hour = Duration::from_secs(3600);
    let now = Timestamp::now();
    assert!(
        store
            .try_acquire_lease(&k, "one", now, hour)
            .await
            .expect("lease")
    );
    let far_ahead = now.saturating_add(Duration::from_secs(365 * 24 * 3600));
    assert!(
        !store
            .try_acquire_lease(&k, "fast", far_ahead, hour)
            .await
            .expect("lease"),
        "an instance with a fast clock took a live lease"
    );
    // A holder whose clock is far behind renews for a real hour, not one
    // that ended long ago.
    assert!(
        store
            .try_acquire_lease(&k, "one", Timestamp::EPOCH, hour)
            .await
            .expect("lease"),
        "holder renews"
    );
    assert!(
        !store
            .try_acquire_lease(&k, "fast", far_ahead, hour)
            .await
            .expect("lease"),
        "a lease renewed by a slow clock expired for a fast one"
    );
}

/// Only the holder releases; a released lease is free at once.
pub async fn lease_release<S: SessionStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(store.try_acquire_lease(&k, "one", T0, ttl).await.expect("lease"));
    store
        .release_lease(&k, "two")
        .await
        .expect("release by non-holder");
    assert!(
        !store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "still held"
    );
    store.release_lease(&k, "one").await.expect("release");
    assert!(
        store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "free after release"
    );
    store
        .release_lease(&key("t", "none"), "x")
        .await
        .expect("release of no lease");
}

/// Leases of different sessions (provider or tenant) are independent.
pub async fn lease_is_per_session<S: SessionStore + ?Sized>(store: &S) {
    let ttl = Duration::from_secs(30);
    assert!(
        store
            .try_acquire_lease(&key("t", "a"), "one", T0, ttl)
            .await
            .expect("lease")
    );
    assert!(
        store
            .try_acquire_lease(&key("t", "b"), "two", T0, ttl)
            .await
            .expect("lease")
    );
    assert!(
        store
            .try_acquire_lease(&key("u", "a"), "three", T0, ttl)
            .await
            .expect("lease")
    );
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
        store
            .set_username(&name.into(), Some(name.to_owned()))
            .await
            .expect("username");
    }
    for (n, name) in (0u64..).zip(names) {
        let stored = store.get(&key(name, name)).await.expect("get").expect("session");
        assert_same_session(&stored, &sample_session(name, name, n));
        assert_eq!(
            store.username(&name.into()).await.expect("username").as_deref(),
            Some(name)
        );
    }
    assert_eq!(
        store.remove_tenant(&"100%".into()).await.expect("remove_tenant"),
        1
    );
    assert_eq!(store.remove_tenant(&"a%".into()).await.expect("remove_tenant"), 0);
    assert!(store.get(&key("a_b", "a_b")).await.expect("get").is_some());
}

/// "Never expires" and "forever" leases work and do not overflow.
pub async fn extreme_times<S: SessionStore + ?Sized>(store: &S) {
    let mut session = sample_session("t", "p", 1);
    session.auth.expires_in = u64::MAX;
    session.expires_at = Some(Timestamp::MAX);
    store.put(&session).await.expect("put");
    let stored = store.get(&session.key).await.expect("get").expect("session");
    assert_same_session(&stored, &session);
    let k = key("t", "p");
    assert!(
        store
            .try_acquire_lease(&k, "one", T0, Duration::MAX)
            .await
            .expect("lease")
    );
    let far = Timestamp::from_millis(u64::MAX / 4);
    assert!(
        !store
            .try_acquire_lease(&k, "two", far, Duration::MAX)
            .await
            .expect("lease")
    );
    store
        .put_pending(&sample_pending("t", "p", "forever", Timestamp::MAX))
        .await
        .expect("put");
    assert_eq!(store.purge_pending(far).await.expect("purge"), 0);
    assert!(
        store
            .take_pending(&"t".into(), "forever", far)
            .await
            .expect("take")
            .is_some()
    );
}

/// A pending revocation of a refresh token (`access` false) or an access
/// token, written at `created_at`, to revoke until an hour later.
pub fn sample_revocation(
    tenant: &str,
    provider: &str,
    id: &str,
    access: bool,
    created_at: Timestamp,
) -> PendingRevocation {
    let text = format!("revoke-me-{tenant}-{provider}-{id}");
    PendingRevocation {
        key: SessionKey::new(tenant, provider),
        id: id.to_owned(),
        token: if access {
            RevocableToken::Access(AccessToken::new(text))
        } else {
            RevocableToken::Refresh(RefreshToken::new(text))
        },
        created_at,
        expires_at: created_at.saturating_add(Duration::from_secs(3600)),
        origin: Some(sample_origin()),
    }
}

fn revocation_json(revocation: &PendingRevocation) -> serde_json::Value {
    serde_json::to_value(Exposed(revocation)).expect("a pending revocation serializes")
}

fn ids(revocations: &[PendingRevocation]) -> Vec<&str> {
    revocations.iter().map(|r| r.id.as_str()).collect()
}

/// Pending revocations come back whole (token included), oldest first and
/// per tenant; writing the same id replaces; removing is once.
pub async fn revocations_round_trip<S: SessionStore + ?Sized>(store: &S) {
    let tenant: TenantId = "t".into();
    let later = T0.saturating_add(Duration::from_secs(1));
    let refresh = sample_revocation("t", "p", "b", false, T0);
    let access = sample_revocation("t", "q", "a", true, later);
    store.put_pending_revocation(&access).await.expect("put");
    store.put_pending_revocation(&refresh).await.expect("put");
    store
        .put_pending_revocation(&sample_revocation("other", "p", "c", false, T0))
        .await
        .expect("put");
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(ids(&found), ["b", "a"], "oldest first, this tenant only");
    assert!(
        revocation_json(&found[0]) == revocation_json(&refresh)
            && revocation_json(&found[1]) == revocation_json(&access),
        "a pending revocation differs from what was written"
    );
    // The same id again replaces it.
    let mut replaced = sample_revocation("t", "p", "b", true, T0);
    replaced.token = RevocableToken::Access(AccessToken::new("replacement"));
    store.put_pending_revocation(&replaced).await.expect("put");
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(found.len(), 2, "replaced, not added");
    assert_eq!(found[0].token.secret(), "replacement");
    // Expired ones are not listed.
    let after_refresh = refresh.expires_at;
    assert_eq!(
        ids(&store
            .pending_revocations(&tenant, after_refresh)
            .await
            .expect("list")),
        ["a"]
    );
    assert!(
        store
            .remove_pending_revocation(&tenant, "b")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_pending_revocation(&tenant, "b")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_pending_revocation(&"other".into(), "a")
            .await
            .expect("remove")
    );
    assert_eq!(
        ids(&store.pending_revocations(&tenant, T0).await.expect("list")),
        ["a"]
    );
    assert_eq!(
        ids(&store
            .pending_revocations(&"other".into(), T0)
            .await
            .expect("list")),
        ["c"]
    );
}

/// A tenant keeps at most `MAX_PENDING_REVOCATIONS`: a write drops the
/// expired ones, then the oldest; other tenants are untouched.
pub async fn revocations_are_bounded<S: SessionStore + ?Sized>(store: &S) {
    let tenant: TenantId = "t".into();
    store
        .put_pending_revocation(&sample_revocation("other", "p", "keep", false, T0))
        .await
        .expect("put");
    let total = MAX_PENDING_REVOCATIONS + 3;
    for n in 0..total {
        let at = T0.saturating_add(Duration::from_secs(n as u64));
        store
            .put_pending_revocation(&sample_revocation("t", "p", &format!("{n:03}"), n % 2 == 0, at))
            .await
            .expect("put");
    }
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(found.len(), MAX_PENDING_REVOCATIONS, "capped");
    assert_eq!(found[0].id, "003", "the oldest went first");
    assert_eq!(
        found.last().map(|r| r.id.as_str()),
        Some(format!("{:03}", total - 1).as_str())
    );
    // Written two hours later: the ones expired by then are dropped from the store.
    let late = T0.saturating_add(Duration::from_secs(7200));
    store
        .put_pending_revocation(&sample_revocation("t", "p", "late", false, late))
        .await
        .expect("put");
    assert_eq!(
        ids(&store
            .pending_revocations(&tenant, Timestamp::EPOCH)
            .await
            .expect("list")),
        ["late"],
        "expired ones are dropped by the next write"
    );
    assert_eq!(
        store
            .pending_revocations(&"other".into(), Timestamp::EPOCH)
            .await
            .expect("list")
            .len(),
        1,
        "other tenants untouched"
    );
}
