//! Several users on one device: a store written before sessions were kept
//! per user (schema version 2) migrates without losing a session, sealed
//! rows included.

use authresult_core::testing::{assert_same_session, sample_session, sample_user_session};
use authresult_core::{SessionKey, SessionStore as _, UserId};
use authresult_store::{SqliteOptions, SqliteStore};

use crate::common::test_key;

/// Turns a current SQLite file back into what schema version 2 wrote:
/// sessions and leases keyed by tenant and provider, no `user_id`, no vault.
pub(crate) fn downgrade_sqlite_to_v2(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE sessions_v2 (
             tenant TEXT NOT NULL, provider TEXT NOT NULL, subject TEXT, expires_at INTEGER,
             issued_at INTEGER NOT NULL, version INTEGER NOT NULL CHECK (version > 0),
             updated_at INTEGER NOT NULL, body TEXT NOT NULL, sealed BLOB,
             PRIMARY KEY (tenant, provider));
         INSERT INTO sessions_v2 SELECT tenant, provider, subject, expires_at, issued_at, version,
             updated_at, body, sealed FROM sessions;
         DROP TABLE sessions;
         ALTER TABLE sessions_v2 RENAME TO sessions;
         CREATE INDEX sessions_by_expiry ON sessions (expires_at);
         CREATE TABLE leases_v2 (
             tenant TEXT NOT NULL, provider TEXT NOT NULL, holder TEXT NOT NULL,
             expires_at INTEGER NOT NULL, PRIMARY KEY (tenant, provider));
         INSERT INTO leases_v2 SELECT tenant, provider, holder, expires_at FROM leases;
         DROP TABLE leases;
         ALTER TABLE leases_v2 RENAME TO leases;
         DROP TABLE vault;
         DROP TABLE vault_clock;
         DROP TABLE dpop_nonces;
         PRAGMA user_version = 2;
         COMMIT;",
    )
    .unwrap();
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_version_2_sqlite_file_migrates_to_users_without_losing_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let open = || SqliteOptions::new(&path).encryption_key(test_key()).open();
    let store = open().await.unwrap();
    let keycloak = sample_session("field-app", "keycloak", 1);
    let auth0 = sample_session("field-app", "auth0", 2);
    store.put(&keycloak).await.unwrap();
    store.put(&auth0).await.unwrap();
    store.put(&auth0).await.unwrap();
    store.close().await;
    downgrade_sqlite_to_v2(&path);
    assert_eq!(user_version(&path), 2);

    let store = open().await.unwrap();
    assert_eq!(user_version(&path), 4);
    // Every session is the default user's, sealed secrets and versions intact.
    let stored = store.get(&keycloak.key).await.unwrap().unwrap();
    assert_same_session(&stored, &keycloak);
    let stored = store.get(&auth0.key).await.unwrap().unwrap();
    assert_same_session(&stored, &auth0);
    assert_eq!(stored.version(), 2);
    let listed = store
        .list_user(&"field-app".into(), &UserId::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    // A named user now gets a session of their own at the same provider.
    let amina = sample_user_session("field-app", "amina", "keycloak", 3);
    assert_eq!(store.put(&amina).await.unwrap(), 1);
    let stored = store
        .get(&SessionKey::for_user("field-app", "amina", "keycloak"))
        .await
        .unwrap()
        .unwrap();
    assert_same_session(&stored, &amina);
    assert_same_session(&store.get(&keycloak.key).await.unwrap().unwrap(), &keycloak);
    store.check_integrity().await.unwrap();
    store.close().await;

    // Reopening does not migrate again.
    let store = SqliteStore::open(&path).await;
    assert!(store.is_err(), "the file is encrypted: a keyless open is refused");
    let store = open().await.unwrap();
    assert_eq!(store.list(&"field-app".into()).await.unwrap().len(), 3);
}
