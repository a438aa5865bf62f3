//! Unit tests of the Postgres store helpers that need no server: quoting,
//! options, statements, error classification.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use authresult_core::FailureKind;

use super::PostgresOptions;
use super::options::{check_schema_name, quote_ident, with_statement_timeout};
use super::pool::backoff;
use super::sql::Sql;
use crate::error::{ServerError, SqlStateClass, classify_sqlstate};
use crate::{EncryptionKey, StoreError};

#[test]
fn identifiers_are_quoted_with_inner_quotes_doubled() {
    assert_eq!(quote_ident("authresult"), "\"authresult\"");
    assert_eq!(quote_ident("My Schema"), "\"My Schema\"");
    assert_eq!(
        quote_ident("a\"; DROP TABLE x; --"),
        "\"a\"\"; DROP TABLE x; --\""
    );
}

#[test]
fn schema_names_must_be_valid_identifiers() {
    assert!(check_schema_name("authresult").is_ok());
    assert!(check_schema_name("Ω schema").is_ok());
    assert!(check_schema_name(&"x".repeat(63)).is_ok());
    for bad in [String::new(), "x".repeat(64), "nul\0".to_owned()] {
        let error = check_schema_name(&bad).unwrap_err();
        assert!(matches!(error, StoreError::PostgresConfig { .. }), "{error:?}");
        assert_eq!(error.kind(), FailureKind::Configuration);
    }
}

#[test]
fn the_statement_timeout_is_added_to_the_urls_options() {
    let five = Some(Duration::from_secs(5));
    assert_eq!(with_statement_timeout(None, five), "-c statement_timeout=5000");
    assert_eq!(
        with_statement_timeout(Some("  "), five),
        "-c statement_timeout=5000"
    );
    assert_eq!(
        with_statement_timeout(Some("-c default_transaction_isolation=serializable"), five),
        "-c default_transaction_isolation=serializable -c statement_timeout=5000"
    );
    assert_eq!(
        with_statement_timeout(None, None),
        "-c statement_timeout=30000",
        "the default"
    );
    assert_eq!(
        with_statement_timeout(Some("-c statement_timeout=7s"), None),
        "-c statement_timeout=7s",
        "the url's own timeout is kept when none is asked for"
    );
    assert_eq!(
        with_statement_timeout(Some("-c statement_timeout=7s"), five),
        "-c statement_timeout=7s -c statement_timeout=5000",
        "an explicit one wins (the last setting counts)"
    );
    assert_eq!(
        with_statement_timeout(None, Some(Duration::ZERO)),
        "-c statement_timeout=0",
        "zero turns the limit off"
    );
    assert_eq!(
        with_statement_timeout(None, Some(Duration::MAX)),
        format!("-c statement_timeout={}", i32::MAX)
    );
}

#[test]
fn keyless_writes_are_guarded_and_encrypted_ones_are_not() {
    let clear = Sql::new("\"s\"", false);
    let sealed = Sql::new("\"s\"", true);
    for sql in [&clear.put, &clear.put_pending] {
        assert!(sql.contains("WHERE NOT EXISTS"), "{sql}");
    }
    for sql in [&sealed.put, &sealed.put_pending] {
        assert!(!sql.contains("key_check"), "{sql}");
    }
    assert!(clear.get.contains("\"s\".sessions"));
    // Lease expiry is measured by the database's clock, never a parameter.
    assert!(
        clear
            .acquire_lease
            .contains("cur.expires_at <= floor(extract(epoch FROM clock_timestamp())"),
        "{}",
        clear.acquire_lease
    );
}

#[test]
fn retries_back_off_with_bounded_jitter() {
    for attempt in 1..=8 {
        let base = 5u64 << (attempt - 1).min(6);
        let pause = backoff(attempt).as_millis() as u64;
        assert!(
            (base..=2 * base).contains(&pause),
            "attempt {attempt}: {pause} ms"
        );
    }
}

#[test]
fn options_never_print_the_url_or_the_key() {
    let options = PostgresOptions::new("postgres://app:hunter2@db/app")
        .encryption_key(EncryptionKey::from_bytes([0x41; 32]))
        .schema("tenant_data");
    let printed = format!("{options:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(
        !printed.contains("AAAA") && !printed.contains("65, 65"),
        "{printed}"
    );
    assert!(printed.contains("tenant_data"), "{printed}");
}

#[tokio::test]
async fn bad_settings_fail_before_any_connection() {
    let error = PostgresOptions::new("postgres://app:hunter2@db:notaport/app")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PostgresConfig { .. }), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);
    let chain = format!("{error} {:?}", std::error::Error::source(&error));
    assert!(!chain.contains("hunter2"), "{chain}");
    let error = PostgresOptions::new("postgres://db/app")
        .max_connections(0)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PostgresConfig { .. }), "{error:?}");
    let error = PostgresOptions::new("postgres://db/app")
        .schema("")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PostgresConfig { .. }), "{error:?}");
}

#[test]
fn sqlstates_are_classified() {
    use SqlStateClass::{Busy, Other, Refused, Unavailable};
    let expected = [
        ("40001", Busy),
        ("40P01", Busy),
        ("57014", Busy),
        ("55P03", Busy),
        ("53300", Busy),
        ("57P01", Unavailable),
        ("57P02", Unavailable),
        ("57P03", Unavailable),
        ("08006", Unavailable),
        ("08001", Unavailable),
        ("28P01", Refused),
        ("28000", Refused),
        ("42501", Refused),
        ("3D000", Refused),
        ("25006", Refused),
        ("53100", Refused),
        ("23505", Other),
        ("42P01", Other),
        ("XX000", Other),
    ];
    for (code, class) in expected {
        assert_eq!(classify_sqlstate(code), class, "{code}");
    }
}

#[test]
fn server_errors_keep_the_code_but_not_the_detail() {
    let cause = ServerError {
        code: "23514".into(),
        severity: "ERROR".into(),
        message: "new row for relation \"sessions\" violates check constraint".into(),
    };
    let error = StoreError::Postgres {
        source: Box::new(cause),
    };
    assert_eq!(error.sqlstate(), Some("23514"));
    assert_eq!(error.kind(), FailureKind::Protocol);
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        source,
        "ERROR 23514: new row for relation \"sessions\" violates check constraint"
    );
    let busy = StoreError::PostgresBusy {
        source: Box::new(ServerError {
            code: "40001".into(),
            severity: "ERROR".into(),
            message: "could not serialize access due to concurrent update".into(),
        }),
    };
    assert!(busy.is_retryable_conflict());
    assert_eq!(busy.kind(), FailureKind::Transient);
    let timeout = StoreError::PostgresBusy {
        source: Box::new(ServerError {
            code: "57014".into(),
            severity: "ERROR".into(),
            message: "canceling statement due to statement timeout".into(),
        }),
    };
    assert!(
        !timeout.is_retryable_conflict(),
        "a timeout is not retried inside"
    );
    assert_eq!(StoreError::Random.sqlstate(), None);
}
