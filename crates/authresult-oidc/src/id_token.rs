//! ID token verification: signature against the provider's keys, `iss`,
//! `aud` (extra audiences only when trusted), `azp`, `exp`/`iat` with leeway,
//! `nonce`, and the algorithm allow-list.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
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

/// Verifies `raw` against `discovered` for `client_id`.
pub(crate) fn verify(
    raw: &str,
    discovered: &Discovered,
    client_id: &str,
    options: &OidcOptions,
    nonce: &NonceCheck,
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
    let trusted = options.trusted_audiences.clone();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_owned()),
        issuer,
        discovered.metadata.jwks().clone(),
    )
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
