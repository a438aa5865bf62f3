//! A shared field tablet against the real provider: two users log in online
//! (device grant, approved on the provider's pages) on one SQLite store whose
//! named users' sessions are sealed per user (`KeySource::PerUser`); the
//! provider is stopped; each user unlocks offline and reads only their own
//! session; a refresh while it is down keeps the session and the offline
//! credential; the provider restarts without its grants (oidc-provider keeps
//! them in memory), the refresh is refused for good, and the vault disables
//! that user's offline unlock until an online login enables it again.
//!
//! The vault and the manager run on a `ManualClock`; the provider's own
//! process is its own, started and stopped here (not the binary's shared
//! one). Fails, never skips, when it cannot start.

use std::sync::Arc;

use authresult_core::{
    AuthEvent, AuthManager, Error, EventStream, FailureKind, LoginFlow, LoginPrompt, LoginResponse,
    ManualClock, Session, SessionStore as _, TenantId, Timestamp, UserId,
};
use authresult_store::{
    KdfParams, KeySource, OfflinePolicy, OfflineVault, SqliteStore, StoreError, VaultedStore,
};
use authresult_test_support::{Idp, IdpOptions};
use serde_json::json;
use url::Url;

use crate::support::{fast_options, provider_from};

const PROVIDER: &str = "p";
const ALICE: (&str, &str) = ("alice", "482913");
const BOB: (&str, &str) = ("bob", "730154");

/// One tablet: a SQLite file, its vault, a manager over the sealed store.
struct Tablet {
    tenant: TenantId,
    raw: Arc<SqliteStore>,
    vault: Arc<OfflineVault>,
    /// For enrollment (removes sessions sealed under a replaced key).
    sealed: VaultedStore,
    manager: AuthManager,
    clock: ManualClock,
}

impl Tablet {
    async fn new(path: &std::path::Path, issuer: &Url) -> Tablet {
        let clock = ManualClock::new(Timestamp::now());
        let raw = Arc::new(SqliteStore::open(path).await.unwrap());
        let mut policy = OfflinePolicy::default();
        // Cheap derivations: these tests are about the rules, not the cost.
        policy.kdf = KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            lanes: 1,
        };
        let vault = Arc::new(OfflineVault::new(raw.clone(), policy).with_clock(Arc::new(clock.clone())));
        let source = KeySource::PerUser {
            store_key: None,
            vault: vault.clone(),
        };
        let provider = provider_from(
            json!({"type": "oidc", "fields": {"issuer": issuer.as_str(), "client_id": "device-app"}}),
            fast_options(),
        );
        let manager = AuthManager::builder("field-app", source.protect(raw.clone()))
            .provider(PROVIDER, Arc::new(provider))
            .clock(Arc::new(clock.clone()))
            .build();
        Tablet {
            tenant: TenantId::new("field-app"),
            sealed: VaultedStore::new(raw.clone(), vault.clone()),
            raw,
            vault,
            manager,
            clock,
        }
    }

    /// An online device login of `user` (approved as `<user>/<user>-password`
    /// on the provider's pages), then the passcode enrolled.
    async fn login(&self, idp: &Idp, (user, passcode): (&str, &str)) -> Session {
        let id = UserId::from(user);
        self.vault
            .prepare_login(&self.tenant, &id, Some(passcode.as_bytes()))
            .await
            .unwrap();
        let manager = self.manager.for_user(user);
        let pending = manager
            .begin_login(PROVIDER, LoginFlow::DeviceCode)
            .await
            .unwrap();
        let LoginPrompt::DeviceCode {
            user_code,
            verification_uri,
            ..
        } = &pending.prompt
        else {
            panic!("expected a device prompt, got {:?}", pending.prompt);
        };
        let password = format!("{user}-password");
        let (session, approved) = tokio::join!(
            manager.complete_login(&pending, LoginResponse::DevicePoll),
            idp.approve_device(verification_uri, Some(user_code), user, &password, true)
        );
        approved.unwrap();
        let session = session.unwrap();
        self.sealed
            .enroll(&self.tenant, &id, passcode.as_bytes())
            .await
            .unwrap();
        session
    }

    async fn unlock(&self, (user, passcode): (&str, &str)) -> Result<(), StoreError> {
        self.vault
            .unlock(&self.tenant, &user.into(), passcode.as_bytes())
            .await
    }

    /// What `user`'s manager reads: their sessions, or the store's refusal.
    /// `user`, unlocked, reads exactly their own session (the one `login`
    /// stored) and `other`'s sessions stay sealed.
    async fn assert_sees_only_own(&self, user: &str, login: &Session, other: &str) {
        let mine = self.sessions(user).await.unwrap();
        assert_eq!(mine.len(), 1, "{user}");
        assert_eq!(mine[0].subject.as_deref(), Some(user));
        assert_eq!(refresh_token(&mine[0]), refresh_token(login));
        let refused = self.sessions(other).await.unwrap_err();
        assert!(
            matches!(store_error(&refused), StoreError::VaultLocked),
            "{user} reading {other}'s: {refused:?}"
        );
    }

    async fn sessions(&self, user: &str) -> Result<Vec<Session>, Error> {
        self.manager.for_user(user).sessions().await
    }
}

/// The store's own error inside a port error.
fn store_error(error: &Error) -> &StoreError {
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<StoreError>())
        .unwrap_or_else(|| panic!("not a store error: {error:?}"))
}

/// An error and its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn refresh_token(session: &Session) -> &str {
    session.auth.refresh_token.as_ref().unwrap().secret()
}

