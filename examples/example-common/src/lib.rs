//! Shared plumbing of the authresult examples: provider settings from flags,
//! environment variables or a DataCollect-style `{type, fields}` JSON file,
//! the default SQLite store in the per-user data folder, the device login's
//! screen (`device_login.rs`), serving HTTP with the limits an open server
//! needs (`serve.rs`), and printing an error's whole cause chain.
//!
//! Not a library to depend on: it only keeps the examples short. The
//! `login` feature (default) holds what needs the login client and the
//! store (`Settings`, `device_login`); the server examples turn it off and
//! build on `authresult-jwt` alone.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use authresult_core::{Session, Timestamp};
use authresult_jwt::{IssuerConfig, TokenValidator};

#[cfg(feature = "login")]
mod device_login;
mod serve;
#[cfg(feature = "login")]
mod settings;

#[cfg(feature = "login")]
pub use device_login::device_login;
pub use serve::{ServeLimits, serve};
#[cfg(feature = "login")]
pub use settings::Settings;

/// Prints the library's `tracing` events to stderr as `RUST_LOG` selects
/// (e.g. `RUST_LOG=authresult_core=debug,authresult_jwt=debug`; the event
/// names are in the README's tracing table). Nothing without `RUST_LOG`.
pub fn init_tracing() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints an error and its whole `source()` chain to stderr.
pub fn print_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Turns a result into an exit code, printing the error chain on failure.
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// "in 4m 10s", "expired 30s ago", for people.
pub fn human_duration(secs: i64) -> String {
    let text = human_span(secs.unsigned_abs());
    if secs < 0 {
        format!("expired {text} ago")
    } else {
        format!("in {text}")
    }
}

/// When `session`'s access token expires: "in 4m 10s", "expired 30s ago"
/// or "unknown".
pub fn expiry(session: Option<&Session>, now: Timestamp) -> String {
    match session.and_then(|s| s.expires_at) {
        None => "unknown".to_owned(),
        Some(at) if at <= now => human_duration(-(now.duration_since(at).as_secs().max(1) as i64)),
        Some(at) => human_duration(at.duration_since(now).as_secs() as i64),
    }
}

/// "45s", "4m 10s", "3h 5m", "15d 2h": a length of time for people.
pub fn human_span(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// A validator trusting each of `issuers` for each of `audiences` (any
/// audience when none is given), with `leeway` for the time claims.
pub fn validator(issuers: &[String], audiences: &[String], leeway: Duration) -> Result<TokenValidator> {
    let mut builder = TokenValidator::builder();
    for issuer in issuers {
        let config = IssuerConfig::new(issuer.as_str()).leeway(leeway);
        let config = if audiences.is_empty() {
            config.any_audience()
        } else {
            audiences.iter().fold(config, |c, a| c.audience(a.as_str()))
        };
        builder = builder.issuer(config);
    }
    Ok(builder.build()?)
}

/// The first 8 hex digits of the SHA-256 of `token`: how the examples show a
/// token (enough to tell tokens apart in a log, nothing to replay).
pub fn fingerprint(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect()
}
