//! The shared tablet attacked after issue 21 landed, by the thief and the
//! other user of the tablet, through the app's flows: each test is an attack
//! that worked on the change as written (see the commit that adds it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::Stores;
use authresult_core::testing::FakeProvider;
use authresult_core::{
    AccessToken, AuthManager, AuthResult, Credentials, Error, ManualClock, Password, RefreshToken, TenantId,
    Timestamp, UserId,
};
use authresult_store::{KdfParams, MemoryVaultStore, OfflinePolicy, OfflineVault, StoreError, VaultedStore};

use crate::common::store_error;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
const TENANT: &str = "field-app";

fn policy() -> OfflinePolicy {
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };
    policy.base_delay = Duration::ZERO;
    policy
}

/// One tablet: a vault over memory, the sealed sessions, one provider.
struct Tablet {
    clock: Arc<ManualClock>,
    vault: Arc<OfflineVault>,
    sealed: VaultedStore,
    /// The memory store's ports, its sessions sealed by `sealed`.
    stores: Stores,
    provider: Arc<FakeProvider>,
    manager: AuthManager,
}

impl Tablet {
    fn new(policy: OfflinePolicy) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let vault =
            Arc::new(OfflineVault::new(Arc::new(MemoryVaultStore::new()), policy).with_clock(clock.clone()));
        let raw = Arc::new(MemoryStore::new());
        let sealed = VaultedStore::new(raw.clone(), vault.clone());
        let provider = Arc::new(FakeProvider::new());
        let stores = Stores::from(raw).with_sessions(Arc::new(sealed.clone()));
        let manager = AuthManager::builder(TENANT, stores.clone())
            .provider("kc", provider.clone())
            .clock(clock.clone())
            .build();
        Tablet {
            clock,
            vault,
            sealed,
            stores,
            provider,
            manager,
        }
    }

    fn ids(user: &str) -> (TenantId, UserId) {
        (TENANT.into(), user.into())
    }

    /// An online login of `user` with the provider's account `sub`, then
    /// `secret` enrolled.
    async fn login_and_enroll(&self, user: &str, sub: &str, secret: &[u8]) {
        let (tenant, id) = Self::ids(user);
        self.vault
            .prepare_login(&tenant, &id, Some(secret))
            .await
            .unwrap();
        self.provider.push_login(Ok(account(sub, "online")));
        self.manager
            .for_user(user)
            .login("kc", &password_of(user))
            .await
            .unwrap();
        self.sealed.enroll(&tenant, &id, secret).await.unwrap();
    }
}

/// What the provider answers for the account `sub`.
fn account(sub: &str, label: &str) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{sub}-{label}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-{sub}-{label}")));
    auth.profile = Some(BTreeMap::from([("sub".to_owned(), sub.to_owned())]));
    auth
}

fn password_of(user: &str) -> Credentials {
    Credentials::Password {
        username: user.to_owned(),
        password: Password::new("provider-password"),
    }
}

/// The `StoreError` inside `error`, if it is one.
fn store_cause(error: &Error) -> Option<&StoreError> {
    match error {
        Error::Store { source, .. } => source.downcast_ref::<StoreError>(),
        _ => None,
    }
}

