//! Device authorization grant polling (RFC 8628 §3.4–3.5).
//!
//! Waits `interval` before every poll (5 s when the provider named none),
//! keeps going on `authorization_pending`, adds 5 s to all later polls on
//! `slow_down`, backs off on transient failures (waiting what a 429 or 503
//! `Retry-After` asks, capped at 5 min), stops at the code's expiry,
//! and maps `access_denied` / `expired_token` to typed terminal errors.
//! Cancellation is dropping the future: nothing runs in the background.

use std::time::Duration;

use crate::token_response::RawTokenResponse;
use authresult_core::{Clock, Sleeper, Timestamp};
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::http::{Requests, error_from_status, parse_json};

/// What the last poll said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevicePollStatus {
    /// No poll yet.
    Started,
    /// `authorization_pending`: the user has not finished yet.
    Pending,
    /// `slow_down`: the interval grew by 5 s.
    SlowDown,
    /// The poll failed transiently (network, 5xx, 429); the interval
    /// doubled, or the wait is what `Retry-After` asked.
    Retrying,
}

/// Progress of a device login, reported before each wait so a UI can show
/// the time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceProgress {
    /// Polls made so far.
    pub polls: u32,
    /// What the last poll said.
    pub status: DevicePollStatus,
    /// The wait before the next poll.
    pub next_poll_in: Duration,
    /// Time until the device code expires.
    pub expires_in: Duration,
}

/// Upper bound of the back-off after transient failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured; the wait is also never past the
/// device code's expiry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// What `slow_down` adds to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

pub(crate) struct PollSetup<'a> {
    pub(crate) http: &'a Requests,
    pub(crate) token_url: &'a Url,
    pub(crate) device_code: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: Option<&'a str>,
    /// The RFC 8707 resource the login asked for, sent again to the token endpoint.
    pub(crate) resource: Option<&'a str>,
    pub(crate) interval: Duration,
    pub(crate) expires_at: Timestamp,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) sleeper: &'a dyn Sleeper,
    /// The session's DPoP key: a proof on every poll.
    pub(crate) proofs: Option<&'a crate::dpop::Proofs>,
}

/// Polls until the token endpoint answers a token or a final error.
pub(crate) async fn poll(
    setup: PollSetup<'_>,
    mut on_progress: impl FnMut(DeviceProgress) + Send,
) -> Result<RawTokenResponse, OidcError> {
    let mut interval = setup.interval;
    let mut backoff: Option<Duration> = None;
    let mut polls = 0u32;
    let mut status = DevicePollStatus::Started;
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", setup.device_code),
    ];
    if let Some(resource) = setup.resource {
        form.push(("resource", resource));
    }
    let basic = match setup.client_secret {
        Some(secret) => Some((setup.client_id, secret)),
        None => {
            form.push(("client_id", setup.client_id));
            None
        }
    };
    loop {
        let now = setup.clock.now();
        if now >= setup.expires_at {
            return Err(OidcError::DeviceCodeExpired);
        }
        let left = setup.expires_at.duration_since(now);
        let wait = backoff.unwrap_or(interval).min(left);
        on_progress(DeviceProgress {
            polls,
            status,
            next_poll_in: wait,
            expires_in: left,
        });
        setup.sleeper.sleep(wait).await;
        if setup.clock.now() >= setup.expires_at {
            return Err(OidcError::DeviceCodeExpired);
        }
        polls = polls.saturating_add(1);
        let response = match setup
            .http
            .post_form_with(Endpoint::Token, setup.token_url, &form, basic, setup.proofs)
            .await
        {
            Ok(response) => response,
            Err(e) if e.kind() == authresult_core::FailureKind::Transient => {
                let doubled = backoff.unwrap_or(interval).saturating_mul(2).min(MAX_BACKOFF);
                backoff = Some(match asked_wait(&e) {
                    // The server said how long: at least the interval, at most the cap.
                    Some(asked) => asked.min(MAX_RETRY_AFTER).max(interval),
                    None => doubled.max(interval),
                });
                status = DevicePollStatus::Retrying;
                continue;
            }
            Err(e) => return Err(e),
        };
        backoff = None;
        if response.status() == http::StatusCode::OK {
            return parse_json(Endpoint::Token, response.body());
        }
        match error_from_status(Endpoint::Token, setup.token_url, &response) {
            e if e.oauth_error() == Some("authorization_pending") => status = DevicePollStatus::Pending,
            e if e.oauth_error() == Some("slow_down") => {
                interval = interval.saturating_add(SLOW_DOWN_STEP);
                status = DevicePollStatus::SlowDown;
            }
            e if e.oauth_error() == Some("access_denied") => return Err(OidcError::DeviceAccessDenied),
            e if e.oauth_error() == Some("expired_token") => return Err(OidcError::DeviceCodeExpired),
            e => return Err(e),
        }
    }
}

/// The `Retry-After` of a 429 or 503 answer.
fn asked_wait(error: &OidcError) -> Option<Duration> {
    match error {
        OidcError::HttpStatus {
            status: 429 | 503,
            retry_after,
            ..
        } => *retry_after,
        _ => None,
    }
}
