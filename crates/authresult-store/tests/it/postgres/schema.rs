//! Encryption at rest, the versioned schema (newer, foreign, concurrent
//! creation, migrations from versions 1 and 2), TLS and unreachable servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_core::testing;
use authresult_core::{Error, FailureKind, SessionKey, SessionStore, Timestamp};
use authresult_core::{PendingLoginStore as _, RevocationQueueExt as _};
use authresult_store::{EncryptionKey, PostgresOptions, PostgresStore, StoreError};

use super::{SERVER, Schemas, cause, connect_raw, database_url, quote};
use crate::common::test_key;

// ---------------------------------------------------------------------------
// Encryption at rest, schema handling, unreachable servers

const TOKEN_TEXTS: [&str; 3] = ["access-t-", "refresh-t-", "idtoken-t-"];

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_keys_are_checked() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;
    let schema = schemas.fresh("enc");
    let s = quote(&schema);
    let options = PostgresOptions::new(&url).schema(&schema);
    let store = options
        .clone()
        .encryption_key(test_key())
        .connect()
        .await
        .unwrap();
    for p in ["a", "b"] {
        store.put(&testing::sample_session("t", p, 1)).await.unwrap();
    }
    store
        .put_pending(&testing::sample_pending("t", "a", "state-1", Timestamp::MAX))
        .await
        .unwrap();
    let rows = admin
        .query(
            &format!(
                "SELECT body, sealed IS NOT NULL FROM {s}.sessions
                 UNION ALL SELECT body, sealed IS NOT NULL FROM {s}.pending"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (n, row) in rows.iter().enumerate() {
        let body: String = row.get(0);
        assert!(row.get::<_, bool>(1), "sealed");
        for secret in TOKEN_TEXTS.iter().chain(&["pkce-verifier"]) {
            assert!(!body.contains(secret), "{secret} in clear: {body}");
        }
        if n < 2 {
            assert!(body.contains("user1@example.org"), "session metadata stays clear");
        }
    }

    let error = options.clone().connect().await.unwrap_err();
    assert!(matches!(error, StoreError::KeyRequired), "{error:?}");
    let other = EncryptionKey::from_bytes([7; 32]);
    let error = options.clone().encryption_key(other).connect().await.unwrap_err();
    assert!(matches!(error, StoreError::WrongKey), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);

    // A sealed value moved to another row does not open.
    admin
        .batch_execute(&format!(
            "UPDATE {s}.sessions SET sealed = (SELECT sealed FROM {s}.sessions WHERE provider = 'a')
             WHERE provider = 'b'"
        ))
        .await
        .unwrap();
    let error = store.get(&SessionKey::new("t", "b")).await.unwrap_err();
    assert!(
        matches!(cause(&error), StoreError::Tampered { what: "session" }),
        "{error:?}"
    );
    assert!(store.get(&SessionKey::new("t", "a")).await.unwrap().is_some());

    // A passphrase: the salt is kept in the schema, the same passphrase reopens it.
    let schema = schemas.fresh("pass");
    let with = |p: &str| {
        PostgresOptions::new(&url)
            .schema(&schema)
            .encryption_key(EncryptionKey::from_passphrase(p))
    };
    let first = with("correct horse").connect().await.unwrap();
    first.put(&testing::sample_session("t", "p", 5)).await.unwrap();
    let again = with("correct horse").connect().await.unwrap();
    let stored = again.get(&SessionKey::new("t", "p")).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("t", "p", 5));
    let error = with("wrong horse").connect().await.unwrap_err();
    assert!(matches!(error, StoreError::WrongKey), "{error:?}");
}

