//! Encryption at rest: tokens never reach the file in clear, a wrong key or
//! a tampered row is a typed error, and the key never prints.

use std::path::Path;

use authresult_core::testing;
use authresult_core::{FailureKind, SessionKey, SessionStore as _};
use authresult_core::{PendingLoginStore as _, RevocationQueueExt as _};
use authresult_store::{EncryptionKey, SqliteOptions, SqliteStore, StoreError};

use crate::common::{store_error, test_key};

/// Every byte of the database and its WAL.
fn raw_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let wal = path.with_extension("db-wal");
    if wal.exists() {
        bytes.extend(std::fs::read(wal).unwrap());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const SECRETS: [&str; 5] = [
    "access-field-app-keycloak-42",
    "refresh-field-app-keycloak-42",
    "idtoken-field-app-keycloak-42",
    "revoke-me-field-app-keycloak-r42",
    "pkce-verifier-state-42",
];

async fn write_secrets(store: &SqliteStore) {
    store
        .put(&testing::sample_session("field-app", "keycloak", 42))
        .await
        .unwrap();
    let pending = testing::sample_pending(
        "field-app",
        "keycloak",
        "state-42",
        authresult_core::Timestamp::MAX,
    );
    store.put_pending(&pending).await.unwrap();
    let revocation = testing::sample_revocation("field-app", "keycloak", "r42", false, testing::T0);
    store.put_pending_revocation(&revocation).await.unwrap();
}

#[tokio::test]
async fn tokens_never_reach_the_file_in_clear() {
    let dir = tempfile::tempdir().unwrap();

    // Control: without encryption the grep finds them, so it would notice.
    let clear = dir.path().join("clear.db");
    let store = SqliteStore::open(&clear).await.unwrap();
    write_secrets(&store).await;
    let bytes = raw_bytes(&clear);
    for secret in SECRETS {
        assert!(contains(&bytes, secret), "control: {secret} is in the clear file");
    }
    store.close().await;

    let sealed = dir.path().join("sealed.db");
    let store = SqliteOptions::new(&sealed)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    write_secrets(&store).await;
    let check_file = |when: &str| {
        let bytes = raw_bytes(&sealed);
        for secret in SECRETS {
            assert!(
                !contains(&bytes, secret),
                "{secret} in clear in the file ({when})"
            );
        }
        // Metadata stays in clear and queryable.
        assert!(contains(&bytes, "field-app"), "tenant stays queryable ({when})");
    };
    check_file("open, data in the WAL");
    let stored = store
        .get(&SessionKey::new("field-app", "keycloak"))
        .await
        .unwrap()
        .unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("field-app", "keycloak", 42));
    store.close().await;
    check_file("closed, WAL checkpointed");

    let conn = rusqlite::Connection::open(&sealed).unwrap();
    let (subject, expires_at): (String, i64) = conn
        .query_row(
            "SELECT subject, expires_at FROM sessions WHERE tenant = 'field-app' AND provider = 'keycloak'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(subject, "user-42");
    assert_eq!(
        expires_at,
        i64::try_from(testing::T0.saturating_add_secs(3600).as_millis()).unwrap()
    );
}

#[tokio::test]
async fn a_passphrase_opens_the_same_file_again_and_a_wrong_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let passphrase = || EncryptionKey::from_passphrase("correct horse battery staple");
    let store = SqliteOptions::new(&path)
        .encryption_key(passphrase())
        .open()
        .await
        .unwrap();
    write_secrets(&store).await;
    store.close().await;

    let store = SqliteOptions::new(&path)
        .encryption_key(passphrase())
        .open()
        .await
        .unwrap();
    let stored = store
        .get(&SessionKey::new("field-app", "keycloak"))
        .await
        .unwrap()
        .unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("field-app", "keycloak", 42));
    store.close().await;

    for wrong in [
        EncryptionKey::from_passphrase("Correct horse battery staple"),
        test_key(),
    ] {
        let error = SqliteOptions::new(&path)
            .encryption_key(wrong)
            .open()
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::WrongKey), "{error:?}");
        assert_eq!(error.kind(), FailureKind::Configuration);
    }
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(error, StoreError::KeyRequired), "{error:?}");
}

