//! The vault's `tracing` events (see the README's event table): outcome
//! names only, never the secret, the key or the sealed record.

use crate::error::StoreError;

/// The `outcome` field of a `vault.unlock` event for `result`.
pub(super) fn unlock<T>(result: &Result<T, StoreError>) {
    let outcome = match result {
        Ok(_) => "unlocked",
        Err(StoreError::NotEnrolled) => "not_enrolled",
        Err(StoreError::OfflineDisabled) => "disabled",
        Err(StoreError::LockedOut) => "locked_out",
        Err(StoreError::ClockBehind) => "clock_behind",
        Err(StoreError::TooSoon { .. }) => "too_soon",
        Err(StoreError::GraceExpired) => "grace_expired",
        Err(StoreError::InvalidSecret { .. }) => "invalid_secret",
        Err(StoreError::WrongSecret { .. }) => "wrong_secret",
        Err(StoreError::VaultBusy) => "busy",
        Err(_) => "store_error",
    };
    match result {
        Err(StoreError::WrongSecret { attempts_left }) => {
            tracing::info!(event = "vault.unlock", outcome, attempts_left, "vault unlock");
        }
        Err(StoreError::LockedOut | StoreError::ClockBehind | StoreError::OfflineDisabled) => {
            tracing::warn!(event = "vault.unlock", outcome, "vault unlock");
        }
        Err(e) if outcome == "store_error" => {
            tracing::warn!(event = "vault.unlock", outcome, error = %e, "vault unlock");
        }
        _ => tracing::info!(event = "vault.unlock", outcome, "vault unlock"),
    }
}

/// A `vault.lockout` event: the last allowed attempt failed.
pub(super) fn lockout(wiped: bool) {
    tracing::warn!(event = "vault.lockout", wiped, "vault locked out");
}

/// A `vault.lock` event: a user was locked (`held`: their key was in memory).
pub(super) fn lock(held: bool) {
    tracing::debug!(event = "vault.lock", held, "vault locked");
}
