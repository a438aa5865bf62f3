//! Encryption at rest: the caller's key, and the AEAD that seals token fields.

use std::fmt;

use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::{Aead as _, OsRng, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::StoreError;

/// Length of an [`EncryptionKey`] in bytes (256 bits).
pub const KEY_LEN: usize = 32;
/// Length of the random salt stored with a passphrase-protected database.
pub(crate) const SALT_LEN: usize = 16;
/// The smallest salt Argon2 accepts.
const MIN_SALT_LEN: usize = 8;
const NONCE_LEN: usize = 24;
/// First byte of every sealed value: the format (XChaCha20-Poly1305, random nonce).
const SEALED_FORMAT: u8 = 1;
const KEY_CHECK_AAD: &[u8] = b"authresult-store/key-check/v1";
const KEY_CHECK_TEXT: &[u8] = b"authresult-store: the key is right";

/// The key that turns encryption at rest on: access, refresh and ID tokens
/// (and pending logins' secrets) are sealed with XChaCha20-Poly1305 under it.
///
/// Either 256 bits from the caller (e.g. kept in the OS keychain) or a
/// passphrase stretched with Argon2id. `Debug` prints `EncryptionKey([redacted])`
/// and the material is zeroed on drop.
#[derive(Clone)]
pub struct EncryptionKey(Material);

#[derive(Clone)]
enum Material {
    Key(Zeroizing<[u8; KEY_LEN]>),
    /// Stretched when the store is opened, with the salt kept in the store.
    Passphrase(Zeroizing<String>),
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

impl EncryptionKey {
    /// A key from 256 bits of the caller's.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        EncryptionKey(Material::Key(Zeroizing::new(bytes)))
    }

    /// A key from a slice, which must hold exactly [`KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, StoreError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| StoreError::InvalidKey {
            reason: format!("a key must be {KEY_LEN} bytes, not {}", bytes.len()),
        })?;
        Ok(Self::from_bytes(array))
    }

    /// A key derived from `passphrase` with Argon2id when the store is
    /// opened, under a random salt kept in the store itself: the same
    /// passphrase opens the same file.
    pub fn from_passphrase(passphrase: impl Into<String>) -> Self {
        EncryptionKey(Material::Passphrase(Zeroizing::new(passphrase.into())))
    }

    /// A key derived now from `passphrase` with Argon2id under the caller's
    /// `salt` (at least 8 bytes; 16 random bytes recommended).
    pub fn derive_from_passphrase(passphrase: &str, salt: &[u8]) -> Result<Self, StoreError> {
        derive(passphrase, salt).map(|key| EncryptionKey(Material::Key(key)))
    }

    /// A fresh random key. Keep its [`secret_bytes`](Self::secret_bytes)
    /// somewhere safe (an OS keychain): without it the sessions are lost.
    pub fn generate() -> Result<Self, StoreError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(key.as_mut_slice())?;
        Ok(EncryptionKey(Material::Key(key)))
    }

    /// The 256 key bits; `None` for a key made with
    /// [`from_passphrase`](Self::from_passphrase), which is derived only when
    /// a store is opened.
    ///
    /// # Security warning
    ///
    /// The bytes are the key. Store them only where secrets belong.
    pub fn secret_bytes(&self) -> Option<&[u8; KEY_LEN]> {
        match &self.0 {
            Material::Key(key) => Some(key),
            Material::Passphrase(_) => None,
        }
    }

    /// True when the key still has to be derived with a salt kept in the store.
    pub(crate) fn needs_salt(&self) -> bool {
        matches!(self.0, Material::Passphrase(_))
    }

    /// The cipher for this key; `salt` is used by passphrase keys only.
    pub(crate) fn cipher(&self, salt: Option<&[u8]>) -> Result<Cipher, StoreError> {
        match &self.0 {
            Material::Key(key) => Ok(Cipher::new(key)),
            Material::Passphrase(passphrase) => {
                let salt = salt.ok_or_else(|| StoreError::InvalidKey {
                    reason: "a passphrase needs a salt".into(),
                })?;
                Ok(Cipher::new(&*derive(passphrase, salt)?))
            }
        }
    }
}

