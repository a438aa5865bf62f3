//! Issue 21: the shared tablet tried by its attackers (the thief holding
//! it, the other user, the backup writer who edits the file). Each test
//! failed on 1f2d0f5 and names the item it shows.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::Stores;
use authresult_core::testing::FakeProvider;
use authresult_core::{
    AccessToken, AuthManager, AuthResult, Credentials, Error, ManualClock, Password, RefreshToken, Session,
    SessionKey, SessionStore as _, Timestamp,
};
use authresult_store::{
    EncryptionKey, KdfParams, OfflinePolicy, OfflineVault, SqliteOptions, SqliteStore, StoreError,
    VaultedStore,
};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
const TENANT: &str = "field-app";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn policy() -> OfflinePolicy {
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    policy.max_failures = 5;
    policy
}

struct Tablet {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: ManualClock,
    raw: Arc<SqliteStore>,
    vault: Arc<OfflineVault>,
    sealed: VaultedStore,
}

async fn tablet_with(key: Option<EncryptionKey>) -> Tablet {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let mut options = SqliteOptions::new(&path);
    if let Some(key) = key {
        options = options.encryption_key(key);
    }
    let raw = Arc::new(options.open().await.unwrap());
    let clock = ManualClock::new(T0);
    let vault = Arc::new(OfflineVault::new(raw.clone(), policy()).with_clock(Arc::new(clock.clone())));
    let sealed = VaultedStore::new(raw.clone(), vault.clone());
    Tablet {
        _dir: dir,
        path,
        clock,
        raw,
        vault,
        sealed,
    }
}

async fn tablet() -> Tablet {
    tablet_with(None).await
}

/// The session an online login of `user` with `provider` writes, for the
/// account `sub`.
fn login_session(user: &str, provider: &str, sub: &str, token: &str) -> Session {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-{token}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-{token}")));
    auth.profile = Some([("sub".to_owned(), sub.to_owned())].into());
    Session::new(SessionKey::for_user(TENANT, user, provider), auth, T0)
}

fn store_error(e: &Error) -> &StoreError {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<StoreError>())
        .unwrap_or_else(|| panic!("not a store error: {e:?}"))
}

impl Tablet {
    /// An online login the provider accepted: prepare, the login's write, enroll.
    async fn online(
        &self,
        user: &str,
        provider: &str,
        sub: &str,
        secret: &str,
        token: &str,
    ) -> Result<(), Error> {
        self.vault
            .prepare_login(&TENANT.into(), &user.into(), Some(secret.as_bytes()))
            .await?;
        self.sealed
            .put(&login_session(user, provider, sub, token))
            .await?;
        self.sealed
            .enroll(&TENANT.into(), &user.into(), secret.as_bytes())
            .await
    }

    async fn unlock(&self, user: &str, secret: &str) -> Result<(), StoreError> {
        self.vault
            .unlock(&TENANT.into(), &user.into(), secret.as_bytes())
            .await
    }

    async fn failures(&self, user: &str) -> u32 {
        self.vault
            .status(&TENANT.into(), &user.into())
            .await
            .unwrap()
            .unwrap()
            .failures
    }

    async fn token(&self, user: &str, provider: &str) -> Result<String, Error> {
        let key = SessionKey::for_user(TENANT, user, provider);
        Ok(self
            .sealed
            .get(&key)
            .await?
            .unwrap()
            .auth
            .access_token
            .secret()
            .to_owned())
    }
}

/// Item 1: offline, the online-login path opens nothing and is no
/// guessing oracle: `prepare_login` tries no secret, whatever the record's
/// state (disabled, locked out, grace over).
#[tokio::test]
async fn the_online_login_form_offline_opens_nothing() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    t.vault.lock_all();
    for guess in ["wrong", "123456", "right"] {
        t.vault
            .prepare_login(&TENANT.into(), &"amina".into(), Some(guess.as_bytes()))
            .await
            .unwrap();
        // The provider cannot be reached: no session is written.
        assert!(
            !t.vault.is_unlocked(&TENANT.into(), &"amina".into()),
            "{guess} opened the vault"
        );
        let e = t.token("amina", "kc").await.unwrap_err();
        assert!(matches!(store_error(&e), StoreError::VaultLocked), "{e:?}");
    }
    // Disabled by the provider: the right secret before a login opens nothing either.
    t.vault.disable(&TENANT.into(), &"amina".into()).await.unwrap();
    t.vault
        .prepare_login(&TENANT.into(), &"amina".into(), Some(b"right"))
        .await
        .unwrap();
    assert!(!t.vault.is_unlocked(&TENANT.into(), &"amina".into()));
    // The only offline way in is the counted unlock, which refuses.
    assert!(matches!(
        t.unlock("amina", "right").await,
        Err(StoreError::OfflineDisabled)
    ));
}

