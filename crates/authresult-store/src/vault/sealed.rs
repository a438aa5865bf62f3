//! `VaultedStore`: a `SessionStore` decorator sealing each named user's
//! sessions with that user's data key before any backend sees them.

use std::sync::Arc;

use async_trait::async_trait;
use authresult_core::{
    AccessGate, AccessToken, AuthResult, CasOutcome, Error, Exposed, SealedAuth, Session, SessionKey,
    SessionStore, Stores, TenantId, UserId,
};
use serde_json::Value;
use zeroize::Zeroizing;

use super::OfflineVault;
use crate::codec::decode_hex;
use crate::error::StoreError;
use crate::key::{Cipher, aad};

const SEALED_AAD: &str = "authresult-store/vault-session/v1";
/// What the access token of a session sealed before `Session::sealed_auth`
/// existed starts with: the rest is the hex of the sealed `AuthResult`.
/// Such rows are still opened; new ones keep the box in `sealed_auth`.
const LEGACY_SEALED_PREFIX: &str = "authresult-vault:v1:";
const WHAT: &str = "vault session";

/// A [`SessionStore`] over any backend whose named users' sessions are
/// sealed with their vault's data key: the whole `AuthResult` (tokens,
/// profile) becomes one XChaCha20-Poly1305 box bound to tenant, user,
/// provider and login, so another user of the device, or a thief with the
/// file, reads nothing without that user's secret. The backend's own
/// encryption at rest still applies on top.
///
/// The default user ([`UserId::default`]) passes through unchanged. A named
/// user whose vault is locked gets [`StoreError::VaultLocked`] on reads and
/// writes of their sessions (through `Error::Store`); `list` leaves out the
/// sessions of locked users. It wraps the sessions port alone
/// ([`VaultedStore::wrap`] puts it into a [`Stores`] bundle): usernames,
/// pending logins, leases and revocations stay the backend's, not sealed
/// per user (a revocation must be retried whoever is unlocked): they are
/// sealed by the backend's store key only, so after an offline logout the
/// user's refresh token waits for its revocation without the user's seal
/// (see [`KeySource`](crate::KeySource) for the trade-off and what the app
/// should do).
#[derive(Clone)]
pub struct VaultedStore {
    inner: Arc<dyn SessionStore>,
    vault: Arc<OfflineVault>,
}

impl std::fmt::Debug for VaultedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultedStore")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl VaultedStore {
    /// Seals `inner`'s named-user sessions with `vault`'s keys.
    pub fn new(inner: Arc<dyn SessionStore>, vault: Arc<OfflineVault>) -> Self {
        VaultedStore { inner, vault }
    }

    /// `stores` with its sessions port sealed by `vault`, the other ports
    /// unchanged: what to give [`AuthManager::builder`](authresult_core::AuthManager::builder).
    pub fn wrap(stores: impl Into<Stores>, vault: Arc<OfflineVault>) -> Stores {
        let stores = stores.into();
        let sealed = VaultedStore::new(Arc::clone(&stores.sessions), vault);
        stores.with_sessions(Arc::new(sealed))
    }

    /// The vault.
    pub fn vault(&self) -> &Arc<OfflineVault> {
        &self.vault
    }

    /// [`OfflineVault::enroll`], then, when the key is new (no record, or a
    /// wiped one, when the login ran), removes the user's sessions sealed
    /// under an older key: nobody can read them any more.
    ///
    /// Errors of the vault arrive as `Error::Store` with the [`StoreError`]
    /// as `source()`.
    pub async fn enroll(&self, tenant: &TenantId, user: &UserId, secret: &[u8]) -> Result<(), Error> {
        if self.vault.enroll(tenant, user, secret).await? {
            let cipher = self.vault.cipher(tenant, user).ok_or(StoreError::VaultLocked)?;
            for session in self.inner.list_user(tenant, user).await? {
                if open(&cipher, &session).is_err() {
                    self.inner.remove_if_current(&session).await?;
                }
            }
        }
        Ok(())
    }

    fn cipher_for(&self, key: &SessionKey) -> Result<Option<Arc<Cipher>>, StoreError> {
        if key.user.is_default() {
            return Ok(None);
        }
        self.vault
            .cipher(&key.tenant, &key.user)
            .map(Some)
            .ok_or(StoreError::VaultLocked)
    }

    fn seal(&self, session: &Session) -> Result<Session, Error> {
        match self.cipher_for(&session.key)? {
            None => Ok(session.clone()),
            Some(cipher) => Ok(seal(&cipher, session)?),
        }
    }

    /// A login's write: sealed with the key the vault picks for it (see
    /// [`OfflineVault::prepare_login`]), after the account check.
    async fn seal_login(&self, session: &Session) -> Result<Session, Error> {
        if session.key.user.is_default() {
            return Ok(session.clone());
        }
        let cipher = self.vault.login_cipher(session).await?;
        Ok(seal(&cipher, session)?)
    }

    fn open(&self, session: Session) -> Result<Session, Error> {
        match self.cipher_for(&session.key)? {
            None => Ok(session),
            Some(cipher) => Ok(open(&cipher, &session)?),
        }
    }
}