fn derive(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, StoreError> {
    derive_with(passphrase.as_bytes(), salt, &KdfParams::PASSPHRASE, None)
}

/// Argon2id cost parameters, stored with what they protect so they can be
/// tuned later without losing access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    /// Memory per guess, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Parallel lanes (1: one core per guess, the attacker's cost is the user's).
    pub lanes: u32,
}

impl KdfParams {
    /// What [`EncryptionKey::from_passphrase`] uses: Argon2's defaults (19 MiB, 2 passes, 1 lane).
    pub const PASSPHRASE: KdfParams = KdfParams {
        memory_kib: argon2::Params::DEFAULT_M_COST,
        iterations: argon2::Params::DEFAULT_T_COST,
        lanes: argon2::Params::DEFAULT_P_COST,
    };

    /// The largest memory a stored record may ask for (1 GiB): a modified
    /// record cannot make a device allocate more.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// The most passes a stored record may ask for.
    pub const MAX_ITERATIONS: u32 = 64;

    fn argon2(&self) -> Result<argon2::Params, StoreError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB || self.iterations > Self::MAX_ITERATIONS || self.lanes > 16
        {
            return Err(StoreError::InvalidKey {
                reason: "key derivation parameters beyond the supported maximum".into(),
            });
        }
        argon2::Params::new(self.memory_kib, self.iterations, self.lanes, Some(KEY_LEN)).map_err(|e| {
            StoreError::InvalidKey {
                reason: format!("invalid key derivation parameters: {e}"),
            }
        })
    }
}

/// Argon2id of `secret` under `salt` and `params`, keyed with `pepper`
/// (Argon2's secret input) when given.
pub(crate) fn derive_with(
    secret: &[u8],
    salt: &[u8],
    params: &KdfParams,
    pepper: Option<&[u8]>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, StoreError> {
    if salt.len() < MIN_SALT_LEN {
        return Err(StoreError::InvalidKey {
            reason: format!("the salt must be at least {MIN_SALT_LEN} bytes"),
        });
    }
    let failed = |e: argon2::Error| StoreError::InvalidKey {
        reason: format!("key derivation failed: {e}"),
    };
    let (algorithm, version) = (argon2::Algorithm::Argon2id, argon2::Version::V0x13);
    let argon2 = match pepper {
        Some(pepper) => {
            argon2::Argon2::new_with_secret(pepper, algorithm, version, params.argon2()?).map_err(failed)?
        }
        None => argon2::Argon2::new(algorithm, version, params.argon2()?),
    };
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon2
        .hash_password_into(secret, salt, key.as_mut_slice())
        .map_err(failed)?;
    Ok(key)
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), StoreError> {
    OsRng.try_fill_bytes(buf).map_err(|_| StoreError::Random)
}

/// Additional authenticated data: a domain label, then each part with its length.
///
/// Binding a sealed value to its row (tenant, provider, the clear part of the
/// row) makes a value copied to another row fail to open.
pub(crate) fn aad(domain: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    out.extend_from_slice(domain.as_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// XChaCha20-Poly1305 under a resolved key; the key is zeroed on drop.
pub(crate) struct Cipher {
    aead: XChaCha20Poly1305,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// `format || nonce || ciphertext+tag` for `plaintext` bound to `aad`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let ciphertext = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| StoreError::InvalidKey {
                reason: "encryption failed".into(),
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(SEALED_FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// The plaintext of a [`seal`](Self::seal)ed value, `None` when it does
    /// not authenticate (wrong key, modified, other row, unknown format).
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (&format, rest) = sealed.split_first()?;
        if format != SEALED_FORMAT || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// A value that only this key opens, stored to tell a wrong key at open time.
    pub(crate) fn key_check(&self) -> Result<Vec<u8>, StoreError> {
        self.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT)
    }

    /// True when `check` was made by [`key_check`](Self::key_check) under this key.
    pub(crate) fn verify_key_check(&self, check: &[u8]) -> bool {
        self.open(KEY_CHECK_AAD, check)
            .is_some_and(|text| text.as_slice() == KEY_CHECK_TEXT)
    }
}

#[cfg(test)]
mod tests;
