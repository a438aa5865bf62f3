//! Two processes on one file: both write, and both refresh the same session
//! through `AuthManager` and the store's lease. Exactly one refresh happens
//! per expiry (counted by the fake provider in a shared log), no update is
//! lost, and no `SQLITE_BUSY` (nor any other error) reaches the callers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_core::StoreBackend;
use authresult_core::{AuthManager, CasOutcome, Session, SessionKey, SessionStore, Timestamp};
use authresult_store::SqliteStore;

use crate::common::{CountingProvider, child_command, child_role};

const ROLE: &str = "refresher";
const TENANT: &str = "shared";
const RUN_FOR: Duration = Duration::from_millis(4500);

fn counter_key() -> SessionKey {
    SessionKey::new(TENANT, "counter")
}

fn counter_value(session: &Session) -> u64 {
    session
        .auth
        .user_metadata
        .as_ref()
        .and_then(|m| m.get("count"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Adds one to the shared counter with compare-and-swap, retrying conflicts.
async fn increment(store: &dyn StoreBackend) {
    loop {
        let current = store.get(&counter_key()).await.unwrap().unwrap();
        let mut next = current.clone();
        let count = counter_value(&current) + 1;
        next.auth.user_metadata = Some([("count".to_owned(), count.to_string())].into());
        match store.compare_and_swap(&next, current.version()).await.unwrap() {
            CasOutcome::Stored { .. } => return,
            CasOutcome::Conflict { .. } => tokio::task::yield_now().await,
        }
    }
}

/// Child: asks for the access token in a loop, and bumps the shared counter.
#[tokio::test]
async fn child_refresher() {
    if child_role().as_deref() != Some(ROLE) {
        return;
    }
    let db = std::env::var("AUTHRESULT_STORE_DB").unwrap();
    let log = std::env::var("AUTHRESULT_STORE_LOG").unwrap();
    let store: Arc<dyn StoreBackend> = Arc::new(SqliteStore::open(db).await.unwrap());
    let provider = Arc::new(CountingProvider {
        log: log.into(),
        expires_in: 1,
    });
    let manager = AuthManager::builder(TENANT, Arc::clone(&store))
        .provider("fake", provider)
        .margin(Duration::ZERO)
        .lease_ttl(Duration::from_secs(10))
        .build();
    let deadline = Instant::now() + RUN_FOR;
    let (mut calls, mut increments, mut last_generation) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let token = manager.access_token("fake").await.unwrap();
        let generation: u64 = token.secret().strip_prefix("at-").unwrap().parse().unwrap();
        assert!(generation >= last_generation, "tokens never go back");
        last_generation = generation;
        calls += 1;
        increment(store.as_ref()).await;
        increments += 1;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    println!("calls {calls}");
    println!("increments {increments}");
}

#[tokio::test]
async fn two_processes_share_one_refresh_per_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let log = dir.path().join("refreshes.log");
    {
        let store = SqliteStore::open(&db).await.unwrap();
        let session = Session::new(
            SessionKey::new(TENANT, "fake"),
            CountingProvider::result(0, 1),
            Timestamp::now(),
        );
        store.put(&session).await.unwrap();
        let counter = Session::new(counter_key(), CountingProvider::result(0, 0), Timestamp::now());
        store.put(&counter).await.unwrap();
        store.close().await;
    }
    let started = Instant::now();
    let children: Vec<_> = (0..2)
        .map(|_| {
            child_command("two_processes::child_refresher", ROLE)
                .env("AUTHRESULT_STORE_DB", &db)
                .env("AUTHRESULT_STORE_LOG", &log)
                .spawn()
                .unwrap()
        })
        .collect();
    let mut increments = 0u64;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed: {:?}", output.status);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let value = |name: &str| -> u64 {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no `{name}` in the child's output: {stdout}"))
        };
        assert!(value("calls") > 10, "the child kept asking");
        increments += value("increments");
    }
    let elapsed = started.elapsed();

    // Every refresh consumed a distinct generation, in order: 0, 1, 2, ...
    let text = std::fs::read_to_string(&log).unwrap();
    let mut generations: Vec<u64> = text
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    let refreshes = generations.len() as u64;
    generations.sort_unstable();
    assert_eq!(
        generations,
        (0..refreshes).collect::<Vec<_>>(),
        "one refresh per expiry, no refresh token used twice:\n{text}"
    );
    eprintln!("{refreshes} refreshes, {increments} counter increments in {elapsed:?}");
    // Tokens live 1 s, so a refresh is due about once a second of the run.
    let max_expiries = elapsed.as_secs() + 2;
    assert!(
        (3..=max_expiries).contains(&refreshes),
        "{refreshes} refreshes in {elapsed:?}"
    );

    let store = SqliteStore::open(&db).await.unwrap();
    let session = store
        .get(&SessionKey::new(TENANT, "fake"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.auth.access_token.secret(), format!("at-{refreshes}"));
    assert_eq!(
        session.auth.refresh_token.as_ref().map(|t| t.secret().to_owned()),
        Some(format!("rt-{refreshes}")),
        "the last rotated refresh token is stored"
    );
    let counter = store.get(&counter_key()).await.unwrap().unwrap();
    assert_eq!(counter_value(&counter), increments, "no increment lost");
    store.check_integrity().await.unwrap();
}
