//! ID token verification: signature against the provider's keys (RSA keys
//! of 2048 bits or more), `iss`, `aud` (extra audiences only when trusted),
//! `azp`, `exp`/`iat` with leeway and a maximum age, `auth_time` against
//! `max_age`, `nonce`, and the algorithm allow-list.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::str::FromStr as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{ClaimsVerificationError, ClientId, IssuerUrl, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::discovery::Discovered;
use crate::error::OidcError;
use crate::options::OidcOptions;

/// How the `nonce` claim is checked.
#[derive(Debug, Clone)]
pub(crate) enum NonceCheck {
    /// A login: the claim must be present and equal.
    Exact(String),
    /// A refresh: the claim may be absent (Keycloak 25+ drops it); when both
    /// it and the original's are present they must be equal.
    IfPresent(Option<String>),
}

/// A verified ID token.
#[derive(Clone)]
pub(crate) struct VerifiedIdToken {
    /// The compact JWT.
    pub(crate) raw: String,
    /// All payload claims.
    pub(crate) claims: Map<String, Value>,
}

impl std::fmt::Debug for VerifiedIdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedIdToken")
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}

/// Why verification failed: either because the key set lacks the token's
/// key (worth refetching the keys once) or for good.
pub(crate) enum VerifyFailure {
    UnknownKey(OidcError),
    Invalid(OidcError),
}

/// Claims that describe the token rather than the user; not put in `profile`.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "at_hash",
    "c_hash",
    "s_hash",
    "azp",
    "auth_time",
    "sid",
    "jti",
    "acr",
    "amr",
    "typ",
];

fn to_chrono(millis: u64) -> DateTime<Utc> {
    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// RSA signing keys shorter than this are refused, as on the access-token path.
const MIN_RSA_BITS: usize = 2048;

/// The modulus length of an RSA key; `None` for other keys (and for an RSA
/// key without a readable modulus, which cannot verify anything anyway).
fn rsa_bits(key: &Value) -> Option<usize> {
    if key.get("kty").and_then(Value::as_str) != Some("RSA") {
        return None;
    }
    let n = key.get("n").and_then(Value::as_str)?;
    let n = URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')).ok()?;
    let first = n.iter().position(|b| *b != 0)?;
    let top = n.get(first)?;
    Some((n.len() - first) * 8 - top.leading_zeros() as usize)
}

/// The key set without RSA keys under [`MIN_RSA_BITS`], and the size of a
/// weak key that the token (by its header's `kid`, or any when it names
/// none) would have used.
fn strong_keys(keys: &CoreJsonWebKeySet, raw: &str) -> (CoreJsonWebKeySet, Option<usize>) {
    let kid = raw
        .split('.')
        .next()
        .and_then(|header| URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|header| header.get("kid").and_then(Value::as_str).map(str::to_owned));
    let mut strong: Vec<CoreJsonWebKey> = Vec::new();
    let mut weak_match = None;
    for key in keys.keys() {
        let json = serde_json::to_value(key).unwrap_or(Value::Null);
        match rsa_bits(&json) {
            Some(bits) if bits < MIN_RSA_BITS => {
                let key_kid = json.get("kid").and_then(Value::as_str);
                if kid.is_none() || key_kid == kid.as_deref() {
                    weak_match = Some(bits);
                }
            }
            _ => strong.push(key.clone()),
        }
    }
    (CoreJsonWebKeySet::new(strong), weak_match)
}

/// With `max_age` requested, `auth_time` must be present, not in the future
/// and no older than `max_age` (each with the leeway).
fn check_auth_time(
    claims: &Map<String, Value>,
    now_secs: u64,
    leeway: Duration,
    max_age: Duration,
) -> Result<(), OidcError> {
    let auth_time = match claims.get("auth_time") {
        // A NumericDate may carry a fraction; whole seconds are enough here.
        Some(Value::Number(n)) => match n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)) {
            Some(t) => t,
            None => return Err(OidcError::id_token("the `auth_time` claim is not a time")),
        },
        Some(_) => return Err(OidcError::id_token("the `auth_time` claim is not a number")),
        None => {
            return Err(OidcError::id_token(
                "the `auth_time` claim is missing although `max_age` was requested",
            ));
        }
    };
    let leeway = leeway.as_secs();
    if auth_time > now_secs.saturating_add(leeway) {
        return Err(OidcError::id_token("the `auth_time` claim is in the future"));
    }
    if auth_time.saturating_add(max_age.as_secs()).saturating_add(leeway) < now_secs {
        return Err(OidcError::id_token(
            "the `auth_time` claim is older than the requested `max_age`",
        ));
    }
    Ok(())
}

