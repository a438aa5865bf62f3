//! `MemoryVaultStore`: vault records in process memory, for tests and demos.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use authresult_core::{TenantId, UserId};

use super::VaultStore;
use crate::error::StoreError;

/// A [`VaultStore`] in memory: nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryVaultStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<(TenantId, UserId), (String, u64)>,
}

impl MemoryVaultStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single insert/remove: a poisoned map is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl VaultStore for MemoryVaultStore {
    async fn vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(String, u64)>, StoreError> {
        Ok(self.lock().records.get(&(tenant.clone(), user.clone())).cloned())
    }

    async fn put_vault_record(
        &self,
        tenant: &TenantId,
        user: &UserId,
        record: &str,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let key = (tenant.clone(), user.clone());
        let current = state.records.get(&key).map_or(0, |(_, rev)| *rev);
        if current != expected {
            return Ok(false);
        }
        state
            .records
            .insert(key, (record.to_owned(), expected.saturating_add(1)));
        Ok(true)
    }

    async fn remove_vault_record(&self, tenant: &TenantId, user: &UserId) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .records
            .remove(&(tenant.clone(), user.clone()))
            .is_some())
    }
}
