//! Unit tests of the offline vault over `MemoryStore`/`MemoryVaultStore`,
//! with a `ManualClock` and cheap key derivation (no sleeps).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use authresult_core::Stores;
use authresult_core::{
    AccessToken, AuthEvent, AuthResult, Error, FailureKind, ManualClock, RefreshToken, Session, SessionKey,
    SessionStore as _, TenantId, Timestamp, UserId,
};

use authresult_core::Clock as _;
use authresult_core::MemoryStore;

use super::{MemoryVaultStore, OfflinePolicy, OfflineVault, VaultStore as _, VaultedStore};
use crate::error::StoreError;
use crate::key::KdfParams;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn cheap_policy() -> OfflinePolicy {
    OfflinePolicy {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            lanes: 1,
        },
        max_failures: 3,
        ..OfflinePolicy::default()
    }
}

struct Device {
    clock: ManualClock,
    records: Arc<MemoryVaultStore>,
    sessions: Arc<MemoryStore>,
    vault: Arc<OfflineVault>,
    store: VaultedStore,
}

fn device_with(policy: OfflinePolicy, records: Arc<MemoryVaultStore>, sessions: Arc<MemoryStore>) -> Device {
    let clock = ManualClock::new(T0);
    let vault = Arc::new(OfflineVault::new(records.clone(), policy).with_clock(Arc::new(clock.clone())));
    let store = VaultedStore::new(sessions.clone(), vault.clone());
    Device {
        clock,
        records,
        sessions,
        vault,
        store,
    }
}

fn device() -> Device {
    device_with(cheap_policy(), Arc::default(), Arc::default())
}

fn t() -> TenantId {
    "field-app".into()
}

fn u(name: &str) -> UserId {
    name.into()
}

fn session(user: &str, token: &str) -> Session {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{token}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-{token}")));
    auth.profile = Some([("sub".to_owned(), format!("sub-{user}"))].into());
    Session::new(SessionKey::for_user("field-app", user, "kc"), auth, T0)
}

/// What an online login does: prepare, write the session, enroll.
async fn online_login(d: &Device, user: &str, secret: &str, token: &str) {
    d.vault
        .prepare_login(&t(), &u(user), Some(secret.as_bytes()))
        .await
        .unwrap();
    d.store.put(&session(user, token)).await.unwrap();
    d.store.enroll(&t(), &u(user), secret.as_bytes()).await.unwrap();
}

fn store_error(error: &Error) -> &StoreError {
    match error {
        Error::Store { source, .. } => source.downcast_ref::<StoreError>().unwrap(),
        other => panic!("not a store error: {other:?}"),
    }
}

async fn access_token(d: &Device, user: &str) -> Result<String, Error> {
    let key = SessionKey::for_user("field-app", user, "kc");
    Ok(d.store
        .get(&key)
        .await?
        .unwrap()
        .auth
        .access_token
        .secret()
        .to_owned())
}

#[tokio::test]
async fn a_user_unlocks_offline_and_gets_only_their_sessions() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "a1").await;
    online_login(&d, "bob", "bob-pass", "b1").await;
    d.vault.lock_all();

    let locked = access_token(&d, "amina").await.unwrap_err();
    assert!(
        matches!(store_error(&locked), StoreError::VaultLocked),
        "{locked:?}"
    );
    d.vault.unlock(&t(), &u("amina"), b"amina-pass").await.unwrap();
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a1");
    let bob = access_token(&d, "bob").await.unwrap_err();
    assert!(matches!(store_error(&bob), StoreError::VaultLocked));
    let listed = d.store.list(&t()).await.unwrap();
    assert_eq!(listed.len(), 1, "list leaves out locked users");
    // Bob's secret does not open Amina's vault.
    let wrong = d.vault.unlock(&t(), &u("amina"), b"bob-pass").await.unwrap_err();
    assert!(
        matches!(wrong, StoreError::WrongSecret { attempts_left: 2 }),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn the_backend_never_sees_a_named_users_tokens_or_profile() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "secret-token").await;
    let raw = d
        .sessions
        .get(&SessionKey::for_user("field-app", "amina", "kc"))
        .await
        .unwrap()
        .unwrap();
    let text = raw
        .sealed_auth
        .as_ref()
        .map(|b| b.secret())
        .expect("a sealed box of its own");
    assert!(!text.contains("secret-token"));
    assert!(
        raw.auth.access_token.secret().is_empty(),
        "no token outside the box"
    );
    assert!(raw.auth.refresh_token.is_none());
    // The default user passes through unchanged.
    let single = Session::new(
        SessionKey::new("field-app", "kc"),
        AuthResult::new(AccessToken::new("plain"), 60),
        T0,
    );
    d.store.put(&single).await.unwrap();
    let raw = d.sessions.get(&single.key).await.unwrap().unwrap();
    assert_eq!(raw.auth.access_token.secret(), "plain");
}

