//! Rows as stored: a session or pending login as clear JSON, with its secrets
//! split off and sealed when encryption is on.
//!
//! Shared by the backends that serialize (SQLite, Postgres), so every such
//! backend stores the same shape and seals the same fields, and writes times
//! and versions as the same integers.

use authresult_core::{Exposed, PendingAuthorization, PendingRevocation, Session, Timestamp};
use serde_json::{Map, Value};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::StoreError;
use crate::key::{Cipher, aad};

/// The secret fields of a session's `auth` object: its tokens and its DPoP
/// key (`AuthResult::dpop`).
const SESSION_SECRETS: [&str; 4] = ["access_token", "refresh_token", "id_token", "dpop"];
/// A session's top-level field sealed with them when present (`Session::sealed_auth`).
const SEALED_AUTH: &str = "sealed_auth";
/// The secret field of a pending login.
const PENDING_SECRETS: [&str; 1] = ["secret"];
const SESSION_AAD: &str = "authresult-store/session/v1";
const PENDING_AAD: &str = "authresult-store/pending/v1";
const SESSION: &str = "session";
const PENDING: &str = "pending login";
/// The secret field of a pending revocation's `token` object.
const REVOCATION_SECRETS: [&str; 1] = ["secret"];
const REVOCATION_AAD: &str = "authresult-store/revocation/v1";
const REVOCATION: &str = "pending revocation";

/// A value ready to store: `body` is JSON, with the secrets in clear when
/// `sealed` is `None`, and without them otherwise.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The JSON text.
    pub(crate) body: String,
    /// The sealed secrets, when encryption is on.
    pub(crate) sealed: Option<Vec<u8>>,
}

/// A time as stored: Unix milliseconds in a signed 64-bit column; beyond
/// `i64::MAX` ms is "forever" anyway.
pub(crate) fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// A stored version (of a session) or revision (of a vault record); a
/// negative one is damage.
pub(crate) fn version_of(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt {
        reason: "a stored version is negative".into(),
        source: None,
    })
}

/// A version or revision as stored in a signed 64-bit column.
pub(crate) fn stored_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| version_overflow())
}

/// A version or revision past what a column holds.
pub(crate) fn version_overflow() -> StoreError {
    StoreError::Corrupt {
        reason: "a stored version overflowed".into(),
        source: None,
    }
}

/// Encodes a session stored under its own key.
pub(crate) fn encode_session(session: &Session, cipher: Option<&Cipher>) -> Result<Encoded, StoreError> {
    let mut value = serde_json::to_value(Exposed(session)).map_err(|e| StoreError::decode(SESSION, &e))?;
    let Some(cipher) = cipher else {
        return clear(&value, SESSION);
    };
    // A box sealed per user (`Session::sealed_auth`) is sealed with the
    // store key too, like the tokens it stands for.
    let sealed_auth = value.as_object_mut().and_then(|o| o.remove(SEALED_AUTH));
    let auth = value
        .get_mut("auth")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing(SESSION, "auth"))?;
    let mut secrets = split(auth, &SESSION_SECRETS);
    if let Some(sealed_auth) = sealed_auth {
        secrets.insert(SEALED_AUTH.to_owned(), sealed_auth);
    }
    let body = serde_json::to_string(&value).map_err(|e| StoreError::decode(SESSION, &e))?;
    let key = &session.key;
    let aad = session_aad(
        key.tenant.as_str(),
        key.user.as_str(),
        key.provider.as_str(),
        &body,
    );
    let sealed = seal(cipher, &aad, secrets, SESSION)?;
    Ok(Encoded {
        body,
        sealed: Some(sealed),
    })
}

/// A row written in clear, encoded again sealed with `cipher`: what a store
/// that gets a key does to each of its sessions.
pub(crate) fn reseal_session(
    key: (&str, &str, &str),
    version: i64,
    body: &str,
    sealed: Option<&[u8]>,
    cipher: &Cipher,
) -> Result<Encoded, StoreError> {
    let (tenant, user, provider) = key;
    let session = decode_session(tenant, user, provider, version_of(version)?, body, sealed, None)?;
    encode_session(&session, Some(cipher))
}

