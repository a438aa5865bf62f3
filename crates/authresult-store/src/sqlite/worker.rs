//! The worker thread's side of the store: the connection, transactions
//! (`BEGIN IMMEDIATE` writes, reads), each run through `busy::retry`.

use std::path::PathBuf;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::busy::retry;
use super::{SqliteOptions, file, schema};
use crate::error::StoreError;
use crate::key::Cipher;

/// The connection and everything needed to use it; lives on the worker thread.
pub(super) struct Worker {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) cipher: Option<Cipher>,
}

/// Every row `sql` yields for `params`, read by `row` (a cached statement).
pub(super) fn all_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    sqlite: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(&sqlite)?;
    let rows = statement.query_map(params, row).map_err(&sqlite)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(&sqlite)
}

pub(super) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Worker {
    pub(super) fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        let SqliteOptions {
            path,
            key,
            busy_timeout,
            max_size,
        } = options;
        let checked = file::prepare(&path)?;
        // SQLite's NOFOLLOW refuses a link anywhere in the path; the rule is
        // about the file and its sidecars only (checked above), so SQLite
        // gets the path with its folders resolved.
        let real = file::resolve_folders(&path)?;
        let conn = schema::open(&real, busy_timeout, max_size)?;
        file::verify(&path, checked)?;
        let mut worker = Worker {
            conn,
            path,
            cipher: None,
        };
        worker.cipher = worker.setup_encryption(key.as_ref())?;
        Ok(worker)
    }

    /// After tokens were deleted (`removed`): the write-ahead log still
    /// holds the pages that carried them, so it is copied into the file
    /// (where `secure_delete` has zeroed them) and truncated. Best effort: a
    /// reader in another connection may keep the log for now; the next
    /// removal or checkpoint finishes it.
    pub(super) fn scrub_if(&self, removed: bool) {
        if removed {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }

    pub(super) fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::from_sqlite(e, &self.path)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed when `f`
    /// succeeds; busy errors SQLite's wait did not absorb are retried.
    pub(super) fn write<T>(
        &mut self,
        mut f: impl FnMut(&Transaction<'_>, Option<&Cipher>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Worker { conn, path, cipher } = self;
        let sqlite = |e| StoreError::from_sqlite(e, path);
        retry(|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite)?;
            let value = f(&tx, cipher.as_ref())?;
            tx.commit().map_err(sqlite)?;
            Ok(value)
        })
    }

    /// Runs a read, retrying busy errors SQLite's wait did not absorb.
    pub(super) fn read<T>(
        &self,
        mut f: impl FnMut(&Connection, Option<&Cipher>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        retry(|| f(&self.conn, self.cipher.as_ref()))
    }
}