#[tokio::test]
async fn failures_are_counted_delayed_then_locked_out_until_an_online_login() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    let e = d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { attempts_left: 2 }), "{e:?}");
    // Too soon, even with the right secret: the delay is enforced first.
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(
        matches!(e, StoreError::TooSoon { retry_in } if retry_in == Duration::from_secs(2)),
        "{e:?}"
    );
    d.clock.advance(Duration::from_secs(2));
    let e = d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { attempts_left: 1 }), "{e:?}");
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(
        matches!(e, StoreError::TooSoon { retry_in } if retry_in == Duration::from_secs(4)),
        "the delay grows: {e:?}"
    );
    d.clock.advance(Duration::from_secs(4));
    let e = d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    d.clock.advance(DAY);
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");

    // A restart (a new vault over the same records) is still locked out.
    let restarted = device_with(cheap_policy(), d.records.clone(), d.sessions.clone());
    restarted.clock.set(d.clock.now());
    let e = restarted
        .vault
        .unlock(&t(), &u("amina"), b"right")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    // Only an online login lifts it.
    online_login(&restarted, "amina", "right", "a2").await;
    restarted.vault.lock_all();
    restarted.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    assert_eq!(
        restarted
            .vault
            .status(&t(), &u("amina"))
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    d.clock.advance(Duration::from_secs(2));
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    let status = d.vault.status(&t(), &u("amina")).await.unwrap().unwrap();
    assert_eq!(status.failures, 0);
    assert!(status.unlocked);
}

#[tokio::test]
async fn lock_out_can_wipe_the_vault() {
    let mut policy = cheap_policy();
    policy.max_failures = 1;
    policy.wipe_on_lockout = true;
    let d = device_with(policy, Arc::default(), Arc::default());
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    let e = d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    // The wiped record stays as a tombstone (its write was guarded by the
    // revision the attempt counted): nothing opens it.
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    // The next online login starts a new vault and drops the unreadable session.
    online_login(&d, "amina", "right", "a2").await;
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a2");
}

#[tokio::test]
async fn empty_and_huge_secrets_are_refused_and_not_counted() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    for secret in [Vec::new(), vec![b'x'; super::MAX_SECRET_LEN + 1]] {
        let e = d.vault.unlock(&t(), &u("amina"), &secret).await.unwrap_err();
        assert!(matches!(e, StoreError::InvalidSecret { .. }), "{e:?}");
        assert!(!e.to_string().contains("xxxx"));
    }
    assert_eq!(
        d.vault.status(&t(), &u("amina")).await.unwrap().unwrap().failures,
        0
    );
    let e = d.store.enroll(&t(), &u("amina"), b"").await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::InvalidSecret { .. }));
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
}

#[tokio::test]
async fn unlock_is_refused_after_the_grace_period() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    d.clock.advance(13 * DAY);
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    // A refresh online restarts the grace period.
    d.vault
        .observe(
            &t(),
            &u("amina"),
            &AuthEvent::Refreshed {
                provider: "kc".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    d.vault.lock_all();
    d.clock.advance(13 * DAY);
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    d.vault.lock_all();
    d.clock.advance(2 * DAY);
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::GraceExpired), "{e:?}");
}

#[tokio::test]
async fn a_clock_set_back_does_not_extend_the_grace() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    d.clock.advance(15 * DAY);
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::GraceExpired), "{e:?}");
    // Back to the day after the login: the vault remembers the time it saw,
    // and a clock behind it ends offline access (issue 21 item 3).
    d.clock.set(T0.saturating_add(DAY));
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::ClockBehind), "{e:?}");
    // An online login restores it.
    online_login(&d, "amina", "right", "a2").await;
    d.vault.lock_all();
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
}

