//! The offline vault on PostgreSQL: the `VaultStore` suite with two store
//! instances on one schema, the migration from a version 3 schema, and
//! `KeySource::PerUser` over Postgres (sessions sealed per user, readable
//! only while that user is unlocked, on any instance).

use std::sync::Arc;
use std::time::Duration;

use authresult_core::testing::FakeProvider;
use authresult_core::{
    AccessToken, AuthManager, AuthResult, ManualClock, RefreshToken, Session, SessionKey, SessionStore,
};
use authresult_core::{RevocationQueueExt as _, Stores, UsernameStore as _};
use authresult_store::testing::vault::VaultHandles;
use authresult_store::{
    KdfParams, KeySource, OfflinePolicy, OfflineVault, PostgresOptions, PostgresStore, StoreError,
    VaultStore as _, VaultedStore, testing,
};

use super::schema::back_to_v3;
use super::{SERVER, Schemas, cause, connect_raw, database_url, quote};
use crate::common::test_key;

const T0: authresult_core::Timestamp = authresult_core::testing::T0;

/// Cheap key derivation: the tests check the rules, not the cost.
fn policy() -> OfflinePolicy {
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };
    policy
}

/// A store instance on `schema`, encrypted with `key` when given.
async fn instance(schema: &str, key: Option<&authresult_store::EncryptionKey>) -> Arc<PostgresStore> {
    let mut options = PostgresOptions::new(database_url())
        .schema(schema)
        .max_connections(4);
    if let Some(key) = key {
        options = options.encryption_key(key.clone());
    }
    Arc::new(options.connect().await.unwrap())
}

#[tokio::test]
async fn postgres_vault_store_conforms() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    testing::vault::run_all(|| {
        let schema = schemas.fresh("vault_conf");
        async move {
            // Two instances on one schema, as two servers would share it.
            VaultHandles::new(instance(&schema, None).await, instance(&schema, None).await)
        }
    })
    .await;
}

fn session(user: &str, token: &str) -> Session {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{token}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-{token}")));
    auth.profile = Some([("sub".to_owned(), format!("sub-{user}"))].into());
    Session::new(SessionKey::for_user("field-app", user, "kc"), auth, T0)
}

#[tokio::test]
async fn a_version_3_schema_migrates_to_the_vault_without_losing_a_session() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let schema = schemas.fresh("v3");
    let store = instance(&schema, Some(&test_key())).await;
    let single = authresult_core::testing::sample_session("t", "keycloak", 1);
    let amina = authresult_core::testing::sample_user_session("t", "amina", "keycloak", 2);
    store.put(&single).await.unwrap();
    store.put(&amina).await.unwrap();
    store.put(&amina).await.unwrap();
    store
        .set_username(&"t".into(), Some("amina".into()))
        .await
        .unwrap();
    let revocation = authresult_core::testing::sample_revocation("t", "keycloak", "r1", true, T0);
    store.put_pending_revocation(&revocation).await.unwrap();
    store.close();
    let admin = connect_raw(&database_url()).await;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "{}; UPDATE {s}.authresult_meta SET schema_version = 3;",
            back_to_v3(&s)
        ))
        .await
        .unwrap();

    // Two instances start at once on the version 3 schema: one migrates.
    let key = test_key();
    let (store, other) = tokio::join!(instance(&schema, Some(&key)), instance(&schema, Some(&key)));
    let version: i64 = admin
        .query_one(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 7);
    authresult_core::testing::assert_same_session(&store.get(&single.key).await.unwrap().unwrap(), &single);
    let stored = other.get(&amina.key).await.unwrap().unwrap();
    authresult_core::testing::assert_same_session(&stored, &amina);
    assert_eq!(stored.version(), 2);
    assert_eq!(
        store.username(&"t".into()).await.unwrap().as_deref(),
        Some("amina")
    );
    let pending = store.pending_revocations(&"t".into(), T0).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].token.secret(), revocation.token.secret());
    // The vault tables are there and shared.
    assert!(
        store
            .put_vault_record(&"t".into(), &"amina".into(), "{}", 0)
            .await
            .unwrap()
    );
    assert_eq!(
        other.vault_record(&"t".into(), &"amina".into()).await.unwrap(),
        Some(("{}".to_owned(), 1))
    );
}

/// One application instance with a per-user key source over a Postgres store.
struct Instance {
    raw: Arc<PostgresStore>,
    vault: Arc<OfflineVault>,
    sessions: Arc<dyn SessionStore>,
    /// Every port of `raw`, sessions through `sessions`.
    stores: Stores,
}

async fn per_user_instance(schema: &str, clock: &ManualClock) -> Instance {
    let store_key = test_key();
    let raw = instance(schema, Some(&store_key)).await;
    let vault = Arc::new(OfflineVault::new(raw.clone(), policy()).with_clock(Arc::new(clock.clone())));
    let source = KeySource::PerUser {
        store_key: Some(store_key),
        vault: vault.clone(),
    };
    assert!(source.store_key().is_some());
    let stores = source.protect(raw.clone());
    let sessions = stores.sessions.clone();
    Instance {
        raw,
        vault,
        sessions,
        stores,
    }
}

