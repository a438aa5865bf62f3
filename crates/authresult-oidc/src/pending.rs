//! The private half of a pending login, kept as JSON in `PendingSecret`.

use authresult_core::{DpopBinding, DpopPrivateKey, PendingAuthorization, PendingSecret, Timestamp};
use authresult_jwt::DpopKey;
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
        /// The login's DPoP key, when DPoP is on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop: Option<PendingKey>,
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
        /// The login's DPoP key, when DPoP is on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop: Option<PendingKey>,
    },
}

/// A login's DPoP key between its start and its end (sealed with the
/// pending login by the store, like the PKCE verifier).
#[derive(Serialize, Deserialize)]
pub(crate) struct PendingKey {
    /// The algorithm.
    alg: String,
    /// The PKCS#8 document, base64url.
    key: String,
}

impl PendingKey {
    pub(crate) fn of(key: &DpopKey) -> Self {
        let binding = key.to_binding(false);
        PendingKey {
            alg: binding.alg,
            key: binding.key.secret().to_owned(),
        }
    }

    pub(crate) fn key(&self) -> Result<DpopKey, OidcError> {
        let binding = DpopBinding {
            alg: self.alg.clone(),
            key: DpopPrivateKey::new(self.key.clone()),
            bound: false,
        };
        DpopKey::from_binding(&binding).map_err(|_| OidcError::InvalidPending {
            reason: "its dpop key does not read".into(),
        })
    }
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