#[tokio::test]
async fn a_caller_salted_passphrase_key_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let key = || EncryptionKey::derive_from_passphrase("hunter2", b"sixteen byte salt").unwrap();
    assert_eq!(key().secret_bytes(), key().secret_bytes());
    let store = SqliteOptions::new(&path)
        .encryption_key(key())
        .open()
        .await
        .unwrap();
    write_secrets(&store).await;
    store.close().await;
    let store = SqliteOptions::new(&path)
        .encryption_key(key())
        .open()
        .await
        .unwrap();
    assert!(
        store
            .get(&SessionKey::new("field-app", "keycloak"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(EncryptionKey::derive_from_passphrase("hunter2", b"short").is_err());
}

/// Runs `sql` on the file behind the store's back.
fn tamper(path: &Path, sql: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

async fn assert_tampered(path: &Path, provider: &str) {
    let store = SqliteOptions::new(path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let error = store.get(&SessionKey::new("t", provider)).await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Protocol);
    let cause = store_error(&error);
    assert!(
        matches!(cause, StoreError::Tampered { what: "session" }),
        "{cause:?}"
    );
    // Listing the tenant fails too: a damaged row is never skipped silently.
    assert!(store.list(&"t".into()).await.is_err());
    store.close().await;
}

#[tokio::test]
async fn tampered_or_moved_rows_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    for p in ["a", "b", "c", "d"] {
        store.put(&testing::sample_session("t", p, 1)).await.unwrap();
    }
    let pending = testing::sample_pending("t", "a", "s", authresult_core::Timestamp::MAX);
    store.put_pending(&pending).await.unwrap();
    store.close().await;

    // A changed byte in the ciphertext.
    tamper(
        &path,
        "UPDATE sessions SET sealed = CAST(substr(sealed, 1, 40) || x'00' || substr(sealed, 42) AS BLOB)
         WHERE provider = 'a'",
    );
    assert_tampered(&path, "a").await;
    // A value of the wrong type is damage, not a session.
    tamper(&path, "UPDATE sessions SET sealed = 'text' WHERE provider = 'a'");
    let store = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let error = store.get(&SessionKey::new("t", "a")).await.unwrap_err();
    assert!(
        matches!(store_error(&error), StoreError::Corrupt { .. }),
        "{error:?}"
    );
    store.close().await;
    tamper(&path, "DELETE FROM sessions WHERE provider = 'a'");
    // Another row's sealed tokens moved in.
    tamper(
        &path,
        "UPDATE sessions SET sealed = (SELECT sealed FROM sessions WHERE provider = 'c') WHERE provider = 'b'",
    );
    assert_tampered(&path, "b").await;
    tamper(&path, "DELETE FROM sessions WHERE provider IN ('b', 'c')");
    // The clear part edited (it is authenticated too).
    tamper(
        &path,
        "UPDATE sessions SET body = replace(body, 'user1@example.org', 'evil@example.org') WHERE provider = 'd'",
    );
    assert_tampered(&path, "d").await;
    tamper(&path, "UPDATE sessions SET sealed = NULL WHERE provider = 'd'");
    assert_tampered(&path, "d").await;

    // A pending login with a damaged secret cannot be taken.
    tamper(
        &path,
        "UPDATE pending SET sealed = CAST(substr(sealed, 1, 30) || x'ff' || substr(sealed, 32) AS BLOB)",
    );
    let store = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let error = store
        .take_pending(&"t".into(), "s", testing::T0)
        .await
        .unwrap_err();
    assert!(matches!(
        store_error(&error),
        StoreError::Tampered {
            what: "pending login"
        }
    ));
}

#[tokio::test]
async fn turning_encryption_on_seals_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clear = SqliteStore::open(&path).await.unwrap();
    write_secrets(&clear).await;

    let sealed = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let stored = sealed
        .get(&SessionKey::new("field-app", "keycloak"))
        .await
        .unwrap()
        .unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("field-app", "keycloak", 42));
    assert_eq!(stored.version(), 1);

    // The keyless store still open on the same file may no longer write clear rows.
    let error = clear
        .put(&testing::sample_session("field-app", "other", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&error), StoreError::KeyRequired),
        "{error:?}"
    );
    let error = clear
        .get(&SessionKey::new("field-app", "keycloak"))
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&error), StoreError::KeyRequired),
        "{error:?}"
    );
    clear.close().await;

    let taken = sealed
        .take_pending(&"field-app".into(), "state-42", testing::T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.secret.secret(), "pkce-verifier-state-42");
    let revocations = sealed
        .pending_revocations(&"field-app".into(), testing::T0)
        .await
        .unwrap();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].token.secret(), "revoke-me-field-app-keycloak-r42");
    sealed.close().await;
    let bytes = raw_bytes(&path);
    for secret in &SECRETS[..4] {
        assert!(!contains(&bytes, secret), "{secret} left in clear after sealing");
    }
}

#[test]
fn keys_never_print() {
    let key = EncryptionKey::from_bytes([0x41; 32]);
    let printed = format!(
        "{key:?} {:?}",
        SqliteOptions::new("x.db").encryption_key(key.clone())
    );
    assert!(printed.contains("EncryptionKey([redacted])"), "{printed}");
    assert!(
        !printed.contains("AAAA") && !printed.contains("65, 65"),
        "{printed}"
    );
    let passphrase = EncryptionKey::from_passphrase("my secret passphrase");
    assert_eq!(format!("{passphrase:?}"), "EncryptionKey([redacted])");
    assert!(EncryptionKey::from_slice(&[1; 31]).is_err());
    let generated = EncryptionKey::generate().unwrap();
    assert_ne!(
        generated.secret_bytes(),
        EncryptionKey::generate().unwrap().secret_bytes()
    );
}

#[tokio::test]
async fn a_sealed_revocation_moved_to_another_provider_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    for (provider, id) in [("a", "1"), ("b", "2")] {
        let revocation = testing::sample_revocation("field-app", provider, id, false, testing::T0);
        store.put_pending_revocation(&revocation).await.unwrap();
    }
    store.close().await;
    tamper(&path, "UPDATE revocations SET provider = 'b' WHERE id = '1';");
    let store = SqliteOptions::new(&path)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let error = store
        .pending_revocations(&"field-app".into(), testing::T0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            store_error(&error),
            StoreError::Tampered {
                what: "pending revocation"
            }
        ),
        "{error:?}"
    );
}