#[tokio::test]
async fn a_clock_set_back_does_not_shorten_a_delay_nor_keep_a_vault_open() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.vault.lock_all();
    d.clock.advance(DAY);
    d.vault.unlock(&t(), &u("amina"), b"wrong").await.unwrap_err();
    d.clock.set(T0);
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::ClockBehind), "{e:?}");
    // Put right again, offline access stays ended until an online login.
    d.clock.set(T0.saturating_add(DAY + Duration::from_secs(2)));
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::ClockBehind), "{e:?}");
    online_login(&d, "amina", "right", "a2").await;
    d.vault.lock_all();
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    d.clock.set(T0);
    assert!(!d.vault.is_unlocked(&t(), &u("amina")));
}

#[tokio::test]
async fn an_idle_vault_locks_itself() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a1");
    d.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        access_token(&d, "amina").await.unwrap(),
        "access-a1",
        "use keeps it open"
    );
    d.clock.advance(Duration::from_secs(16 * 60));
    let e = access_token(&d, "amina").await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::VaultLocked), "{e:?}");
}

#[tokio::test]
async fn a_terminal_answer_online_disables_the_offline_credential() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    let terminal = AuthEvent::RefreshFailed {
        provider: "kc".into(),
        kind: FailureKind::Terminal,
    };
    d.vault.observe(&t(), &u("amina"), &terminal).await.unwrap();
    assert!(!d.vault.is_unlocked(&t(), &u("amina")));
    let e = d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::OfflineDisabled), "{e:?}");
    // A transient failure changes nothing.
    let transient = AuthEvent::RefreshFailed {
        provider: "kc".into(),
        kind: FailureKind::Transient,
    };
    d.vault.observe(&t(), &u("bob"), &transient).await.unwrap();
    online_login(&d, "amina", "right", "a2").await;
    d.vault.lock_all();
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
}

#[tokio::test]
async fn a_new_password_online_rewraps_and_the_old_one_stops_working() {
    let d = device();
    online_login(&d, "amina", "old-pass", "a1").await;
    // Unlocked when the password changes: the data key stays, sessions readable.
    online_login(&d, "amina", "new-pass", "a2").await;
    d.clock.advance(Duration::from_secs(1));
    d.vault.lock_all();
    let e = d.vault.unlock(&t(), &u("amina"), b"old-pass").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    d.clock.advance(Duration::from_secs(2));
    d.vault.unlock(&t(), &u("amina"), b"new-pass").await.unwrap();
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a2");

    // Locked when it changes again: the new password does not open the
    // record, so the login is refused and nothing changes (issue 21 item 2:
    // a login never makes the user's sessions unreadable); the old secret
    // still opens it, and changes it offline.
    d.vault.lock_all();
    d.vault
        .prepare_login(&t(), &u("amina"), Some(b"newer-pass"))
        .await
        .unwrap();
    let e = d.store.put(&session("amina", "a3")).await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::SecretMismatch), "{e:?}");
    assert!(!d.vault.is_unlocked(&t(), &u("amina")));
    d.clock.advance(Duration::from_secs(2));
    d.vault
        .change_secret(&t(), &u("amina"), b"new-pass", b"newer-pass")
        .await
        .unwrap();
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a2");
    d.vault.lock_all();
    let e = d.vault.unlock(&t(), &u("amina"), b"new-pass").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
}

#[tokio::test]
async fn a_passcode_changes_with_the_old_one() {
    let d = device();
    online_login(&d, "amina", "123456", "a1").await;
    d.vault.lock_all();
    let e = d
        .vault
        .change_secret(&t(), &u("amina"), b"000000", b"654321")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    d.clock.advance(Duration::from_secs(2));
    d.vault
        .change_secret(&t(), &u("amina"), b"123456", b"654321")
        .await
        .unwrap();
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a1");
    d.vault.lock_all();
    let e = d.vault.unlock(&t(), &u("amina"), b"123456").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    d.clock.advance(Duration::from_secs(2));
    d.vault.unlock(&t(), &u("amina"), b"654321").await.unwrap();
}

