//! A session's DPoP key at rest: sealed with the tokens by the store key,
//! inside the user's box on a shared device, and the servers' nonces shared
//! by every handle (process) on one file.

use std::path::Path;
use std::sync::Arc;

use authresult_core::{
    AccessToken, AuthResult, DpopBinding, DpopPrivateKey, ManualClock, NonceStore as _, RefreshToken,
    Session, SessionKey, SessionStore as _, Timestamp,
};
use authresult_store::{
    KdfParams, OfflinePolicy, OfflineVault, SqliteOptions, SqliteStore, StoreError, VaultedStore,
};

use crate::common::{store_error, test_key};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
/// Stands for the PKCS#8 text: what must never be found in a file.
const KEY_TEXT: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDPOPKEYMARKER";

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

fn bound_session(key: SessionKey) -> Session {
    let mut auth = AuthResult::new(AccessToken::new("access-bound"), 3600);
    auth.refresh_token = Some(RefreshToken::new("refresh-bound"));
    auth.profile = Some([("sub".to_owned(), "u-1".to_owned())].into());
    auth.dpop = Some(DpopBinding {
        alg: "ES256".into(),
        key: DpopPrivateKey::new(KEY_TEXT),
        bound: true,
    });
    Session::new(key, auth, T0)
}

fn same_key(session: &Session) -> bool {
    let written = bound_session(session.key.clone());
    session
        .auth
        .dpop
        .as_ref()
        .is_some_and(|d| d.bound && d.same_key(written.auth.dpop.as_ref().unwrap()))
}

#[tokio::test]
async fn the_dpop_key_is_sealed_with_the_tokens_by_the_store_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = SessionKey::new("field-app", "keycloak");

    // Control: without a key the grep finds it, so it would notice.
    let clear = dir.path().join("clear.db");
    let store = SqliteStore::open(&clear).await.unwrap();
    store.put(&bound_session(key.clone())).await.unwrap();
    assert!(contains(&raw_bytes(&clear), KEY_TEXT), "control");
    store.close().await;

    let sealed = dir.path().join("sealed.db");
    let store = SqliteOptions::new(&sealed)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    store.put(&bound_session(key.clone())).await.unwrap();
    assert!(!contains(&raw_bytes(&sealed), KEY_TEXT), "the key in clear (WAL)");
    assert!(same_key(&store.get(&key).await.unwrap().unwrap()));
    store.close().await;
    assert!(
        !contains(&raw_bytes(&sealed), KEY_TEXT),
        "the key in clear (file)"
    );

    // Another login replaces the key; removing the session removes it.
    let store = SqliteOptions::new(&sealed)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    let mut next = bound_session(key.clone());
    next.auth.dpop.as_mut().unwrap().key = DpopPrivateKey::new("another-key");
    store.put(&next).await.unwrap();
    assert!(
        !same_key(&store.get(&key).await.unwrap().unwrap()),
        "replaced by the new login's"
    );
    assert!(store.remove(&key).await.unwrap());
    assert!(store.get(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn the_dpop_key_of_a_vaulted_user_is_in_their_box_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    // No store key: the user's box is all that protects the key.
    let raw = Arc::new(SqliteStore::open(&path).await.unwrap());
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    let clock = ManualClock::new(T0);
    let vault = Arc::new(OfflineVault::new(raw.clone(), policy).with_clock(Arc::new(clock)));
    let sealed = VaultedStore::new(raw.clone(), vault.clone());
    let (tenant, user) = ("field-app".into(), "amina".into());
    let key = SessionKey::for_user("field-app", "amina", "keycloak");
    vault
        .prepare_login(&tenant, &user, Some(b"amina-pin"))
        .await
        .unwrap();
    sealed.put(&bound_session(key.clone())).await.unwrap();
    sealed.enroll(&tenant, &user, b"amina-pin").await.unwrap();

    assert!(
        !contains(&raw_bytes(&path), KEY_TEXT),
        "the key in clear in the file"
    );
    // The backend's own row: no key, no token.
    let row = raw.get(&key).await.unwrap().unwrap();
    assert!(row.auth.dpop.is_none(), "the row holds the box, not the key");
    assert!(
        same_key(&sealed.get(&key).await.unwrap().unwrap()),
        "the user reads it back"
    );
    let debug = format!("{:?}", sealed.get(&key).await.unwrap().unwrap());
    assert!(!debug.contains(KEY_TEXT), "{debug}");

    // Locked (another user of the tablet, or a thief): nothing.
    vault.lock(&tenant, &user);
    let locked = sealed.get(&key).await.unwrap_err();
    assert!(
        matches!(store_error(&locked), StoreError::VaultLocked),
        "{locked:?}"
    );
}

#[tokio::test]
async fn nonces_are_shared_by_every_handle_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    let tenant = "field-app".into();
    first
        .set_dpop_nonce(&tenant, "https://idp.example.org", "n-1")
        .await
        .unwrap();
    assert_eq!(
        second
            .dpop_nonce(&tenant, "https://idp.example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("n-1"),
        "another process of the app sees the nonce"
    );
    second
        .set_dpop_nonce(&tenant, "https://idp.example.org", "n-2")
        .await
        .unwrap();
    assert_eq!(
        first
            .dpop_nonce(&tenant, "https://idp.example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("n-2")
    );
}
