//! `SqliteStore`: the embedded default, one SQLite file in WAL mode, driven by
//! a dedicated worker thread so no async runtime worker ever blocks on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{
    CasOutcome, Error, PendingAuthorization, PendingRevocation, Session, SessionKey, SessionStore, TenantId,
    Timestamp,
};
use futures::channel::oneshot;
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};

use crate::codec::{self, Encoded};
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey, SALT_LEN, fill_random};

mod file;
mod revocation;
mod schema;
mod vault;

/// How long a write waits for another connection's lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra attempts after a busy error that SQLite's own wait did not absorb.
const BUSY_RETRIES: u32 = 5;
const META_KEY_CHECK: &str = "key_check";
const META_SALT: &str = "kdf_salt";

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
    path: PathBuf,
    key: Option<EncryptionKey>,
    busy_timeout: Duration,
    max_size: Option<u64>,
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

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The embedded default [`SessionStore`]: one SQLite file.
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
/// * With an [`EncryptionKey`], tokens are sealed (XChaCha20-Poly1305), bound
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

#[async_trait]
impl SessionStore for SqliteStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        let key = key.clone();
        Ok(self.run(move |w| w.get(&key)).await?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.list(&tenant)).await?)
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        let session = session.clone();
        Ok(self.run(move |w| w.put(&session)).await?)
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        let session = session.clone();
        Ok(self.run(move |w| w.compare_and_swap(&session, expected)).await?)
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        let key = key.clone();
        Ok(self.run(move |w| w.remove(&key)).await?)
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        let session = session.clone();
        Ok(self.run(move |w| w.remove_if_current(&session)).await?)
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.remove_tenant(&tenant)).await?)
    }

    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.username(&tenant)).await?)
    }

    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error> {
        let tenant = tenant.clone();
        Ok(self
            .run(move |w| w.set_username(&tenant, username.as_deref()))
            .await?)
    }

    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        let pending = pending.clone();
        Ok(self.run(move |w| w.put_pending(&pending)).await?)
    }

    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        let tenant = tenant.clone();
        let state = state.to_owned();
        Ok(self.run(move |w| w.take_pending(&tenant, &state, now)).await?)
    }

    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error> {
        Ok(self.run(move |w| w.purge_pending(now)).await?)
    }

    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let key = key.clone();
        let holder = holder.to_owned();
        Ok(self
            .run(move |w| w.try_acquire_lease(&key, &holder, now, ttl))
            .await?)
    }

    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error> {
        let key = key.clone();
        let holder = holder.to_owned();
        Ok(self.run(move |w| w.release_lease(&key, &holder)).await?)
    }

    async fn put_pending_revocation(&self, revocation: &PendingRevocation) -> Result<(), Error> {
        let revocation = revocation.clone();
        Ok(self.run(move |w| w.put_pending_revocation(&revocation)).await?)
    }

    async fn pending_revocations(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<PendingRevocation>, Error> {
        let tenant = tenant.clone();
        Ok(self.run(move |w| w.pending_revocations(&tenant, now)).await?)
    }

    async fn remove_pending_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        let tenant = tenant.clone();
        let id = id.to_owned();
        Ok(self
            .run(move |w| w.remove_pending_revocation(&tenant, &id))
            .await?)
    }
}

/// The connection and everything needed to use it; lives on the worker thread.
struct Worker {
    conn: Connection,
    path: PathBuf,
    cipher: Option<Cipher>,
}