/// Item 2: one mistyped secret before an online login leaves no random key
/// behind, and the correct retry keeps every other session readable.
#[tokio::test]
async fn a_typo_before_an_online_login_costs_nothing() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    // Her sync-server session, under the same key.
    t.sealed
        .put(&login_session("amina", "default", "amina-id", "d1"))
        .await
        .unwrap();
    t.vault.lock_all();
    // The typo: the provider accepts the login, the secret opens nothing.
    t.vault
        .prepare_login(&TENANT.into(), &"amina".into(), Some(b"rihgt"))
        .await
        .unwrap();
    let e = t
        .sealed
        .put(&login_session("amina", "kc", "sub-amina", "a2"))
        .await
        .unwrap_err();
    assert!(matches!(store_error(&e), StoreError::SecretMismatch), "{e:?}");
    assert!(
        !t.vault.is_unlocked(&TENANT.into(), &"amina".into()),
        "no key is held after a typo"
    );
    // The retry with the right secret: both sessions readable, the new one stored.
    t.online("amina", "kc", "sub-amina", "right", "a3").await.unwrap();
    assert_eq!(t.token("amina", "kc").await.unwrap(), "access-a3");
    assert_eq!(t.token("amina", "default").await.unwrap(), "access-d1");
    assert_eq!(
        t.raw
            .list_user(&TENANT.into(), &"amina".into())
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Item 3: a clock set forward by one user's attempts then back ends that
/// user's offline access (never extends it) and not the others'; a small
/// NTP correction changes nothing; a reset to 1970 ends it; an online login
/// restores it.
#[tokio::test]
async fn clock_events_end_offline_access_and_never_freeze_other_users() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "a-pass", "a1")
        .await
        .unwrap();
    t.online("bob", "kc", "sub-bob", "b-pass", "b1").await.unwrap();
    t.vault.lock_all();
    // A small NTP correction back: nothing changes.
    t.clock.advance(Duration::from_secs(600));
    t.unlock("amina", "a-pass").await.unwrap();
    t.vault.lock_all();
    t.clock.set(T0.saturating_add(Duration::from_secs(570)));
    t.unlock("amina", "a-pass").await.unwrap();
    t.vault.lock_all();
    // The thief sets the clock a year ahead and tries amina: grace over.
    t.clock.set(T0.saturating_add(365 * DAY));
    assert!(matches!(
        t.unlock("amina", "wrong").await,
        Err(StoreError::GraceExpired)
    ));
    // Back to the right time: amina's offline access has ended, bob's not.
    t.clock.set(T0.saturating_add(DAY));
    assert!(matches!(
        t.unlock("amina", "a-pass").await,
        Err(StoreError::ClockBehind)
    ));
    t.unlock("bob", "b-pass").await.unwrap();
    // A typo of bob delays bob only, and its delay ends.
    t.vault.lock_all();
    assert!(matches!(
        t.unlock("bob", "wrong").await,
        Err(StoreError::WrongSecret { .. })
    ));
    t.clock.advance(Duration::from_secs(3));
    t.unlock("bob", "b-pass").await.unwrap();
    // A reset to 1970: offline access ends for whoever tries.
    t.vault.lock_all();
    t.clock.set(Timestamp::from_secs(0));
    assert!(matches!(
        t.unlock("bob", "b-pass").await,
        Err(StoreError::ClockBehind)
    ));
    // An online login restores it (amina's too).
    t.clock.set(T0.saturating_add(2 * DAY));
    t.online("amina", "kc", "sub-amina", "a-pass", "a2")
        .await
        .unwrap();
    t.vault.lock_all();
    t.unlock("amina", "a-pass").await.unwrap();
}

