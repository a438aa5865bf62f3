//! The stored vault record of one user: the wrapped data key, its key
//! derivation parameters, and the offline policy state (failures, lock-out,
//! online proof).

use std::collections::BTreeMap;

use authresult_core::{TenantId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::key::{Cipher, KEY_LEN, KdfParams, SALT_LEN, aad, derive_with, fill_random};

const WRAP_AAD: &str = "authresult-store/vault-wrap/v1";
const WHAT: &str = "vault record";

/// The longest offline secret accepted (bytes): longer ones are refused
/// before Argon2 runs.
pub const MAX_SECRET_LEN: usize = 1024;

/// One user's vault record, as stored (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VaultRecord {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    pub(crate) kdf: KdfParams,
    pub(crate) salt: Vec<u8>,
    /// The data key sealed under the key derived from the secret.
    pub(crate) wrapped: Vec<u8>,
    /// The last successful login or refresh online.
    pub(crate) online_proof_at: Timestamp,
    /// Failed unlocks since the last success or online login.
    pub(crate) failures: u32,
    /// No unlock is tried before this (the delay after failures).
    pub(crate) not_before: Timestamp,
    /// Too many failures: only an online login lifts it.
    pub(crate) locked_out: bool,
    /// The provider answered terminally for this user.
    pub(crate) disabled: bool,
    /// The latest time this user's vault has seen (its own high-water
    /// mark; other users' clocks events never move it).
    #[serde(default = "the_epoch")]
    pub(crate) last_seen: Timestamp,
    /// The clock was found behind `last_seen`: offline access ended until
    /// the next online login.
    #[serde(default)]
    pub(crate) clock_behind: bool,
    /// The account each provider's online login proved for this user: a
    /// later login as the user with another account is refused.
    #[serde(default)]
    pub(crate) subjects: BTreeMap<String, BoundSubject>,
}

/// Records written before `last_seen` existed have seen nothing.
fn the_epoch() -> Timestamp {
    Timestamp::from_secs(0)
}

/// The account an online login proved (the token's `iss` and `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BoundSubject {
    pub(crate) issuer: String,
    pub(crate) subject: String,
}

/// Refuses an empty or oversized secret.
pub(crate) fn check_secret(secret: &[u8]) -> Result<(), StoreError> {
    if secret.is_empty() {
        return Err(StoreError::InvalidSecret {
            reason: "the secret is empty".into(),
        });
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(StoreError::InvalidSecret {
            reason: format!("the secret is longer than {MAX_SECRET_LEN} bytes"),
        });
    }
    Ok(())
}

impl VaultRecord {
    /// A record wrapping `data_key` under `secret` with fresh salt.
    pub(crate) fn wrap(
        tenant: &TenantId,
        user: &UserId,
        data_key: &[u8; KEY_LEN],
        secret: &[u8],
        kdf: KdfParams,
        pepper: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        check_secret(secret)?;
        let mut salt = vec![0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let kek = Cipher::new(&*derive_with(secret, &salt, &kdf, pepper)?);
        let wrapped = kek.seal(&wrap_aad(tenant, user, &kdf, &salt), data_key)?;
        Ok(VaultRecord {
            tenant: tenant.clone(),
            user: user.clone(),
            kdf,
            salt,
            wrapped,
            online_proof_at: now,
            failures: 0,
            not_before: Timestamp::from_secs(0),
            locked_out: false,
            disabled: false,
            last_seen: now,
            clock_behind: false,
            subjects: BTreeMap::new(),
        })
    }

    /// The data key, `None` when `secret` does not open it (wrong secret,
    /// another device's key, or a modified record: they look the same).
    pub(crate) fn unwrap_key(
        &self,
        secret: &[u8],
        pepper: Option<&[u8]>,
    ) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>, StoreError> {
        check_secret(secret)?;
        if self.is_wiped() {
            return Ok(None);
        }
        let kek = Cipher::new(&*derive_with(secret, &self.salt, &self.kdf, pepper)?);
        let aad = wrap_aad(&self.tenant, &self.user, &self.kdf, &self.salt);
        let Some(opened) = kek.open(&aad, &self.wrapped) else {
            return Ok(None);
        };
        let key: [u8; KEY_LEN] = opened
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Tampered { what: WHAT })?;
        Ok(Some(Zeroizing::new(key)))
    }

    /// True when the record holds no key any more (wiped after a lock-out):
    /// nothing opens it, and an online login enrolls anew over it.
    pub(crate) fn is_wiped(&self) -> bool {
        self.wrapped.is_empty()
    }

    /// Forgets the wrapped key (the lock-out wipe), keeping the record as a
    /// tombstone so the write is guarded by its revision like any other.
    pub(crate) fn wipe(&mut self) {
        self.salt.clear();
        self.wrapped.clear();
        self.locked_out = true;
    }

    /// True when `other` wraps the data key under the same secret
    /// derivation (salt, parameters, sealed key): the same enrollment or
    /// re-wrap, whatever its counters say.
    pub(crate) fn same_wrap(&self, other: &VaultRecord) -> bool {
        self.salt == other.salt && self.kdf == other.kdf && self.wrapped == other.wrapped
    }

    /// Reads a stored record, checking it belongs to `tenant`/`user`.
    pub(crate) fn decode(tenant: &TenantId, user: &UserId, text: &str) -> Result<Self, StoreError> {
        let record: VaultRecord = serde_json::from_str(text).map_err(|e| StoreError::decode(WHAT, &e))?;
        if &record.tenant != tenant || &record.user != user {
            return Err(StoreError::Tampered { what: WHAT });
        }
        Ok(record)
    }

    pub(crate) fn encode(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::decode(WHAT, &e))
    }
}

fn wrap_aad(tenant: &TenantId, user: &UserId, kdf: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let params = [
        kdf.memory_kib.to_le_bytes(),
        kdf.iterations.to_le_bytes(),
        kdf.lanes.to_le_bytes(),
    ]
    .concat();
    aad(
        WRAP_AAD,
        &[
            tenant.as_str().as_bytes(),
            user.as_str().as_bytes(),
            &params,
            salt,
        ],
    )
}
