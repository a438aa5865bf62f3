//! `KeySource`: where the keys protecting tokens at rest come from, in one
//! concept, with the threat each source resists.

use std::sync::Arc;

use authresult_core::Stores;

use crate::key::EncryptionKey;
use crate::vault::{OfflineVault, VaultedStore};

/// Where the keys that seal tokens at rest come from.
///
/// | source | resists | does not resist |
/// |---|---|---|
/// | none | nothing: tokens are in clear in the file | anyone who reads the file |
/// | [`KeySource::Key`] from [`EncryptionKey::from_bytes`] kept in the OS keystore | a copied or stolen file (256-bit key, no guessing) | code running as the app's user on the unlocked device (it can ask the keystore) |
/// | [`KeySource::Key`] from [`EncryptionKey::from_passphrase`] | a stolen file, as far as the passphrase resists offline guessing (Argon2id, 19 MiB, 2 passes per guess) | a weak passphrase; anyone who knows it |
/// | [`KeySource::PerUser`] (an [`OfflineVault`]) | another user of a shared device; a stolen device or file, as far as each user's secret resists offline guessing (Argon2id, 64 MiB, 8 passes per guess by default) | a short secret alone: a 6-digit passcode is 10^6 guesses, about 3.5 core-days at 0.3 s each, so hours on a few machines |
///
/// A passcode must never be the only thing between a thief and the tokens:
/// give the vault a device key from the OS keystore
/// ([`OfflineVault::with_device_key`]; then a copied file cannot even be
/// guessed at elsewhere), and/or combine it with [`KeySource::Key`] (the
/// store key) kept in the keystore. The failure counter and lock-out only
/// slow guessing inside the app: an attacker with the file copies it back.
///
/// # What the per-user source does not seal per user
///
/// [`VaultedStore`] seals a named user's *sessions* with that user's data
/// key. Two other kinds of rows pass through it sealed by the store key only
/// ([`KeySource::store_key`]; in clear without one), because they must be
/// usable while that user is locked:
///
/// * **Pending revocations.** A logout that cannot reach the provider
///   (offline) leaves the user's refresh token (valid up to 30 days) and
///   access token (until it expires) in the store, to be revoked by the next
///   call that reaches the provider, whoever is unlocked then. From that
///   logout until the revocation succeeds, the user's refresh token is
///   protected like any store-key row, no longer by the user's secret: a
///   thief with the file and the store key can use it. At most 32 per
///   tenant, each dropped after 30 days.
/// * **Pending logins.** An interactive login in progress keeps its PKCE
///   verifier, nonce or device code until it completes or expires (10
///   minutes by default); single use, and worthless without the user
///   approving the login at the provider.
///
/// What the app should do: on a shared device always set a store key from
/// the OS keystore (`PerUser { store_key: Some(..), .. }`), so these rows are
/// sealed at rest; after an offline logout tell the user the sign-out
/// completes online, and call `AuthManager::retry_pending_revocations` as
/// soon as the device is online (`LogoutReport::pending_revocations` and
/// `AuthEvent::RevocationPending` say when one is waiting); when a device is
/// lost, end the users' sessions at the provider (its admin console or API),
/// which no device-side key can replace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// One key for the whole store: raw 256 bits or a passphrase.
    Key(EncryptionKey),
    /// A vault per user (named users' sessions sealed with their own data
    /// key), over a store optionally encrypted with `store_key` too.
    PerUser {
        /// The store-wide key, when the store is also encrypted as a whole.
        store_key: Option<EncryptionKey>,
        /// The users' vaults.
        vault: Arc<OfflineVault>,
    },
}

impl KeySource {
    /// The key to give the store's options (`SqliteOptions::encryption_key`,
    /// `PostgresOptions::encryption_key`), if any.
    pub fn store_key(&self) -> Option<&EncryptionKey> {
        match self {
            KeySource::Key(key) => Some(key),
            KeySource::PerUser { store_key, .. } => store_key.as_ref(),
        }
    }

    /// The per-user vault, if this source has one.
    pub fn vault(&self) -> Option<&Arc<OfflineVault>> {
        match self {
            KeySource::Key(_) => None,
            KeySource::PerUser { vault, .. } => Some(vault),
        }
    }

    /// `stores` as the session manager should use them: sessions sealed per
    /// user ([`VaultedStore::wrap`]) for a per-user source, unchanged otherwise.
    pub fn protect(&self, stores: impl Into<Stores>) -> Stores {
        match self.vault() {
            Some(vault) => VaultedStore::wrap(stores, Arc::clone(vault)),
            None => stores.into(),
        }
    }
}
