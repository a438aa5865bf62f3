//! How to open a [`SqliteStore`]: [`SqliteOptions`], and the worker thread
//! that owns the connection.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use futures::channel::oneshot;

use super::worker::Worker;
use super::{Job, SqliteStore};
use crate::error::StoreError;
use crate::key::EncryptionKey;

/// How long a write waits for another connection's lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How to open a [`SqliteStore`]; [`SqliteStore::open`] uses the defaults.
///
/// ```no_run
/// # async fn demo() -> Result<(), authresult_store::StoreError> {
/// use authresult_store::{EncryptionKey, SqliteOptions};
/// let store = SqliteOptions::new("/var/lib/app/sessions.db")
///     .encryption_key(EncryptionKey::from_passphrase("correct horse battery staple"))
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub(super) path: PathBuf,
    pub(super) key: Option<EncryptionKey>,
    pub(super) busy_timeout: Duration,
    pub(super) max_size: Option<u64>,
}

impl SqliteOptions {
    /// Options for the database at `path` (created, with its folder, if missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            key: None,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            max_size: None,
        }
    }

    /// Turns encryption at rest on: tokens are sealed under `key`. An
    /// existing clear database is encrypted when first opened with a key.
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// How long an operation waits for another connection's or process's
    /// lock before failing with [`StoreError::Busy`] (default 10 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Caps the database size (rounded down to whole pages); a write that
    /// would grow it further fails with [`StoreError::DiskFull`].
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Opens (or creates) the database.
    ///
    /// Fails with a typed error, without modifying the file, when it is a
    /// directory, a symbolic link, not a regular file, another user's or
    /// open to group or others ([`StoreError::UnsafeFile`]), not a database, another application's database, corrupt,
    /// from a newer schema, read-only, encrypted with another key, or
    /// encrypted while no key was given.
    pub async fn open(self) -> Result<SqliteStore, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let path = self.path.clone();
        let encrypted = self.key.is_some();
        std::thread::Builder::new()
            .name("authresult-sqlite".into())
            .spawn(move || {
                let mut worker = match Worker::open(self) {
                    Ok(worker) => {
                        let _ = ready_tx.send(Ok(()));
                        worker
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in queue {
                    job(&mut worker);
                }
                drop(worker);
                let _ = stopped_tx.send(());
            })
            .map_err(|e| StoreError::CannotOpen {
                path: path.clone(),
                source: Box::new(e),
            })?;
        ready_rx.await.map_err(|_| StoreError::Stopped)??;
        Ok(SqliteStore {
            jobs,
            stopped: stopped_rx,
            path,
            encrypted,
        })
    }
}
