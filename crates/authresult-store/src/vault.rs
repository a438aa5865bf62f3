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
//! proof measured on the user's own time mark (a clock found behind it ends
//! offline access until an online login), and the provider's terminal
//! answers disabling the credential.
//!
//! A secret is tried against a stored record in two places only: a counted
//! [`unlock`](OfflineVault::unlock) (or [`change_secret`](OfflineVault::change_secret))
//! with every check, and after the provider accepted an online login of the
//! account the user is bound to ([`prepare_login`](OfflineVault::prepare_login)).
//! Locking (explicit, idle, disabled) closes the user's
//! [`AccessGate`]: every manager of the user drops its tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{AccessGate, Clock, SystemClock, TenantId, Timestamp, UserId};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::key::{Cipher, KEY_LEN, KdfParams};

mod login;
mod memory;
mod record;
mod sealed;
mod trace;
mod unlock;

pub use memory::MemoryVaultStore;
pub use record::MAX_SECRET_LEN;
pub use sealed::VaultedStore;

use login::{PendingLogin, Proven};
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
    /// On lock-out, also forget the wrapped key (the sealed sessions become
    /// unreadable and are removed at the next online login). Default false.
    pub wipe_on_lockout: bool,
    /// How far the clock may be behind the latest time a user's vault has
    /// seen (an NTP correction) before it counts as set back, which ends
    /// that user's offline access until an online login (default 5 min).
    pub clock_tolerance: Duration,
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
            clock_tolerance: Duration::from_secs(300),
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
    /// The clock is (or was found) behind the latest time this user's vault
    /// has seen: offline access has ended until an online login.
    pub clock_behind: bool,
    /// How much of the grace period is left (`None`: over).
    pub grace_left: Option<Duration>,
}

struct Held {
    cipher: Arc<Cipher>,
    data_key: Zeroizing<[u8; KEY_LEN]>,
    /// Made at an online login with no usable record: enrolling it replaces
    /// whatever record another instance wrote meanwhile.
    fresh: bool,
}

type UserKey = (TenantId, UserId);

/// The per-user offline credentials of one device.
///
/// Holds the unlocked data keys in memory (zeroed when dropped, locked or
/// idle). Share one per process (`Arc`). `Debug` prints no key.
pub struct OfflineVault {
    store: Arc<dyn VaultStore>,
    clock: Arc<dyn Clock>,
    policy: OfflinePolicy,
    device_key: Option<Zeroizing<Vec<u8>>>,
    held: Mutex<HashMap<UserKey, Held>>,
    /// One gate per user, kept across locks and unlocks.
    gates: Mutex<HashMap<UserKey, AccessGate>>,
    /// Online logins under way: the secret waiting for the provider's answer.
    pending: Mutex<HashMap<UserKey, PendingLogin>>,
    /// Online logins the provider accepted, waiting for `enroll`.
    proven: Mutex<HashMap<UserKey, Proven>>,
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
            gates: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            proven: Mutex::new(HashMap::new()),
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

