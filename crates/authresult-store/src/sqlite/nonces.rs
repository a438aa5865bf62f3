//! The servers' DPoP nonces in the SQLite file: the last one per tenant and
//! origin (no secret: the server sends it in a header).

use authresult_core::TenantId;
use rusqlite::{OptionalExtension as _, params};

use super::worker::Worker;
use crate::error::StoreError;

impl Worker {
    pub(super) fn dpop_nonce(&self, tenant: &TenantId, origin: &str) -> Result<Option<String>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, _| {
            conn.query_row(
                "SELECT nonce FROM dpop_nonces WHERE tenant = ?1 AND origin = ?2",
                params![tenant.as_str(), origin],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sqlite)
        })
    }

    pub(super) fn set_dpop_nonce(
        &mut self,
        tenant: &TenantId,
        origin: &str,
        nonce: &str,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO dpop_nonces (tenant, origin, nonce) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, origin) DO UPDATE SET nonce = excluded.nonce",
                params![tenant.as_str(), origin, nonce],
            )
            .map(drop)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}