#[tokio::test]
async fn a_tampered_or_foreign_record_is_a_typed_error() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "a1").await;
    online_login(&d, "bob", "bob-pass", "b1").await;
    d.vault.lock_all();
    let (text, rev) = d.records.vault_record(&t(), &u("amina")).await.unwrap().unwrap();

    // Amina's record copied over Bob's: it names another user.
    let (_, bob_rev) = d.records.vault_record(&t(), &u("bob")).await.unwrap().unwrap();
    assert!(
        d.records
            .put_vault_record(&t(), &u("bob"), &text, bob_rev)
            .await
            .unwrap()
    );
    let e = d.vault.unlock(&t(), &u("bob"), b"amina-pass").await.unwrap_err();
    assert!(matches!(e, StoreError::Tampered { .. }), "{e:?}");
    // Amina's record copied to another tenant: it names its own tenant.
    let other: TenantId = "other-app".into();
    assert!(
        d.records
            .put_vault_record(&other, &u("amina"), &text, 0)
            .await
            .unwrap()
    );
    let e = d
        .vault
        .unlock(&other, &u("amina"), b"amina-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Tampered { .. }), "{e:?}");
    // ... and renamed to Bob: the wrapped key is bound to Amina.
    let renamed = text.replace("\"user\":\"amina\"", "\"user\":\"bob\"");
    assert!(
        d.records
            .put_vault_record(&t(), &u("bob"), &renamed, bob_rev + 1)
            .await
            .unwrap()
    );
    let e = d.vault.unlock(&t(), &u("bob"), b"amina-pass").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");

    // Weaker parameters written into Amina's record: bound too.
    let weaker = text.replace("\"memory_kib\":64", "\"memory_kib\":8");
    assert_ne!(weaker, text);
    assert!(
        d.records
            .put_vault_record(&t(), &u("amina"), &weaker, rev)
            .await
            .unwrap()
    );
    let e = d
        .vault
        .unlock(&t(), &u("amina"), b"amina-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    // Huge parameters are refused before any allocation.
    let (text, rev) = d.records.vault_record(&t(), &u("amina")).await.unwrap().unwrap();
    let huge = text.replace("\"memory_kib\":8,", "\"memory_kib\":4000000000,");
    assert_ne!(huge, text);
    assert!(
        d.records
            .put_vault_record(&t(), &u("amina"), &huge, rev)
            .await
            .unwrap()
    );
    d.clock.advance(DAY);
    let e = d
        .vault
        .unlock(&t(), &u("amina"), b"amina-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidKey { .. }), "{e:?}");
    // Garbage is a decode error.
    let (_, rev) = d.records.vault_record(&t(), &u("amina")).await.unwrap().unwrap();
    assert!(
        d.records
            .put_vault_record(&t(), &u("amina"), "{not json", rev)
            .await
            .unwrap()
    );
    let e = d
        .vault
        .unlock(&t(), &u("amina"), b"amina-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Decode { .. }), "{e:?}");
}

#[tokio::test]
async fn a_sealed_session_moved_to_another_user_does_not_open() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "a1").await;
    online_login(&d, "bob", "bob-pass", "b1").await;
    let mut raw = d
        .sessions
        .get(&SessionKey::for_user("field-app", "amina", "kc"))
        .await
        .unwrap()
        .unwrap();
    raw.key = SessionKey::for_user("field-app", "bob", "kc");
    d.sessions.put(&raw).await.unwrap();
    let e = access_token(&d, "bob").await.unwrap_err();
    assert!(matches!(store_error(&e), StoreError::Tampered { .. }), "{e:?}");
}

#[tokio::test]
async fn a_store_copied_to_another_device_does_not_unlock_without_its_device_key() {
    let records = Arc::new(MemoryVaultStore::new());
    let sessions = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let on = |key: &[u8]| {
        Arc::new(
            OfflineVault::new(records.clone(), cheap_policy())
                .with_clock(Arc::new(clock.clone()))
                .with_device_key(key),
        )
    };
    let first = on(b"device-one-key-from-the-keystore");
    first.prepare_login(&t(), &u("amina"), None).await.unwrap();
    let sealed = VaultedStore::new(sessions.clone(), first.clone());
    sealed.put(&session("amina", "a1")).await.unwrap();
    sealed.enroll(&t(), &u("amina"), b"right").await.unwrap();
    let other = on(b"device-two-key-from-the-keystore");
    let e = other.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    let plain =
        Arc::new(OfflineVault::new(records.clone(), cheap_policy()).with_clock(Arc::new(clock.clone())));
    clock.advance(Duration::from_secs(2));
    let e = plain.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    clock.advance(Duration::from_secs(4));
    first.lock_all();
    first.unlock(&t(), &u("amina"), b"right").await.unwrap();
}

#[tokio::test]
async fn nothing_secret_is_printed() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "a1").await;
    let printed = format!("{:?} {:?}", d.vault, d.store);
    assert!(
        !printed.contains("amina-pass") && !printed.contains("access-a1"),
        "{printed}"
    );
}

