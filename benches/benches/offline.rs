//! Offline unlock: how long a user waits to unlock their vault at the
//! default Argon2id parameters, and what one guess at the secret costs an
//! attacker (one key derivation on one core; the parameters use one lane).
//!
//! Unlock is measured end to end on a SQLite file (record read, failure
//! reset, time high-water mark); a guess is a wrong-secret unlock over an
//! in-memory store with no delay, i.e. one derivation and one failed open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_bench::results;
use authresult_core::MemoryStore;
use authresult_core::{
    AccessToken, AuthResult, Session, SessionKey, SessionStore as _, TenantId, Timestamp, UserId,
};
use authresult_store::{
    MemoryVaultStore, OfflinePolicy, OfflineVault, SqliteStore, StoreError, VaultedStore,
};
use serde_json::json;

/// Timed runs of each measurement (each takes a fraction of a second).
const RUNS: usize = 7;

fn main() {
    if let Err(e) = run() {
        eprintln!("offline bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let policy = OfflinePolicy::default();
        let (tenant, user): (TenantId, UserId) = ("bench".into(), "amina".into());

        let dir = tempfile_dir()?;
        let store = Arc::new(SqliteStore::open(dir.join("sessions.db")).await?);
        let vault = Arc::new(OfflineVault::new(store.clone(), policy.clone()));
        vault.prepare_login(&tenant, &user, None).await?;
        let sealed = VaultedStore::new(store.clone(), vault.clone());
        // The online login's session write, then the enrollment it allows.
        sealed.put(&login_session(&tenant, &user)).await?;
        sealed
            .enroll(&tenant, &user, b"correct horse battery staple")
            .await?;
        let mut unlocks = Vec::new();
        for _ in 0..RUNS {
            vault.lock_all();
            let started = Instant::now();
            vault
                .unlock(&tenant, &user, b"correct horse battery staple")
                .await?;
            unlocks.push(started.elapsed());
        }

        let mut guessing = policy.clone();
        guessing.base_delay = Duration::ZERO;
        guessing.max_failures = u32::MAX;
        let records = Arc::new(MemoryVaultStore::new());
        let target = Arc::new(OfflineVault::new(records, guessing));
        target.prepare_login(&tenant, &user, None).await?;
        VaultedStore::new(Arc::new(MemoryStore::new()), target.clone())
            .put(&login_session(&tenant, &user))
            .await?;
        target.enroll(&tenant, &user, b"123456").await?;
        let mut guesses = Vec::new();
        for n in 0..RUNS {
            let guess = format!("{:06}", 999_999 - n);
            let started = Instant::now();
            match target.unlock(&tenant, &user, guess.as_bytes()).await {
                Err(StoreError::WrongSecret { .. }) => guesses.push(started.elapsed()),
                other => anyhow::bail!("a wrong guess answered {other:?}"),
            }
        }
        let (unlock, guess) = (median(unlocks), median(guesses));
        let kdf = policy.kdf;
        eprintln!(
            "offline: unlock {:.0} ms, one guess {:.0} ms (Argon2id {} KiB, {} passes, {} lane)",
            unlock.as_secs_f64() * 1e3,
            guess.as_secs_f64() * 1e3,
            kdf.memory_kib,
            kdf.iterations,
            kdf.lanes
        );
        results::write(
            "offline",
            &json!({
                "unlock_ms": unlock.as_secs_f64() * 1e3,
                "guess_ms": guess.as_secs_f64() * 1e3,
                "memory_kib": kdf.memory_kib,
                "iterations": kdf.iterations,
                "lanes": kdf.lanes,
                "runs": RUNS,
            }),
        )?;
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    })
}

/// A fresh private folder under the bench output folder.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = results::out_dir().join(format!("offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The session an online login of `user` writes (an account named `sub`).
fn login_session(tenant: &TenantId, user: &UserId) -> Session {
    let mut auth = AuthResult::new(AccessToken::new("bench-access"), 3600);
    auth.profile = Some([("sub".to_owned(), "bench-sub".to_owned())].into());
    Session::new(
        SessionKey::for_user(tenant.clone(), user.clone(), "kc"),
        auth,
        Timestamp::now(),
    )
}
