//! The private half of a pending login, kept as JSON in `PendingSecret`.

use authresult_core::{PendingAuthorization, PendingSecret, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::OidcError;

/// What this crate keeps between the start and the end of a login.
#[derive(Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
pub(crate) enum PendingData {
    /// Authorization code + PKCE.
    Code {
        /// The issuer the login was started at.
        issuer: String,
        /// The PKCE verifier.
        pkce_verifier: String,
        /// The nonce sent.
        nonce: String,
        /// The redirect URI sent (the token request repeats it).
        redirect_uri: String,
    },
    /// Device authorization grant.
    Device {
        /// The issuer the login was started at.
        issuer: String,
        /// The device code.
        device_code: String,
        /// The poll interval the provider asked for, in seconds.
        interval_secs: u64,
        /// When the device code expires.
        expires_at: Timestamp,
    },
}

impl PendingData {
    pub(crate) fn to_secret(&self) -> Result<PendingSecret, OidcError> {
        serde_json::to_string(self)
            .map(PendingSecret::new)
            .map_err(|_| OidcError::InvalidPending {
                reason: "its private part could not be written".into(),
            })
    }

    pub(crate) fn from_pending(pending: &PendingAuthorization) -> Result<Self, OidcError> {
        serde_json::from_str(pending.secret.secret()).map_err(|_| OidcError::InvalidPending {
            reason: "its private part is not one this provider wrote".into(),
        })
    }
}
