//! `StoreError`: every way a store can fail, and how the session manager should treat it.

use std::path::PathBuf;

use authresult_core::FailureKind;

/// The SQLite error the SQLite variants carry; without the `sqlite` feature
/// those variants cannot occur (`Infallible`).
#[cfg(feature = "sqlite")]
type SqliteError = rusqlite::Error;
#[cfg(not(feature = "sqlite"))]
type SqliteError = std::convert::Infallible;

/// Errors of the session stores in this crate.
///
/// Each variant says what went wrong precisely enough to act on it; [`kind`](Self::kind)
/// says how the session manager treats it (retry later or not). Converting into
/// [`authresult_core::Error`] keeps this error as the `source()`, so callers can
/// downcast to it. Messages never contain token text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database stayed locked by another connection or process for longer
    /// than the busy timeout. Trying again later may work.
    #[error("the session database is busy")]
    Busy {
        /// SQLite's answer.
        #[source]
        source: SqliteError,
    },
    /// The file system failed in a way that may pass (an I/O error while
    /// reading or writing the database).
    #[error("i/o error on the session database")]
    Io {
        /// SQLite's answer.
        #[source]
        source: SqliteError,
    },
    /// The database file or its folder could not be created or opened.
    #[error("cannot open the session database at `{}`", path.display())]
    CannotOpen {
        /// The database path.
        path: PathBuf,
        /// The operating system's or SQLite's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A directory is where the database file should be.
    #[error("`{}` is a directory, not a session database file", path.display())]
    IsADirectory {
        /// The database path.
        path: PathBuf,
    },
    /// The database file, or one of its `-wal`, `-shm`, `-journal` sidecars,
    /// is not one this user alone controls: a symbolic link, not a regular
    /// file, another user's, or open to other users. Tokens written there
    /// could reach someone else, so it is refused and left untouched; the
    /// message names the fix.
    #[error("refusing `{}` as a session database file: {problem}", path.display())]
    UnsafeFile {
        /// The refused path.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        problem: UnsafeFileProblem,
    },
    /// The file exists but is not an SQLite database (random bytes, a
    /// truncated header). It is left untouched.
    #[error("`{}` is not a session database", path.display())]
    NotADatabase {
        /// The database path.
        path: PathBuf,
    },
    /// The file is an SQLite database of some other application. It is left untouched.
    #[error("`{}` is an sqlite database of another application", path.display())]
    ForeignDatabase {
        /// The database path.
        path: PathBuf,
    },
    /// The database is damaged (failed integrity check, malformed page). It
    /// is never treated as empty nor rewritten.
    #[error("the session database is corrupt: {reason}")]
    Corrupt {
        /// What the check found (no row contents).
        reason: String,
        /// SQLite's answer, when the damage surfaced as an error.
        #[source]
        source: Option<SqliteError>,
    },
    /// The file was written by a newer version of this crate; it is not
    /// opened, so it cannot be silently rewritten in an older format.
    #[error("the session database has schema version {found}, newer than the supported {supported}")]
    NewerSchema {
        /// The version in the file.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
    /// The database file (or its folder) cannot be written.
    #[error("the session database at `{}` is read-only", path.display())]
    ReadOnly {
        /// The database path.
        path: PathBuf,
    },
    /// The disk, or the configured size limit of the database, is full. The
    /// write did not happen; earlier data is intact.
    #[error("the session database is full")]
    DiskFull {
        /// SQLite's answer.
        #[source]
        source: SqliteError,
    },
    /// The database is encrypted with a different key or passphrase.
    #[error("wrong encryption key for the session database")]
    WrongKey,
    /// The database is encrypted but no key was given.
    #[error("the session database is encrypted and no encryption key was given")]
    KeyRequired,
    /// An encrypted row failed authentication: it was modified, moved to
    /// another key, or written without encryption.
    #[error("a stored {what} failed authentication (tampered or moved)")]
    Tampered {
        /// Which kind of row (`session`, `pending login`).
        what: &'static str,
    },
    /// Key material could not be used (wrong length, key derivation failed).
    #[error("invalid encryption key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A stored row could not be decoded (or a value could not be encoded).
    #[error("a stored {what} could not be decoded: {reason}")]
    Decode {
        /// Which kind of row.
        what: &'static str,
        /// Where decoding failed. The JSON decoder's own message is not kept:
        /// it may quote a value, and a value may be a token.
        reason: String,
    },
    /// Any other SQLite failure.
    #[error("sqlite failure on the session database")]
    Sqlite {
        /// SQLite's answer.
        #[source]
        source: SqliteError,
    },
    /// The store's worker thread has stopped (or its connection pool was
    /// closed); the store cannot be used any more.
    #[error("the session store has stopped")]
    Stopped,
    /// The PostgreSQL server cannot be reached or dropped the connection:
    /// connection refused or closed, server shutting down or restarting, or
    /// connecting took longer than the connect timeout. Trying again later
    /// may work; the pool reconnects by itself.
    #[error("the postgres session database is unavailable")]
    PostgresUnavailable {
        /// The driver's or the pool's answer (server messages without their
        /// detail, which may quote row values).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The PostgreSQL server is reachable but did not complete the operation:
    /// statement or lock timeout, too many connections, no pooled connection
    /// free in time, or serialization failures and deadlocks that persisted
    /// through the store's own retries. Trying again later may work.
    #[error("the postgres session database is busy")]
    PostgresBusy {
        /// The driver's or the pool's answer (server messages without their detail).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The PostgreSQL server refused the operation for a reason the operator
    /// must fix: failed authentication, missing privileges, unknown database,
    /// read-only server (a standby), full disk, TLS handshake refused.
    #[error("the postgres server refused access to the session database")]
    PostgresRefused {
        /// The driver's answer (server messages without their detail).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The PostgreSQL settings are unusable: an unparsable connection URL, an
    /// invalid schema name, a pool that cannot be built.
    #[error("invalid postgres settings: {reason}")]
    PostgresConfig {
        /// What is wrong (never the URL itself, which may hold a password).
        reason: String,
        /// The driver's answer, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The PostgreSQL schema holds tables named like the store's that the
    /// store did not create. They are left untouched.
    #[error("the postgres schema `{schema}` holds tables of another application")]
    ForeignSchema {
        /// The schema name.
        schema: String,
    },
    /// Any other PostgreSQL failure (an unexpected answer, a constraint or
    /// type error).
    #[error("postgres failure on the session database")]
    Postgres {
        /// The driver's answer (server messages without their detail).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The user has no offline credential on this device (never enrolled,
    /// or wiped after too many failures): an online login must come first.
    #[error("the user has no offline credential on this device")]
    NotEnrolled,
    /// The user's sessions are sealed with their offline credential and the
    /// vault is locked (never unlocked, locked, or idle too long): unlock
    /// it, or log in online.
    #[error("the user's offline vault is locked")]
    VaultLocked,
    /// The offline secret did not open the vault (wrong secret, or the
    /// record was modified or comes from another device). Counted.
    #[error("the offline secret is wrong ({attempts_left} attempts left)")]
    WrongSecret {
        /// Failed unlocks allowed before the lock-out.
        attempts_left: u32,
    },
    /// An empty or oversized offline secret, refused before any work.
    #[error("invalid offline secret: {reason}")]
    InvalidSecret {
        /// What is wrong with it (never the secret).
        reason: String,
    },
    /// Too soon after a failed unlock: the delay grows with each failure.
    #[error("too many failed unlocks: try again in {} s", retry_in.as_millis().div_ceil(1000))]
    TooSoon {
        /// How long to wait.
        retry_in: std::time::Duration,
    },
    /// Too many failed unlocks: only an online login lifts it.
    #[error("offline unlock is locked after too many failures: log in online")]
    LockedOut,
    /// The provider answered terminally for this user (revoked, disabled,
    /// `invalid_grant`): the offline credential no longer works.
    #[error("the offline credential was disabled by the provider's answer: log in online")]
    OfflineDisabled,
    /// The user's vault record changed under every attempt to update it
    /// (other processes unlocking at once). Trying again later works.
    #[error("the offline vault record is busy")]
    VaultBusy,
    /// The device clock is behind the latest time this user's vault has
    /// seen (set back, reset, a bad time source): offline access ended
    /// until the next online login. Never tried the secret.
    #[error("the device clock is behind the time this vault has seen: log in online")]
    ClockBehind,
    /// After the provider accepted an online login, the secret given does
    /// not open the user's vault on this device: nothing was stored and
    /// the user's other sessions are untouched. Use the secret set on this
    /// device (or change it offline), or reset the user's vault.
    #[error("the secret does not open this user's offline vault on this device: nothing was changed")]
    SecretMismatch,
    /// The account that logged in is not the one this device user is bound
    /// to for the provider: the login is refused and nothing changed.
    #[error(
        "another account than the one bound to this device user logged in with provider `{provider}`: refused, nothing changed"
    )]
    SubjectMismatch {
        /// The provider name.
        provider: String,
    },
    /// The device user is bound to accounts of other providers, none of
    /// this one: an online login with it cannot stand for the user. Unlock
    /// offline first, then log in.
    #[error("this device user has no account bound for provider `{provider}`: unlock first, then log in")]
    UnboundProvider {
        /// The provider name.
        provider: String,
    },
    /// The provider's answer names no account (no subject in the profile,
    /// ID token or access token): it cannot bind a device user nor stand for
    /// one. Nothing was written.
    #[error("the answer of provider `{provider}` names no account: a device user's login needs one")]
    NoAccount {
        /// The provider name.
        provider: String,
    },
    /// `enroll` without an online login of the user written since the
    /// last lock.
    #[error("enrolling an offline secret needs an online login of the user first")]
    OnlineLoginRequired,
    /// The last online proof (login or refresh) is older than the offline
    /// grace period: the user must go online.
    #[error("the offline grace period is over: log in online")]
    GraceExpired,
}

/// Why [`StoreError::UnsafeFile`] refused a file; `Display` says how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsafeFileProblem {
    /// A symbolic link: the store never follows one to its target.
    #[error("it is a symbolic link; point the store at the real file, or remove the link")]
    Symlink,
    /// A FIFO, socket or device.
    #[error("it is not a regular file; remove it")]
    NotRegularFile,
    /// Owned by another user, who could read every token written to it.
    #[error("it belongs to user {owner}, not to this user; remove it (or let its owner move it away)")]
    NotOwned {
        /// The owner's user id.
        owner: u32,
    },
    /// Group or other users may read or write it.
    #[error("other users may access it (mode {mode:o}); run `chmod 600` on it if it is yours, or remove it")]
    OpenToOthers {
        /// The file's permission bits.
        mode: u32,
    },
    /// The path was replaced by another file while the store opened it.
    #[error("it was replaced while being opened; check who writes to its folder")]
    Replaced,
}

impl StoreError {
    /// How the session manager should treat this failure: transient ones
    /// (busy, I/O) may pass; configuration ones need the operator (wrong key,
    /// read-only, full disk, newer schema); protocol ones are damaged data.
    pub fn kind(&self) -> FailureKind {
        match self {
            StoreError::Busy { .. }
            | StoreError::Io { .. }
            | StoreError::Random
            | StoreError::PostgresUnavailable { .. }
            | StoreError::PostgresBusy { .. }
            | StoreError::TooSoon { .. }
            | StoreError::VaultBusy => FailureKind::Transient,
            StoreError::CannotOpen { .. }
            | StoreError::IsADirectory { .. }
            | StoreError::UnsafeFile { .. }
            | StoreError::ForeignDatabase { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::DiskFull { .. }
            | StoreError::WrongKey
            | StoreError::KeyRequired
            | StoreError::InvalidKey { .. }
            | StoreError::PostgresRefused { .. }
            | StoreError::PostgresConfig { .. }
            | StoreError::ForeignSchema { .. }
            | StoreError::NotEnrolled
            | StoreError::VaultLocked
            | StoreError::WrongSecret { .. }
            | StoreError::SecretMismatch
            | StoreError::SubjectMismatch { .. }
            | StoreError::UnboundProvider { .. }
            | StoreError::NoAccount { .. }
            | StoreError::OnlineLoginRequired
            | StoreError::InvalidSecret { .. } => FailureKind::Configuration,
            StoreError::LockedOut
            | StoreError::OfflineDisabled
            | StoreError::GraceExpired
            | StoreError::ClockBehind => FailureKind::Terminal,
            StoreError::NotADatabase { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Tampered { .. }
            | StoreError::Decode { .. }
            | StoreError::Sqlite { .. }
            | StoreError::Stopped
            | StoreError::Postgres { .. } => FailureKind::Protocol,
        }
    }

    /// The SQLSTATE code the PostgreSQL server answered with (`40001`,
    /// `57P01`, ...), when this error is a server's answer.
    pub fn sqlstate(&self) -> Option<&str> {
        let source = match self {
            StoreError::PostgresUnavailable { source }
            | StoreError::PostgresBusy { source }
            | StoreError::PostgresRefused { source }
            | StoreError::Postgres { source } => source,
            _ => return None,
        };
        source.downcast_ref::<ServerError>().map(|e| e.code.as_str())
    }

    /// Sorts an SQLite error into a variant; `path` names the database.
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_sqlite(source: SqliteError, path: &std::path::Path) -> Self {
        use rusqlite::ErrorCode;
        if matches!(
            source,
            rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::Utf8Error(..)
        ) {
            return StoreError::Corrupt {
                reason: "a stored value has the wrong type".into(),
                source: Some(source),
            };
        }
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { source },
            Some(ErrorCode::SystemIoFailure) => StoreError::Io { source },
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { source },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
                path: path.to_owned(),
            },
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase {
                path: path.to_owned(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                reason: "sqlite reports a malformed database".into(),
                source: Some(source),
            },
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => StoreError::CannotOpen {
                path: path.to_owned(),
                source: Box::new(source),
            },
            _ => StoreError::Sqlite { source },
        }
    }

    /// A JSON (de)serialization failure, without the decoder's message (which
    /// may quote a value).
    pub(crate) fn decode(what: &'static str, error: &serde_json::Error) -> Self {
        let category = match error.classify() {
            serde_json::error::Category::Io => "i/o failure",
            serde_json::error::Category::Syntax => "malformed json",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "truncated json",
        };
        StoreError::Decode {
            what,
            reason: format!("{category} at line {} column {}", error.line(), error.column()),
        }
    }

    /// True for the errors a retry inside the store may get past.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }
}

/// A PostgreSQL server's error answer, as kept in a [`StoreError`]: the
/// SQLSTATE code, severity and primary message. The server's `DETAIL` is
/// dropped on purpose: for constraint violations it quotes the failing row,
/// which may hold tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct ServerError {
    /// The SQLSTATE code.
    pub(crate) code: String,
    /// `ERROR`, `FATAL`, ...
    pub(crate) severity: String,
    /// The primary message.
    pub(crate) message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

impl std::error::Error for ServerError {}

/// How a SQLSTATE code is treated.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlStateClass {
    /// The connection is gone or the server is going away or starting.
    Unavailable,
    /// Timeouts, contention and resource exhaustion that may pass.
    Busy,
    /// Needs the operator: authorization, privileges, read-only, disk full.
    Refused,
    /// Anything else.
    Other,
}

/// Sorts a SQLSTATE code (see the PostgreSQL manual, appendix A).
#[cfg(feature = "postgres")]
pub(crate) fn classify_sqlstate(code: &str) -> SqlStateClass {
    match code {
        // serialization_failure, deadlock_detected (after the store's own
        // retries), query_canceled (statement timeout), lock_not_available,
        // too_many_connections, out_of_memory, insufficient_resources.
        "40001" | "40P01" | "57014" | "55P03" | "53300" | "53200" | "53000" => SqlStateClass::Busy,
        // admin_shutdown, crash_shutdown, cannot_connect_now, idle_session_timeout.
        "57P01" | "57P02" | "57P03" | "57P05" => SqlStateClass::Unavailable,
        // insufficient_privilege, invalid_catalog_name (no such database),
        // read_only_sql_transaction (a standby), disk_full,
        // configuration_limit_exceeded, database_dropped.
        "42501" | "3D000" | "25006" | "53100" | "53400" | "57P04" => SqlStateClass::Refused,
        // connection_exception and its subclasses.
        c if c.starts_with("08") => SqlStateClass::Unavailable,
        // invalid_authorization_specification, invalid_password.
        c if c.starts_with("28") => SqlStateClass::Refused,
        _ => SqlStateClass::Other,
    }
}

/// True for SQLSTATE codes after which the whole transaction can simply run again.
#[cfg(feature = "postgres")]
pub(crate) fn is_retryable_sqlstate(code: &str) -> bool {
    matches!(code, "40001" | "40P01")
}

#[cfg(feature = "postgres")]
impl StoreError {
    /// Sorts a tokio-postgres error into a variant.
    pub(crate) fn from_postgres(error: tokio_postgres::Error) -> Self {
        if let Some(db) = error.as_db_error() {
            let cause = Box::new(ServerError {
                code: db.code().code().to_owned(),
                severity: db.severity().to_owned(),
                message: db.message().to_owned(),
            });
            return match classify_sqlstate(db.code().code()) {
                SqlStateClass::Unavailable => StoreError::PostgresUnavailable { source: cause },
                SqlStateClass::Busy => StoreError::PostgresBusy { source: cause },
                SqlStateClass::Refused => StoreError::PostgresRefused { source: cause },
                SqlStateClass::Other => StoreError::Postgres { source: cause },
            };
        }
        let mut io = false;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&error);
        while let Some(e) = cause {
            io |= e.is::<std::io::Error>();
            cause = e.source();
        }
        // The driver's kinds are private; its messages for them are fixed.
        let text = error.to_string();
        if text.starts_with("error performing TLS") || text.starts_with("authentication") {
            // An untrusted certificate or a server without TLS under
            // `sslmode=require` (an I/O error inside, but no transient one).
            StoreError::PostgresRefused {
                source: Box::new(error),
            }
        } else if error.is_closed() || io || text.starts_with("timeout") {
            StoreError::PostgresUnavailable {
                source: Box::new(error),
            }
        } else if text.starts_with("invalid configuration") || text.starts_with("invalid connection string") {
            StoreError::PostgresConfig {
                reason: text,
                source: Some(Box::new(error)),
            }
        } else {
            StoreError::Postgres {
                source: Box::new(error),
            }
        }
    }

    /// Sorts a connection pool error into a variant.
    pub(crate) fn from_pool(error: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::{PoolError, TimeoutType};
        match error {
            PoolError::Backend(e) => Self::from_postgres(e),
            PoolError::Timeout(TimeoutType::Wait) => StoreError::PostgresBusy {
                source: Box::new(error),
            },
            PoolError::Timeout(_) => StoreError::PostgresUnavailable {
                source: Box::new(error),
            },
            PoolError::Closed => StoreError::Stopped,
            PoolError::NoRuntimeSpecified => StoreError::PostgresConfig {
                reason: "the connection pool has no async runtime".into(),
                source: Some(Box::new(error)),
            },
            PoolError::PostCreateHook(_) => StoreError::Postgres {
                source: Box::new(error),
            },
        }
    }

    /// True for a serialization failure or deadlock: the transaction was
    /// rolled back and may simply run again.
    pub(crate) fn is_retryable_conflict(&self) -> bool {
        matches!(self, StoreError::PostgresBusy { .. }) && self.sqlstate().is_some_and(is_retryable_sqlstate)
    }
}

impl From<StoreError> for authresult_core::Error {
    fn from(error: StoreError) -> Self {
        authresult_core::Error::store(error.kind(), error)
    }
}

#[cfg(test)]
mod tests;
