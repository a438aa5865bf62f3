//! Offline unlock for shared and lost field devices: one sealed vault per
//! user. See `docs/offline-devices.md` for the design and the README for the
//! threat model.
//!
//! After an online login, [`OfflineVault::enroll`] wraps a random per-user
//! data key under a key derived (Argon2id) from the user's secret (the
//! password just used, or a passcode); [`VaultedStore`] seals that user's
//! sessions with the data key. [`OfflineVault::unlock`] opens it again with
//! no network, under the [`OfflinePolicy`]: failures counted in the store
//! with a growing delay and a lock-out, a grace period since the last online
//! proof measured against a high-water mark of time, and the provider's
//! terminal answers disabling the credential.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{AuthEvent, Clock, FailureKind, SystemClock, TenantId, Timestamp, UserId};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::key::{Cipher, KEY_LEN, KdfParams, fill_random};

mod memory;
mod record;
mod sealed;

pub use memory::MemoryVaultStore;
pub use record::MAX_SECRET_LEN;
pub use sealed::VaultedStore;

pub(crate) use record::VaultRecord;

/// Where vault records and the time high-water mark are kept.
/// [`SqliteStore`](crate::SqliteStore) keeps them in its file (next to the
/// sessions), `PostgresStore` (feature `postgres`) in its schema, shared by
/// every instance; [`MemoryVaultStore`] in memory. All three pass one
/// conformance suite (`testing::vault`, feature `testing`).
///
/// Records are opaque text to the store; each write is atomic and guarded
/// by the revision the writer read, so concurrent unlocks (in one process,
/// or in instances sharing the store) never lose a counted failure nor take
/// the same attempt twice, a stale re-wrap never replaces a newer record,
/// and a crash leaves the old or the new record.
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// The record of `user` with its revision (1 or more), if any.
    async fn vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError>;

    /// Writes the record when the stored revision is `expected` (0: none
    /// stored); true when written (the revision is then `expected + 1`).
    async fn put_vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
        record: &str,
        expected: u64,
    ) -> Result<bool, StoreError>;

    /// Removes the record; true when there was one.
    async fn remove_vault_record(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError>;

    /// Raises the tenant's high-water mark of time to `now` when later, and
    /// returns the mark (never less than `now`).
    async fn observe_time(&self, tenant: &TenantId, now: Timestamp) -> Result<Timestamp, StoreError>;
}

/// The offline rules: key derivation costs, grace period, failures.
///
/// `Default` is the recommended policy; change fields on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OfflinePolicy {
    /// Argon2id costs for new records (default [`OfflinePolicy::DEFAULT_KDF`]).
    /// Stored with each record: changing it applies at the next enrollment.
    pub kdf: KdfParams,
    /// Unlock is refused once the last online proof is older (default 14 days).
    pub grace: Duration,
    /// Failed unlocks before the lock-out (default 10).
    pub max_failures: u32,
    /// The delay after the first failure, doubled after each (default 2 s).
    pub base_delay: Duration,
    /// The longest delay (default 5 min).
    pub max_delay: Duration,
    /// An unlocked vault locks itself after this long unused (default 15 min; `None`: never).
    pub idle_timeout: Option<Duration>,
    /// On lock-out, also remove the record (the sealed sessions become
    /// unreadable and are removed at the next online login). Default false.
    pub wipe_on_lockout: bool,
}

impl OfflinePolicy {
    /// Default Argon2id costs: 64 MiB, 8 passes, 1 lane. On the reference
    /// machine one guess costs one core about 0.3 s when it is otherwise idle
    /// (about 40 ms a pass; `cargo xtask bench` reports it).
    pub const DEFAULT_KDF: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 8,
        lanes: 1,
    };

    /// The delay before the next unlock after `failures` failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        OfflinePolicy {
            kdf: Self::DEFAULT_KDF,
            grace: Duration::from_secs(14 * 24 * 3600),
            max_failures: 10,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            idle_timeout: Some(Duration::from_secs(15 * 60)),
            wipe_on_lockout: false,
        }
    }
}

