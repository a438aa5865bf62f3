//! A shared field tablet, scripted: two enumerators log in online on one
//! store, the provider goes away, each unlocks offline with their own
//! secret and sees only their sessions, a wrong secret is delayed then
//! locked out, the grace period runs out, and when the provider is back a
//! revoked user can no longer unlock.
//!
//! The provider is the library's scriptable `FakeProvider` (the script
//! decides what it answers), the clock a `ManualClock`, so the run is the
//! same every time. Usage: `example-field-device [--store <file>]`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use authresult_core::testing::FakeProvider;
use authresult_core::{
    AccessToken, AuthManager, AuthResult, Credentials, Error, FailureKind, ManualClock, Password,
    RefreshToken, SessionStore, TenantId, Timestamp, UserId,
};
use authresult_store::{KeySource, OfflinePolicy, OfflineVault, SqliteStore, StoreError, VaultedStore};

const TENANT: &str = "field-app";
const PROVIDER: &str = "field";

fn tokens(user: &str) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(format!("access-token-of-{user}")), 3600);
    auth.refresh_token = Some(RefreshToken::new(format!("refresh-token-of-{user}")));
    auth
}

fn password(user: &str, secret: &str) -> Credentials {
    Credentials::Password {
        username: user.to_owned(),
        password: Password::new(secret),
    }
}

struct Device {
    manager: AuthManager,
    store: VaultedStore,
    vault: Arc<OfflineVault>,
    provider: Arc<FakeProvider>,
    tenant: TenantId,
}

impl Device {
    /// An online password login: prepare the vault, log in, enroll the password.
    async fn login_online(&self, user: &str, secret: &str) -> anyhow::Result<()> {
        let id = UserId::from(user);
        self.vault
            .prepare_login(&self.tenant, &id, Some(secret.as_bytes()))
            .await?;
        self.provider.push_login(Ok(tokens(user)));
        self.manager
            .for_user(user)
            .login(PROVIDER, &password(user, secret))
            .await?;
        self.store.enroll(&self.tenant, &id, secret.as_bytes()).await?;
        println!("{user}: logged in online; offline credential enrolled");
        Ok(())
    }

    async fn unlock(&self, user: &str, secret: &str) -> Result<(), StoreError> {
        self.vault
            .unlock(&self.tenant, &user.into(), secret.as_bytes())
            .await
    }

    /// What `user` can read: their access token, or why not.
    async fn show_sessions(&self, user: &str) -> anyhow::Result<()> {
        match self.manager.for_user(user).sessions().await {
            Ok(sessions) => {
                for s in &sessions {
                    // Tokens are never printed: say whether it is this user's own.
                    let own = s.auth.access_token.secret() == format!("access-token-of-{user}");
                    println!(
                        "{user}: sees session {} holding {} access token",
                        s.key,
                        if own { "their own" } else { "ANOTHER USER'S" }
                    );
                }
            }
            Err(e) => println!("{user}: cannot read sessions: {}", cause(&e)),
        }
        Ok(())
    }
}

/// The store error inside a port error, printed; else the error.
fn cause(error: &Error) -> String {
    match error {
        Error::Store { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = match args.as_slice() {
        [] => std::env::temp_dir().join(format!("example-field-device-{}.sqlite", std::process::id())),
        [flag, path] if flag == "--store" => PathBuf::from(path),
        _ => bail!("usage: example-field-device [--store <file>]"),
    };
    let _ = std::fs::remove_file(&path);
    let clock = ManualClock::new(Timestamp::now());
    let sqlite = Arc::new(SqliteStore::open(&path).await.context("opening the store")?);
    let mut policy = OfflinePolicy::default();
    policy.max_failures = 3;
    let vault =
        Arc::new(OfflineVault::new(sqlite.clone(), policy.clone()).with_clock(Arc::new(clock.clone())));
    let source = KeySource::PerUser {
        store_key: None,
        vault: vault.clone(),
    };
    let protected: Arc<dyn SessionStore> = source.protect(sqlite.clone());
    let provider = Arc::new(FakeProvider::new());
    let manager = AuthManager::builder(TENANT, protected)
        .provider(PROVIDER, provider.clone())
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .build();
    let device = Device {
        manager,
        store: VaultedStore::new(sqlite.clone(), vault.clone()),
        vault: vault.clone(),
        provider: provider.clone(),
        tenant: TENANT.into(),
    };
    println!("store: {}", path.display());

    println!("\n-- two enumerators log in online on the shared tablet");
    device.login_online("amina", "amina-password").await?;
    device.login_online("bob", "bob-password").await?;
    vault.lock_all();

    println!("\n-- the provider is out of reach; each unlocks offline with their own secret");
    device.unlock("amina", "amina-password").await?;
    println!("amina: unlocked offline");
    device.show_sessions("amina").await?;
    device.show_sessions("bob").await?;
    vault.lock_all();
    device.unlock("bob", "bob-password").await?;
    println!("bob: unlocked offline");
    device.show_sessions("bob").await?;
    vault.lock_all();

    println!("\n-- a wrong secret is delayed, then locked out");
    for attempt in 1..=policy.max_failures {
        match device.unlock("amina", "guess").await {
            Err(e) => println!("amina, wrong secret (attempt {attempt}): {e}"),
            Ok(()) => bail!("a wrong secret unlocked"),
        }
        match device.unlock("amina", "amina-password").await {
            Err(StoreError::TooSoon { retry_in }) => {
                println!(
                    "amina, right secret at once: refused, retry in {} s",
                    retry_in.as_secs()
                );
                clock.advance(retry_in);
            }
            Err(e) => println!("amina, right secret: {e}"),
            Ok(()) => bail!("the delay was not enforced"),
        }
    }

    println!("\n-- the grace period runs out (the clock moves 15 days on)");
    clock.advance(Duration::from_secs(15 * 24 * 3600));
    match device.unlock("bob", "bob-password").await {
        Err(e @ StoreError::GraceExpired) => println!("bob: {e}"),
        other => bail!("bob unlocked after the grace period: {other:?}"),
    }
    clock.set(Timestamp::now());
    match device.unlock("bob", "bob-password").await {
        Err(e @ StoreError::GraceExpired) => println!("bob, clock set back: still {e}"),
        other => bail!("setting the clock back extended the grace: {other:?}"),
    }

    println!("\n-- the provider is back: amina logs in online again, bob was revoked");
    device.login_online("amina", "amina-password").await?;
    device.show_sessions("amina").await?;
    let bob = device.manager.for_user("bob");
    vault
        .prepare_login(&device.tenant, &"bob".into(), Some(b"bob-password"))
        .await?;
    provider.push_refresh(Err(Error::provider(
        FailureKind::Terminal,
        "invalid_grant: user disabled",
    )));
    match bob.refresh(PROVIDER).await {
        Err(e) if e.is_terminal() => {
            vault.disable(&device.tenant, &"bob".into()).await?;
            println!("bob: the provider refused the refresh for good ({e})");
        }
        other => bail!("the revoked user's refresh answered {other:?}"),
    }
    match device.unlock("bob", "bob-password").await {
        Err(e @ StoreError::OfflineDisabled) => println!("bob: {e}"),
        other => bail!("a revoked user unlocked offline: {other:?}"),
    }
    drop((device, vault, source));
    println!("\ndone: every rule held");
    Ok(())
}
