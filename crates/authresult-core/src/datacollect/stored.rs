//! The token shapes DataCollect's client stores, read into an [`AuthResult`]
//! for [`AuthManager::import`](crate::AuthManager::import): a raw token per
//! provider (an IndexedDB `authStore_{tenant}` record or a mobile
//! `localStorage` entry) and an oidc-client-ts `User`.

use serde_json::{Map, Value};

use crate::auth_result::AuthResult;
use crate::error::Error;
use crate::jwt;
use crate::profile::{ProviderProfile, SYNC_SERVER_PROVIDER};
use crate::secret::AccessToken;
use crate::session::ProviderId;
use crate::time::Timestamp;

/// Largest stored document (record, value or `User` JSON) read: 256 KiB.
pub const MAX_STORED_TOKEN_BYTES: usize = 256 * 1024;

/// Longest provider name accepted from a stored key or record.
const MAX_PROVIDER_LEN: usize = 128;

const INDEXEDDB: &str = "IndexedDB record";
const LOCAL_STORAGE: &str = "localStorage entry";
const OIDC_USER: &str = "oidc-client-ts user";

/// A token DataCollect's client stored, read as the [`AuthResult`] to
/// import for `provider`.
///
/// Every reader is strict (a wrong type is an error naming the field) and
/// never puts token text in an error. A token that has already expired and
/// cannot be refreshed is [`Error::StoredTokenExpired`]: importing it would
/// only make a session that fails at its first use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredToken {
    /// The provider it belongs to (DataCollect keys tokens by provider type).
    pub provider: ProviderId,
    /// The tokens, lifetime and profile.
    pub auth: AuthResult,
}

impl StoredToken {
    /// One record of DataCollect's IndexedDB `authStore_{tenant}` `tokens`
    /// store: `{"id": "<provider>", "token": "<raw token>", "timestamp": "..."}`.
    ///
    /// The lifetime is the token's JWT `exp` when it has one (unknown
    /// otherwise); `timestamp` and unknown members are ignored. The
    /// `username` record is not a token and is refused.
    pub fn from_indexeddb_record(json: &str, now: Timestamp) -> Result<Self, Error> {
        let mut record = parse_object(INDEXEDDB, json)?;
        let provider = match record.remove("id") {
            Some(Value::String(id)) => provider_name(INDEXEDDB, "id", &id)?,
            Some(_) => return Err(invalid(INDEXEDDB, "id", "must be a string")),
            None => return Err(invalid(INDEXEDDB, "id", "is missing")),
        };
        if provider.as_str() == "username" {
            return Err(invalid(INDEXEDDB, "id", "names the username record, not a token"));
        }
        let token = match record.remove("token") {
            Some(Value::String(token)) => token,
            Some(_) => return Err(invalid(INDEXEDDB, "token", "must be a string")),
            None => return Err(invalid(INDEXEDDB, "token", "is missing")),
        };
        raw_token(INDEXEDDB, provider, token, now)
    }

    /// One mobile `localStorage` entry of app `app_id`: the key
    /// `auth_token_app_{app_id}_{provider}` and the raw token as its value.
    ///
    /// A key of another app, or without a provider, is refused. The
    /// lifetime is read as for [`from_indexeddb_record`](Self::from_indexeddb_record).
    pub fn from_local_storage(key: &str, value: &str, app_id: &str, now: Timestamp) -> Result<Self, Error> {
        if key.len() + value.len() > MAX_STORED_TOKEN_BYTES {
            return Err(too_large(LOCAL_STORAGE));
        }
        let prefix = format!("auth_token_app_{app_id}_");
        let Some(provider) = key.strip_prefix(&prefix) else {
            return Err(invalid(
                LOCAL_STORAGE,
                "key",
                format!("is not `auth_token_app_{}_<provider>`", printable(app_id)),
            ));
        };
        let provider = provider_name(LOCAL_STORAGE, "key", provider)?;
        raw_token(LOCAL_STORAGE, provider, value.to_owned(), now)
    }

