//! The tablet: one SQLite store holding the sessions, the users' vault
//! records, their failure counters and the time high-water mark; the
//! offline vault over it; the session manager over the sealed store. One
//! method per command.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use authresult_core::AuthManager;
use authresult_core::{
    AuthEvent, Clock, Error, FailureKind, Password, SessionStore as _, Stores, TenantId, Timestamp, UserId,
};
use authresult_oidc::OidcOptions;
use authresult_store::{OfflinePolicy, OfflineVault, SqliteStore, StoreError, VaultedStore};
use example_common::{Settings, device_login, expiry, human_span};

use crate::{OffsetClock, PolicyArgs};

/// The shared tablet's store and vault.
#[derive(Debug)]
pub(crate) struct Tablet {
    tenant: TenantId,
    /// The file as it is: named users' sessions sealed.
    raw: Arc<SqliteStore>,
    vault: Arc<OfflineVault>,
    /// The same file seen through the users' keys (what the manager uses).
    sealed: VaultedStore,
}

impl Tablet {
    /// Opens the store (`--store`) and its vault with the tablet's policy.
    pub(crate) async fn open(settings: &Settings, args: &PolicyArgs) -> Result<Tablet> {
        let raw = Arc::new(settings.open_store().await?);
        let clock: Arc<dyn Clock> = Arc::new(OffsetClock {
            days: args.clock_offset_days,
        });
        let mut policy = OfflinePolicy::default();
        policy.grace = Duration::from_secs(args.grace_days.saturating_mul(24 * 3600));
        policy.max_failures = args.max_failures;
        let vault = Arc::new(OfflineVault::new(raw.clone(), policy).with_clock(clock.clone()));
        let sealed = VaultedStore::new(raw.clone(), vault.clone());
        Ok(Tablet {
            tenant: settings.tenant.as_str().into(),
            raw,
            vault,
            sealed,
        })
    }

    /// The session manager over the store with its sessions sealed, and the provider's name.
    pub(crate) fn manager(&self, settings: &Settings) -> Result<(AuthManager, String)> {
        let stores = Stores::from(self.raw.clone()).with_sessions(Arc::new(self.sealed.clone()));
        settings.manager_over(stores, OidcOptions::default())
    }

    /// Online: a device login of `user`, then their passcode enrolled.
    ///
    /// The passcode opens nothing before the provider accepted the login.
    /// When the provider cannot be reached, the login form is an offline
    /// unlock: counted, delayed and locked out like `unlock`.
    pub(crate) async fn login(
        &self,
        manager: &AuthManager,
        provider: &str,
        user: &str,
        passcode: &Password,
        qr: bool,
    ) -> Result<()> {
        let id = UserId::from(user);
        let secret = passcode.secret().as_bytes();
        // Kept in memory only: the session the login writes decides which
        // key seals it (the user's own when the passcode opens their record,
        // a new one when they have none), after the provider's answer.
        self.vault.prepare_login(&self.tenant, &id, Some(secret)).await?;
        let session = match device_login(&manager.for_user(user), provider, qr).await {
            Ok(session) => session,
            Err(e) => return self.login_failed(user, passcode, e).await,
        };
        // After an OpenID login the app never saw the password: the passcode
        // the user picked wraps the key. This also lifts a lock-out or a
        // disabled credential and counts as the online proof.
        self.sealed
            .enroll(&self.tenant, &id, secret)
            .await
            .context("cannot enroll the passcode")?;
        println!(
            "{user}: logged in online as subject {} ({provider}); passcode enrolled for offline unlock",
            session.subject.as_deref().unwrap_or("(unknown)")
        );
        Ok(())
    }

    /// What a failed online login means for the tablet.
    async fn login_failed(&self, user: &str, passcode: &Password, error: anyhow::Error) -> Result<()> {
        let id = UserId::from(user);
        let reason = error.chain().find_map(|e| e.downcast_ref::<StoreError>());
        match reason {
            Some(StoreError::SecretMismatch) => {
                println!(
                    "{user}: logged in online, but the passcode does not open {user}'s vault on this tablet: nothing was stored, {user}'s sessions are untouched"
                );
                return Err(error);
            }
            Some(StoreError::SubjectMismatch { .. } | StoreError::UnboundProvider { .. }) => {
                println!(
                    "{user}: another account logged in than the one {user} is bound to on this tablet: refused, nothing changed"
                );
                return Err(error);
            }
            _ => {}
        }
        let transient = error
            .chain()
            .find_map(|e| e.downcast_ref::<Error>())
            .is_some_and(Error::is_transient);
        let enrolled = self.vault.status(&self.tenant, &id).await?.is_some();
        if !(transient && enrolled) {
            return Err(error);
        }
        println!(
            "{user}: the provider cannot be reached: the passcode is tried as an offline unlock (counted)"
        );
        self.open_vault(user, passcode).await?;
        println!("{user}: unlocked offline (no network used)");
        self.show(user).await
    }

    /// Offline: unlocks `user` and shows what they can read.
    pub(crate) async fn unlock(&self, user: &str, passcode: &Password) -> Result<()> {
        self.open_vault(user, passcode).await?;
        println!("{user}: unlocked offline (no network used)");
        self.show(user).await
    }

    /// Locks `user`: their key leaves memory and every manager of theirs
    /// drops its tokens.
    pub(crate) fn lock(&self, user: &str) {
        self.vault.lock(&self.tenant, &user.into());
        println!("{user}: locked (key and tokens dropped from memory)");
    }

