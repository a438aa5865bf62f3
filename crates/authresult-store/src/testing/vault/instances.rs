//! The suite's checks with two [`OfflineVault`]s over the two handles of one
//! backend, like two instances (processes, devices, servers) sharing it:
//! what one counts, the other sees; and the interleavings that must not let
//! both pass one failure check, a stale re-wrap replace a newer one, or a
//! re-wrap undo a disable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{
    AccessToken, AuthResult, ManualClock, Session, SessionKey, TenantId, Timestamp, UserId,
};

use super::pause::{Held, Hold, Pausing};
use super::{T0, VaultHandles};
use crate::error::StoreError;
use crate::key::KdfParams;
use crate::{OfflinePolicy, OfflineVault, VaultStore};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Cheap key derivation (the suite checks the rules, not the cost), three
/// failures before the lock-out, the default delays.
fn policy() -> OfflinePolicy {
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

fn t() -> TenantId {
    "field-app".into()
}

fn amina() -> UserId {
    "amina".into()
}

fn vault(store: Arc<dyn VaultStore>, policy: &OfflinePolicy, clock: &ManualClock) -> OfflineVault {
    OfflineVault::new(store, policy.clone()).with_clock(Arc::new(clock.clone()))
}

/// Enrolls Amina with `secret` through `vault` (what an online login does)
/// and locks her again.
async fn enroll(vault: &OfflineVault, secret: &[u8]) {
    vault
        .prepare_login(&t(), &amina(), Some(secret))
        .await
        .expect("prepare_login");
    // The online login's session write, as `VaultedStore` makes it.
    let mut auth = AuthResult::new(AccessToken::new("access"), 3600);
    auth.profile = Some([("sub".to_owned(), "sub-amina".to_owned())].into());
    let session = Session::new(
        SessionKey::for_user(t(), amina(), "kc"),
        auth,
        Timestamp::from_secs(1),
    );
    vault.login_cipher(&session).await.expect("the login's write");
    vault.enroll(&t(), &amina(), secret).await.expect("enroll");
    vault.lock_all();
}

/// Two instances over one backend, Amina enrolled with `secret`: `one`
/// writes through a store that can be held before a write, `other` directly.
struct Pair {
    clock: ManualClock,
    paused: Arc<Pausing>,
    one: OfflineVault,
    other: OfflineVault,
}

async fn pair(stores: &VaultHandles, policy: &OfflinePolicy, secret: &[u8]) -> Pair {
    let clock = ManualClock::new(T0);
    let paused = Arc::new(Pausing::new(Arc::clone(&stores.a)));
    let one = vault(paused.clone(), policy, &clock);
    let other = vault(Arc::clone(&stores.b), policy, &clock);
    enroll(&one, secret).await;
    Pair {
        clock,
        paused,
        one,
        other,
    }
}

/// Runs `first` until it reaches `held`, then the whole of `second`, then
/// lets `first` finish: the interleaving under test.
async fn interleave<A, B>(
    mut held: Held,
    first: impl Future<Output = A>,
    second: impl Future<Output = B>,
) -> (A, B) {
    futures::join!(first, async {
        held.reached().await;
        let answer = second.await;
        held.release();
        answer
    })
}

async fn failures(vault: &OfflineVault) -> u32 {
    vault
        .status(&t(), &amina())
        .await
        .expect("status")
        .expect("enrolled")
        .failures
}

/// A failure counted by one instance holds for the other, and for a new
/// vault (a restart): the delay and then the lock-out.
pub async fn failures_and_lock_out_are_shared_and_survive(stores: &VaultHandles) {
    let clock = ManualClock::new(T0);
    let policy = policy();
    let one = vault(Arc::clone(&stores.a), &policy, &clock);
    let other = vault(Arc::clone(&stores.b), &policy, &clock);
    enroll(&one, b"right").await;
    let e = one.unlock(&t(), &amina(), b"wrong").await.expect_err("wrong");
    assert!(matches!(e, StoreError::WrongSecret { attempts_left: 2 }), "{e:?}");
    let e = other.unlock(&t(), &amina(), b"right").await.expect_err("delayed");
    assert!(
        matches!(e, StoreError::TooSoon { retry_in } if retry_in == Duration::from_secs(2)),
        "the other instance sees the delay: {e:?}"
    );
    clock.advance(Duration::from_secs(2));
    let e = other.unlock(&t(), &amina(), b"wrong").await.expect_err("wrong");
    assert!(
        matches!(e, StoreError::WrongSecret { attempts_left: 1 }),
        "the other instance counts on: {e:?}"
    );
    clock.advance(Duration::from_secs(4));
    let e = one.unlock(&t(), &amina(), b"wrong").await.expect_err("wrong");
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    let restarted = vault(Arc::clone(&stores.b), &policy, &clock);
    clock.advance(DAY);
    let e = restarted
        .unlock(&t(), &amina(), b"right")
        .await
        .expect_err("locked out");
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
    let status = restarted
        .status(&t(), &amina())
        .await
        .expect("status")
        .expect("enrolled");
    assert!(status.locked_out && status.failures == 3, "{status:?}");
    // An online login on the other instance lifts it for both.
    enroll(&other, b"right").await;
    one.unlock(&t(), &amina(), b"right").await.expect("unlocked");
}

/// One instance's clock far ahead ends the grace period for an instance
/// whose clock is behind too: the time mark is shared.
pub async fn a_clock_set_back_on_another_instance_extends_nothing(stores: &VaultHandles) {
    let ahead = ManualClock::new(T0);
    let behind = ManualClock::new(T0);
    let policy = policy();
    let one = vault(Arc::clone(&stores.a), &policy, &ahead);
    let other = vault(Arc::clone(&stores.b), &policy, &behind);
    enroll(&one, b"right").await;
    ahead.advance(15 * DAY);
    let e = one
        .unlock(&t(), &amina(), b"right")
        .await
        .expect_err("grace over");
    assert!(matches!(e, StoreError::GraceExpired), "{e:?}");
    behind.advance(DAY);
    let e = other
        .unlock(&t(), &amina(), b"right")
        .await
        .expect_err("grace over");
    assert!(
        matches!(e, StoreError::ClockBehind),
        "a clock behind the time the vault saw ends offline access: {e:?}"
    );
}

/// Instance A reads the record, then B's whole wrong attempt runs before A
/// writes: A's write over the stale revision is refused, A reads again and
/// is delayed. One guess ran, one failure is counted.
pub async fn two_instances_never_pass_one_failure_check(stores: &VaultHandles) {
    let Pair {
        paused, one, other, ..
    } = pair(stores, &policy(), b"right").await;
    let (tenant, user) = (t(), amina());
    let (first, second) = interleave(
        paused.hold(Hold::AnyWrite),
        one.unlock(&tenant, &user, b"wrong"),
        other.unlock(&tenant, &user, b"wrong"),
    )
    .await;
    let second = second.expect_err("wrong");
    assert!(
        matches!(second, StoreError::WrongSecret { attempts_left: 2 }),
        "{second:?}"
    );
    let first = first.expect_err("delayed");
    assert!(
        matches!(first, StoreError::TooSoon { .. }),
        "the instance that read first must not guess after the other's failure: {first:?}"
    );
    assert_eq!(failures(&other).await, 1, "one guess, one failure");
}

/// With no delay, the last allowed attempt is taken by one instance only:
/// the other is refused without guessing, and the count never passes the
/// limit.
pub async fn the_last_attempt_is_taken_once(stores: &VaultHandles) {
    let mut policy = policy();
    policy.base_delay = Duration::ZERO;
    policy.max_failures = 2;
    let Pair {
        paused, one, other, ..
    } = pair(stores, &policy, b"right").await;
    let e = other.unlock(&t(), &amina(), b"wrong").await.expect_err("wrong");
    assert!(matches!(e, StoreError::WrongSecret { attempts_left: 1 }), "{e:?}");
    let (tenant, user) = (t(), amina());
    let (first, second) = interleave(
        paused.hold(Hold::AnyWrite),
        one.unlock(&tenant, &user, b"wrong"),
        other.unlock(&tenant, &user, b"wrong"),
    )
    .await;
    let second = second.expect_err("locked out");
    assert!(matches!(second, StoreError::LockedOut), "{second:?}");
    let first = first.expect_err("locked out");
    assert!(matches!(first, StoreError::LockedOut), "{first:?}");
    assert_eq!(
        failures(&other).await,
        2,
        "two guesses in all, as the policy allows"
    );
    let e = one
        .unlock(&t(), &amina(), b"right")
        .await
        .expect_err("locked out");
    assert!(matches!(e, StoreError::LockedOut), "{e:?}");
}

/// A changes the secret and is held just before writing its re-wrap; B
/// changes it meanwhile. A's stale re-wrap is refused and its old secret no
/// longer opens B's record: B's secret is the one that works.
pub async fn a_stale_rewrap_does_not_replace_a_newer_one(stores: &VaultHandles) {
    let policy = policy();
    let Pair {
        clock,
        paused,
        one,
        other,
    } = pair(stores, &policy, b"first").await;
    let (tenant, user) = (t(), amina());
    let (first, second) = interleave(
        paused.hold(Hold::Rewrap),
        one.change_secret(&tenant, &user, b"first", b"from-a"),
        other.change_secret(&tenant, &user, b"first", b"from-b"),
    )
    .await;
    second.expect("the change that wrote first stands");
    let first = first.expect_err("stale");
    assert!(
        matches!(first, StoreError::WrongSecret { .. }),
        "the stale change is refused, not written: {first:?}"
    );
    let fresh = vault(Arc::clone(&stores.b), &policy, &clock);
    for (secret, works) in [
        (&b"from-b"[..], true),
        (&b"from-a"[..], false),
        (&b"first"[..], false),
    ] {
        clock.advance(DAY);
        let answer = fresh.unlock(&t(), &amina(), secret).await;
        assert_eq!(
            answer.is_ok(),
            works,
            "{}: {answer:?}",
            String::from_utf8_lossy(secret)
        );
        fresh.lock_all();
    }
}

/// A changes the secret and is held just before writing its re-wrap; B
/// disables the credential meanwhile (a terminal answer online). A's
/// re-wrap does not clear the disable.
pub async fn a_stale_rewrap_does_not_undo_a_disable(stores: &VaultHandles) {
    let Pair {
        paused, one, other, ..
    } = pair(stores, &policy(), b"first").await;
    let (tenant, user) = (t(), amina());
    let (first, second) = interleave(
        paused.hold(Hold::Rewrap),
        one.change_secret(&tenant, &user, b"first", b"from-a"),
        other.disable(&tenant, &user),
    )
    .await;
    second.expect("disable");
    let first = first.expect_err("disabled");
    assert!(matches!(first, StoreError::OfflineDisabled), "{first:?}");
    assert!(!one.is_unlocked(&t(), &amina()), "a disabled user is locked");
    for secret in [&b"first"[..], &b"from-a"[..]] {
        let e = other.unlock(&t(), &amina(), secret).await.expect_err("disabled");
        assert!(matches!(e, StoreError::OfflineDisabled), "{e:?}");
    }
}

/// Issue 21 item 5 (on 1f2d0f5 the lock-out was applied to whatever record
/// was current): A's last allowed attempt fails and is held before its
/// lock-out (and wipe) write; B enrolls the user anew meanwhile (an online
/// login). A's stale lock-out writes nothing over B's enrollment.
pub async fn a_stale_lock_out_never_replaces_a_new_enrollment(stores: &VaultHandles) {
    for wipe in [false, true] {
        let mut policy = policy();
        policy.max_failures = 1;
        policy.wipe_on_lockout = wipe;
        let Pair {
            clock,
            paused,
            one,
            other,
        } = pair(stores, &policy, b"right").await;
        let (tenant, user) = (t(), amina());
        let (first, ()) = interleave(
            paused.hold(Hold::Lockout),
            one.unlock(&tenant, &user, b"wrong"),
            enroll(&other, b"right"),
        )
        .await;
        assert!(matches!(first, Err(StoreError::LockedOut)), "{first:?}");
        let fresh = vault(Arc::clone(&stores.b), &policy, &clock);
        let status = fresh
            .status(&tenant, &user)
            .await
            .expect("status")
            .expect("enrolled");
        assert!(
            !status.locked_out && status.failures == 0,
            "the new enrollment stands (wipe {wipe}): {status:?}"
        );
        clock.advance(DAY);
        fresh
            .unlock(&tenant, &user, b"right")
            .await
            .unwrap_or_else(|e| panic!("the new enrollment opens (wipe {wipe}): {e:?}"));
        fresh.wipe(&tenant, &user).await.expect("clean up");
    }
}