#[test]
fn delays_grow_and_are_capped() {
    let policy = OfflinePolicy::default();
    assert_eq!(policy.delay_after(0), Duration::ZERO);
    assert_eq!(policy.delay_after(1), Duration::from_secs(2));
    assert_eq!(policy.delay_after(3), Duration::from_secs(8));
    assert_eq!(policy.delay_after(40), Duration::from_secs(300));
}

#[tokio::test]
async fn an_online_login_after_the_clock_was_set_back_keeps_its_key() {
    let d = device();
    online_login(&d, "amina", "right", "a1").await;
    d.clock.advance(15 * DAY);
    d.vault.lock_all();
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap_err();
    // The clock goes back; an online login must still be able to write.
    d.clock.set(T0);
    online_login(&d, "amina", "right", "a2").await;
    assert_eq!(access_token(&d, "amina").await.unwrap(), "access-a2");
}

#[tokio::test]
async fn a_manager_refreshes_a_sealed_session_and_keeps_it_sealed() {
    use authresult_core::AuthManager;
    use authresult_core::testing::FakeProvider;

    let d = device();
    let provider = Arc::new(FakeProvider::new());
    let manager = AuthManager::builder(
        "field-app",
        Stores::from(d.sessions.clone()).with_sessions(Arc::new(d.store.clone())),
    )
    .provider("kc", provider.clone())
    .clock(Arc::new(d.clock.clone()))
    .sleeper(Arc::new(d.clock.clone()))
    .build()
    .for_user("amina");
    online_login(&d, "amina", "right", "a1").await;
    d.clock.advance(Duration::from_secs(3600));
    // An hour idle locked the vault; the user unlocks before working.
    assert!(!d.vault.is_unlocked(&t(), &u("amina")));
    d.vault.unlock(&t(), &u("amina"), b"right").await.unwrap();
    let mut refreshed = AuthResult::new(AccessToken::new("access-a2"), 3600);
    refreshed.refresh_token = Some(RefreshToken::new("refresh-a2"));
    provider.push_refresh(Ok(refreshed));
    assert_eq!(manager.access_token("kc").await.unwrap().secret(), "access-a2");
    let raw = d
        .sessions
        .get(&SessionKey::for_user("field-app", "amina", "kc"))
        .await
        .unwrap()
        .unwrap();
    let sealed = raw
        .sealed_auth
        .as_ref()
        .map(|b| b.secret())
        .expect("a sealed box of its own");
    assert!(!sealed.contains("access-a2") && raw.auth.access_token.secret().is_empty());
    // Locked: the manager gets a typed error, not the sealed text, and its
    // cached token is not answered.
    d.vault.lock_all();
    let e = manager.access_token("kc").await.unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
    let e = manager.for_user("amina").access_token("kc").await.unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
}

/// A row sealed before `Session::sealed_auth` existed (the box as hex after
/// a prefix in the access token) is still opened.
#[tokio::test]
async fn a_session_sealed_in_the_old_form_is_still_read() {
    let d = device();
    online_login(&d, "amina", "amina-pass", "secret-token").await;
    let key = SessionKey::for_user("field-app", "amina", "kc");
    let mut raw = d.sessions.get(&key).await.unwrap().unwrap();
    let hex = raw.sealed_auth.take().unwrap();
    raw.auth.access_token = AccessToken::new(format!("authresult-vault:v1:{}", hex.secret()));
    d.sessions.put(&raw).await.unwrap();
    let opened = d.store.get(&key).await.unwrap().unwrap();
    assert_eq!(opened.auth.access_token.secret(), "access-secret-token");
    assert!(opened.sealed_auth.is_none());
}