    /// Locks the users idle longer than the policy allows.
    pub(crate) fn lock_idle(&self) {
        self.vault.lock_idle();
    }

    pub(crate) async fn open_vault(&self, user: &str, passcode: &Password) -> Result<()> {
        self.vault
            .unlock(&self.tenant, &user.into(), passcode.secret().as_bytes())
            .await
            .with_context(|| format!("{user}: offline unlock refused"))
    }

    /// The user's own sessions (never a token), and every other user's
    /// session on the tablet, which stays sealed.
    async fn show(&self, user: &str) -> Result<()> {
        let id = UserId::from(user);
        let now = Timestamp::now();
        let own = self.sealed.list_user(&self.tenant, &id).await?;
        if own.is_empty() {
            println!("{user} sees: no session (log in online)");
        }
        for s in &own {
            println!(
                "{user} sees: {} (subject {}, access token expires {}, {})",
                s.key.provider,
                s.subject.as_deref().unwrap_or("unknown"),
                expiry(Some(s), now),
                if s.is_refreshable() {
                    "refreshable"
                } else {
                    "not refreshable"
                }
            );
        }
        for s in self.raw.list(&self.tenant).await? {
            let key = &s.key;
            if key.user == id {
                continue;
            }
            if key.user.is_default() {
                println!(
                    "{user} can read: {} of the tablet's default user (not sealed per user)",
                    key.provider
                );
                continue;
            }
            match self.sealed.get(key).await {
                Ok(_) => println!("{user} can ALSO read: {}/{}", key.user, key.provider),
                Err(e) => println!(
                    "{user} cannot read: {}/{} (sealed with {}'s key: {})",
                    key.user,
                    key.provider,
                    key.user,
                    store_reason(&e)
                ),
            }
        }
        Ok(())
    }

    /// Online: unlock `user`, then refresh at the provider; the vault
    /// follows what the provider answered.
    pub(crate) async fn refresh(&self, settings: &Settings, user: &str, passcode: &Password) -> Result<()> {
        let (manager, provider) = self.manager(settings)?;
        let id = UserId::from(user);
        self.open_vault(user, passcode).await?;
        let manager = manager.for_user(user);
        let mut events = manager.subscribe();
        let before = manager.session(&provider).await?;
        let result = manager.refresh(&provider).await;
        // Online truth wins: the vault follows the manager's events. A
        // refresh is an online proof (the grace period restarts); a terminal
        // answer disables the offline credential.
        let mut failed = None;
        while let Some(event) = events.try_next_event() {
            if let AuthEvent::RefreshFailed { kind, .. } = &event {
                failed = Some(*kind);
            }
            self.vault.observe(&self.tenant, &id, &event).await?;
        }
        match (result, failed) {
            (Ok(after), None) if before.as_ref().is_none_or(|b| b.issued_at != after.issued_at) => {
                println!(
                    "{user}: refreshed online ({provider}: access token expires {}); the grace period starts again",
                    expiry(Some(&after), Timestamp::now())
                );
                Ok(())
            }
            (Err(e), _) if e.is_terminal() => {
                let disabled = self
                    .vault
                    .status(&self.tenant, &id)
                    .await?
                    .is_some_and(|s| s.disabled);
                println!(
                    "{user}: the provider refused the refresh for good: the session is removed{}",
                    if disabled {
                        " and the offline credential disabled"
                    } else {
                        ""
                    }
                );
                Err(anyhow!(e))
            }
            (result, failed) => {
                let kind = result
                    .as_ref()
                    .err()
                    .map(Error::kind)
                    .or(failed)
                    .unwrap_or(FailureKind::Transient);
                println!(
                    "{user}: not refreshed ({kind} failure): the session and the offline credential are kept"
                );
                match result {
                    Err(e) => Err(anyhow!(e)),
                    Ok(_) => bail!(
                        "{user}: not refreshed; the access token is still valid and the next call tries again"
                    ),
                }
            }
        }
    }

    /// What the vault knows about `user`, and how many sessions the
    /// tablet keeps for them (sealed).
    pub(crate) async fn status(&self, user: &str) -> Result<()> {
        let id = UserId::from(user);
        let Some(s) = self.vault.status(&self.tenant, &id).await? else {
            println!("{user}: no offline credential on this tablet (log in online first)");
            return Ok(());
        };
        let state = if s.disabled {
            "disabled by the provider's answer"
        } else if s.locked_out {
            "locked out after too many failures"
        } else if s.clock_behind {
            "ended: the clock went back behind the time this vault has seen"
        } else {
            "enabled"
        };
        let left = match s.grace_left {
            Some(left) => format!("grace left {}", human_span(left.as_secs())),
            None => "grace period over".to_owned(),
        };
        println!(
            "{user}: offline credential {state}; {} failed unlocks; {}; {left}",
            s.failures,
            if s.unlocked {
                "unlocked in this process"
            } else {
                "locked"
            }
        );
        let stored = self.raw.list_user(&self.tenant, &id).await?.len();
        println!("{user}: {stored} session(s) on this tablet, sealed with {user}'s key");
        Ok(())
    }
}

/// Why the store refused: its own error's text (e.g. the vault is locked).
fn store_reason(error: &Error) -> String {
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<StoreError>())
        .map_or_else(|| error.to_string(), StoreError::to_string)
}