/// Verifies `raw` against `discovered` for `client_id`; `max_auth_age` is the
/// `max_age` a login requested (`None` on refresh).
pub(crate) fn verify(
    raw: &str,
    discovered: &Discovered,
    client_id: &str,
    options: &OidcOptions,
    nonce: &NonceCheck,
    max_auth_age: Option<Duration>,
) -> Result<VerifiedIdToken, VerifyFailure> {
    let invalid = |e: OidcError| VerifyFailure::Invalid(e);
    let token =
        CoreIdToken::from_str(raw).map_err(|_| invalid(OidcError::id_token("it is not a signed JWT")))?;
    let issuer = IssuerUrl::new(discovered.issuer.clone())
        .map_err(|_| invalid(OidcError::id_token("the discovered issuer is not a URL")))?;
    let now = options.clock.now();
    let leeway = options.clock_leeway;
    let checked_now = to_chrono(now.saturating_sub(leeway).as_millis());
    let latest_iat = to_chrono(now.saturating_add(leeway).as_millis());
    let earliest_iat = to_chrono(
        now.saturating_sub(leeway.saturating_add(options.max_id_token_age))
            .as_millis(),
    );
    let trusted = options.trusted_audiences.clone();
    let (keys, weak_key) = strong_keys(discovered.metadata.jwks(), raw);
    let verifier = CoreIdTokenVerifier::new_public_client(ClientId::new(client_id.to_owned()), issuer, keys)
        .set_allowed_algs(
            options
                .allowed_algorithms
                .iter()
                .filter_map(|a| crate::options::id_token_algorithm(*a)),
        )
        .set_other_audience_verifier_fn(move |aud| trusted.iter().any(|t| t.as_str() == aud.as_str()))
        .set_time_fn(move || checked_now)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > latest_iat {
                Err(format!("issued in the future ({iat})"))
            } else if iat < earliest_iat {
                Err(format!(
                    "issued too long ago ({iat}): `iat` is older than the maximum ID token age"
                ))
            } else {
                Ok(())
            }
        });
    let nonce_check = nonce.clone();
    let nonce_verifier = move |found: Option<&Nonce>| -> Result<(), String> {
        match (&nonce_check, found) {
            (NonceCheck::Exact(expected), Some(found)) => {
                if constant_time_eq(expected.as_bytes(), found.secret().as_bytes()) {
                    Ok(())
                } else {
                    Err("the `nonce` claim does not match the login's".into())
                }
            }
            (NonceCheck::Exact(_), None) => Err("the `nonce` claim is missing".into()),
            (NonceCheck::IfPresent(Some(expected)), Some(found)) => {
                if constant_time_eq(expected.as_bytes(), found.secret().as_bytes()) {
                    Ok(())
                } else {
                    Err("the `nonce` claim does not match the original ID token's".into())
                }
            }
            (NonceCheck::IfPresent(_), _) => Ok(()),
        }
    };
    if let Err(e) = token.claims(&verifier, nonce_verifier) {
        let unknown_key = matches!(
            e,
            ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
        );
        if let (true, Some(bits)) = (unknown_key, weak_key) {
            return Err(invalid(OidcError::id_token(format!(
                "the signing key is an rsa key of {bits} bits; at least {MIN_RSA_BITS} are required"
            ))));
        }
        let error = claims_error(e);
        return Err(if unknown_key {
            VerifyFailure::UnknownKey(error)
        } else {
            VerifyFailure::Invalid(error)
        });
    }
    let claims = decode_payload(raw)
        .ok_or_else(|| invalid(OidcError::id_token("the payload is not a JSON object")))?;
    check_azp(&claims, client_id).map_err(invalid)?;
    if let Some(max_age) = max_auth_age {
        check_auth_time(&claims, now.as_secs(), leeway, max_age).map_err(invalid)?;
    }
    Ok(VerifiedIdToken {
        raw: raw.to_owned(),
        claims,
    })
}

fn claims_error(e: ClaimsVerificationError) -> OidcError {
    let mut reason = e.to_string();
    if let Some(source) = e.source() {
        reason.push_str(&format!(": {source}"));
    }
    OidcError::InvalidIdToken {
        reason: reason.to_lowercase(),
        source: Some(e),
    }
}

/// `azp`, when present, must be this client; with several audiences it must
/// be present.
fn check_azp(claims: &Map<String, Value>, client_id: &str) -> Result<(), OidcError> {
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(Value::String(_)) => Err(OidcError::id_token("the `azp` claim names another client")),
        Some(_) => Err(OidcError::id_token("the `azp` claim is not a string")),
        None if several => Err(OidcError::id_token(
            "the `azp` claim is missing although there are several audiences",
        )),
        None => Ok(()),
    }
}

/// The payload of a compact JWS, unverified.
pub(crate) fn decode_payload(raw: &str) -> Option<Map<String, Value>> {
    let mut parts = raw.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The user claims of a token (protocol claims removed), as `AuthResult`
/// profile text.
pub(crate) fn profile_of(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .iter()
        .filter(|(k, _)| !PROTOCOL_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// The `aud` claim as a sorted list.
pub(crate) fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    let mut list: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    list.sort();
    list
}

/// Equality without early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
