//! The claims of a logout token (OpenID Connect Back-Channel Logout 1.0,
//! section 2.4), checked after its signature: `iss`, `aud`, `iat` within a
//! window, `exp` when present, `jti`, the back-channel logout event, `sid`
//! or `sub`, and no `nonce`.

use std::time::Duration;

use authresult_core::{MAX_LOGOUT_ID_LEN, Timestamp};
use serde_json::{Map, Value};

use crate::error::{ValidationError, sanitize};
use crate::typed_claims::{numeric_date, string};

/// The member of `events` a logout token must carry (its value an object).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The longest `jti` accepted.
pub(crate) const MAX_JTI_LEN: usize = 255;

/// What the claims are checked against.
#[derive(Debug, Clone)]
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) now: Timestamp,
    /// The oldest `iat` accepted is `now - window`.
    pub(crate) window: Duration,
    pub(crate) leeway: Duration,
}

/// The checked claims of a logout token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutClaims {
    pub(crate) sid: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) iat: Timestamp,
    pub(crate) jti: String,
}

/// Checks a logout token's claims; the error names the first claim wrong.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<LogoutClaims, ValidationError> {
    match string(claims, "iss")? {
        None => return Err(missing("iss")),
        Some(iss) if iss != expected.issuer => {
            return Err(ValidationError::UntrustedIssuer {
                issuer: sanitize(iss, 128),
            });
        }
        Some(_) => {}
    }
    let audience_ok = match claims.get("aud") {
        None | Some(Value::Null) => return Err(missing("aud")),
        Some(Value::String(aud)) => aud == expected.client_id,
        Some(Value::Array(list)) => {
            if !list.iter().all(Value::is_string) {
                return Err(ValidationError::invalid_claim(
                    "aud",
                    "must be a string or an array of strings",
                ));
            }
            list.iter().any(|a| a.as_str() == Some(expected.client_id))
        }
        Some(_) => {
            return Err(ValidationError::invalid_claim(
                "aud",
                "must be a string or an array of strings",
            ));
        }
    };
    if !audience_ok {
        return Err(ValidationError::AudienceMismatch);
    }
    let iat = numeric_date(claims, "iat")?.ok_or_else(|| missing("iat"))?;
    if expected.now.saturating_add(expected.leeway) < iat {
        return Err(ValidationError::IssuedInFuture);
    }
    if iat
        .saturating_add(expected.window)
        .saturating_add(expected.leeway)
        < expected.now
    {
        return Err(ValidationError::TooOld);
    }
    if let Some(exp) = numeric_date(claims, "exp")?
        && expected.now >= exp.saturating_add(expected.leeway)
    {
        return Err(ValidationError::Expired);
    }
    let jti = string(claims, "jti")?.ok_or_else(|| missing("jti"))?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(ValidationError::invalid_claim(
            "jti",
            "must be 1 to 255 bytes long",
        ));
    }
    match claims.get("events") {
        None | Some(Value::Null) => return Err(missing("events")),
        Some(Value::Object(events)) => match events.get(BACKCHANNEL_LOGOUT_EVENT) {
            Some(Value::Object(_)) => {}
            None => {
                return Err(ValidationError::invalid_claim(
                    "events",
                    "has no back-channel logout event",
                ));
            }
            Some(_) => {
                return Err(ValidationError::invalid_claim(
                    "events",
                    "the back-channel logout event must be an object",
                ));
            }
        },
        Some(_) => return Err(ValidationError::invalid_claim("events", "must be an object")),
    }
    if claims.contains_key("nonce") {
        return Err(ValidationError::invalid_claim(
            "nonce",
            "is forbidden in a logout token",
        ));
    }
    let sid = identifier(claims, "sid")?;
    let sub = identifier(claims, "sub")?;
    if sid.is_none() && sub.is_none() {
        return Err(missing("sid"));
    }
    Ok(LogoutClaims {
        sid,
        sub,
        iat,
        jti: jti.to_owned(),
    })
}

fn missing(claim: &str) -> ValidationError {
    ValidationError::MissingClaim { claim: claim.into() }
}

/// `sid` or `sub`: absent, or a string of 1 to 255 bytes.
fn identifier(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, ValidationError> {
    match string(claims, name)? {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_LOGOUT_ID_LEN => Err(ValidationError::invalid_claim(
            name,
            "must be 1 to 255 bytes long",
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}
