//! The conformance suites on every backend in this crate: `SessionStore`
//! (core's suite) and `VaultStore` (`testing::vault`; Postgres runs both in
//! `postgres.rs` and `postgres/vault.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authresult_core::MemoryStore;
use authresult_store::testing::vault::VaultHandles;
use authresult_store::{MemoryVaultStore, SqliteOptions, SqliteStore, testing};

use crate::common::test_key;

#[tokio::test]
async fn memory_store_conforms() {
    authresult_core::testing::run_all(|| async { MemoryStore::new() }).await;
    authresult_core::testing::lease_expires_on_the_callers_clock(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    authresult_core::testing::run_all(|| {
        let path = dir
            .path()
            .join(format!("{}/sessions.db", n.fetch_add(1, Ordering::Relaxed)));
        async move { SqliteStore::open(path).await.unwrap() }
    })
    .await;
    let store = SqliteStore::open(dir.path().join("callers-clock.db"))
        .await
        .unwrap();
    authresult_core::testing::lease_expires_on_the_callers_clock(&store).await;
}

#[tokio::test]
async fn encrypted_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    authresult_core::testing::run_all(|| {
        let path = dir
            .path()
            .join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        async move {
            let store = SqliteOptions::new(path)
                .encryption_key(test_key())
                .open()
                .await
                .unwrap();
            assert!(store.is_encrypted());
            store
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_is_shared_by_tasks_on_a_multi_threaded_runtime() {
    use authresult_core::{SessionKey, SessionStore as _};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("shared.db")).await.unwrap());
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..10 {
                    let session = authresult_core::testing::sample_session("t", &format!("p{t}"), n);
                    assert_eq!(store.put(&session).await.unwrap(), n + 1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..8 {
        let stored = store
            .get(&SessionKey::new("t", format!("p{t}")))
            .await
            .unwrap()
            .unwrap();
        authresult_core::testing::assert_same_session(
            &stored,
            &authresult_core::testing::sample_session("t", &format!("p{t}"), 9),
        );
        assert_eq!(stored.version(), 10);
    }
}

#[tokio::test]
async fn memory_vault_store_conforms() {
    testing::vault::run_all(|| async { VaultHandles::one(Arc::new(MemoryVaultStore::new())) }).await;
}

#[tokio::test]
async fn sqlite_vault_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    testing::vault::run_all(|| {
        let path = dir
            .path()
            .join(format!("vault-{}.db", n.fetch_add(1, Ordering::Relaxed)));
        async move {
            // Two stores on one file, as two processes of one device would open it.
            let a = SqliteStore::open(&path).await.unwrap();
            let b = SqliteStore::open(&path).await.unwrap();
            VaultHandles::new(Arc::new(a), Arc::new(b))
        }
    })
    .await;
}
