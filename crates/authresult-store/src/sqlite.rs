//! `SqliteStore`: the embedded default, one SQLite file in WAL mode, driven by
//! a dedicated worker thread so no async runtime worker ever blocks on it.
//!
//! By job: `options.rs` (opening, the worker thread), `worker.rs` (the
//! connection, transactions), `busy.rs` (busy retries), `encryption.rs` (the key check,
//! sealing a clear file), `sessions.rs` (session rows and their
//! compare-and-swap), `pending.rs` (usernames, pending logins), `leases.rs`
//! (refresh leases), `revocation.rs` (pending revocations), `vault.rs`
//! (offline vault records), `port.rs` (the `SessionStore` port), `file.rs`
//! (the file's owner and mode checks), `schema.rs` (the versioned schema).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use futures::channel::oneshot;

use crate::error::StoreError;

mod busy;
mod encryption;
mod file;
mod leases;
mod nonces;
mod options;
mod pending;
mod port;
mod revocation;
mod schema;
mod sessions;
mod vault;
mod worker;

pub use options::{DEFAULT_BUSY_TIMEOUT, SqliteOptions};
use worker::Worker;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The embedded default [`SessionStore`](authresult_core::SessionStore): one SQLite file.
///
/// * WAL journal, `synchronous = FULL`: a write that returned `Ok` survives a
///   crash of the process or of the machine.
/// * Every write is one `BEGIN IMMEDIATE` transaction; other connections and
///   processes are waited for up to the busy timeout.
/// * The schema is versioned (`PRAGMA user_version`, with an application id)
///   and migrated forward; a file from a newer version is refused.
/// * A new file is created with mode 0600, its folder (0700) if missing. An
///   existing file (or `-wal`/`-shm`/`-journal` sidecar) must be a regular
///   file of this user with no group or other permission; a symbolic link
///   is never followed.
/// * Sessions are keyed by tenant, user and provider; the store also holds each
///   tenant's username, pending logins and refresh leases.
/// * With an [`EncryptionKey`](crate::EncryptionKey), tokens are sealed (XChaCha20-Poly1305), bound
///   to their row; tenant, provider, subject and expiry stay queryable.
///
/// All SQLite calls run on a dedicated thread owned by the store; the async
/// methods only wait for its answers, under any executor.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    stopped: oneshot::Receiver<()>,
    path: PathBuf,
    encrypted: bool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with default options and no
    /// encryption; see [`SqliteOptions`] for more.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        SqliteOptions::new(path).open().await
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when tokens are encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Runs SQLite's full `PRAGMA integrity_check`; [`StoreError::Corrupt`]
    /// when it finds anything.
    pub async fn check_integrity(&self) -> Result<(), StoreError> {
        self.run(|w| schema::check(&w.conn, &w.path, "integrity_check"))
            .await
    }

    /// Closes the database, waiting until the worker has finished every
    /// queued operation and released the file.
    pub async fn close(self) {
        let SqliteStore { jobs, stopped, .. } = self;
        drop(jobs);
        let _ = stopped.await;
    }

    async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Worker) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |worker: &mut Worker| {
                let _ = tx.send(job(worker));
            }))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }
}

#[cfg(test)]
mod tests;