/// Decodes a session row stored under `tenant`/`user`/`provider` at `version`.
///
/// Sealed secrets are bound to the user too (a named user only: rows of the
/// default user keep the associated data they had before users existed).
pub(crate) fn decode_session(
    tenant: &str,
    user: &str,
    provider: &str,
    version: u64,
    body: &str,
    sealed: Option<&[u8]>,
    cipher: Option<&Cipher>,
) -> Result<Session, StoreError> {
    let mut value: Value = serde_json::from_str(body).map_err(|e| StoreError::decode(SESSION, &e))?;
    let aad = session_aad(tenant, user, provider, body);
    if let Some(mut secrets) = unseal(cipher, sealed, &aad, SESSION)? {
        if let Some(sealed_auth) = secrets.remove(SEALED_AUTH) {
            value
                .as_object_mut()
                .ok_or_else(|| missing(SESSION, "auth"))?
                .insert(SEALED_AUTH.to_owned(), sealed_auth);
        }
        value
            .get_mut("auth")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| missing(SESSION, "auth"))?
            .extend(secrets);
    }
    let mut session: Session = serde_json::from_value(value).map_err(|e| StoreError::decode(SESSION, &e))?;
    if session.key.tenant.as_str() != tenant
        || session.key.user.as_str() != user
        || session.key.provider.as_str() != provider
    {
        return Err(StoreError::Corrupt {
            reason: "a session row's key does not match its columns".into(),
            source: None,
        });
    }
    session.set_stored_version(version);
    Ok(session)
}

/// The login id of a stored session body ([`Session::login_id`]; empty for
/// rows written before it existed). It is never sealed, so this needs no key.
pub(crate) fn login_id_of(body: &str) -> Result<String, StoreError> {
    let value: Value = serde_json::from_str(body).map_err(|e| StoreError::decode(SESSION, &e))?;
    match value.get("login_id") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(id)) => Ok(id.clone()),
        Some(_) => Err(missing(SESSION, "login_id")),
    }
}

/// Encodes a pending login.
pub(crate) fn encode_pending(
    pending: &PendingAuthorization,
    cipher: Option<&Cipher>,
) -> Result<Encoded, StoreError> {
    let mut value = serde_json::to_value(Exposed(pending)).map_err(|e| StoreError::decode(PENDING, &e))?;
    let Some(cipher) = cipher else {
        return clear(&value, PENDING);
    };
    let object = value
        .as_object_mut()
        .ok_or_else(|| missing(PENDING, "(document)"))?;
    let secrets = split(object, &PENDING_SECRETS);
    let body = serde_json::to_string(&value).map_err(|e| StoreError::decode(PENDING, &e))?;
    let aad = pending_aad(pending.key.tenant.as_str(), &pending.state, &body);
    let sealed = seal(cipher, &aad, secrets, PENDING)?;
    Ok(Encoded {
        body,
        sealed: Some(sealed),
    })
}

/// Decodes a pending login row stored under `tenant` and `state`.
pub(crate) fn decode_pending(
    tenant: &str,
    state: &str,
    body: &str,
    sealed: Option<&[u8]>,
    cipher: Option<&Cipher>,
) -> Result<PendingAuthorization, StoreError> {
    let mut value: Value = serde_json::from_str(body).map_err(|e| StoreError::decode(PENDING, &e))?;
    if let Some(secrets) = unseal(cipher, sealed, &pending_aad(tenant, state, body), PENDING)? {
        value
            .as_object_mut()
            .ok_or_else(|| missing(PENDING, "(document)"))?
            .extend(secrets);
    }
    let pending: PendingAuthorization =
        serde_json::from_value(value).map_err(|e| StoreError::decode(PENDING, &e))?;
    if pending.key.tenant.as_str() != tenant || pending.state != state {
        return Err(StoreError::Corrupt {
            reason: "a pending login row's key does not match its columns".into(),
            source: None,
        });
    }
    Ok(pending)
}