    fn lock_held(&self) -> MutexGuard<'_, HashMap<UserKey, Held>> {
        lock(&self.held)
    }

    fn pepper(&self) -> Option<&[u8]> {
        self.device_key.as_deref().map(Vec::as_slice)
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

    /// `user`'s gate (made closed on first use): what every manager of the
    /// user checks before answering a token ([`VaultedStore`] hands it out).
    pub fn gate(&self, tenant: &TenantId, user: &UserId) -> AccessGate {
        lock(&self.gates)
            .entry((tenant.clone(), user.clone()))
            .or_insert_with(|| AccessGate::new(self.policy.idle_timeout))
            .clone()
    }

    /// Keeps `data_key` in memory and opens the user's gate.
    fn hold(&self, id: UserKey, data_key: Zeroizing<[u8; KEY_LEN]>, fresh: bool) {
        let gate = self.gate(&id.0, &id.1);
        let held = Held {
            cipher: Arc::new(Cipher::new(&data_key)),
            data_key,
            fresh,
        };
        self.lock_held().insert(id, held);
        gate.open(self.clock.now());
    }

    /// Drops `user`'s key from memory (zeroed) and closes their gate: no
    /// manager of the user answers a token or keeps one in memory until the
    /// next unlock or online login. An online login under way is abandoned.
    pub fn lock(&self, tenant: &TenantId, user: &UserId) {
        let id = (tenant.clone(), user.clone());
        let held = self.lock_held().remove(&id).is_some();
        trace::lock(held);
        lock(&self.pending).remove(&id);
        lock(&self.proven).remove(&id);
        let gate = lock(&self.gates).get(&id).cloned();
        if let Some(gate) = gate {
            gate.close();
        }
    }

    /// Locks every user.
    pub fn lock_all(&self) {
        let users: Vec<UserKey> = {
            let mut ids: Vec<UserKey> = self.lock_held().keys().cloned().collect();
            ids.extend(lock(&self.gates).keys().cloned());
            ids.extend(lock(&self.pending).keys().cloned());
            ids
        };
        for (tenant, user) in users {
            self.lock(&tenant, &user);
        }
    }

    /// Locks every user idle longer than the policy allows, now. The idle
    /// limit is also checked whenever a user's sessions are used; an app
    /// calls this on a timer so an idle user's tokens leave memory on time.
    pub fn lock_idle(&self) {
        let now = self.clock.now();
        let gates: Vec<(UserKey, AccessGate)> = lock(&self.gates)
            .iter()
            .map(|(k, g)| (k.clone(), g.clone()))
            .collect();
        for ((tenant, user), gate) in gates {
            if gate.expire_idle(now) {
                self.lock(&tenant, &user);
            }
        }
    }

    /// True when `user`'s key is in memory and not idle too long. Asking
    /// is no use of the user's sessions: a login screen polling it never
    /// keeps an idle user unlocked (one found idle is locked here).
    pub fn is_unlocked(&self, tenant: &TenantId, user: &UserId) -> bool {
        let id = (tenant.clone(), user.clone());
        if !self.lock_held().contains_key(&id) {
            return false;
        }
        let gate = self.gate(tenant, user);
        if gate.expire_idle(self.clock.now()) || !gate.is_open() {
            self.lock(tenant, user);
            return false;
        }
        true
    }

    /// The cipher of an unlocked user, marking them used; locks a user idle
    /// longer than the policy allows (or whose clock went back).
    pub(crate) fn cipher(&self, tenant: &TenantId, user: &UserId) -> Option<Arc<Cipher>> {
        let id = (tenant.clone(), user.clone());
        let cipher = self.lock_held().get(&id).map(|h| Arc::clone(&h.cipher))?;
        if self.gate(tenant, user).pass(self.clock.now()).is_none() {
            self.lock(tenant, user);
            return None;
        }
        Some(cipher)
    }

    /// What the vault knows about `user`; `None` when not enrolled.
    pub async fn status(&self, tenant: &TenantId, user: &UserId) -> Result<Option<VaultStatus>, StoreError> {
        let unlocked = self.is_unlocked(tenant, user);
        let now = self.clock.now();
        let tolerance = self.policy.clock_tolerance;
        Ok(self.read(tenant, user).await?.map(|(r, _)| VaultStatus {
            unlocked,
            failures: r.failures,
            locked_out: r.locked_out || r.is_wiped() || r.failures >= self.policy.max_failures,
            disabled: r.disabled,
            online_proof_at: r.online_proof_at,
            clock_behind: r.clock_behind || now.saturating_add(tolerance) < r.last_seen,
            grace_left: self
                .policy
                .grace
                .checked_sub(now.max(r.last_seen).duration_since(r.online_proof_at)),
        }))
    }

    /// Forgets `user`'s wrapped key (their sealed sessions become
    /// unreadable) and locks them. The explicit reset an app offers when the
    /// user forgot the secret set on this device; an online login then
    /// starts anew. The record stays as a tombstone (locked out) that keeps
    /// the accounts the user is bound to: a reset never lets another
    /// account log in as the user. A record that cannot be read (modified,
    /// undecodable) is removed. True when there was one.
    pub async fn wipe(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        self.lock(tenant, user);
        match self.update(tenant, user, VaultRecord::wipe).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotEnrolled) => Ok(false),
            Err(StoreError::Tampered { .. } | StoreError::Decode { .. }) => {
                self.store.remove_vault_record(tenant, user).await
            }
            Err(e) => Err(e),
        }
    }
}

/// Locks a mutex whose every update is a single insert or remove: a
/// poisoned one is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
