//! The conformance suites: one behaviour for every backend of each store
//! port, one suite per port (`sessions.rs`, `usernames.rs`, `pending.rs`,
//! `leases.rs`, `revocations.rs`, `nonces.rs`; `users.rs` holds the per-user checks of
//! sessions and leases).
//!
//! Enabled by the `testing` feature of `authresult-core` (a third-party
//! backend runs it without compiling SQLite), its one path. A backend's
//! tests call [`run_all`] (every port, for a
//! backend implementing all of them), a port's runner ([`run_sessions`],
//! [`run_usernames`], [`run_pending_logins`], [`run_leases`],
//! [`run_revocations`], [`run_replay`], [`run_nonces`]) with a function making a fresh, empty store, or the
//! single checks one by one. The checks use explicit [`Timestamp`]s (they
//! never sleep) and assume nothing about the backend but the port's contract.
//!
//! The checks panic with a message naming the failed expectation, like
//! `assert!`; they are test code.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::{
    AccessToken, AuthResult, Exposed, IdToken, LeaseStore, LoginPrompt, NonceStore, Origin,
    PendingAuthorization, PendingLoginStore, PendingRevocation, PendingSecret, RefreshToken, ReplayCache,
    RevocableToken, RevocationQueue, Session, SessionKey, SessionStore, StoreBackend, Timestamp,
    UsernameStore,
};
use std::sync::Arc;

mod leases;
mod logouts;
mod nonces;
mod pending;
mod replay;
mod revocations;
mod sessions;
mod usernames;
mod users;

pub use leases::*;
pub use logouts::*;
pub use nonces::*;
pub use pending::*;
pub use replay::*;
pub use revocations::*;
pub use sessions::*;
pub use usernames::*;
pub use users::{leases_are_per_user, sample_user_session, sessions_are_per_user, unusual_user_names};

/// The time the sample data is issued at.
pub const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// Runs every port's suite, and the checks across ports, each check on a
/// fresh backend from `make`.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: StoreBackend,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_sessions(&mut make).await;
    run_usernames(&mut make).await;
    run_pending_logins(&mut make).await;
    run_leases(&mut make).await;
    run_revocations(&mut make).await;
    run_nonces(&mut make).await;
    remove_tenant_keeps_the_username(&make().await).await;
}

/// The [`LogoutList`](crate::LogoutList) suite, each check on a fresh list
/// from `make` (not part of [`run_all`]: a sync server's port, not the
/// manager's).
pub async fn run_logout_list<S, F, Fut>(mut make: F)
where
    S: crate::LogoutList,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    logouts_are_loaded_until_they_expire(&make().await).await;
    recording_again_keeps_the_latest(&make().await).await;
    malformed_logouts_are_refused(&make().await).await;
    a_feed_hears_of_new_logouts(&make().await).await;
}

/// The [`SessionStore`] suite, each check on a fresh store from `make`.
pub async fn run_sessions<S, F, Fut>(mut make: F)
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
    compare_and_swap_versions(&make().await).await;
    stale_writer_cannot_overwrite_rotation(&make().await).await;
    swap_never_replaces_another_login(&make().await).await;
    concurrent_swaps_have_one_winner(&make().await).await;
    concurrent_puts_are_all_counted(&make().await).await;
    unusual_names(&make().await).await;
    extreme_times(&make().await).await;
    sealed_auth_round_trips(&make().await).await;
    dpop_key_round_trips(&make().await).await;
    sessions_are_per_user(&make().await).await;
    unusual_user_names(&make().await).await;
}

/// The [`UsernameStore`] suite, each check on a fresh store from `make`.
pub async fn run_usernames<S, F, Fut>(mut make: F)
where
    S: UsernameStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    username_per_tenant(&make().await).await;
    unusual_username_tenants(&make().await).await;
}

/// The [`PendingLoginStore`] suite, each check on a fresh store from `make`.
pub async fn run_pending_logins<S, F, Fut>(mut make: F)
where
    S: PendingLoginStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    pending_is_single_use(&make().await).await;
    pending_expires(&make().await).await;
    pending_purge(&make().await).await;
    pending_is_per_tenant(&make().await).await;
    pending_extreme_times(&make().await).await;
}

/// The [`LeaseStore`] suite (but the clock checks, which depend on the
/// backend: [`lease_expires_on_the_callers_clock`] or
/// [`lease_ignores_the_callers_clock`]), each check on a fresh store from `make`.
pub async fn run_leases<S, F, Fut>(mut make: F)
where
    S: LeaseStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    lease_has_one_holder(&make().await).await;
    lease_of_dead_holder_expires(&make().await).await;
    lease_release(&make().await).await;
    lease_is_per_session(&make().await).await;
    lease_extreme_times(&make().await).await;
    leases_are_per_user(&make().await).await;
}

/// The [`ReplayCache`] suite, each check on a fresh cache from `make`
/// (not part of [`run_all`]: a session backend need not be one).
pub async fn run_replay<S, F, Fut>(mut make: F)
where
    S: ReplayCache + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    replay_first_use_once(&make().await).await;
    replay_keys_are_exact(&make().await).await;
    replay_concurrent_first_use(Arc::new(make().await)).await;
    replay_expires(&make().await).await;
}

/// The [`RevocationQueue`] suite, each check on a fresh store from `make`.
pub async fn run_revocations<S, F, Fut>(mut make: F)
where
    S: RevocationQueue,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    revocations_round_trip(&make().await).await;
    revocations_are_bounded(&make().await).await;
    revocations_keep_what_they_are_told(&make().await).await;
}

/// The [`NonceStore`] suite, each check on a fresh store from `make`.
pub async fn run_nonces<S, F, Fut>(mut make: F)
where
    S: NonceStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    nonces_per_tenant_and_origin(&make().await).await;
    unusual_nonces(&make().await).await;
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

pub(crate) fn url_of(text: &str) -> url::Url {
    url::Url::parse(text).expect("sample URLs are valid")
}

/// Everything of a session as JSON (tokens included), except its version.
pub(crate) fn comparable(session: &Session) -> serde_json::Value {
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

pub(crate) fn assert_same_pending(actual: &PendingAuthorization, expected: &PendingAuthorization) {
    let a = serde_json::to_value(Exposed(actual)).expect("a pending login serializes");
    let b = serde_json::to_value(Exposed(expected)).expect("a pending login serializes");
    assert!(
        a == b,
        "pending login {} differs from what was written",
        expected.state
    );
}

pub(crate) fn key(tenant: &str, provider: &str) -> SessionKey {
    SessionKey::new(tenant, provider)
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
