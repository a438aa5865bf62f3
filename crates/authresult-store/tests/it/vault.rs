//! The offline vault in the SQLite file: failures and the time high-water
//! mark survive a restart, and a SIGKILL during an enrollment or a re-wrap
//! leaves the old or the new secret working, never neither.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authresult_core::{
    AccessToken, AuthResult, ManualClock, Session, SessionKey, SessionStore as _, Timestamp,
};
use authresult_store::{KdfParams, OfflinePolicy, OfflineVault, SqliteStore, StoreError, VaultedStore};

use crate::common::{Rng, child_command, child_role};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
const TENANT: &str = "field-app";
const REWRAP: &str = "vault-rewrapper";
const ENROLL: &str = "vault-enroller";
const KILLS: u32 = 12;

fn policy() -> OfflinePolicy {
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };
    policy.max_failures = 1000;
    policy
}

/// The vault and the sealed sessions of the file at `path`, at `now`.
async fn open(path: &Path, now: Timestamp) -> (Arc<SqliteStore>, Arc<OfflineVault>, VaultedStore) {
    let store = Arc::new(SqliteStore::open(path).await.unwrap());
    let vault =
        Arc::new(OfflineVault::new(store.clone(), policy()).with_clock(Arc::new(ManualClock::new(now))));
    let sealed = VaultedStore::new(store.clone(), vault.clone());
    (store, vault, sealed)
}

fn session(user: &str, n: u64) -> Session {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{user}-{n}")), 3600);
    auth.profile = Some([("sub".to_owned(), format!("sub-{user}"))].into());
    Session::new(SessionKey::for_user(TENANT, user, "kc"), auth, T0)
}

#[tokio::test]
async fn failures_and_the_time_seen_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let (store, vault, sealed) = open(&path, T0).await;
    let (tenant, amina) = (TENANT.into(), "amina".into());
    vault.prepare_login(&tenant, &amina, None).await.unwrap();
    sealed.put(&session("amina", 1)).await.unwrap();
    sealed.enroll(&tenant, &amina, b"right").await.unwrap();
    let later = T0.saturating_add(Duration::from_secs(15 * 24 * 3600));
    drop((vault, sealed));
    Arc::into_inner(store).unwrap().close().await;

    // A restart with the clock far ahead: grace over, and the time is kept.
    let (store, vault, _) = open(&path, later).await;
    let e = vault.unlock(&tenant, &amina, b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::GraceExpired), "{e:?}");
    drop(vault);
    Arc::into_inner(store).unwrap().close().await;
    // Another restart with the clock set back to the enrollment: the clock
    // is behind the time the vault saw, so offline access has ended.
    let (store, vault, _) = open(&path, T0).await;
    let e = vault.unlock(&tenant, &amina, b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::ClockBehind), "{e:?}");
    drop(vault);
    Arc::into_inner(store).unwrap().close().await;

    // Failures are counted in the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let (store, vault, sealed) = open(&path, T0).await;
    vault.prepare_login(&tenant, &amina, None).await.unwrap();
    sealed.put(&session("amina", 1)).await.unwrap();
    sealed.enroll(&tenant, &amina, b"right").await.unwrap();
    vault.lock_all();
    let e = vault.unlock(&tenant, &amina, b"wrong").await.unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    drop((vault, sealed));
    Arc::into_inner(store).unwrap().close().await;
    let (_store, vault, _) = open(&path, T0).await;
    assert_eq!(vault.status(&tenant, &amina).await.unwrap().unwrap().failures, 1);
    let e = vault.unlock(&tenant, &amina, b"right").await.unwrap_err();
    assert!(matches!(e, StoreError::TooSoon { .. }), "{e:?}");
}

/// Child: changes Amina's secret back and forth forever, from the secret
/// in `AUTHRESULT_STORE_SECRET`, acknowledging each change.
#[tokio::test]
async fn child_rewrapper() {
    if child_role().as_deref() != Some(REWRAP) {
        return;
    }
    let path = std::env::var("AUTHRESULT_STORE_DB").unwrap();
    let mut current = std::env::var("AUTHRESULT_STORE_SECRET").unwrap();
    // The parent's last check time: the vault's time never goes back.
    let now = std::env::var("AUTHRESULT_STORE_NOW").unwrap().parse().unwrap();
    let (_store, vault, _) = open(Path::new(&path), Timestamp::from_secs(now)).await;
    let (tenant, amina) = (TENANT.into(), "amina".into());
    loop {
        let next = if current == "first" { "second" } else { "first" };
        vault
            .change_secret(&tenant, &amina, current.as_bytes(), next.as_bytes())
            .await
            .unwrap();
        println!("ack {next}");
        current = next.to_owned();
    }
}

/// Child: enrolls users `u<n>` from `AUTHRESULT_STORE_START` forever, each
/// after writing their session, acknowledging each enrollment.
#[tokio::test]
async fn child_enroller() {
    if child_role().as_deref() != Some(ENROLL) {
        return;
    }
    let path = std::env::var("AUTHRESULT_STORE_DB").unwrap();
    let start: u64 = std::env::var("AUTHRESULT_STORE_START").unwrap().parse().unwrap();
    let (_store, vault, sealed) = open(Path::new(&path), T0).await;
    let tenant = TENANT.into();
    for n in start.. {
        let user = format!("u{n}");
        vault
            .prepare_login(&tenant, &user.as_str().into(), None)
            .await
            .unwrap();
        sealed.put(&session(&user, n)).await.unwrap();
        sealed
            .enroll(&tenant, &user.as_str().into(), b"secret")
            .await
            .unwrap();
        println!("ack {n}");
    }
}