fn manager(t: &Tablet, provider: Arc<FakeProvider>, user: &str) -> AuthManager {
    AuthManager::builder(
        TENANT,
        Stores::from(t.raw.clone()).with_sessions(Arc::new(t.sealed.clone())),
    )
    .provider("kc", provider)
    .clock(Arc::new(t.clock.clone()))
    .sleeper(Arc::new(t.clock.clone()))
    .build()
    .for_user(user)
}

/// Item 4: lock, the idle timeout and disable each leave no manager of the
/// user answering a token, and a refresh that finishes after a lock is not
/// kept.
#[tokio::test]
async fn lock_idle_and_disable_each_stop_every_manager() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    let first = manager(&t, Arc::new(FakeProvider::new()), "amina");
    let second = manager(&t, Arc::new(FakeProvider::new()), "amina");
    assert_eq!(first.access_token("kc").await.unwrap().secret(), "access-a1");
    assert_eq!(second.access_token("kc").await.unwrap().secret(), "access-a1");
    let locked = |e: Error| assert!(matches!(e, Error::Locked { .. }), "{e:?}");

    t.vault.lock(&TENANT.into(), &"amina".into());
    locked(first.access_token("kc").await.unwrap_err());
    locked(second.access_token("kc").await.unwrap_err());
    assert!(second.session("kc").await.is_err(), "the store refuses too");

    // The idle timeout (15 min by default).
    t.unlock("amina", "right").await.unwrap();
    assert_eq!(first.access_token("kc").await.unwrap().secret(), "access-a1");
    t.clock.advance(Duration::from_secs(16 * 60));
    locked(first.access_token("kc").await.unwrap_err());
    locked(second.access_token("kc").await.unwrap_err());

    // A terminal answer seen elsewhere disables the credential.
    t.clock.advance(Duration::from_secs(2));
    t.unlock("amina", "right").await.unwrap();
    assert_eq!(first.access_token("kc").await.unwrap().secret(), "access-a1");
    t.vault.disable(&TENANT.into(), &"amina".into()).await.unwrap();
    locked(first.access_token("kc").await.unwrap_err());
    locked(second.access_token("kc").await.unwrap_err());
}

#[tokio::test]
async fn a_refresh_that_finishes_after_a_lock_is_not_kept() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    let vault = t.vault.clone();
    // The lock arrives while the provider answers the refresh.
    let provider = Arc::new(FakeProvider::new().refresh_with(move |_| {
        vault.lock(&TENANT.into(), &"amina".into());
        let mut auth = AuthResult::new(AccessToken::new("access-a2"), 3600);
        auth.refresh_token = Some(RefreshToken::new("refresh-a2"));
        Ok(auth)
    }));
    let amina = manager(&t, provider, "amina");
    let e = amina.refresh("kc").await.unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
    let e = amina.access_token("kc").await.unwrap_err();
    assert!(
        matches!(e, Error::Locked { .. }),
        "nothing cached after the lock: {e:?}"
    );
    // Unlocked again, the manager reads the store: the refresh was not
    // written after the lock (it could not be sealed), nothing else lingers.
    t.clock.advance(Duration::from_secs(1));
    t.unlock("amina", "right").await.unwrap();
    assert_eq!(t.token("amina", "kc").await.unwrap(), "access-a1");
}

