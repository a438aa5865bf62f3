//! Unit tests of `SqliteStore`: schema, pragmas, concurrency of opening.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use authresult_core::{AccessToken, AuthResult, Session, SessionKey, SessionStore as _, Timestamp};

use super::schema::{APPLICATION_ID, SCHEMA_VERSION};
use super::{SqliteOptions, SqliteStore};
use crate::codec::ts;

fn pragma(path: &std::path::Path, name: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, name, |r| r.get(0))
        .unwrap()
}

fn session(n: u64) -> Session {
    Session::new(
        SessionKey::new("t", "p"),
        AuthResult::new(AccessToken::new(format!("a{n}")), 60),
        Timestamp::from_secs(n),
    )
}

#[test]
fn timestamps_beyond_i64_are_forever() {
    assert_eq!(ts(Timestamp::MAX), i64::MAX);
    assert_eq!(ts(Timestamp::from_millis(42)), 42);
}

#[tokio::test]
async fn a_new_file_gets_the_schema_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(format!("{store:?}").contains("encrypted: false"));
    assert_eq!(store.path(), path);
    store.close().await;
    assert_eq!(pragma(&path, "application_id"), APPLICATION_ID);
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.put(&session(1)).await.unwrap();
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store
            .get(&SessionKey::new("t", "p"))
            .await
            .unwrap()
            .unwrap()
            .version(),
        1
    );
    store.close().await;
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION);
}

#[tokio::test]
async fn an_empty_file_of_ours_at_version_zero_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    // As the store creates its files: private.
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&path, private).unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    store.put(&session(1)).await.unwrap();
    store.close().await;
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION);
}

#[tokio::test]
async fn many_stores_may_create_the_same_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/s.db");
    let stores = futures::future::join_all((0..6).map(|_| SqliteStore::open(path.clone()))).await;
    let stores: Vec<SqliteStore> = stores.into_iter().map(Result::unwrap).collect();
    let one = session(1);
    let versions = futures::future::join_all(stores.iter().map(|s| s.put(&one))).await;
    let mut versions: Vec<u64> = versions.into_iter().map(Result::unwrap).collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn options_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let options = SqliteOptions::new(&path)
        .busy_timeout(Duration::from_millis(50))
        .max_size(1 << 20);
    assert!(format!("{options:?}").contains("busy_timeout: 50ms"));
    let store = options.open().await.unwrap();
    assert!(!store.is_encrypted());
    store.put(&session(1)).await.unwrap();
}

/// Polls `future` on this thread, parking between wake-ups: no async runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => return output,
            std::task::Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn works_without_an_async_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.put(&session(1)).await.unwrap(), 1);
        store.close().await;
    });
}