#[tokio::test]
async fn turning_encryption_on_seals_existing_rows_and_stops_keyless_writers() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("seal");
    let clear = PostgresOptions::new(&url)
        .schema(&schema)
        .connect()
        .await
        .unwrap();
    clear.put(&testing::sample_session("t", "p", 42)).await.unwrap();
    clear
        .put_pending(&testing::sample_pending("t", "p", "state-42", Timestamp::MAX))
        .await
        .unwrap();

    let sealed = PostgresOptions::new(&url)
        .schema(&schema)
        .encryption_key(test_key())
        .connect()
        .await
        .unwrap();
    let stored = sealed.get(&SessionKey::new("t", "p")).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("t", "p", 42));
    assert_eq!(stored.version(), 1);

    // The keyless instance still connected may no longer write clear rows,
    // nor read sealed ones.
    let error = clear
        .put(&testing::sample_session("t", "other", 1))
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear
        .compare_and_swap(&testing::sample_session("t", "p", 43), 1)
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear
        .put_pending(&testing::sample_pending("t", "p", "state-43", Timestamp::MAX))
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear.get(&SessionKey::new("t", "p")).await.unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    // A pending login it cannot read is not consumed.
    let error = clear
        .take_pending(&"t".into(), "state-42", testing::T0)
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");

    let taken = sealed
        .take_pending(&"t".into(), "state-42", testing::T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.secret.secret(), "pkce-verifier-state-42");
    let admin = connect_raw(&url).await;
    let bodies = admin
        .query(&format!("SELECT body FROM {}.sessions", quote(&schema)), &[])
        .await
        .unwrap();
    for row in bodies {
        let body: String = row.get(0);
        assert!(!body.contains("access-t-p-42"), "left in clear: {body}");
    }
}

#[tokio::test]
async fn newer_and_foreign_schemas_are_refused_untouched() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;

    let newer = schemas.fresh("newer");
    drop(PostgresOptions::new(&url).schema(&newer).connect().await.unwrap());
    admin
        .batch_execute(&format!(
            "UPDATE {}.authresult_meta SET schema_version = 99",
            quote(&newer)
        ))
        .await
        .unwrap();
    let error = PostgresOptions::new(&url)
        .schema(&newer)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 7
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Configuration);

    let foreign = schemas.fresh("foreign");
    let f = quote(&foreign);
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {f}; CREATE TABLE {f}.sessions (id INT); INSERT INTO {f}.sessions VALUES (1)"
        ))
        .await
        .unwrap();
    let error = PostgresOptions::new(&url)
        .schema(&foreign)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::ForeignSchema { .. }), "{error:?}");
    let tables: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&foreign],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing created next to the foreign table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_create_the_schema_once() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("start");
    let connects = (0..8).map(|_| PostgresOptions::new(&url).schema(&schema).connect());
    let stores: Vec<PostgresStore> = futures::future::join_all(connects)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (n, store) in (0u64..).zip(&stores) {
        store
            .put(&testing::sample_session("t", &format!("p{n}"), n))
            .await
            .unwrap();
    }
    assert_eq!(stores[0].list(&"t".into()).await.unwrap().len(), 8);
    let admin = connect_raw(&url).await;
    let version: i64 = admin
        .query_one(
            &format!("SELECT schema_version FROM {}.authresult_meta", quote(&schema)),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 7);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_failure() {
    let _server = SERVER.read().await;
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let error = PostgresOptions::new(format!("postgres://nobody@127.0.0.1:{port}/none"))
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::PostgresUnavailable { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(started.elapsed() < Duration::from_secs(10));
    let core: Error = error.into();
    assert!(core.is_transient());
}

/// A rustls client configuration trusting no certificate.
fn tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// `url` with `sslmode=<mode>`.
fn with_sslmode(url: &str, mode: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    } else {
        format!("{url} sslmode={mode}")
    }
}

#[tokio::test]
async fn tls_is_negotiated_and_required_when_the_url_says_so() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let error = PostgresOptions::new(with_sslmode(&url, "require"))
        .schema(schemas.fresh("tls"))
        .tls(tls_config())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PostgresRefused { .. }), "{error:?}");
    if ssl == "on" {
        eprintln!("this server has TLS: its certificate was refused by an empty trust store");
        return;
    }
    // The throwaway server has no TLS: `require` refused it, `prefer` falls back.
    assert_eq!(error.kind(), FailureKind::Configuration);
    let store = PostgresOptions::new(with_sslmode(&url, "prefer"))
        .schema(schemas.fresh("tls"))
        .tls(tls_config())
        .connect()
        .await
        .unwrap();
    store.put(&testing::sample_session("t", "p", 1)).await.unwrap();
}

