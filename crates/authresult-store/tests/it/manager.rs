//! `AuthManager` over the SQLite store: sessions and usernames survive a
//! restart, refreshes rotate the stored refresh token.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{AuthManager, Credentials, ManualClock, Password, SessionKey, SessionStore, Timestamp};
use authresult_core::{StoreBackend, UsernameStore as _};
use authresult_store::{SqliteOptions, SqliteStore};

use crate::common::{CountingProvider, test_key};

fn manager(store: Arc<dyn StoreBackend>, log: &std::path::Path, clock: &ManualClock) -> AuthManager {
    AuthManager::builder("field-app", store)
        .provider(
            "keycloak",
            Arc::new(CountingProvider {
                log: log.to_owned(),
                expires_in: 60,
            }),
        )
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build()
}

#[tokio::test]
async fn a_session_survives_a_restart_and_refreshes_rotate_the_stored_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app/sessions.db");
    let log = dir.path().join("refreshes.log");
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));

    let store = Arc::new(
        SqliteOptions::new(&path)
            .encryption_key(test_key())
            .open()
            .await
            .unwrap(),
    );
    let first = manager(store.clone(), &log, &clock);
    let credentials = Credentials::Password {
        username: "alice".into(),
        password: Password::new("pw"),
    };
    first.login("keycloak", &credentials).await.unwrap();
    assert_eq!(first.access_token("keycloak").await.unwrap().secret(), "at-0");
    drop(first);
    Arc::into_inner(store).unwrap().close().await;

    // "Restart": a new store and manager on the same file.
    let store = Arc::new(
        SqliteOptions::new(&path)
            .encryption_key(test_key())
            .open()
            .await
            .unwrap(),
    );
    let second = manager(store.clone(), &log, &clock);
    assert!(second.is_authenticated().await.unwrap());
    assert_eq!(second.username().await.unwrap().as_deref(), Some("alice"));
    assert_eq!(second.access_token("keycloak").await.unwrap().secret(), "at-0");
    clock.advance(Duration::from_secs(61));
    assert_eq!(second.access_token("keycloak").await.unwrap().secret(), "at-1");
    let stored = store
        .get(&SessionKey::new("field-app", "keycloak"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.auth.refresh_token.as_ref().unwrap().secret(), "rt-1");
    assert_eq!(stored.version(), 2);

    second.logout_all().await.unwrap();
    assert!(store.list(&"field-app".into()).await.unwrap().is_empty());
    assert_eq!(store.username(&"field-app".into()).await.unwrap(), None);
    drop(second);
    Arc::into_inner(store).unwrap().close().await;
    let store = SqliteStore::open(dir.path().join("other.db")).await.unwrap();
    assert!(store.list(&"field-app".into()).await.unwrap().is_empty());
}
