//! Busy retries: the one rule for a busy error SQLite's own wait gave up on,
//! shared by opening the file (`schema.rs`) and every transaction (`worker.rs`).

use std::time::Duration;

use crate::error::StoreError;

/// Extra attempts after a busy error that SQLite's own wait did not absorb.
const BUSY_RETRIES: u32 = 5;

/// Retries `f` while it fails with a busy error SQLite's own wait gave up on
/// (e.g. a WAL recovery in another process), a few times, with a short pause.
pub(super) fn retry<T>(mut f: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.is_busy() && attempt < BUSY_RETRIES => {
                attempt += 1;
                tracing::warn!(
                    event = "store.retry",
                    backend = "sqlite",
                    cause = "busy",
                    attempt,
                    "store retry"
                );
                std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
            }
            other => return other,
        }
    }
}