/// Runs `child` until it has acknowledged at least once (most rounds), then
/// SIGKILLs it at a random moment; returns its acknowledgements.
fn run_and_kill(mut command: std::process::Command, rng: &mut Rng) -> Vec<String> {
    let mut child = command.spawn().unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let reader = {
        let acks = Arc::clone(&acks);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ack) = line.strip_prefix("ack ") {
                    acks.lock().unwrap().push(ack.to_owned());
                }
            }
        })
    };
    if rng.below(4) > 0 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while acks.lock().unwrap().is_empty() && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the child never acknowledged");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(rng.below(40)));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child stopped by itself (see its output)"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap();
    std::mem::take(&mut *acks.lock().unwrap())
}

#[tokio::test]
async fn a_sigkill_during_a_rewrap_leaves_the_old_or_the_new_secret_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let (tenant, amina) = (TENANT.into(), "amina".into());
    {
        let (store, vault, sealed) = open(&path, T0).await;
        vault.prepare_login(&tenant, &amina, None).await.unwrap();
        sealed.put(&session("amina", 1)).await.unwrap();
        sealed.enroll(&tenant, &amina, b"first").await.unwrap();
        drop((vault, sealed));
        Arc::into_inner(store).unwrap().close().await;
    }
    let mut rng = Rng::seeded(0x7A11_5EED);
    let mut current = "first".to_owned();
    let mut rewraps = 0;
    for round in 0..KILLS {
        let mut command = child_command("vault::child_rewrapper", REWRAP);
        command
            .env("AUTHRESULT_STORE_DB", &path)
            .env("AUTHRESULT_STORE_SECRET", &current)
            .env(
                "AUTHRESULT_STORE_NOW",
                (T0.as_millis() / 1000 + 3600 * 3 * u64::from(round)).to_string(),
            );
        let acks = run_and_kill(command, &mut rng);
        rewraps += acks.len();
        let acknowledged = acks.last().cloned().unwrap_or_else(|| current.clone());
        let other = if acknowledged == "first" {
            "second"
        } else {
            "first"
        };
        // Each check runs an hour after the last time the store saw (the
        // last check's, which the child's clock cannot go below): a wrong
        // guess, or the child's attempt counted just before the kill,
        // delays the next one by seconds.
        let now = T0.saturating_add(Duration::from_secs(3600 * u64::from(3 * round + 1)));
        let (store, vault, sealed) = open(&path, now).await;
        current = match vault.unlock(&tenant, &amina, acknowledged.as_bytes()).await {
            Ok(()) => acknowledged,
            Err(StoreError::WrongSecret { .. }) => {
                // Only the change in flight at the kill may have landed.
                drop((vault, sealed));
                Arc::into_inner(store).unwrap().close().await;
                let later = now.saturating_add(Duration::from_secs(3600));
                let (_store, vault, _) = open(&path, later).await;
                vault
                    .unlock(&tenant, &amina, other.as_bytes())
                    .await
                    .unwrap_or_else(|e| panic!("neither secret unlocks after kill {round}: {e:?}"));
                other.to_owned()
            }
            Err(e) => panic!("unlock failed after kill {round}: {e:?}"),
        };
        // The data key never changed: the session stays readable.
        let (_store, vault, sealed) = open(&path, now.saturating_add(Duration::from_secs(7200))).await;
        vault.unlock(&tenant, &amina, current.as_bytes()).await.unwrap();
        let stored = sealed
            .get(&SessionKey::for_user(TENANT, "amina", "kc"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.auth.access_token.secret(), "access-amina-1");
    }
    eprintln!("{KILLS} kills, {rewraps} acknowledged re-wraps");
    assert!(rewraps > 0);
}

#[tokio::test]
async fn a_sigkill_during_enrollment_leaves_a_clean_retry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let tenant = TENANT.into();
    let mut rng = Rng::seeded(0xE11_5EED);
    let mut acknowledged = Vec::new();
    for round in 0..KILLS {
        let start = u64::from(round) * 1_000_000;
        let mut command = child_command("vault::child_enroller", ENROLL);
        command
            .env("AUTHRESULT_STORE_DB", &path)
            .env("AUTHRESULT_STORE_START", start.to_string());
        let acks: Vec<u64> = run_and_kill(command, &mut rng)
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let in_flight = acks.last().map_or(start, |n| n + 1);
        acknowledged.extend(acks);
        let (_store, vault, sealed) = open(&path, T0).await;
        for &n in &acknowledged {
            let user = format!("u{n}");
            vault.lock_all();
            vault
                .unlock(&tenant, &user.as_str().into(), b"secret")
                .await
                .unwrap();
            let stored = sealed
                .get(&SessionKey::for_user(TENANT, user.as_str(), "kc"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.auth.access_token.secret(), format!("access-{user}-{n}"));
        }
        // The enrollment in flight: done, or not at all (and a retry works).
        let user = format!("u{in_flight}");
        match vault.unlock(&tenant, &user.as_str().into(), b"secret").await {
            Ok(()) => {}
            Err(StoreError::NotEnrolled) => {
                vault
                    .prepare_login(&tenant, &user.as_str().into(), None)
                    .await
                    .unwrap();
                sealed.put(&session(&user, in_flight)).await.unwrap();
                sealed
                    .enroll(&tenant, &user.as_str().into(), b"secret")
                    .await
                    .unwrap();
                vault.lock_all();
                vault
                    .unlock(&tenant, &user.as_str().into(), b"secret")
                    .await
                    .unwrap();
            }
            Err(e) => panic!("the enrollment in flight at kill {round} left {e:?}"),
        }
        let stored = sealed
            .get(&SessionKey::for_user(TENANT, user.as_str(), "kc"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.auth.access_token.secret(),
            format!("access-{user}-{in_flight}")
        );
    }
    assert!(!acknowledged.is_empty());
}