/// Item 6: with a store key, editing a vault record in the file (to
/// re-enable it, reset its failures) fails closed.
#[tokio::test]
async fn an_edited_vault_record_fails_closed() {
    let t = tablet_with(Some(EncryptionKey::from_bytes([7u8; 32]))).await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    t.vault.lock_all();
    for _ in 0..2 {
        let _ = t.unlock("amina", "wrong").await;
        t.clock.advance(Duration::from_secs(600));
    }
    assert_eq!(t.failures("amina").await, 2);
    let db = rusqlite::Connection::open(&t.path).unwrap();
    let record: String = db
        .query_row("SELECT record FROM vault WHERE user_id = 'amina'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!record.contains("failures"), "the record is sealed: {record}");
    // The backup writer puts a hand-made clear record in its place.
    let forged = r#"{"tenant":"field-app","user":"amina","failures":0,"disabled":false}"#;
    db.execute("UPDATE vault SET record = ?1 WHERE user_id = 'amina'", [forged])
        .unwrap();
    assert!(matches!(
        t.unlock("amina", "right").await,
        Err(StoreError::Tampered { .. })
    ));
    // Or flips a byte of the sealed one, or copies it under another revision.
    let mut flipped = record.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    db.execute(
        "UPDATE vault SET record = ?1 WHERE user_id = 'amina'",
        [String::from_utf8(flipped).unwrap()],
    )
    .unwrap();
    assert!(matches!(
        t.unlock("amina", "right").await,
        Err(StoreError::Tampered { .. })
    ));
    db.execute(
        "UPDATE vault SET record = ?1, rev = rev + 5 WHERE user_id = 'amina'",
        [&record],
    )
    .unwrap();
    assert!(matches!(
        t.unlock("amina", "right").await,
        Err(StoreError::Tampered { .. })
    ));
}

/// Item 7: after a logout the provider answered, no token text is left in
/// the SQLite file, its `-wal` or `-shm`, in any page.
#[tokio::test]
async fn no_token_text_stays_in_the_file_after_logout() {
    let t = tablet().await;
    let provider = Arc::new(FakeProvider::new());
    let mut auth = AuthResult::new(AccessToken::new("ACCESS-TOKEN-TEXT-1"), 3600);
    auth.refresh_token = Some(RefreshToken::new("REFRESH-TOKEN-TEXT-1"));
    provider.push_login(Ok(auth));
    let mut rotated = AuthResult::new(AccessToken::new("ACCESS-TOKEN-TEXT-2"), 3600);
    rotated.refresh_token = Some(RefreshToken::new("REFRESH-TOKEN-TEXT-2"));
    provider.push_refresh(Ok(rotated));
    let manager = AuthManager::builder(TENANT, t.raw.clone())
        .provider("kc", provider.clone())
        .clock(Arc::new(t.clock.clone()))
        .sleeper(Arc::new(t.clock.clone()))
        .build();
    let credentials = Credentials::Password {
        username: "amina".into(),
        password: Password::new("pw".to_owned()),
    };
    manager.login("kc", &credentials).await.unwrap();
    manager.refresh("kc").await.unwrap();
    let report = manager.logout("kc").await.unwrap();
    assert!(report.revocation.is_ok() && report.pending_revocations.is_empty());
    let mut files = vec![t.path.clone()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = t.path.clone().into_os_string();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        for token in ["TOKEN-TEXT-1", "TOKEN-TEXT-2"] {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{token} is still in {}",
                file.display()
            );
        }
    }
}

/// Item 10: a tablet user is the account that enrolled it: another account
/// logging in under the name is refused and changes nothing, locked or not.
#[tokio::test]
async fn another_account_cannot_take_over_a_tablet_user() {
    let t = tablet().await;
    t.online("amina", "kc", "sub-amina", "right", "a1").await.unwrap();
    t.vault.lock_all();
    // Mallory logs in online as "amina" with her own account and amina's... guess.
    for secret in ["right", "mallory"] {
        let e = t
            .online("amina", "kc", "sub-mallory", secret, "m1")
            .await
            .unwrap_err();
        assert!(
            matches!(store_error(&e), StoreError::SubjectMismatch { .. }),
            "{e:?}"
        );
    }
    // Amina left unlocked: still refused, her session untouched.
    t.unlock("amina", "right").await.unwrap();
    let e = t
        .online("amina", "kc", "sub-mallory", "mallory", "m2")
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&e), StoreError::SubjectMismatch { .. }),
        "{e:?}"
    );
    assert_eq!(t.token("amina", "kc").await.unwrap(), "access-a1");
    // A provider amina never used cannot stand for her while she is locked.
    t.vault.lock_all();
    t.clock.advance(Duration::from_secs(1));
    t.vault
        .prepare_login(&TENANT.into(), &"amina".into(), Some(b"right"))
        .await
        .unwrap();
    let e = t
        .sealed
        .put(&login_session("amina", "other", "sub-x", "x1"))
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&e), StoreError::UnboundProvider { .. }),
        "{e:?}"
    );
    t.unlock("amina", "right").await.unwrap();
    assert_eq!(t.token("amina", "kc").await.unwrap(), "access-a1");
}