/// What the vault knows about a user, for a login screen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VaultStatus {
    /// The key is in memory: the user's sessions are readable.
    pub unlocked: bool,
    /// Failed unlocks since the last success (an attempt still running
    /// counts until it succeeds).
    pub failures: u32,
    /// Locked out (or the last allowed attempt is running): only an online
    /// login lifts it.
    pub locked_out: bool,
    /// Disabled by a terminal answer of the provider.
    pub disabled: bool,
    /// The last online login or refresh.
    pub online_proof_at: Timestamp,
}

struct Held {
    cipher: Arc<Cipher>,
    data_key: Zeroizing<[u8; KEY_LEN]>,
    last_used: Timestamp,
}

/// The per-user offline credentials of one device.
///
/// Holds the unlocked data keys in memory (zeroed when dropped, locked or
/// idle). Share one per process (`Arc`). `Debug` prints no key.
pub struct OfflineVault {
    store: Arc<dyn VaultStore>,
    clock: Arc<dyn Clock>,
    policy: OfflinePolicy,
    device_key: Option<Zeroizing<Vec<u8>>>,
    held: Mutex<HashMap<(TenantId, UserId), Held>>,
}

impl fmt::Debug for OfflineVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineVault")
            .field("policy", &self.policy)
            .field("device_key", &self.device_key.as_ref().map(|_| "[redacted]"))
            .field("unlocked", &self.lock_held().len())
            .finish_non_exhaustive()
    }
}

/// How many times a record update is retried when another writer changed it.
const UPDATE_ATTEMPTS: usize = 8;

impl OfflineVault {
    /// A vault over `store` with `policy` and the system clock.
    pub fn new(store: Arc<dyn VaultStore>, policy: OfflinePolicy) -> Self {
        OfflineVault {
            store,
            clock: Arc::new(SystemClock),
            policy,
            device_key: None,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The clock (default: the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A device key (e.g. 32 random bytes kept in the OS keystore) mixed
    /// into every key derivation: a copy of the store taken to another
    /// device (or read from a stolen file) cannot be unlocked, nor guessed
    /// at, without it.
    pub fn with_device_key(mut self, key: &[u8]) -> Self {
        self.device_key = Some(Zeroizing::new(key.to_vec()));
        self
    }

    /// The policy.
    pub fn policy(&self) -> &OfflinePolicy {
        &self.policy
    }

    fn lock_held(&self) -> MutexGuard<'_, HashMap<(TenantId, UserId), Held>> {
        // Every update is a single insert/remove: a poisoned map is consistent.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pepper(&self) -> Option<&[u8]> {
        self.device_key.as_deref().map(Vec::as_slice)
    }

    /// The current time, never earlier than any time this tenant's vault
    /// has seen before (the device clock set back does not turn it back).
    async fn now(&self, tenant: &TenantId) -> Result<Timestamp, StoreError> {
        self.store.observe_time(tenant, self.clock.now()).await
    }

    async fn read(&self, tenant: &TenantId, user: &UserId) -> Result<Option<(VaultRecord, u64)>, StoreError> {
        match self.store.vault_record(tenant, user).await? {
            None => Ok(None),
            Some((text, rev)) => Ok(Some((VaultRecord::decode(tenant, user, &text)?, rev))),
        }
    }

    /// Applies `change` to the stored record (retried when another writer
    /// changed it meanwhile); returns the record written.
    async fn update(
        &self,
        tenant: &TenantId,
        user: &UserId,
        mut change: impl FnMut(&mut VaultRecord),
    ) -> Result<VaultRecord, StoreError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let (mut record, rev) = self.read(tenant, user).await?.ok_or(StoreError::NotEnrolled)?;
            change(&mut record);
            if self
                .store
                .put_vault_record(tenant, user, &record.encode()?, rev)
                .await?
            {
                return Ok(record);
            }
        }
        Err(StoreError::VaultBusy)
    }
}

