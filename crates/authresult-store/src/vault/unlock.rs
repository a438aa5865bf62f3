//! Offline attempts: `unlock` and `change_secret`, each a counted attempt
//! with every check, on the user's own time mark.

use authresult_core::{TenantId, Timestamp, UserId};
use zeroize::Zeroizing;

use super::{OfflineVault, UPDATE_ATTEMPTS, VaultRecord, record};
use crate::error::StoreError;
use crate::key::KEY_LEN;

impl OfflineVault {
    /// Unlocks `user`'s vault with `secret`, offline. Refused, in this
    /// order: [`NotEnrolled`](StoreError::NotEnrolled),
    /// [`OfflineDisabled`](StoreError::OfflineDisabled),
    /// [`LockedOut`](StoreError::LockedOut) (also after a wipe),
    /// [`ClockBehind`](StoreError::ClockBehind),
    /// [`TooSoon`](StoreError::TooSoon),
    /// [`GraceExpired`](StoreError::GraceExpired),
    /// [`InvalidSecret`](StoreError::InvalidSecret) (empty, too long), and
    /// [`WrongSecret`](StoreError::WrongSecret).
    ///
    /// The attempt is counted in the store (with the delay before the next
    /// one) before the secret is tried, and uncounted when it opens the
    /// vault: instances sharing the store never try more secrets than the
    /// policy allows between them, and a crash or a killed process during
    /// the guess still counts it. What the attempt writes afterwards (the
    /// success, the lock-out, the wipe) is written only over the revision
    /// it counted, never over a newer enrollment.
    pub async fn unlock(&self, tenant: &TenantId, user: &UserId, secret: &[u8]) -> Result<(), StoreError> {
        let attempt = self.attempt(tenant, user, secret).await;
        super::trace::unlock(&attempt);
        let (key, _) = attempt?;
        self.hold((tenant.clone(), user.clone()), key, false);
        Ok(())
    }

    /// The vault's time for `record` at the clock's `now`: the later of the
    /// two when the clock is at most the policy's tolerance behind the
    /// user's mark; [`ClockBehind`](StoreError::ClockBehind) past it (and
    /// from then on, until an online login).
    pub(super) fn vault_time(&self, record: &VaultRecord, now: Timestamp) -> Result<Timestamp, StoreError> {
        if record.clock_behind || now.saturating_add(self.policy.clock_tolerance) < record.last_seen {
            return Err(StoreError::ClockBehind);
        }
        Ok(now.max(record.last_seen))
    }

