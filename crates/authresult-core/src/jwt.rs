//! Reading claims of a JWT *without* verifying it, for hints only (expiry,
//! subject of a token the provider adapter has already checked): the
//! workspace's one unverified-claims reader, with its one size cap.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// Tokens longer than this are not looked into by [`peek_claims`].
pub const MAX_PEEK_LEN: usize = 64 * 1024;

/// The payload claims of a compact JWS, **unverified**: for hints only
/// (expiry, the subject of a token already checked), never for a decision
/// that needs a signature (that is `authresult-jwt`'s `TokenValidator`).
/// `None` for anything longer than [`MAX_PEEK_LEN`] or that is not a
/// three-segment token with a base64url JSON-object payload.
pub fn peek_claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_PEEK_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The workspace's one expiry fallback: when a token's answer gives no
/// lifetime, the JWT `exp` claim (whole seconds, a non-negative integer),
/// unverified. `ProviderProfile::expires_in_hint` and `Session`'s expiry
/// read it.
pub(crate) fn expiry_hint(token: &str) -> Option<Timestamp> {
    peek_claims(token)?.get("exp")?.as_u64().map(Timestamp::from_secs)
}

/// The `sub` claim, when it is a string.
pub(crate) fn peek_sub(token: &str) -> Option<String> {
    match peek_claims(token)?.remove("sub")? {
        Value::String(s) => Some(s),
        _ => None,
    }
}