impl OfflineVault {
    /// Before an online login of `user`: makes sure a data key is in memory,
    /// so the session the login writes through [`VaultedStore`] is sealed.
    /// The key is the one already unlocked; else the stored one when
    /// `secret` (the password about to be used) opens it; else a new one,
    /// which [`enroll`](Self::enroll) then stores (the user's older sealed
    /// sessions become unreadable and [`VaultedStore::enroll`] removes them).
    /// A secret that does not open the record here is not counted: the
    /// online login decides.
    pub async fn prepare_login(
        &self,
        tenant: &TenantId,
        user: &UserId,
        secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let id = (tenant.clone(), user.clone());
        if self.lock_held().contains_key(&id) {
            return Ok(());
        }
        let stored = match (secret, self.read(tenant, user).await?) {
            (Some(secret), Some((record, _))) if !secret.is_empty() && secret.len() <= MAX_SECRET_LEN => {
                record.unwrap_key(secret, self.pepper())?
            }
            _ => None,
        };
        let key = match stored {
            Some(key) => key,
            None => {
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                fill_random(key.as_mut_slice())?;
                key
            }
        };
        self.hold(id, key);
        Ok(())
    }

    /// Keeps `data_key` in memory, its idle time counted on the clock
    /// (what [`cipher`](Self::cipher) compares with).
    fn hold(&self, id: (TenantId, UserId), data_key: Zeroizing<[u8; KEY_LEN]>) {
        let held = Held {
            cipher: Arc::new(Cipher::new(&data_key)),
            data_key,
            last_used: self.clock.now(),
        };
        self.lock_held().insert(id, held);
    }