    /// Why `record` refuses an attempt at vault time `now`, if it does.
    fn refuse_attempt(&self, record: &VaultRecord, now: Timestamp) -> Result<(), StoreError> {
        if record.disabled {
            return Err(StoreError::OfflineDisabled);
        }
        // Every allowed attempt is spent, or taken by one still running.
        if record.locked_out || record.is_wiped() || record.failures >= self.policy.max_failures {
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

    /// Marks `record` (read at `rev`) as having seen a clock set back, so
    /// offline access stays ended even when the clock is put right again.
    async fn end_for_clock(
        &self,
        tenant: &TenantId,
        user: &UserId,
        mut record: VaultRecord,
        rev: u64,
    ) -> StoreError {
        if !record.clock_behind {
            record.clock_behind = true;
            // Another writer moved on: its write decides; the next attempt looks again.
            let written = match record.encode() {
                Ok(text) => self.store.put_vault_record(tenant, user, &text, rev).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                return e;
            }
        }
        StoreError::ClockBehind
    }

    /// One offline attempt with `secret` (see [`unlock`](Self::unlock)):
    /// the checks, the attempt taken in the store over the revision the
    /// checks read, then the guess. Returns the data key and the record it
    /// opened.
    pub(super) async fn attempt(
        &self,
        tenant: &TenantId,
        user: &UserId,
        secret: &[u8],
    ) -> Result<(Zeroizing<[u8; KEY_LEN]>, VaultRecord), StoreError> {
        let policy = &self.policy;
        let mut taken = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let (mut record, rev) = self.read(tenant, user).await?.ok_or(StoreError::NotEnrolled)?;
            let now = match self.vault_time(&record, self.clock.now()) {
                Ok(now) => now,
                Err(StoreError::ClockBehind) => {
                    return Err(self.end_for_clock(tenant, user, record, rev).await);
                }
                Err(e) => return Err(e),
            };
            if let Err(refused) = self.refuse_attempt(&record, now) {
                // A refused attempt still raises the user's time mark: a
                // clock moved forward and back again does not reopen.
                if now > record.last_seen && !record.is_wiped() {
                    record.last_seen = now;
                    self.store
                        .put_vault_record(tenant, user, &record.encode()?, rev)
                        .await?;
                }
                return Err(refused);
            }
            record::check_secret(secret)?;
            record.failures = record.failures.saturating_add(1);
            record.not_before = now.saturating_add(policy.delay_after(record.failures));
            record.last_seen = now;
            // Another attempt or change landed since the read: check again.
            if self
                .store
                .put_vault_record(tenant, user, &record.encode()?, rev)
                .await?
            {
                taken = Some((record, rev.saturating_add(1)));
                break;
            }
        }
        let (record, taken_rev) = taken.ok_or(StoreError::VaultBusy)?;
        if let Some(key) = record.unwrap_key(secret, self.pepper())? {
            let mut opened = record.clone();
            opened.failures = 0;
            opened.not_before = Timestamp::from_secs(0);
            if !self
                .store
                .put_vault_record(tenant, user, &opened.encode()?, taken_rev)
                .await?
            {
                // Written meanwhile: this attempt writes nothing over it
                // (its failure stays counted); it opens only while the
                // record is still this enrollment, enabled.
                let (current, _) = self.read(tenant, user).await?.ok_or(StoreError::NotEnrolled)?;
                if !current.same_wrap(&record) {
                    return Err(StoreError::VaultBusy);
                }
                if current.disabled {
                    return Err(StoreError::OfflineDisabled);
                }
                if current.locked_out || current.is_wiped() {
                    return Err(StoreError::LockedOut);
                }
            }
            return Ok((key, opened));
        }
        if record.failures < policy.max_failures {
            return Err(StoreError::WrongSecret {
                attempts_left: policy.max_failures - record.failures,
            });
        }
        // The last allowed attempt failed: lock out (and wipe) the revision
        // this attempt counted, never a record written since.
        let mut locked = record;
        locked.locked_out = true;
        if policy.wipe_on_lockout {
            locked.wipe();
        }
        super::trace::lockout(policy.wipe_on_lockout);
        self.store
            .put_vault_record(tenant, user, &locked.encode()?, taken_rev)
            .await?;
        Err(StoreError::LockedOut)
    }

    /// Changes `user`'s secret (e.g. the passcode) offline: the old one must
    /// open the vault (an attempt counted like an unlock). The data key
    /// stays, so the sessions stay readable; the new record replaces the old
    /// one in one atomic write (after a crash, the old or the new secret
    /// works), and only if the stored record is still the one the old secret
    /// opened: when another instance changed the secret meanwhile, the old
    /// secret is tried again on its record (so it is usually
    /// [`WrongSecret`](StoreError::WrongSecret)), and a credential disabled
    /// meanwhile stays disabled. Keeps the online proof, the bound accounts
    /// and the user unlocked.
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
            self.hold(id.clone(), Zeroizing::new(*data_key), false);
            let mut record = VaultRecord::wrap(
                tenant,
                user,
                &data_key,
                new,
                self.policy.kdf,
                self.pepper(),
                opened.last_seen,
            )?;
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
                    self.lock(tenant, user);
                    return Err(StoreError::LockedOut);
                }
                record.online_proof_at = current.online_proof_at;
                record.last_seen = current.last_seen.max(record.last_seen);
                record.clock_behind = current.clock_behind;
                record.subjects = current.subjects.clone();
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
}
