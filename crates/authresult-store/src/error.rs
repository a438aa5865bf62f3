//! `StoreError`: every way a store can fail, and how the session manager should treat it.

use std::path::PathBuf;

use authresult_core::FailureKind;

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
        source: rusqlite::Error,
    },
    /// The file system failed in a way that may pass (an I/O error while
    /// reading or writing the database).
    #[error("i/o error on the session database")]
    Io {
        /// SQLite's answer.
        #[source]
        source: rusqlite::Error,
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
        source: Option<rusqlite::Error>,
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
        source: rusqlite::Error,
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
        source: rusqlite::Error,
    },
    /// The store's worker thread has stopped; the store cannot be used any more.
    #[error("the session store has stopped")]
    Stopped,
}

impl StoreError {
    /// How the session manager should treat this failure: transient ones
    /// (busy, I/O) may pass; configuration ones need the operator (wrong key,
    /// read-only, full disk, newer schema); protocol ones are damaged data.
    pub fn kind(&self) -> FailureKind {
        match self {
            StoreError::Busy { .. } | StoreError::Io { .. } | StoreError::Random => FailureKind::Transient,
            StoreError::CannotOpen { .. }
            | StoreError::IsADirectory { .. }
            | StoreError::ForeignDatabase { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::DiskFull { .. }
            | StoreError::WrongKey
            | StoreError::KeyRequired
            | StoreError::InvalidKey { .. } => FailureKind::Configuration,
            StoreError::NotADatabase { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Tampered { .. }
            | StoreError::Decode { .. }
            | StoreError::Sqlite { .. }
            | StoreError::Stopped => FailureKind::Protocol,
        }
    }

    /// Sorts an SQLite error into a variant; `path` names the database.
    pub(crate) fn from_sqlite(source: rusqlite::Error, path: &std::path::Path) -> Self {
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
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }
}

impl From<StoreError> for authresult_core::Error {
    fn from(error: StoreError) -> Self {
        authresult_core::Error::store(error.kind(), error)
    }
}

#[cfg(test)]
mod tests;