fn session_aad(session: &Session) -> Vec<u8> {
    let key = &session.key;
    aad(
        SEALED_AAD,
        &[
            key.tenant.as_str().as_bytes(),
            key.user.as_str().as_bytes(),
            key.provider.as_str().as_bytes(),
            session.login_id().as_bytes(),
        ],
    )
}

fn seal(cipher: &Cipher, session: &Session) -> Result<Session, StoreError> {
    let mut value = serde_json::to_value(Exposed(session)).map_err(|e| StoreError::decode(WHAT, &e))?;
    let auth = value.get_mut("auth").map(Value::take).unwrap_or(Value::Null);
    let plaintext = Zeroizing::new(serde_json::to_vec(&auth).map_err(|e| StoreError::decode(WHAT, &e))?);
    let sealed = cipher.seal(&session_aad(session), &plaintext)?;
    let mut text = String::with_capacity(2 * sealed.len());
    for byte in &sealed {
        text.push_str(&format!("{byte:02x}"));
    }
    let mut out = session.clone();
    // No token outside the box: an empty access token, the box in its own field.
    out.auth = AuthResult::new(AccessToken::new(""), session.auth.expires_in);
    out.sealed_auth = Some(SealedAuth::new(text));
    Ok(out)
}

fn open(cipher: &Cipher, session: &Session) -> Result<Session, StoreError> {
    let tampered = || StoreError::Tampered { what: WHAT };
    let hex = match &session.sealed_auth {
        Some(hex) => hex.secret(),
        None => session
            .auth
            .access_token
            .secret()
            .strip_prefix(LEGACY_SEALED_PREFIX)
            .ok_or_else(tampered)?,
    };
    let sealed = decode_hex(hex).ok_or_else(tampered)?;
    let plaintext = cipher.open(&session_aad(session), &sealed).ok_or_else(tampered)?;
    let auth: AuthResult = serde_json::from_slice(&plaintext).map_err(|e| StoreError::decode(WHAT, &e))?;
    let mut out = session.clone();
    out.auth = auth;
    out.sealed_auth = None;
    Ok(out)
}

#[async_trait]
impl SessionStore for VaultedStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        // Refuse a locked user before reading anything.
        self.cipher_for(key)?;
        self.inner.get(key).await?.map(|s| self.open(s)).transpose()
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        let mut out = Vec::new();
        for session in self.inner.list(tenant).await? {
            match self.open(session) {
                Ok(session) => out.push(session),
                Err(e) if is_locked(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn list_user(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Session>, Error> {
        self.cipher_for(&SessionKey::for_user(tenant.clone(), user.clone(), ""))?;
        self.inner
            .list_user(tenant, user)
            .await?
            .into_iter()
            .map(|s| self.open(s))
            .collect()
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        self.inner.put(&self.seal_login(session).await?).await
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        self.inner.compare_and_swap(&self.seal(session)?, expected).await
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        self.inner.remove(key).await
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        self.inner.remove_if_current(session).await
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        self.inner.remove_tenant(tenant).await
    }

    fn access_gate(&self, tenant: &TenantId, user: &UserId) -> Option<AccessGate> {
        (!user.is_default()).then(|| self.vault.gate(tenant, user))
    }
}

fn is_locked(error: &Error) -> bool {
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<StoreError>())
        .is_some_and(|e| matches!(e, StoreError::VaultLocked))
}