async fn token(store: &dyn SessionStore, user: &str) -> Result<String, authresult_core::Error> {
    let key = SessionKey::for_user("field-app", user, "kc");
    Ok(store
        .get(&key)
        .await?
        .unwrap()
        .auth
        .access_token
        .secret()
        .to_owned())
}

#[tokio::test]
async fn per_user_sessions_on_postgres_are_readable_only_while_unlocked_on_any_instance() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let schema = schemas.fresh("per_user");
    let clock = ManualClock::new(T0);
    let first = per_user_instance(&schema, &clock).await;
    let second = per_user_instance(&schema, &clock).await;
    let (tenant, amina, bob) = ("field-app".into(), "amina".into(), "bob".into());

    // Online logins on the first instance: prepare, write the session, enroll.
    for (user, secret, name) in [(&amina, "amina-pass", "amina"), (&bob, "bob-pass", "bob")] {
        first
            .vault
            .prepare_login(&tenant, user, Some(secret.as_bytes()))
            .await
            .unwrap();
        first.sessions.put(&session(name, name)).await.unwrap();
        VaultedStore::new(first.raw.clone(), first.vault.clone())
            .enroll(&tenant, user, secret.as_bytes())
            .await
            .unwrap();
    }
    let single = Session::new(
        SessionKey::new("field-app", "kc"),
        AuthResult::new(AccessToken::new("single-user-token"), 3600),
        T0,
    );
    first.sessions.put(&single).await.unwrap();
    assert_eq!(token(&*first.sessions, "amina").await.unwrap(), "access-amina");

    // At rest: neither the server's rows nor the store without the vault
    // show a named user's tokens.
    let admin = connect_raw(&database_url()).await;
    let rows: Vec<String> = admin
        .query(
            &format!(
                "SELECT body || coalesce(encode(sealed, 'escape'), '') FROM {}.sessions",
                quote(&schema)
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|row| !row.contains("access-") && !row.contains("refresh-")),
        "{rows:?}"
    );
    let raw = first
        .raw
        .get(&SessionKey::for_user("field-app", "amina", "kc"))
        .await
        .unwrap()
        .unwrap();
    assert!(raw.sealed_auth.is_some(), "the sealed box in its own field");
    assert!(raw.auth.access_token.secret().is_empty() && raw.auth.refresh_token.is_none());

    // Locked: a typed error, and `list` leaves the user out.
    first.vault.lock_all();
    let e = token(&*first.sessions, "amina").await.unwrap_err();
    assert!(matches!(cause(&e), StoreError::VaultLocked), "{e:?}");
    let listed = first.sessions.list(&tenant).await.unwrap();
    assert_eq!(listed.len(), 1, "only the default user's session: {listed:?}");

    // The second instance: locked until it unlocks; a failure there is
    // counted in the database for both instances.
    let e = token(&*second.sessions, "amina").await.unwrap_err();
    assert!(matches!(cause(&e), StoreError::VaultLocked), "{e:?}");
    let e = second
        .vault
        .unlock(&tenant, &amina, b"bob-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::WrongSecret { .. }), "{e:?}");
    let status = first.vault.status(&tenant, &amina).await.unwrap().unwrap();
    assert_eq!(status.failures, 1, "counted in the database");
    let e = first
        .vault
        .unlock(&tenant, &amina, b"amina-pass")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::TooSoon { .. }), "{e:?}");
    clock.advance(Duration::from_secs(2));
    second.vault.unlock(&tenant, &amina, b"amina-pass").await.unwrap();
    assert_eq!(token(&*second.sessions, "amina").await.unwrap(), "access-amina");
    let e = token(&*second.sessions, "bob").await.unwrap_err();
    assert!(
        matches!(cause(&e), StoreError::VaultLocked),
        "Bob stays locked: {e:?}"
    );
    assert!(
        !first.vault.is_unlocked(&tenant, &amina),
        "unlocking is per instance"
    );

    // The session manager of the second instance serves the unlocked user.
    let manager = AuthManager::builder("field-app", second.stores.clone())
        .provider("kc", Arc::new(FakeProvider::new()))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build();
    assert_eq!(
        manager.access_token("kc").await.unwrap().secret(),
        "single-user-token"
    );
    let amina_manager = manager.for_user("amina");
    assert_eq!(
        amina_manager.access_token("kc").await.unwrap().secret(),
        "access-amina"
    );
    second.vault.lock(&tenant, &amina);
    // Locked: no manager of amina answers, not even from its cache.
    let e = manager.for_user("amina").access_token("kc").await.unwrap_err();
    assert!(matches!(e, authresult_core::Error::Locked { .. }), "{e:?}");
    let e = amina_manager.access_token("kc").await.unwrap_err();
    assert!(matches!(e, authresult_core::Error::Locked { .. }), "{e:?}");
}
