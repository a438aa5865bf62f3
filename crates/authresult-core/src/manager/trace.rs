//! The manager's `tracing` events (see the README's event table): provider
//! names, flows, outcomes and durations only, never a token or credential.

use std::time::Duration;

use crate::error::{Error, FailureKind};
use crate::provider::{Credentials, LoginFlow, LoginResponse};
use crate::session::ProviderId;

/// The `outcome` field for a failed operation: what kind of failure it was.
pub(super) fn outcome(error: &Error) -> &'static str {
    match error {
        Error::ReauthenticationRequired { .. } => "reauthentication_required",
        Error::NotAuthenticated { .. } => "not_authenticated",
        Error::SessionReplaced { .. } => "replaced",
        Error::Offline { .. } => "offline",
        Error::Locked { .. } => "locked",
        Error::OriginMismatch { .. } => "origin_mismatch",
        Error::UnknownLoginState => "unknown_login_state",
        Error::InvalidCallback { .. } => "invalid_callback",
        other => match other.kind() {
            FailureKind::Transient => "transient",
            FailureKind::Terminal => "terminal",
            FailureKind::Protocol => "protocol",
            FailureKind::Configuration => "configuration",
        },
    }
}

pub(super) fn credentials_flow(credentials: &Credentials) -> &'static str {
    match credentials {
        Credentials::Password { .. } => "password",
        _ => "token",
    }
}

pub(super) fn login_flow(flow: &LoginFlow) -> &'static str {
    match flow {
        LoginFlow::AuthorizationCode => "authorization_code",
        _ => "device_code",
    }
}

pub(super) fn response_flow(response: &LoginResponse) -> &'static str {
    match response {
        LoginResponse::Callback(_) => "authorization_code",
        _ => "device_code",
    }
}

/// A `login` event: a login finished (`flow`: password, token,
/// authorization_code, device_code, import).
pub(super) fn login<T>(provider: &str, flow: &'static str, result: &Result<T, Error>) {
    match result {
        Ok(_) => tracing::info!(event = "login", provider, flow, outcome = "ok", "login"),
        Err(e) => {
            let outcome = outcome(e);
            if e.kind() == FailureKind::Transient {
                tracing::warn!(event = "login", provider, flow, outcome, error = %e, "login");
            } else {
                tracing::info!(event = "login", provider, flow, outcome, error = %e, "login");
            }
        }
    }
}

/// A `login.begin` event: an interactive login was started.
pub(super) fn login_begin<T>(provider: &str, flow: &'static str, result: &Result<T, Error>) {
    match result {
        Ok(_) => tracing::debug!(
            event = "login.begin",
            provider,
            flow,
            outcome = "ok",
            "login begun"
        ),
        Err(e) => {
            tracing::info!(event = "login.begin", provider, flow, outcome = outcome(e), error = %e, "login begun");
        }
    }
}

/// A `refresh` event: a refresh (of the slow path) finished.
pub(super) fn refresh<T>(provider: &ProviderId, duration: Duration, result: &Result<T, Error>) {
    let provider = provider.as_str();
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(_) => tracing::info!(
            event = "refresh",
            provider,
            outcome = "ok",
            duration_ms,
            "refresh"
        ),
        Err(e) if matches!(e, Error::Offline { .. }) || e.kind() == FailureKind::Transient => {
            tracing::warn!(event = "refresh", provider, outcome = outcome(e), duration_ms, error = %e, "refresh");
        }
        Err(e) => {
            tracing::info!(event = "refresh", provider, outcome = outcome(e), duration_ms, error = %e, "refresh");
        }
    }
}

/// A `lease.acquire` event: this process took the refresh lease (`waited`:
/// another process held it first).
pub(super) fn lease_acquired(provider: &ProviderId, waited: Duration) {
    let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(
        event = "lease.acquire",
        provider = provider.as_str(),
        waited = waited_ms > 0,
        waited_ms,
        "refresh lease acquired"
    );
}

/// A `lease.wait` event: another process holds the refresh lease.
pub(super) fn lease_busy(provider: &ProviderId) {
    tracing::debug!(
        event = "lease.wait",
        provider = provider.as_str(),
        "refresh lease held elsewhere"
    );
}

/// A `lease.release` event (`released`: false when the store failed to).
pub(super) fn lease_released(provider: &ProviderId, released: bool) {
    tracing::debug!(
        event = "lease.release",
        provider = provider.as_str(),
        released,
        "refresh lease released"
    );
}

/// A `logout` event: a local logout finished.
pub(super) fn logout<T>(provider: &str, result: &Result<T, Error>) {
    match result {
        Ok(_) => tracing::info!(event = "logout", provider, outcome = "ok", "logout"),
        Err(e) => tracing::info!(event = "logout", provider, outcome = outcome(e), error = %e, "logout"),
    }
}
