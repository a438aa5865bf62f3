//! `Pausing`: a [`VaultStore`] handle that holds one chosen write until the
//! test lets it go, so a check can run another instance's whole operation
//! between that writer's read and its write (the interleaving a
//! compare-and-swap must survive). Executor-agnostic: futures channels only.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use authresult_core::{TenantId, UserId};
use futures::channel::oneshot;

use crate::error::StoreError;
use crate::vault::{VaultRecord, VaultStore};

/// Which write to hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    /// The next write of any record.
    AnyWrite,
    /// The next write that re-wraps the data key (a new salt or wrapped key
    /// over an existing record).
    Rewrap,
    /// The next write of a locked-out record (a lock-out or its wipe).
    Lockout,
}

struct Armed {
    hold: Hold,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The test's side of a held write: wait until it is reached, then release it.
pub(super) struct Held {
    reached: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Held {
    /// Waits until the writer reached the held write (its read is done).
    pub(super) async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the paused instance ended before reaching the held write");
    }

    /// Lets the held write go on.
    pub(super) fn release(self) {
        // The writer may already have given up; nothing to release then.
        let _ = self.release.send(());
    }
}

/// A handle over `inner` that can hold one write.
pub(super) struct Pausing {
    inner: Arc<dyn VaultStore>,
    armed: Mutex<Option<Armed>>,
}

impl Pausing {
    pub(super) fn new(inner: Arc<dyn VaultStore>) -> Self {
        Pausing {
            inner,
            armed: Mutex::new(None),
        }
    }

    fn armed(&self) -> MutexGuard<'_, Option<Armed>> {
        // Only `take` and `replace` under the lock: a poisoned value is consistent.
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds the next write of kind `hold`.
    pub(super) fn hold(&self, hold: Hold) -> Held {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.armed() = Some(Armed {
            hold,
            reached: reached_tx,
            release: release_rx,
        });
        Held { reached, release }
    }

    /// True when writing `record` over what is stored re-wraps the key.
    async fn is_rewrap(&self, tenant: &TenantId, user: &UserId, record: &str) -> Result<bool, StoreError> {
        let Some((current, _)) = self.inner.vault_record(tenant, user).await? else {
            return Ok(false);
        };
        let current = VaultRecord::decode(tenant, user, &current)?;
        let new = VaultRecord::decode(tenant, user, record)?;
        Ok(!new.same_wrap(&current))
    }
}

#[async_trait]
impl VaultStore for Pausing {
    async fn vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError> {
        self.inner.vault_record(tenant, user).await
    }

    async fn put_vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
        record: &str,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let kind = self.armed().as_ref().map(|armed| armed.hold);
        let holds = match kind {
            None => false,
            Some(Hold::AnyWrite) => true,
            Some(Hold::Rewrap) => self.is_rewrap(tenant, user, record).await?,
            Some(Hold::Lockout) => VaultRecord::decode(tenant, user, record)?.locked_out,
        };
        let armed = if holds { self.armed().take() } else { None };
        if let Some(Armed { reached, release, .. }) = armed {
            let _ = reached.send(());
            // A dropped release (the test ended) lets the write go on too.
            let _ = release.await;
        }
        self.inner.put_vault_record(tenant, user, record, expected).await
    }

    async fn remove_vault_record(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        self.inner.remove_vault_record(tenant, user).await
    }
}