#[tokio::test]
async fn a_version_1_schema_migrates_without_loss_and_seals_its_revocations() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("v1");
    let connect = |key: Option<EncryptionKey>| {
        let mut options = PostgresOptions::new(&url).schema(&schema);
        if let Some(key) = key {
            options = options.encryption_key(key);
        }
        options.connect()
    };
    let store = connect(None).await.unwrap();
    let session = testing::sample_session("t", "p", 1);
    store.put(&session).await.unwrap();
    store.close();
    // Back to what version 1 wrote: no revocations table.
    let admin = connect_raw(&url).await;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "{}; DROP TABLE {s}.revocations; UPDATE {s}.authresult_meta SET schema_version = 1;",
            back_to_v2(&s)
        ))
        .await
        .unwrap();

    let store = connect(None).await.unwrap();
    let stored = store.get(&session.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &session);
    let revocation = testing::sample_revocation("t", "p", "r1", false, testing::T0);
    store.put_pending_revocation(&revocation).await.unwrap();
    store.close();
    let version: i64 = admin
        .query_one(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 7);

    // The first connect with a key seals the clear revocation too.
    let store = connect(Some(test_key())).await.unwrap();
    let found = store.pending_revocations(&"t".into(), testing::T0).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].token.secret(), revocation.token.secret());
    let row = admin
        .query_one(
            &format!("SELECT body, sealed IS NOT NULL FROM {s}.revocations"),
            &[],
        )
        .await
        .unwrap();
    let body: String = row.get(0);
    let sealed: bool = row.get(1);
    assert!(sealed && !body.contains(revocation.token.secret()), "{body}");
}

/// SQL turning schema `s` back into what version 3 wrote: no vault tables
/// (nor what later versions add).
pub(super) fn back_to_v3(s: &str) -> String {
    format!(
        "{}; DROP TABLE {s}.vault; DROP TABLE {s}.vault_clock",
        back_to_v4(s)
    )
}

/// SQL turning schema `s` back into what version 4 wrote: no replay table
/// (version 5), no DPoP nonces (version 6) and no logout list (version 7).
pub(super) fn back_to_v4(s: &str) -> String {
    format!("DROP TABLE {s}.logouts; DROP TABLE {s}.dpop_nonces; DROP TABLE {s}.replay")
}

/// SQL turning schema `s` back into what version 2 wrote: no vault, and
/// sessions and leases keyed by tenant and provider, no `user_id`.
fn back_to_v2(s: &str) -> String {
    format!(
        "{};
         ALTER TABLE {s}.sessions DROP CONSTRAINT sessions_pkey, DROP COLUMN user_id,
            ADD PRIMARY KEY (tenant, provider);
         ALTER TABLE {s}.leases DROP CONSTRAINT leases_pkey, DROP COLUMN user_id,
            ADD PRIMARY KEY (tenant, provider)",
        back_to_v3(s)
    )
}

#[tokio::test]
async fn a_version_2_schema_migrates_to_users_without_losing_a_session() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("v2");
    let connect = || {
        PostgresOptions::new(&url)
            .schema(&schema)
            .encryption_key(test_key())
            .connect()
    };
    let store = connect().await.unwrap();
    let keycloak = testing::sample_session("t", "keycloak", 1);
    store.put(&keycloak).await.unwrap();
    store.put(&keycloak).await.unwrap();
    store.close();
    let admin = connect_raw(&url).await;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "{}; UPDATE {s}.authresult_meta SET schema_version = 2;",
            back_to_v2(&s)
        ))
        .await
        .unwrap();

    let store = connect().await.unwrap();
    let stored = store.get(&keycloak.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &keycloak);
    assert_eq!(stored.version(), 2);
    let amina = testing::sample_user_session("t", "amina", "keycloak", 2);
    assert_eq!(store.put(&amina).await.unwrap(), 1);
    let stored = store.get(&amina.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &amina);
    let users: Vec<String> = store
        .list(&"t".into())
        .await
        .unwrap()
        .iter()
        .map(|s| s.key.user.to_string())
        .collect();
    assert_eq!(users, ["", "amina"]);
    let version: i64 = admin
        .query_one(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 7);
}