    /// An oidc-client-ts `User` as stored (`User.toStorageString()`):
    /// `access_token`, optional `refresh_token`, `id_token`, `profile` and
    /// `expires_at` (absolute, seconds since the epoch).
    ///
    /// `expires_at` becomes `expires_in` relative to `now`, rounded up. An
    /// access token past `expires_at` is imported only with a refresh token,
    /// as expiring in 1 s so that the first `access_token` refreshes it.
    /// Without `expires_at`, the JWT `exp` (if any) is used. `profile`
    /// values that are not strings are kept as their JSON text, as for any
    /// `AuthResult`; `token_type`, `scope`, `session_state` and unknown
    /// members are ignored.
    pub fn from_oidc_user(
        provider: impl Into<ProviderId>,
        json: &str,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let provider = provider.into();
        let mut user = parse_object(OIDC_USER, json)?;
        let expires_at = match user.remove("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(expires_at_millis(&n)?),
            Some(_) => return Err(invalid(OIDC_USER, "expires_at", "must be a number")),
        };
        let has_refresh = matches!(user.get("refresh_token"), Some(Value::String(s)) if !s.is_empty());
        let expires_in = match expires_at {
            None => 0,
            Some(at) if at > now.as_millis() => (at - now.as_millis()).div_ceil(1000),
            Some(_) if has_refresh => 1,
            Some(_) => return Err(expired(OIDC_USER, &provider)),
        };
        let mut auth = Map::new();
        for field in ["access_token", "refresh_token", "id_token", "profile"] {
            if let Some(value) = user.remove(field) {
                auth.insert(field.to_owned(), value);
            }
        }
        if matches!(auth.get("refresh_token"), Some(Value::String(s)) if s.is_empty()) {
            auth.remove("refresh_token");
        }
        auth.insert("expires_in".to_owned(), Value::from(expires_in));
        let auth = AuthResult::from_json_value(Value::Object(auth)).map_err(|e| match e {
            Error::InvalidAuthResult { field, reason } => invalid(OIDC_USER, field, reason),
            other => other,
        })?;
        check_token_text(OIDC_USER, "access_token", auth.access_token.secret())?;
        if expires_at.is_none() && !has_refresh && jwt_expired(auth.access_token.secret(), now) {
            return Err(expired(OIDC_USER, &provider));
        }
        Ok(StoredToken { provider, auth })
    }
}

/// A raw token: lifetime from its JWT `exp`; the sync server's own token
/// (`{id, email, iat}`) gives its subject (the profile's: `id`) as `sub`
/// and its `email`.
fn raw_token(
    shape: &'static str,
    provider: ProviderId,
    token: String,
    now: Timestamp,
) -> Result<StoredToken, Error> {
    check_token_text(shape, "token", &token)?;
    if jwt_expired(&token, now) {
        return Err(expired(shape, &provider));
    }
    let mut auth = AuthResult::new(AccessToken::new(token), 0);
    if provider.as_str() == SYNC_SERVER_PROVIDER
        && let Some(claims) = jwt::peek_claims(auth.access_token.secret())
    {
        let user = ProviderProfile::sync_server().token_user(&claims);
        auth.profile = (!user.is_empty()).then_some(user);
    }
    Ok(StoredToken { provider, auth })
}

fn parse_object(shape: &'static str, json: &str) -> Result<Map<String, Value>, Error> {
    if json.len() > MAX_STORED_TOKEN_BYTES {
        return Err(too_large(shape));
    }
    crate::parse_strict_object(json).map_err(|reason| invalid(shape, "(document)", reason))
}

fn provider_name(shape: &'static str, field: &'static str, name: &str) -> Result<ProviderId, Error> {
    if name.is_empty() || name.len() > MAX_PROVIDER_LEN || !name.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            shape,
            field,
            format!("does not name a provider (1 to {MAX_PROVIDER_LEN} visible ASCII characters)"),
        ));
    }
    Ok(ProviderId::new(name))
}

/// A token goes into an `Authorization` header: non-empty visible ASCII.
fn check_token_text(shape: &'static str, field: &'static str, token: &str) -> Result<(), Error> {
    if token.is_empty() {
        return Err(invalid(shape, field, "is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(shape, field, "holds characters a token cannot have"));
    }
    Ok(())
}

fn jwt_expired(token: &str, now: Timestamp) -> bool {
    matches!(jwt::expiry_hint(token), Some(exp) if exp <= now)
}

/// `expires_at` (seconds, possibly fractional) in milliseconds.
fn expires_at_millis(n: &serde_json::Number) -> Result<u64, Error> {
    if let Some(secs) = n.as_u64() {
        return Ok(secs.saturating_mul(1000));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 => {
            let millis = f * 1000.0;
            if millis >= u64::MAX as f64 {
                Ok(u64::MAX)
            } else {
                // Finite, non-negative and in range.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(millis as u64)
            }
        }
        _ => Err(invalid(
            OIDC_USER,
            "expires_at",
            "must be a non-negative number of seconds",
        )),
    }
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn invalid(shape: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidStoredToken {
        shape,
        field: field.into(),
        reason: reason.into(),
    }
}

fn too_large(shape: &'static str) -> Error {
    invalid(
        shape,
        "(document)",
        format!("is larger than {MAX_STORED_TOKEN_BYTES} bytes"),
    )
}

fn expired(shape: &'static str, provider: &ProviderId) -> Error {
    Error::StoredTokenExpired {
        shape,
        provider: provider.to_string(),
    }
}