    /// After a successful online login of `user` (see
    /// [`prepare_login`](Self::prepare_login)): wraps the data key in memory
    /// under `secret` (the password just used, or a passcode the user chose)
    /// and stores the record in one atomic write, replacing any older one.
    /// Failures, lock-out and a disabled credential are cleared and the
    /// login counts as the online proof. Returns true when this replaced a
    /// record holding another data key.
    pub async fn enroll(&self, tenant: &TenantId, user: &UserId, secret: &[u8]) -> Result<bool, StoreError> {
        record::check_secret(secret)?;
        let now = self.now(tenant).await?;
        let data_key = {
            let held = self.lock_held();
            let held = held
                .get(&(tenant.clone(), user.clone()))
                .ok_or(StoreError::VaultLocked)?;
            Zeroizing::new(*held.data_key)
        };
        let record = VaultRecord::wrap(
            tenant,
            user,
            &data_key,
            secret,
            self.policy.kdf,
            self.pepper(),
            now,
        )?;
        let text = record.encode()?;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.store.vault_record(tenant, user).await?;
            let rev = current.as_ref().map_or(0, |(_, rev)| *rev);
            // The old record held another key when the key in memory was new.
            let replaced = match &current {
                None => false,
                Some((old, _)) => VaultRecord::decode(tenant, user, old)
                    .ok()
                    .and_then(|old| old.unwrap_key(secret, self.pepper()).ok().flatten())
                    .is_none_or(|old_key| *old_key != *data_key),
            };
            if self.store.put_vault_record(tenant, user, &text, rev).await? {
                return Ok(replaced);
            }
        }
        Err(StoreError::VaultBusy)
    }

    /// Unlocks `user`'s vault with `secret`, offline. Refused, in this
    /// order: [`NotEnrolled`](StoreError::NotEnrolled),
    /// [`OfflineDisabled`](StoreError::OfflineDisabled),
    /// [`LockedOut`](StoreError::LockedOut), [`TooSoon`](StoreError::TooSoon),
    /// [`GraceExpired`](StoreError::GraceExpired),
    /// [`InvalidSecret`](StoreError::InvalidSecret) (empty, too long), and
    /// [`WrongSecret`](StoreError::WrongSecret).
    ///
    /// The attempt is counted in the store (with the delay before the next
    /// one) before the secret is tried, and uncounted when it opens the
    /// vault: instances sharing the store never try more secrets than the
    /// policy allows between them, and a crash or a killed process during
    /// the guess still counts it.
    pub async fn unlock(&self, tenant: &TenantId, user: &UserId, secret: &[u8]) -> Result<(), StoreError> {
        let (key, _) = self.attempt(tenant, user, secret).await?;
        self.hold((tenant.clone(), user.clone()), key);
        Ok(())
    }

    /// Why `record` refuses an attempt at `now`, if it does.
    fn refuse_attempt(&self, record: &VaultRecord, now: Timestamp) -> Result<(), StoreError> {
        if record.disabled {
            return Err(StoreError::OfflineDisabled);
        }
        // Every allowed attempt is spent, or taken by one still running.
        if record.locked_out || record.failures >= self.policy.max_failures {
            return Err(StoreError::LockedOut);
        }
        if now < record.not_before {
            return Err(StoreError::TooSoon {
                retry_in: record.not_before.duration_since(now),
            });
        }
        if now.duration_since(record.online_proof_at) > self.policy.grace {
            return Err(StoreError::GraceExpired);
        }
        Ok(())
    }

    /// One offline attempt with `secret` (see [`unlock`](Self::unlock)):
    /// the checks, the attempt taken in the store over the revision the
    /// checks read, then the guess. Returns the data key and the record it
    /// opened.
    async fn attempt(
        &self,
        tenant: &TenantId,
        user: &UserId,
        secret: &[u8],
    ) -> Result<(Zeroizing<[u8; KEY_LEN]>, VaultRecord), StoreError> {
        let now = self.now(tenant).await?;
        let policy = &self.policy;
        let mut taken = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let (mut record, rev) = self.read(tenant, user).await?.ok_or(StoreError::NotEnrolled)?;
            self.refuse_attempt(&record, now)?;
            record::check_secret(secret)?;
            record.failures = record.failures.saturating_add(1);
            record.not_before = now.saturating_add(policy.delay_after(record.failures));
            // Another attempt or change landed since the read: check again.
            if self
                .store
                .put_vault_record(tenant, user, &record.encode()?, rev)
                .await?
            {
                taken = Some(record);
                break;
            }
        }
        let record = taken.ok_or(StoreError::VaultBusy)?;
        if let Some(key) = record.unwrap_key(secret, self.pepper())? {
            let written = self
                .update(tenant, user, |r| {
                    r.failures = 0;
                    r.not_before = Timestamp::from_secs(0);
                })
                .await?;
            // Disabled by another instance while the secret was tried.
            if written.disabled {
                return Err(StoreError::OfflineDisabled);
            }
            return Ok((key, record));
        }
        if record.failures < policy.max_failures {
            return Err(StoreError::WrongSecret {
                attempts_left: policy.max_failures - record.failures,
            });
        }
        self.update(tenant, user, |r| r.locked_out = true).await?;
        if policy.wipe_on_lockout {
            self.store.remove_vault_record(tenant, user).await?;
        }
        Err(StoreError::LockedOut)
    }

    /// Drops `user`'s key from memory (zeroed): their sessions are
    /// unreadable until the next unlock or online login.
    pub fn lock(&self, tenant: &TenantId, user: &UserId) {
        self.lock_held().remove(&(tenant.clone(), user.clone()));
    }

    /// Drops every key from memory.
    pub fn lock_all(&self) {
        self.lock_held().clear();
    }

    /// True when `user`'s key is in memory and not idle too long.
    pub fn is_unlocked(&self, tenant: &TenantId, user: &UserId) -> bool {
        self.cipher(tenant, user).is_some()
    }

    /// The cipher of an unlocked user, marking it used; locks a user idle
    /// longer than the policy allows. Uses the clock directly: an idle
    /// check never writes.
    pub(crate) fn cipher(&self, tenant: &TenantId, user: &UserId) -> Option<Arc<Cipher>> {
        let now = self.clock.now();
        let id = (tenant.clone(), user.clone());
        let mut held = self.lock_held();
        let entry = held.get_mut(&id)?;
        let idle = now.duration_since(entry.last_used);
        // A clock set back does not keep a vault open: time it as idle.
        if now < entry.last_used || self.policy.idle_timeout.is_some_and(|limit| idle > limit) {
            held.remove(&id);
            return None;
        }
        entry.last_used = now;
        Some(Arc::clone(&entry.cipher))
    }

    /// Records an online proof for `user` (a successful refresh), which
    /// restarts the grace period.
    pub async fn record_online_proof(&self, tenant: &TenantId, user: &UserId) -> Result<(), StoreError> {
        let now = self.now(tenant).await?;
        self.update(tenant, user, |r| r.online_proof_at = r.online_proof_at.max(now))
            .await
            .map(drop)
    }

    /// The provider answered terminally for `user` (revoked, disabled,
    /// `invalid_grant`): the offline credential stops working and the key
    /// leaves memory. Only an online login and a new enrollment restore it.
    pub async fn disable(&self, tenant: &TenantId, user: &UserId) -> Result<(), StoreError> {
        self.lock(tenant, user);
        match self.update(tenant, user, |r| r.disabled = true).await {
            Ok(_) | Err(StoreError::NotEnrolled) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Follows `user`'s manager events (`AuthManager::subscribe`): a
    /// refresh is an online proof; a terminal refresh failure disables the
    /// offline credential.
    pub async fn observe(
        &self,
        tenant: &TenantId,
        user: &UserId,
        event: &AuthEvent,
    ) -> Result<(), StoreError> {
        match event {
            AuthEvent::Refreshed { .. } => match self.record_online_proof(tenant, user).await {
                Err(StoreError::NotEnrolled) => Ok(()),
                other => other,
            },
            AuthEvent::RefreshFailed {
                kind: FailureKind::Terminal,
                ..
            } => self.disable(tenant, user).await,
            _ => Ok(()),
        }
    }

    /// Changes `user`'s secret (e.g. the passcode) offline: the old one must
    /// open the vault (an attempt counted like an unlock). The data key
    /// stays, so the sessions stay readable; the new record replaces the old
    /// one in one atomic write (after a crash, the old or the new secret
    /// works), and only if the stored record is still the one the old secret
    /// opened: when another instance changed the secret meanwhile, the old
    /// secret is tried again on its record (so it is usually
    /// [`WrongSecret`](StoreError::WrongSecret)), and a credential disabled
    /// meanwhile stays disabled. Keeps the online proof and the user
    /// unlocked.
    pub async fn change_secret(
        &self,
        tenant: &TenantId,
        user: &UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), StoreError> {
        record::check_secret(new)?;
        let id = (tenant.clone(), user.clone());
        'attempt: for _ in 0..UPDATE_ATTEMPTS {
            let (data_key, opened) = self.attempt(tenant, user, old).await?;
            self.hold(id.clone(), Zeroizing::new(*data_key));
            let now = self.now(tenant).await?;
            let mut record =
                VaultRecord::wrap(tenant, user, &data_key, new, self.policy.kdf, self.pepper(), now)?;
            for _ in 0..UPDATE_ATTEMPTS {
                let (current, rev) = self.read(tenant, user).await?.ok_or(StoreError::NotEnrolled)?;
                if !current.same_wrap(&opened) {
                    continue 'attempt;
                }
                if current.disabled {
                    self.lock(tenant, user);
                    return Err(StoreError::OfflineDisabled);
                }
                if current.locked_out {
                    return Err(StoreError::LockedOut);
                }
                record.online_proof_at = current.online_proof_at;
                if self
                    .store
                    .put_vault_record(tenant, user, &record.encode()?, rev)
                    .await?
                {
                    return Ok(());
                }
            }
            return Err(StoreError::VaultBusy);
        }
        Err(StoreError::VaultBusy)
    }

    /// What the vault knows about `user`; `None` when not enrolled.
    pub async fn status(&self, tenant: &TenantId, user: &UserId) -> Result<Option<VaultStatus>, StoreError> {
        let unlocked = self.is_unlocked(tenant, user);
        Ok(self.read(tenant, user).await?.map(|(r, _)| VaultStatus {
            unlocked,
            failures: r.failures,
            locked_out: r.locked_out || r.failures >= self.policy.max_failures,
            disabled: r.disabled,
            online_proof_at: r.online_proof_at,
        }))
    }

    /// Removes `user`'s record and key (their sealed sessions become unreadable).
    pub async fn wipe(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        self.lock(tenant, user);
        self.store.remove_vault_record(tenant, user).await
    }
}

#[cfg(test)]
mod tests;