/// Encodes a pending revocation; sealed, it is bound to its tenant,
/// provider and id.
pub(crate) fn encode_revocation(
    revocation: &PendingRevocation,
    cipher: Option<&Cipher>,
) -> Result<Encoded, StoreError> {
    let mut value =
        serde_json::to_value(Exposed(revocation)).map_err(|e| StoreError::decode(REVOCATION, &e))?;
    let Some(cipher) = cipher else {
        return clear(&value, REVOCATION);
    };
    let token = value
        .get_mut("token")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing(REVOCATION, "token"))?;
    let secrets = split(token, &REVOCATION_SECRETS);
    let body = serde_json::to_string(&value).map_err(|e| StoreError::decode(REVOCATION, &e))?;
    let key = &revocation.key;
    let aad = revocation_aad(key.tenant.as_str(), key.provider.as_str(), &revocation.id, &body);
    let sealed = seal(cipher, &aad, secrets, REVOCATION)?;
    Ok(Encoded {
        body,
        sealed: Some(sealed),
    })
}

/// Decodes a pending revocation row stored under `tenant`, `provider` and `id`.
pub(crate) fn decode_revocation(
    tenant: &str,
    provider: &str,
    id: &str,
    body: &str,
    sealed: Option<&[u8]>,
    cipher: Option<&Cipher>,
) -> Result<PendingRevocation, StoreError> {
    let mut value: Value = serde_json::from_str(body).map_err(|e| StoreError::decode(REVOCATION, &e))?;
    let aad = revocation_aad(tenant, provider, id, body);
    if let Some(secrets) = unseal(cipher, sealed, &aad, REVOCATION)? {
        value
            .get_mut("token")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| missing(REVOCATION, "token"))?
            .extend(secrets);
    }
    let revocation: PendingRevocation =
        serde_json::from_value(value).map_err(|e| StoreError::decode(REVOCATION, &e))?;
    if revocation.key.tenant.as_str() != tenant
        || revocation.key.provider.as_str() != provider
        || revocation.id != id
    {
        return Err(StoreError::Corrupt {
            reason: "a pending revocation row's key does not match its columns".into(),
            source: None,
        });
    }
    Ok(revocation)
}

pub(crate) fn revocation_aad(tenant: &str, provider: &str, id: &str, body: &str) -> Vec<u8> {
    aad(
        REVOCATION_AAD,
        &[
            tenant.as_bytes(),
            provider.as_bytes(),
            id.as_bytes(),
            body.as_bytes(),
        ],
    )
}

pub(crate) fn session_aad(tenant: &str, user: &str, provider: &str, body: &str) -> Vec<u8> {
    if user.is_empty() {
        aad(
            SESSION_AAD,
            &[tenant.as_bytes(), provider.as_bytes(), body.as_bytes()],
        )
    } else {
        aad(
            SESSION_AAD,
            &[
                tenant.as_bytes(),
                provider.as_bytes(),
                body.as_bytes(),
                user.as_bytes(),
            ],
        )
    }
}

pub(crate) fn pending_aad(tenant: &str, state: &str, body: &str) -> Vec<u8> {
    aad(
        PENDING_AAD,
        &[tenant.as_bytes(), state.as_bytes(), body.as_bytes()],
    )
}

fn clear(value: &Value, what: &'static str) -> Result<Encoded, StoreError> {
    Ok(Encoded {
        body: serde_json::to_string(value).map_err(|e| StoreError::decode(what, &e))?,
        sealed: None,
    })
}

fn missing(what: &'static str, field: &str) -> StoreError {
    StoreError::Decode {
        what,
        reason: format!("the `{field}` object is missing"),
    }
}

/// Moves the named fields out of `object`.
fn split(object: &mut Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|name| object.remove(*name).map(|v| ((*name).to_owned(), v)))
        .collect()
}