/// Hands every queued event to the vault, as an app following its
/// manager's events does; answers them.
async fn follow(tablet: &Tablet, user: &str, events: &mut EventStream) -> Vec<AuthEvent> {
    let mut seen = Vec::new();
    while let Some(event) = events.try_next_event() {
        tablet
            .vault
            .observe(&tablet.tenant, &user.into(), &event)
            .await
            .unwrap();
        seen.push(event);
    }
    seen
}

fn refresh_failed(events: &[AuthEvent], wanted: FailureKind) -> bool {
    events
        .iter()
        .any(|e| matches!(e, AuthEvent::RefreshFailed { kind, .. } if *kind == wanted))
}

#[tokio::test]
async fn two_users_offline_then_the_provider_forgets_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = IdpOptions::default();
    // The same signing keys after the restart.
    options.keys = Some(dir.path().join("idp-keys.json"));
    let idp = Idp::start(options.clone()).expect("the local OpenID provider (xtask/idp) did not start");
    let issuer = idp.issuer("plain").unwrap().clone();
    // The same port after the restart, so the same issuer.
    options.port = idp.base().port();
    let tablet = Tablet::new(&dir.path().join("tablet.sqlite"), &issuer).await;

    let alice = tablet.login(&idp, ALICE).await;
    let bob = tablet.login(&idp, BOB).await;
    assert_eq!(alice.subject.as_deref(), Some("alice"));
    assert_eq!(bob.subject.as_deref(), Some("bob"));
    // In the file, each session is one sealed box: no token readable.
    let at_rest = tablet.raw.list(&tablet.tenant).await.unwrap();
    assert_eq!(at_rest.len(), 2);
    for stored in &at_rest {
        assert!(stored.auth.refresh_token.is_none() && stored.auth.id_token.is_none());
        for login in [&alice, &bob] {
            assert_ne!(
                stored.auth.access_token.secret(),
                login.auth.access_token.secret()
            );
        }
    }

    // The provider stops; nothing below reaches it until it restarts.
    drop(idp);
    tablet.vault.lock_all();

    // alice unlocks offline and reads her own session, not bob's.
    tablet.unlock(ALICE).await.unwrap();
    tablet.assert_sees_only_own("alice", &alice, "bob").await;
    let refused = tablet
        .manager
        .for_user("bob")
        .session(PROVIDER)
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&refused), StoreError::VaultLocked),
        "{refused:?}"
    );
    let visible = tablet.manager.sessions().await.unwrap();
    assert!(visible.is_empty(), "the default user has no session");
    // alice's passcode does not open bob's vault (a counted failure).
    let wrong = tablet.unlock((BOB.0, ALICE.1)).await.unwrap_err();
    assert!(matches!(wrong, StoreError::WrongSecret { .. }), "{wrong:?}");
    tablet.clock.advance(tablet.vault.policy().delay_after(1));

    // bob unlocks with his own and reads his session, not alice's.
    tablet.vault.lock_all();
    tablet.unlock(BOB).await.unwrap();
    tablet.assert_sees_only_own("bob", &bob, "alice").await;

    // A refresh with the provider down is transient: the session (still
    // valid) and the offline credential are kept.
    let bob_manager = tablet.manager.for_user("bob");
    let mut events = bob_manager.subscribe();
    let kept = bob_manager.refresh(PROVIDER).await.unwrap();
    assert_eq!(refresh_token(&kept), refresh_token(&bob));
    let seen = follow(&tablet, "bob", &mut events).await;
    assert!(refresh_failed(&seen, FailureKind::Transient), "{seen:?}");
    let status = tablet
        .vault
        .status(&tablet.tenant, &"bob".into())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.disabled && !status.locked_out);
    tablet.vault.lock_all();
    tablet.unlock(BOB).await.unwrap();
    let his = tablet.sessions("bob").await.unwrap();
    assert_eq!(refresh_token(&his[0]), refresh_token(&bob));

    // The provider restarts at the same issuer, without the grants it had.
    let idp = Idp::start(options).expect("the local OpenID provider did not start again");
    assert_eq!(idp.issuer("plain").unwrap(), &issuer);
    let ended = bob_manager.refresh(PROVIDER).await.unwrap_err();
    assert!(ended.is_terminal(), "{ended:?}");
    assert!(
        chain(&ended).contains("invalid_grant"),
        "the provider's answer is named: {}",
        chain(&ended)
    );
    let seen = follow(&tablet, "bob", &mut events).await;
    assert!(refresh_failed(&seen, FailureKind::Terminal), "{seen:?}");
    assert!(
        tablet
            .raw
            .list_user(&tablet.tenant, &"bob".into())
            .await
            .unwrap()
            .is_empty(),
        "the terminal answer removes bob's session"
    );
    // ... and his offline unlock: the right passcode is refused, typed.
    let disabled = tablet.unlock(BOB).await.unwrap_err();
    assert!(matches!(disabled, StoreError::OfflineDisabled), "{disabled:?}");
    // alice, whom nobody asked the provider about, still unlocks offline.
    tablet.unlock(ALICE).await.unwrap();

    // An online login enables bob's offline unlock again.
    let again = tablet.login(&idp, BOB).await;
    tablet.vault.lock_all();
    tablet.unlock(BOB).await.unwrap();
    let his = tablet.sessions("bob").await.unwrap();
    assert_eq!(his.len(), 1);
    assert_eq!(refresh_token(&his[0]), refresh_token(&again));
    assert_ne!(refresh_token(&again), refresh_token(&bob));
    let status = tablet
        .vault
        .status(&tablet.tenant, &"bob".into())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.disabled && status.failures == 0);
}
