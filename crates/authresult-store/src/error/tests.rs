//! Unit tests of `StoreError`: classification and messages.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use authresult_core::FailureKind;

use super::StoreError;

fn sqlite_error(code: i32) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("message".into()))
}

fn classify(code: i32) -> StoreError {
    StoreError::from_sqlite(sqlite_error(code), Path::new("/data/s.db"))
}

#[test]
fn sqlite_codes_become_distinct_variants() {
    use rusqlite::ffi;
    assert!(matches!(classify(ffi::SQLITE_BUSY), StoreError::Busy { .. }));
    assert!(matches!(classify(ffi::SQLITE_LOCKED), StoreError::Busy { .. }));
    assert!(matches!(
        classify(ffi::SQLITE_BUSY_SNAPSHOT),
        StoreError::Busy { .. }
    ));
    assert!(matches!(classify(ffi::SQLITE_IOERR_WRITE), StoreError::Io { .. }));
    assert!(matches!(classify(ffi::SQLITE_FULL), StoreError::DiskFull { .. }));
    assert!(matches!(
        classify(ffi::SQLITE_READONLY),
        StoreError::ReadOnly { .. }
    ));
    assert!(matches!(
        classify(ffi::SQLITE_NOTADB),
        StoreError::NotADatabase { .. }
    ));
    assert!(matches!(
        classify(ffi::SQLITE_CORRUPT),
        StoreError::Corrupt { .. }
    ));
    assert!(matches!(
        classify(ffi::SQLITE_CANTOPEN),
        StoreError::CannotOpen { .. }
    ));
    assert!(matches!(classify(ffi::SQLITE_MISUSE), StoreError::Sqlite { .. }));
    let wrong_type = rusqlite::Error::InvalidColumnType(0, "sealed".into(), rusqlite::types::Type::Text);
    assert!(matches!(
        StoreError::from_sqlite(wrong_type, Path::new("x")),
        StoreError::Corrupt { .. }
    ));
}

#[test]
fn kinds_follow_the_offline_policy() {
    use rusqlite::ffi;
    assert_eq!(classify(ffi::SQLITE_BUSY).kind(), FailureKind::Transient);
    assert_eq!(classify(ffi::SQLITE_IOERR).kind(), FailureKind::Transient);
    assert_eq!(classify(ffi::SQLITE_FULL).kind(), FailureKind::Configuration);
    assert_eq!(classify(ffi::SQLITE_READONLY).kind(), FailureKind::Configuration);
    assert_eq!(classify(ffi::SQLITE_NOTADB).kind(), FailureKind::Protocol);
    assert_eq!(classify(ffi::SQLITE_CORRUPT).kind(), FailureKind::Protocol);
    assert_eq!(StoreError::WrongKey.kind(), FailureKind::Configuration);
    assert_eq!(StoreError::KeyRequired.kind(), FailureKind::Configuration);
    assert_eq!(
        StoreError::Tampered { what: "session" }.kind(),
        FailureKind::Protocol
    );
    let newer = StoreError::NewerSchema {
        found: 2,
        supported: 1,
    };
    assert_eq!(newer.kind(), FailureKind::Configuration);
}

#[test]
fn converts_into_a_core_store_error_keeping_the_source() {
    let core: authresult_core::Error = classify(rusqlite::ffi::SQLITE_BUSY).into();
    assert!(core.is_transient());
    let authresult_core::Error::Store { source, .. } = &core else {
        panic!("not a store error: {core:?}");
    };
    assert!(matches!(
        source.downcast_ref::<StoreError>(),
        Some(StoreError::Busy { .. })
    ));
    assert_eq!(core.to_string(), "transient session store failure");
}

#[test]
fn messages_are_lower_case_without_a_final_period() {
    use rusqlite::ffi;
    let errors = [
        classify(ffi::SQLITE_BUSY),
        classify(ffi::SQLITE_IOERR),
        classify(ffi::SQLITE_FULL),
        classify(ffi::SQLITE_READONLY),
        classify(ffi::SQLITE_NOTADB),
        classify(ffi::SQLITE_CORRUPT),
        classify(ffi::SQLITE_CANTOPEN),
        classify(ffi::SQLITE_MISUSE),
        StoreError::IsADirectory { path: "d".into() },
        StoreError::ForeignDatabase { path: "f".into() },
        StoreError::NewerSchema {
            found: 2,
            supported: 1,
        },
        StoreError::WrongKey,
        StoreError::KeyRequired,
        StoreError::Tampered { what: "session" },
        StoreError::InvalidKey {
            reason: "too short".into(),
        },
        StoreError::Random,
        StoreError::Stopped,
    ];
    for error in errors {
        let message = error.to_string();
        let first = message.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

#[test]
fn decode_errors_never_quote_the_value() {
    let error = serde_json::from_str::<u64>("\"secret-token-value\"").unwrap_err();
    assert!(
        error.to_string().contains("secret-token-value"),
        "serde_json quotes values"
    );
    let ours = StoreError::decode("session", &error);
    let message = ours.to_string();
    assert!(!message.contains("secret-token-value"), "{message}");
    assert!(!format!("{ours:?}").contains("secret-token-value"));
    assert!(
        message.starts_with("a stored session could not be decoded: unexpected content"),
        "{message}"
    );
}

#[test]
fn postgres_variants_are_classified_and_worded_like_the_others() {
    let cause = || -> Box<dyn std::error::Error + Send + Sync> { "cause".into() };
    let cases = [
        (
            StoreError::PostgresUnavailable { source: cause() },
            FailureKind::Transient,
        ),
        (
            StoreError::PostgresBusy { source: cause() },
            FailureKind::Transient,
        ),
        (
            StoreError::PostgresRefused { source: cause() },
            FailureKind::Configuration,
        ),
        (
            StoreError::PostgresConfig {
                reason: "the connection url or string is invalid".into(),
                source: None,
            },
            FailureKind::Configuration,
        ),
        (
            StoreError::ForeignSchema {
                schema: "public".into(),
            },
            FailureKind::Configuration,
        ),
        (StoreError::Postgres { source: cause() }, FailureKind::Protocol),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind, "{error:?}");
        let message = error.to_string();
        assert!(!message.chars().next().unwrap().is_uppercase(), "{message}");
        assert!(!message.ends_with('.'), "{message}");
        assert_eq!(error.sqlstate(), None, "a plain cause has no sqlstate");
    }
}

#[test]
fn a_delay_is_shown_rounded_up_never_as_zero_seconds() {
    use std::time::Duration;
    for (millis, shown) in [
        (1, "1 s"),
        (999, "1 s"),
        (1000, "1 s"),
        (1001, "2 s"),
        (59_500, "60 s"),
    ] {
        let error = StoreError::TooSoon {
            retry_in: Duration::from_millis(millis),
        };
        assert!(
            error.to_string().ends_with(&format!("try again in {shown}")),
            "{millis} ms: {error}"
        );
    }
}