/// The thief, offline, with a tablet whose user was disabled by the
/// provider: `import` (the app's way to adopt a token obtained elsewhere)
/// writes a session of the user like a login does, so with a forged result
/// naming the bound account it tried the pending secret against the record
/// uncounted, and ignoring the disabled credential, the lock-out, the grace
/// period and a clock behind: an offline guessing oracle that also opened
/// the vault. An import is no online login: it opens nothing.
#[tokio::test]
async fn an_import_opens_nothing_and_guesses_nothing() {
    let tablet = Tablet::new(policy());
    let (tenant, alice) = Tablet::ids("alice");
    tablet.login_and_enroll("alice", "alice-sub", b"right").await;
    tablet.vault.lock(&tenant, &alice);
    // The provider revoked alice: offline unlock is disabled.
    tablet.vault.disable(&tenant, &alice).await.unwrap();
    let before = tablet.vault.status(&tenant, &alice).await.unwrap().unwrap();

    let thief = tablet.manager.for_user("alice");
    for guess in [&b"wrong-1"[..], b"wrong-2", b"right"] {
        tablet
            .vault
            .prepare_login(&tenant, &alice, Some(guess))
            .await
            .unwrap();
        let forged = account("alice-sub", "forged");
        let e = thief.import("kc", forged).await.unwrap_err();
        // No answer tells a right guess from a wrong one.
        assert!(
            !matches!(store_cause(&e), Some(StoreError::SecretMismatch)),
            "an import answered whether the guess opens the vault: {e:?}"
        );
        assert!(
            !tablet.vault.is_unlocked(&tenant, &alice),
            "an import opened the vault"
        );
    }
    assert!(thief.access_token("kc").await.is_err());
    let after = tablet.vault.status(&tenant, &alice).await.unwrap().unwrap();
    assert!(after.disabled && before.disabled);
    assert!(tablet.sealed.enroll(&tenant, &alice, b"thief").await.is_err());
}

/// The other user of the tablet: ten wrong unlocks of alice (counted,
/// allowed) wipe her record when the policy says so; the tombstone kept her
/// account binding, but the login and the enrollment ignored it, so bob
/// logged in as "alice" with his own account and became her. The explicit
/// reset (`wipe`, offered when a user forgot their passcode) dropped the
/// binding too. A tablet user stays bound to the account that enrolled it.
#[tokio::test]
async fn a_wiped_tablet_user_stays_bound_to_their_account() {
    let mut policy = policy();
    policy.wipe_on_lockout = true;
    policy.max_failures = 2;
    let tablet = Tablet::new(policy);
    let (tenant, alice) = Tablet::ids("alice");
    tablet.login_and_enroll("alice", "alice-sub", b"right").await;
    tablet.vault.lock(&tenant, &alice);

    // Bob spends alice's attempts: her record is wiped.
    for _ in 0..2 {
        let _ = tablet.vault.unlock(&tenant, &alice, b"bob-guess").await;
    }
    assert!(
        tablet
            .vault
            .status(&tenant, &alice)
            .await
            .unwrap()
            .unwrap()
            .locked_out
    );

    // Bob logs in as "alice" with his own account.
    let as_alice = tablet.manager.for_user("alice");
    tablet
        .vault
        .prepare_login(&tenant, &alice, Some(b"bobs"))
        .await
        .unwrap();
    tablet.provider.push_login(Ok(account("bob-sub", "online")));
    let e = as_alice.login("kc", &password_of("alice")).await.unwrap_err();
    assert!(
        matches!(store_error(&e), StoreError::SubjectMismatch { .. }),
        "bob's account logged in as alice after her record was wiped: {e:?}"
    );
    // Nothing was proven online for alice: bob's passcode cannot be enrolled.
    let e = tablet.sealed.enroll(&tenant, &alice, b"bobs").await.unwrap_err();
    assert!(
        matches!(
            store_error(&e),
            StoreError::OnlineLoginRequired | StoreError::VaultLocked
        ),
        "{e:?}"
    );

    // The explicit reset keeps the binding too.
    tablet.vault.wipe(&tenant, &alice).await.unwrap();
    tablet
        .vault
        .prepare_login(&tenant, &alice, Some(b"bobs"))
        .await
        .unwrap();
    tablet.provider.push_login(Ok(account("bob-sub", "online")));
    let e = as_alice.login("kc", &password_of("alice")).await.unwrap_err();
    assert!(
        matches!(store_error(&e), StoreError::SubjectMismatch { .. }),
        "bob's account logged in as alice after her reset: {e:?}"
    );

    // Alice herself starts anew with an online login.
    tablet.login_and_enroll("alice", "alice-sub", b"new").await;
    tablet.vault.lock(&tenant, &alice);
    tablet.vault.unlock(&tenant, &alice, b"new").await.unwrap();
}

