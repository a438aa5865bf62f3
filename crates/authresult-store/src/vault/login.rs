//! Online logins of vault users: the secret waits for the provider's answer
//! ([`OfflineVault::prepare_login`]), the login's session write proves it
//! and checks the account the user is bound to, and
//! [`OfflineVault::enroll`] wraps the key; online proofs and the provider's
//! terminal answers.

use std::sync::Arc;

use authresult_core::{AuthEvent, FailureKind, Session, TenantId, UserId, peek_claims};
use zeroize::Zeroizing;

use super::record::BoundSubject;
use super::{OfflineVault, UPDATE_ATTEMPTS, UserKey, VaultRecord, lock, record};
use crate::error::StoreError;
use crate::key::{Cipher, KEY_LEN, fill_random};

/// An online login under way: the secret typed, not tried yet.
pub(super) struct PendingLogin {
    secret: Option<Zeroizing<Vec<u8>>>,
}

/// An online login the provider accepted (its session was written).
pub(super) struct Proven {
    provider: String,
    subject: BoundSubject,
}

/// The account `session`'s tokens name: `iss` of its ID token (else of its
/// access token) and its subject. Read without verification: the provider
/// adapter verified the tokens it just received.
fn account_of(session: &Session) -> BoundSubject {
    let auth = &session.auth;
    let issuer = auth
        .id_token
        .as_ref()
        .and_then(|t| peek_claims(t.secret()))
        .or_else(|| peek_claims(auth.access_token.secret()))
        .and_then(|claims| claims.get("iss").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default();
    BoundSubject {
        issuer,
        subject: session.subject.clone().unwrap_or_default(),
    }
}

impl OfflineVault {
    /// Before an online login of `user`: keeps `secret` (the password about
    /// to be sent, or the passcode the user typed) in memory, zeroed when
    /// dropped, and tries nothing. Offline, a login that cannot reach the
    /// provider has opened nothing and counted nothing: the app offers the
    /// counted [`unlock`](Self::unlock) instead.
    ///
    /// When the provider accepts the login, its session write (through
    /// [`VaultedStore`](super::VaultedStore)) decides which key seals it:
    /// the key already unlocked; else, with a record, the stored key, which
    /// `secret` must open (tried once, after the provider proved the
    /// account the user is bound to); else a new key. A secret that does
    /// not open the record refuses the write
    /// ([`SecretMismatch`](StoreError::SecretMismatch)): nothing is stored,
    /// no key is held, and the user's other sessions stay as they were.
    pub async fn prepare_login(
        &self,
        tenant: &TenantId,
        user: &UserId,
        secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        if let Some(secret) = secret {
            record::check_secret(secret)?;
        }
        let id = (tenant.clone(), user.clone());
        lock(&self.proven).remove(&id);
        lock(&self.pending).insert(
            id,
            PendingLogin {
                secret: secret.map(|s| Zeroizing::new(s.to_vec())),
            },
        );
        Ok(())
    }

    /// The account `user` is bound to for `provider`, when `session` (a
    /// login's write) is of another one: refused, nothing written.
    fn check_account(
        record: Option<&VaultRecord>,
        provider: &str,
        account: &BoundSubject,
    ) -> Result<(), StoreError> {
        match record.and_then(|r| r.subjects.get(provider)) {
            Some(bound) if bound != account => Err(StoreError::SubjectMismatch {
                provider: provider.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// The cipher a login's session of a named user is sealed with (see
    /// [`prepare_login`](Self::prepare_login)); records the online login
    /// for [`enroll`](Self::enroll).
    pub(crate) async fn login_cipher(&self, session: &Session) -> Result<Arc<Cipher>, StoreError> {
        let key = &session.key;
        let (tenant, user) = (&key.tenant, &key.user);
        let id: UserKey = (tenant.clone(), user.clone());
        let provider = key.provider.as_str();
        let account = account_of(session);
        // An answer naming no account cannot bind a device user, nor stand
        // for one: any other anonymous account would equal it.
        if account.subject.is_empty() {
            return Err(StoreError::NoAccount {
                provider: provider.to_owned(),
            });
        }
        let stored = self.read(tenant, user).await?;
        // A wiped record (lock-out, reset) keeps the accounts it was bound to.
        let bound = stored.as_ref().map(|(r, _)| r);
        Self::check_account(bound, provider, &account)?;
        let record = bound.filter(|r| !r.is_wiped());
        let cipher = match self.cipher(tenant, user) {
            Some(cipher) => cipher,
            None => {
                let Some(pending) = lock(&self.pending).remove(&id) else {
                    return Err(StoreError::VaultLocked);
                };
                // Bound to other accounts, never this provider's: an
                // account of it cannot stand for the user.
                if let Some(bound) = bound
                    && !bound.subjects.is_empty()
                    && !bound.subjects.contains_key(provider)
                {
                    lock(&self.pending).insert(id, pending);
                    return Err(StoreError::UnboundProvider {
                        provider: provider.to_owned(),
                    });
                }
                match record {
                    Some(record) => {
                        let opened = match &pending.secret {
                            Some(secret) => record.unwrap_key(secret, self.pepper())?,
                            None => None,
                        };
                        let Some(data_key) = opened else {
                            // Kept: the app may ask again and log in again.
                            lock(&self.pending).insert(id, pending);
                            return Err(StoreError::SecretMismatch);
                        };
                        self.hold(id.clone(), data_key, false);
                    }
                    None => {
                        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
                        fill_random(data_key.as_mut_slice())?;
                        self.hold(id.clone(), data_key, true);
                    }
                }
                self.cipher(tenant, user).ok_or(StoreError::VaultLocked)?
            }
        };
        lock(&self.proven).insert(
            id,
            Proven {
                provider: provider.to_owned(),
                subject: account,
            },
        );
        Ok(cipher)
    }

    /// After an online login the provider accepted (its session written
    /// through [`VaultedStore`](super::VaultedStore)): wraps the data key in
    /// memory under `secret` (the password just used, or a passcode the
    /// user chose) and stores the record in one atomic write. Binds the
    /// user to the account the login proved for its provider; clears
    /// failures, lock-out, a disabled credential and a clock found behind;
    /// the login counts as the online proof. Returns true when this
    /// replaced a record holding another data key (the sessions sealed
    /// under it are unreadable).
    ///
    /// Refused with [`OnlineLoginRequired`](StoreError::OnlineLoginRequired)
    /// when no online login of the user was written since the last lock
    /// (an unlock alone never lifts a lock-out nor changes the secret).
    pub async fn enroll(&self, tenant: &TenantId, user: &UserId, secret: &[u8]) -> Result<bool, StoreError> {
        record::check_secret(secret)?;
        let id = (tenant.clone(), user.clone());
        let (data_key, fresh) = {
            let held = self.lock_held();
            let held = held.get(&id).ok_or(StoreError::VaultLocked)?;
            (Zeroizing::new(*held.data_key), held.fresh)
        };
        let proven = lock(&self.proven)
            .remove(&id)
            .ok_or(StoreError::OnlineLoginRequired)?;
        let now = self.clock.now();
        let mut record = VaultRecord::wrap(
            tenant,
            user,
            &data_key,
            secret,
            self.policy.kdf,
            self.pepper(),
            now,
        )?;
        let result = async {
            for _ in 0..UPDATE_ATTEMPTS {
                let current = self.read(tenant, user).await?;
                let rev = current.as_ref().map_or(0, |(_, rev)| *rev);
                // A wiped record still binds the user to its accounts.
                let bound = current.as_ref().map(|(r, _)| r);
                Self::check_account(bound, &proven.provider, &proven.subject)?;
                // A new secret over a live record needs the account it is
                // bound to for this provider: a login through a provider the
                // user never used (while unlocked) keeps the secret as is.
                if let Some(live) = bound.filter(|r| !r.is_wiped())
                    && live.subjects.get(&proven.provider) != Some(&proven.subject)
                    && live.unwrap_key(secret, self.pepper())?.is_none()
                {
                    return Err(StoreError::SecretMismatch);
                }
                record.subjects = bound.map(|r| r.subjects.clone()).unwrap_or_default();
                record
                    .subjects
                    .insert(proven.provider.clone(), proven.subject.clone());
                // A key made at this login: whatever sessions of the user
                // were sealed before (under a wiped or removed record's key,
                // or one another instance enrolled meanwhile) are unreadable.
                let replaced = fresh;
                if self
                    .store
                    .put_vault_record(tenant, user, &record.encode()?, rev)
                    .await?
                {
                    return Ok(replaced);
                }
            }
            Err(StoreError::VaultBusy)
        }
        .await;
        if result.is_ok() {
            if let Some(held) = self.lock_held().get_mut(&id) {
                held.fresh = false;
            }
        } else {
            // Not enrolled: the same login may try again.
            lock(&self.proven).insert(id, proven);
        }
        result
    }

    /// Records an online proof for `user` (a successful refresh), which
    /// restarts the grace period.
    pub async fn record_online_proof(&self, tenant: &TenantId, user: &UserId) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.update(tenant, user, |r| {
            let now = now.max(r.last_seen);
            r.online_proof_at = r.online_proof_at.max(now);
            r.last_seen = now;
        })
        .await
        .map(drop)
    }

    /// The provider answered terminally for `user` (revoked, disabled,
    /// `invalid_grant`): the offline credential stops working, the key
    /// leaves memory and every manager of the user drops its tokens. Only
    /// an online login and a new enrollment restore it.
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
}