fn seal(
    cipher: &Cipher,
    aad: &[u8],
    secrets: Map<String, Value>,
    what: &'static str,
) -> Result<Vec<u8>, StoreError> {
    let secrets = Value::Object(secrets);
    let plaintext = serde_json::to_vec(&secrets)
        .map(Zeroizing::new)
        .map_err(|e| StoreError::decode(what, &e));
    wipe(secrets);
    cipher.seal(aad, &plaintext?)
}

/// The sealed secrets, opened; `None` when the row has none and none are expected.
fn unseal(
    cipher: Option<&Cipher>,
    sealed: Option<&[u8]>,
    aad: &[u8],
    what: &'static str,
) -> Result<Option<Map<String, Value>>, StoreError> {
    match (cipher, sealed) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(StoreError::KeyRequired),
        // A clear row in an encrypted store was not written by this crate.
        (Some(_), None) => Err(StoreError::Tampered { what }),
        (Some(cipher), Some(sealed)) => {
            let plaintext = cipher.open(aad, sealed).ok_or(StoreError::Tampered { what })?;
            serde_json::from_slice(&plaintext)
                .map(Some)
                .map_err(|e| StoreError::decode(what, &e))
        }
    }
}

/// Zeroes the strings of a JSON value that held secrets.
fn wipe(value: Value) {
    match value {
        Value::String(mut s) => s.zeroize(),
        Value::Array(items) => items.into_iter().for_each(wipe),
        Value::Object(entries) => entries.into_iter().for_each(|(_, v)| wipe(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests;

const VAULT_RECORD_AAD: &str = "authresult-store/vault-record/v1";
/// What a vault record sealed with the store key starts with; the rest is
/// the hex of the box.
const SEALED_RECORD_PREFIX: &str = "sealed:v1:";
const VAULT_RECORD: &str = "vault record";

/// A vault record as the store writes it at revision `rev`: sealed with the
/// store key when there is one (bound to tenant, user and revision, so an
/// edited, moved or re-numbered record fails closed), as it is otherwise.
pub(crate) fn seal_vault_record(
    cipher: Option<&Cipher>,
    tenant: &str,
    user: &str,
    rev: i64,
    record: &str,
) -> Result<String, StoreError> {
    let Some(cipher) = cipher else {
        return Ok(record.to_owned());
    };
    let aad = aad(
        VAULT_RECORD_AAD,
        &[tenant.as_bytes(), user.as_bytes(), &rev.to_le_bytes()],
    );
    let sealed = cipher.seal(&aad, record.as_bytes())?;
    let mut text = String::with_capacity(SEALED_RECORD_PREFIX.len() + 2 * sealed.len());
    text.push_str(SEALED_RECORD_PREFIX);
    for byte in sealed {
        text.push_str(&format!("{byte:02x}"));
    }
    Ok(text)
}

/// The record text of a stored vault row at `rev` (see
/// [`seal_vault_record`]). With a store key, a row in clear or one that
/// does not open is [`StoreError::Tampered`]: nobody without the key can
/// re-enable a credential, reset its failures or move its time.
pub(crate) fn open_vault_record(
    cipher: Option<&Cipher>,
    tenant: &str,
    user: &str,
    rev: i64,
    stored: &str,
) -> Result<String, StoreError> {
    let tampered = || StoreError::Tampered { what: VAULT_RECORD };
    let Some(cipher) = cipher else {
        return if stored.starts_with(SEALED_RECORD_PREFIX) {
            Err(StoreError::KeyRequired)
        } else {
            Ok(stored.to_owned())
        };
    };
    let hex = stored.strip_prefix(SEALED_RECORD_PREFIX).ok_or_else(tampered)?;
    let sealed = decode_hex(hex).ok_or_else(tampered)?;
    let aad = aad(
        VAULT_RECORD_AAD,
        &[tenant.as_bytes(), user.as_bytes(), &rev.to_le_bytes()],
    );
    let plain = cipher.open(&aad, &sealed).ok_or_else(tampered)?;
    String::from_utf8(plain.to_vec()).map_err(|_| tampered())
}

/// Lower-case hex back to bytes; `None` when it is not.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}
