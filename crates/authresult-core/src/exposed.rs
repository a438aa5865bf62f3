//! `Exposed`: the one explicit way to serialize a value that holds secrets.
//!
//! [`Session`], [`PendingAuthorization`], [`PendingRevocation`],
//! [`RevocableToken`], [`LoginPrompt`] and the secret newtypes do not
//! implement `Serialize`, so `serde_json::to_string(&session)` does not
//! compile. A store writes them through `Exposed(&value)`, whose JSON is
//! exactly what their former derived `Serialize` wrote (stored rows read back
//! unchanged with their `Deserialize`). [`AuthResult`] keeps its own
//! `Serialize`: it is the DataCollect wire format, tokens included by design.
//!
//! ```compile_fail,E0277
//! # use authresult_core::Password;
//! let password = Password::new("hunter2");
//! let _ = serde_json::to_string(&password);
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::ClientSecret;
//! let _ = serde_json::to_string(&ClientSecret::new("s3cret"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::AccessToken;
//! let _ = serde_json::to_string(&AccessToken::new("at"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::RefreshToken;
//! let _ = serde_json::to_string(&RefreshToken::new("rt"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::IdToken;
//! let _ = serde_json::to_string(&IdToken::new("it"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::PendingSecret;
//! let _ = serde_json::to_string(&PendingSecret::new("pkce"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::DpopPrivateKey;
//! let _ = serde_json::to_string(&DpopPrivateKey::new("MIGHAgEAMBMG"));
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::{AccessToken, AuthResult, Session, SessionKey, Timestamp};
//! let auth = AuthResult::new(AccessToken::new("at"), 60);
//! let session = Session::new(SessionKey::new("t", "p"), auth, Timestamp::from_secs(0));
//! let _ = serde_json::to_string(&session);
//! ```
//!
//! ```compile_fail,E0277
//! # use authresult_core::{RefreshToken, RevocableToken};
//! let _ = serde_json::to_string(&RevocableToken::Refresh(RefreshToken::new("rt")));
//! ```
//!
//! The same values written explicitly compile:
//!
//! ```
//! # use authresult_core::{AccessToken, AuthResult, Exposed, RefreshToken, RevocableToken, Session, SessionKey, Timestamp};
//! let auth = AuthResult::new(AccessToken::new("at"), 60);
//! let session = Session::new(SessionKey::new("t", "p"), auth, Timestamp::from_secs(0));
//! assert!(serde_json::to_string(&Exposed(&session))?.contains(r#""access_token":"at""#));
//! let _ = serde_json::to_string(&Exposed(&RevocableToken::Refresh(RefreshToken::new("rt"))))?;
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Serialize, Serializer};
use url::Url;

use crate::auth_result::AuthResult;
use crate::origin::Origin;
use crate::provider::{LoginPrompt, PendingAuthorization, RevocableToken};
use crate::secret::{AccessToken, PendingSecret, RefreshToken, SealedAuth, in_clear};
use crate::session::{Session, SessionKey};
use crate::store::PendingRevocation;
use crate::time::Timestamp;

/// A value that holds secrets, to be serialized **with its secrets in clear
/// text**: the stored form of a [`Session`], [`PendingAuthorization`],
/// [`PendingRevocation`], [`RevocableToken`] or [`LoginPrompt`].
///
/// # Security warning
///
/// The output contains credentials. It exists for session stores (which seal
/// the secret fields when encryption is on); do not log or send it.
#[derive(Debug, Clone, Copy)]
pub struct Exposed<'a, T>(pub &'a T);

#[derive(Serialize)]
struct SessionRow<'a> {
    key: &'a SessionKey,
    subject: &'a Option<String>,
    username: &'a Option<String>,
    #[serde(serialize_with = "stored_auth")]
    auth: &'a AuthResult,
    issued_at: &'a Timestamp,
    expires_at: &'a Option<Timestamp>,
    version: u64,
    login_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: &'a Option<Origin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sealed_auth: Option<&'a str>,
}

/// A session's `auth` as stored: DataCollect's JSON plus its DPoP key.
fn stored_auth<S: Serializer>(auth: &&AuthResult, serializer: S) -> Result<S::Ok, S::Error> {
    auth.to_stored_value().serialize(serializer)
}

impl Serialize for Exposed<'_, Session> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        SessionRow {
            key: &s.key,
            subject: &s.subject,
            username: &s.username,
            auth: &s.auth,
            issued_at: &s.issued_at,
            expires_at: &s.expires_at,
            version: s.version(),
            login_id: s.login_id(),
            origin: &s.origin,
            sealed_auth: s.sealed_auth.as_ref().map(SealedAuth::secret),
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
enum PromptRow<'a> {
    Redirect {
        authorization_url: &'a Url,
    },
    DeviceCode {
        user_code: &'a str,
        verification_uri: &'a Url,
        verification_uri_complete: &'a Option<Url>,
        interval_secs: u64,
    },
}

impl Serialize for Exposed<'_, LoginPrompt> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            LoginPrompt::Redirect { authorization_url } => PromptRow::Redirect { authorization_url },
            LoginPrompt::DeviceCode {
                user_code,
                verification_uri,
                verification_uri_complete,
                interval_secs,
            } => PromptRow::DeviceCode {
                user_code,
                verification_uri,
                verification_uri_complete,
                interval_secs: *interval_secs,
            },
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct PendingRow<'a> {
    key: &'a SessionKey,
    state: &'a str,
    prompt: Exposed<'a, LoginPrompt>,
    redirect_uri: &'a Option<Url>,
    created_at: &'a Timestamp,
    expires_at: &'a Timestamp,
    #[serde(serialize_with = "in_clear")]
    secret: &'a PendingSecret,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: &'a Option<Origin>,
}

impl Serialize for Exposed<'_, PendingAuthorization> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        PendingRow {
            key: &p.key,
            state: &p.state,
            prompt: Exposed(&p.prompt),
            redirect_uri: &p.redirect_uri,
            created_at: &p.created_at,
            expires_at: &p.expires_at,
            secret: &p.secret,
            origin: &p.origin,
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", content = "secret", rename_all = "snake_case")]
enum TokenRow<'a> {
    Refresh(#[serde(serialize_with = "in_clear")] &'a RefreshToken),
    Access(#[serde(serialize_with = "in_clear")] &'a AccessToken),
}

impl Serialize for Exposed<'_, RevocableToken> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            RevocableToken::Refresh(token) => TokenRow::Refresh(token),
            RevocableToken::Access(token) => TokenRow::Access(token),
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct RevocationRow<'a> {
    key: &'a SessionKey,
    id: &'a str,
    token: Exposed<'a, RevocableToken>,
    created_at: &'a Timestamp,
    expires_at: &'a Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: &'a Option<Origin>,
}

impl Serialize for Exposed<'_, PendingRevocation> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        RevocationRow {
            key: &r.key,
            id: &r.id,
            token: Exposed(&r.token),
            created_at: &r.created_at,
            expires_at: &r.expires_at,
            origin: &r.origin,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests;
