//! The SQLite file: opening it without harming a file that is not ours, the
//! versioned schema and its forward migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::busy::retry;
use crate::error::StoreError;

/// `PRAGMA application_id` of our files: "ARST".
pub(crate) const APPLICATION_ID: i64 = 0x4152_5354;

/// Migration `i` takes a file from schema version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The schema version this build writes: the number of migrations.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sessions keyed by tenant + provider, with queryable metadata and the
/// serialized rest (`body`, secrets in `sealed` when encrypted); usernames;
/// pending logins; refresh leases; and store metadata (encryption salt, key check).
const V1: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE sessions (
    tenant     TEXT NOT NULL,
    provider   TEXT NOT NULL,
    subject    TEXT,
    expires_at INTEGER,
    issued_at  INTEGER NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    updated_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    sealed     BLOB,
    PRIMARY KEY (tenant, provider)
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE usernames (
    tenant   TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL
);
CREATE TABLE pending (
    tenant     TEXT NOT NULL,
    state      TEXT NOT NULL,
    provider   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    sealed     BLOB,
    PRIMARY KEY (tenant, state)
);
CREATE INDEX pending_by_expiry ON pending (expires_at);
CREATE TABLE leases (
    tenant     TEXT NOT NULL,
    provider   TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, provider)
);
";

/// Tokens a logout could not revoke yet, keyed by tenant + id, oldest first
/// by `created_at` (the store keeps a bounded number per tenant); the token
/// is in `body`, or sealed in `sealed` when encrypted.
const V2: &str = "
CREATE TABLE revocations (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    provider   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    sealed     BLOB,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX revocations_by_age ON revocations (tenant, created_at, id);
";

/// Sessions and refresh leases keyed by tenant, user and provider (several
/// users of a shared device): the tables are rebuilt with a `user_id` key
/// column; existing rows belong to the default user `''`. The offline
/// vault: one record per user, and the time high-water mark per tenant.
const V3: &str = "
CREATE TABLE sessions_v3 (
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    provider   TEXT NOT NULL,
    subject    TEXT,
    expires_at INTEGER,
    issued_at  INTEGER NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    updated_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    sealed     BLOB,
    PRIMARY KEY (tenant, user_id, provider)
);
INSERT INTO sessions_v3
    (tenant, user_id, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
    SELECT tenant, '', provider, subject, expires_at, issued_at, version, updated_at, body, sealed
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v3 RENAME TO sessions;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE leases_v3 (
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    provider   TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id, provider)
);
INSERT INTO leases_v3 (tenant, user_id, provider, holder, expires_at)
    SELECT tenant, '', provider, holder, expires_at FROM leases;
DROP TABLE leases;
ALTER TABLE leases_v3 RENAME TO leases;
CREATE TABLE vault (
    tenant  TEXT NOT NULL,
    user_id TEXT NOT NULL,
    rev     INTEGER NOT NULL CHECK (rev > 0),
    record  TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
CREATE TABLE vault_clock (
    tenant TEXT PRIMARY KEY NOT NULL,
    seen   INTEGER NOT NULL
);
";

/// The servers' DPoP nonces (RFC 9449 §8), the last one per tenant and
/// origin, shared by every process of the app.
const V4: &str = "
CREATE TABLE dpop_nonces (
    tenant     TEXT NOT NULL,
    origin     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    PRIMARY KEY (tenant, origin)
);
";

/// What the file's header and catalogue say.
struct FileState {
    application_id: i64,
    version: i64,
    objects: i64,
}

/// Opens the connection and brings the file to the current schema.
///
/// Everything that could refuse the file (not a database, someone else's,
/// newer, corrupt, read-only) is checked before the first write, so a
/// refused file is left exactly as it was.
pub(super) fn open(
    path: &Path,
    busy_timeout: Duration,
    max_size: Option<u64>,
) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    // NOFOLLOW: SQLite refuses a symbolic link swapped in after our checks.
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    conn.busy_timeout(busy_timeout).map_err(sqlite)?;
    // SQLite silently falls back to read-only for a file it may not write.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(sqlite)? {
        return Err(StoreError::ReadOnly {
            path: path.to_owned(),
        });
    }
    // The first read of the file: random bytes fail here as `NotADatabase`.
    // One read transaction, so the three values come from one snapshot: read
    // one by one, another process creating the same file could commit its
    // schema in between, and a half-seen new file looks foreign.
    let state = retry(|| {
        let tx = conn.unchecked_transaction().map_err(sqlite)?;
        let state = read_state(&tx, path)?;
        tx.commit().map_err(sqlite)?;
        Ok(state)
    })?;
    let version = current_version(&state, path)?;
    retry(|| check(&conn, path, "quick_check"))?;
    retry(|| {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(sqlite)
    })?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
    // Rotated-out tokens are overwritten in the file, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON").map_err(sqlite)?;
    if let Some(bytes) = max_size {
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(sqlite)?;
        let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page_size.max(1);
        conn.pragma_update(None, "max_page_count", pages.max(1))
            .map_err(sqlite)?;
    }
    if version < SCHEMA_VERSION || state.application_id != APPLICATION_ID {
        migrate(&mut conn, path)?;
    }
    Ok(conn)
}

fn read_state(conn: &Connection, path: &Path) -> Result<FileState, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    let application_id = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sqlite)?;
    let version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite)?;
    let objects = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(sqlite)?;
    Ok(FileState {
        application_id,
        version,
        objects,
    })
}

/// The schema version of one of our files (0 for a new, empty file);
/// refuses other applications' files and newer schemas.
fn current_version(state: &FileState, path: &Path) -> Result<i64, StoreError> {
    if state.application_id == APPLICATION_ID {
        if state.version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: state.version,
                supported: SCHEMA_VERSION,
            });
        }
        if state.version < 0 {
            return Err(StoreError::Corrupt {
                reason: format!("negative schema version {}", state.version),
                source: None,
            });
        }
        return Ok(state.version);
    }
    if state.application_id == 0 && state.version == 0 && state.objects == 0 {
        return Ok(0);
    }
    Err(StoreError::ForeignDatabase {
        path: path.to_owned(),
    })
}

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction,
/// checking the version again under the lock (another process may have
/// migrated meanwhile).
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    retry(|| {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let state = read_state(&tx, path)?;
        let from = current_version(&state, path)?;
        if state.application_id != APPLICATION_ID {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(sqlite)?;
        }
        for migration in MIGRATIONS
            .iter()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
        {
            tx.execute_batch(migration).map_err(sqlite)?;
        }
        if from != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)
    })
}

/// Runs `PRAGMA quick_check` or `PRAGMA integrity_check`; anything but `ok`
/// is [`StoreError::Corrupt`] with the first findings.
pub(super) fn check(conn: &Connection, path: &Path, pragma: &str) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    let mut statement = conn.prepare(&format!("PRAGMA {pragma}")).map_err(sqlite)?;
    let findings = statement
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sqlite)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite)?;
    if findings.len() == 1 && findings[0] == "ok" {
        return Ok(());
    }
    let mut reason = findings.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if findings.len() > 3 {
        reason.push_str("; ...");
    }
    Err(StoreError::Corrupt { reason, source: None })
}