/// A timestamp as an SQLite integer; beyond `i64::MAX` ms is "forever" anyway.
fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// Every row `sql` yields for `params`, read by `row` (a cached statement).
fn all_rows<T>(
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

fn version_of(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt {
        reason: "a session row has a negative version".into(),
        source: None,
    })
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

const SELECT_SESSION: &str = "SELECT user_id, provider, version, body, sealed FROM sessions";

impl Worker {
    fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        let SqliteOptions {
            path,
            key,
            busy_timeout,
            max_size,
        } = options;
        let checked = file::prepare(&path)?;
        let conn = schema::open(&path, busy_timeout, max_size)?;
        file::verify(&path, checked)?;
        let mut worker = Worker {
            conn,
            path,
            cipher: None,
        };
        worker.cipher = worker.setup_encryption(key.as_ref())?;
        Ok(worker)
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::from_sqlite(e, &self.path)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed when `f`
    /// succeeds; busy errors SQLite's wait did not absorb are retried.
    fn write<T>(
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
    fn read<T>(
        &self,
        mut f: impl FnMut(&Connection, Option<&Cipher>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        retry(|| f(&self.conn, self.cipher.as_ref()))
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn, _| meta_get(conn, name, &self.path))
    }

    fn setup_encryption(&mut self, key: Option<&EncryptionKey>) -> Result<Option<Cipher>, StoreError> {
        let check = self.meta(META_KEY_CHECK)?;
        let Some(key) = key else {
            return match check {
                Some(_) => Err(StoreError::KeyRequired),
                None => Ok(None),
            };
        };
        let salt = if key.needs_salt() {
            Some(self.salt()?)
        } else {
            None
        };
        let cipher = key.cipher(salt.as_deref())?;
        if let Some(check) = check {
            return if cipher.verify_key_check(&check) {
                Ok(Some(cipher))
            } else {
                Err(StoreError::WrongKey)
            };
        }
        // First open with a key: seal the rows written in clear and record
        // the key check, in one transaction.
        let path = self.path.clone();
        self.write(|tx, _| {
            if let Some(check) = meta_get(tx, META_KEY_CHECK, &path)? {
                return if cipher.verify_key_check(&check) {
                    Ok(())
                } else {
                    Err(StoreError::WrongKey)
                };
            }
            seal_existing(tx, &cipher, &path)?;
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                params![META_KEY_CHECK, cipher.key_check()?],
            )
            .map_err(|e| StoreError::from_sqlite(e, &path))?;
            Ok(())
        })?;
        Ok(Some(cipher))
    }

    /// The passphrase salt kept in the database, made on first use.
    fn salt(&mut self) -> Result<Vec<u8>, StoreError> {
        if let Some(salt) = self.meta(META_SALT)? {
            return Ok(salt);
        }
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
                params![META_SALT, &salt[..]],
            )
            .map_err(|e| StoreError::from_sqlite(e, &path))?;
            Ok(())
        })?;
        // Another process may have won the race: use whatever is stored.
        self.meta(META_SALT)?.ok_or_else(|| StoreError::Corrupt {
            reason: "the key derivation salt vanished".into(),
            source: None,
        })
    }

    fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, cipher| {
            let row = conn
                .query_row(
                    "SELECT version, body, sealed FROM sessions
                     WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                    params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(&sqlite)?;
            row.map(|(version, body, sealed)| {
                codec::decode_session(
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    version_of(version)?,
                    &body,
                    sealed.as_deref(),
                    cipher,
                )
            })
            .transpose()
        })
    }

    fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, cipher| {
            let rows = all_rows(
                conn,
                &format!("{SELECT_SESSION} WHERE tenant = ?1 ORDER BY user_id, provider"),
                [tenant.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
                &sqlite,
            )?;
            rows.into_iter()
                .map(|(user, provider, version, body, sealed)| {
                    codec::decode_session(
                        tenant.as_str(),
                        &user,
                        &provider,
                        version_of(version)?,
                        &body,
                        sealed.as_deref(),
                        cipher,
                    )
                })
                .collect()
        })
    }

    fn put(&mut self, session: &Session) -> Result<u64, StoreError> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            let current = current_version(tx, &session.key, &path)?;
            let version = current.unwrap_or(0).saturating_add(1);
            write_session(tx, session, &encoded, version, &path)?;
            Ok(version)
        })
    }

    fn compare_and_swap(&mut self, session: &Session, expected: u64) -> Result<CasOutcome, StoreError> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            let current = current_login(tx, &session.key, &path)?;
            let same = match &current {
                None => expected == 0,
                Some((version, login)) => *version == expected && *login == session.login_id,
            };
            if !same {
                return Ok(CasOutcome::Conflict {
                    current: current.map(|(version, _)| version),
                });
            }
            let version = expected.saturating_add(1);
            write_session(tx, session, &encoded, version, &path)?;
            Ok(CasOutcome::Stored { version })
        })
    }

    fn remove(&mut self, key: &SessionKey) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn remove_if_current(&mut self, session: &Session) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            let current = current_login(tx, &session.key, &path)?;
            if current.is_none_or(|(version, login)| version != session.version || login != session.login_id)
            {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                params![
                    session.key.tenant.as_str(),
                    session.key.user.as_str(),
                    session.key.provider.as_str()
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn remove_tenant(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute("DELETE FROM sessions WHERE tenant = ?1", [tenant.as_str()])
                .map(count)
                .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn username(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, _| {
            conn.query_row(
                "SELECT username FROM usernames WHERE tenant = ?1",
                [tenant.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sqlite)
        })
    }

    fn set_username(&mut self, tenant: &TenantId, username: Option<&str>) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            let done = match username {
                Some(name) => tx.execute(
                    "INSERT INTO usernames (tenant, username) VALUES (?1, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET username = excluded.username",
                    params![tenant.as_str(), name],
                ),
                None => tx.execute("DELETE FROM usernames WHERE tenant = ?1", [tenant.as_str()]),
            };
            done.map(drop).map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn put_pending(&mut self, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let Encoded { body, sealed } = codec::encode_pending(pending, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            tx.execute(
                "INSERT INTO pending (tenant, state, provider, created_at, expires_at, body, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant, state) DO UPDATE SET provider = excluded.provider,
                    created_at = excluded.created_at, expires_at = excluded.expires_at,
                    body = excluded.body, sealed = excluded.sealed",
                params![
                    pending.key.tenant.as_str(),
                    pending.state,
                    pending.key.provider.as_str(),
                    ts(pending.created_at),
                    ts(pending.expires_at),
                    body,
                    sealed,
                ],
            )
            .map(drop)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn take_pending(
        &mut self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let path = self.path.clone();
        self.write(|tx, cipher| {
            let sqlite = |e| StoreError::from_sqlite(e, &path);
            let row = tx
                .query_row(
                    "SELECT expires_at, body, sealed FROM pending WHERE tenant = ?1 AND state = ?2",
                    params![tenant.as_str(), state],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(sqlite)?;
            let Some((expires_at, body, sealed)) = row else {
                return Ok(None);
            };
            tx.execute(
                "DELETE FROM pending WHERE tenant = ?1 AND state = ?2",
                params![tenant.as_str(), state],
            )
            .map_err(sqlite)?;
            if expires_at <= ts(now) {
                // Expired: gone either way, and refused.
                return Ok(None);
            }
            codec::decode_pending(tenant.as_str(), state, &body, sealed.as_deref(), cipher).map(Some)
        })
    }

    fn purge_pending(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute("DELETE FROM pending WHERE expires_at <= ?1", [ts(now)])
                .map(count)
                .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn try_acquire_lease(
        &mut self,
        key: &SessionKey,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let until = ts(now.saturating_add(ttl));
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO leases (tenant, user_id, provider, holder, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE
                    SET holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE leases.holder = excluded.holder OR leases.expires_at <= ?6",
                params![
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    holder,
                    until,
                    ts(now)
                ],
            )
            .map(|n| n == 1)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    fn release_lease(&mut self, key: &SessionKey, holder: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM leases WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3 AND holder = ?4",
                params![
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    holder
                ],
            )
            .map(drop)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}

/// Retries `f` while it fails with a busy error SQLite's own wait gave up on
/// (e.g. a WAL recovery in another process), a few times, with a short pause.
fn retry<T>(mut f: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.is_busy() && attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
            }
            other => return other,
        }
    }
}

fn meta_get(conn: &Connection, name: &str, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
        .optional()
        .map_err(|e| StoreError::from_sqlite(e, path))
}

/// A store opened without a key must not write clear rows into a database
/// another process has since encrypted.
fn ensure_writable_in_mode(
    tx: &Transaction<'_>,
    cipher: Option<&Cipher>,
    path: &Path,
) -> Result<(), StoreError> {
    if cipher.is_none() && meta_get(tx, META_KEY_CHECK, path)?.is_some() {
        return Err(StoreError::KeyRequired);
    }
    Ok(())
}

fn current_version(tx: &Transaction<'_>, key: &SessionKey, path: &Path) -> Result<Option<u64>, StoreError> {
    tx.query_row(
        "SELECT version FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
        params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map_err(|e| StoreError::from_sqlite(e, path))?
    .map(version_of)
    .transpose()
}

/// The stored version and login id of `key`'s session, if any.
fn current_login(
    tx: &Transaction<'_>,
    key: &SessionKey,
    path: &Path,
) -> Result<Option<(u64, String)>, StoreError> {
    tx.query_row(
        "SELECT version, body FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
        params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map_err(|e| StoreError::from_sqlite(e, path))?
    .map(|(version, body)| Ok((version_of(version)?, codec::login_id_of(&body)?)))
    .transpose()
}

fn write_session(
    tx: &Transaction<'_>,
    session: &Session,
    encoded: &Encoded,
    version: u64,
    path: &Path,
) -> Result<(), StoreError> {
    let version = i64::try_from(version).map_err(|_| StoreError::Corrupt {
        reason: "the session version overflowed".into(),
        source: None,
    })?;
    tx.execute(
        "INSERT INTO sessions
            (tenant, user_id, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
         VALUES (?1, ?10, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant, user_id, provider) DO UPDATE SET subject = excluded.subject,
            expires_at = excluded.expires_at, issued_at = excluded.issued_at,
            version = excluded.version, updated_at = excluded.updated_at,
            body = excluded.body, sealed = excluded.sealed",
        params![
            session.key.tenant.as_str(),
            session.key.provider.as_str(),
            session.subject,
            session.expires_at.map(ts),
            ts(session.issued_at),
            version,
            ts(Timestamp::now()),
            encoded.body,
            encoded.sealed,
            session.key.user.as_str(),
        ],
    )
    .map(drop)
    .map_err(|e| StoreError::from_sqlite(e, path))
}

/// Seals every row written in clear (first open with a key).
fn seal_existing(tx: &Transaction<'_>, cipher: &Cipher, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    let sessions = all_rows(
        tx,
        "SELECT tenant, user_id, provider, version, body, sealed FROM sessions",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, user, provider, version, body, sealed) in sessions {
        let session = codec::decode_session(
            &tenant,
            &user,
            &provider,
            version_of(version)?,
            &body,
            sealed.as_deref(),
            None,
        )?;
        let encoded = codec::encode_session(&session, Some(cipher))?;
        tx.execute(
            "UPDATE sessions SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND provider = ?2 AND user_id = ?5",
            params![tenant, provider, encoded.body, encoded.sealed, user],
        )
        .map_err(sqlite)?;
    }
    let pending = all_rows(
        tx,
        "SELECT tenant, state, body, sealed FROM pending",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, state, body, sealed) in pending {
        let pending = codec::decode_pending(&tenant, &state, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_pending(&pending, Some(cipher))?;
        tx.execute(
            "UPDATE pending SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND state = ?2",
            params![tenant, state, encoded.body, encoded.sealed],
        )
        .map_err(sqlite)?;
    }
    let revocations = all_rows(
        tx,
        "SELECT tenant, provider, id, body, sealed FROM revocations",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, provider, id, body, sealed) in revocations {
        let revocation = codec::decode_revocation(&tenant, &provider, &id, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_revocation(&revocation, Some(cipher))?;
        tx.execute(
            "UPDATE revocations SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, encoded.body, encoded.sealed],
        )
        .map_err(sqlite)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