/// Whoever holds the tablet while alice is unlocked: a login screen that
/// shows each user's status (`status`, `is_unlocked`) every few minutes
/// marked alice as used each time, so the idle timeout never locked her and
/// her token stayed answerable. Asking about a user is no use of their
/// sessions.
#[tokio::test]
async fn asking_about_a_user_does_not_keep_them_unlocked() {
    let tablet = Tablet::new(policy());
    let (tenant, alice) = Tablet::ids("alice");
    tablet.login_and_enroll("alice", "alice-sub", b"right").await;
    let manager = tablet.manager.for_user("alice");
    tablet.vault.lock(&tenant, &alice);
    tablet.vault.unlock(&tenant, &alice, b"right").await.unwrap();
    manager.access_token("kc").await.unwrap();

    // The login screen polls every 5 minutes; nobody uses alice's sessions.
    for _ in 0..4 {
        tablet.clock.advance(Duration::from_secs(5 * 60));
        let _ = tablet.vault.status(&tenant, &alice).await.unwrap();
        let _ = tablet.vault.is_unlocked(&tenant, &alice);
    }
    // 20 minutes unused, past the 15-minute idle limit.
    let e = manager.access_token("kc").await.unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
    assert!(!tablet.vault.is_unlocked(&tenant, &alice));
}

/// The other user of the tablet, on a provider whose answers name no
/// account (an opaque access token, no ID token, no `sub`): an empty
/// account would equal every other, so bob's own login could stand for
/// alice and try her secret uncounted. Such an answer cannot bind or stand
/// for a device user: refused with `NoAccount`, nothing written, no secret
/// tried (found by the review; decided: refused).
#[tokio::test]
async fn an_account_without_a_subject_cannot_stand_for_another() {
    let tablet = Tablet::new(policy());
    let (tenant, alice) = Tablet::ids("alice");
    let anonymous = |label: &str| AuthResult::new(AccessToken::new(format!("opaque-{label}")), 3600);
    tablet
        .vault
        .prepare_login(&tenant, &alice, Some(b"right"))
        .await
        .unwrap();
    tablet.provider.push_login(Ok(anonymous("alice")));
    let as_alice = tablet.manager.for_user("alice");
    let e = as_alice.login("kc", &password_of("alice")).await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::NoAccount { .. }), "{e:?}");
    assert!(!tablet.vault.is_unlocked(&tenant, &alice));
    // Bound to a named account, an anonymous login is refused the same way.
    tablet.login_and_enroll("alice", "sub-alice", b"right").await;
    tablet.vault.lock(&tenant, &alice);
    tablet
        .vault
        .prepare_login(&tenant, &alice, Some(b"guess"))
        .await
        .unwrap();
    tablet.provider.push_login(Ok(anonymous("bob")));
    let e = as_alice.login("kc", &password_of("alice")).await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::NoAccount { .. }), "{e:?}");
    assert_eq!(
        tablet
            .vault
            .status(&tenant, &alice)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0,
        "no secret was tried"
    );
}

/// The other user, while alice left the tablet unlocked, logs in as her
/// through a provider she never used, with his own account, and tries to
/// enroll his own passcode: refused (`SecretMismatch`), her passcode stays
/// (found by the review: on the first fix round it changed her passcode).
#[tokio::test]
async fn a_new_provider_cannot_change_an_unlocked_users_secret() {
    let tablet = Tablet::new(policy());
    let (tenant, alice) = Tablet::ids("alice");
    tablet.login_and_enroll("alice", "sub-alice", b"right").await;
    let other = Arc::new(FakeProvider::new());
    let manager = AuthManager::builder(TENANT, tablet.stores.clone())
        .provider("other", other.clone())
        .clock(tablet.clock.clone())
        .build()
        .for_user("alice");
    other.push_login(Ok(account("sub-bob", "online")));
    manager.login("other", &password_of("alice")).await.unwrap();
    let e = tablet
        .sealed
        .enroll(&tenant, &alice, b"bobs-code")
        .await
        .unwrap_err();
    assert!(matches!(store_error(&e), StoreError::SecretMismatch), "{e:?}");
    tablet.vault.lock(&tenant, &alice);
    tablet.vault.unlock(&tenant, &alice, b"right").await.unwrap();
}
