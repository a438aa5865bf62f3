//! ID token verification: the JOSE part (parsing, the algorithm allow-list,
//! the signature against the provider's keys, RSA keys of 2048 bits or more)
//! is `authresult-jwt`'s, the same code as the access-token validator; this
//! module keeps the OpenID rules on top: `typ` not `at+jwt`, `iss`, `sub`,
//! `aud` (extra audiences only when trusted), `azp`, `at_hash` when present,
//! `exp`/`iat` with leeway and a maximum age, `auth_time` against `max_age`,
//! and `nonce`.

use std::collections::BTreeMap;
use std::time::Duration;

use authresult_core::ProviderProfile;
use authresult_jwt::{SharedKeySet, UnverifiedJwt, ValidationError, ValidationErrorKind};
use serde_json::{Map, Value};

use crate::discovery::Discovered;
use crate::error::{Endpoint, OidcError};
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

/// A refusal of the JOSE check, as an [`OidcError`] keeping its cause.
fn jose_error(e: ValidationError) -> OidcError {
    OidcError::InvalidIdToken {
        reason: e.to_string().to_lowercase(),
        source: Some(e),
    }
}

/// A NumericDate claim in whole seconds (a fraction is dropped).
fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)) {
            Some(t) => Ok(Some(t)),
            None => Err(OidcError::id_token(format!("the `{name}` claim is not a time"))),
        },
        Some(_) => Err(OidcError::id_token(format!("the `{name}` claim is not a number"))),
    }
}

/// Verifies `raw` (`access_token` being the token response's access token)
/// with the provider's key set: `authresult-jwt`'s key-set cache, which
/// refetches the keys itself for an unknown `kid` (rate-limited) and keeps
/// the last good set when a fetch fails.
pub(crate) async fn verify(
    raw: &str,
    access_token: &str,
    keys: &SharedKeySet,
    rules: &Rules<'_>,
) -> Result<VerifiedIdToken, OidcError> {
    if keys.issuer() != rules.discovered.issuer {
        return Err(OidcError::config(
            "the shared key set belongs to another issuer than the provider's",
        ));
    }
    let jwt = parse(raw)?;
    keys.verify(&jwt, &rules.options.allowed_algorithms)
        .await
        .map_err(|e| match e.kind() {
            // The keys could not be fetched: transient, like a failed fetch
            // of the provider's own key set.
            ValidationErrorKind::Unavailable => OidcError::KeySetUnavailable { source: e },
            ValidationErrorKind::ProviderError => OidcError::malformed(Endpoint::Jwks, e.to_string()),
            _ => jose_error(e),
        })?;
    openid_rules(jwt, raw, access_token, rules)
}

/// The JOSE structure, and a `typ` that is not an access token's.
fn parse(raw: &str) -> Result<UnverifiedJwt<'_>, OidcError> {
    let jwt = UnverifiedJwt::parse(raw).map_err(jose_error)?;
    if jwt.declares_access_token() {
        return Err(OidcError::id_token(
            "the `typ` header declares an access token (`at+jwt`), not an id token",
        ));
    }
    Ok(jwt)
}

/// What the OpenID rules check an ID token against.
pub(crate) struct Rules<'a> {
    /// The provider's discovery.
    pub(crate) discovered: &'a Discovered,
    /// The type's rules: the issuer as its tokens spell it (the validator's
    /// rule too).
    pub(crate) profile: &'a ProviderProfile,
    pub(crate) client_id: &'a str,
    pub(crate) options: &'a OidcOptions,
    pub(crate) nonce: &'a NonceCheck,
    /// The `max_age` a login requested (`None` on refresh).
    pub(crate) max_auth_age: Option<Duration>,
}

/// The OpenID rules on a token whose signature verified; `at_hash`, when
/// present, must be the hash of `access_token` (OpenID Connect Core §3.2.2.9).
fn openid_rules(
    jwt: UnverifiedJwt<'_>,
    raw: &str,
    access_token: &str,
    rules: &Rules<'_>,
) -> Result<VerifiedIdToken, OidcError> {
    let claims = jwt.claims();
    check_claims(
        &claims,
        rules.profile,
        rules.client_id,
        rules.options,
        rules.nonce,
    )?;
    check_azp(&claims, rules.client_id)?;
    match (claims.get("at_hash"), jwt.algorithm()) {
        (None, _) => {}
        (Some(Value::String(found)), Some(alg)) if *found == alg.token_hash(access_token) => {}
        (Some(Value::String(_)), _) => {
            return Err(OidcError::id_token(
                "the `at_hash` claim does not match the access token",
            ));
        }
        (Some(_), _) => return Err(OidcError::id_token("the `at_hash` claim is not a string")),
    }
    if let Some(max_age) = rules.max_auth_age {
        check_auth_time(
            &claims,
            rules.options.clock.now().as_secs(),
            rules.options.clock_leeway,
            max_age,
        )?;
    }
    Ok(VerifiedIdToken {
        raw: raw.to_owned(),
        claims,
    })
}

/// OpenID Connect Core §3.1.3.7: `iss` is the issuer (as the profile spells
/// it, which discovery has matched), `sub` a string, `aud` names this client (other audiences only when trusted),
/// `exp` not passed and `iat` neither in the future nor older than the
/// maximum age (each with the leeway), and the `nonce` rule.
fn check_claims(
    claims: &Map<String, Value>,
    profile: &ProviderProfile,
    client_id: &str,
    options: &OidcOptions,
    nonce: &NonceCheck,
) -> Result<(), OidcError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if profile.accepts_issuer(iss) => {}
        Some(Value::String(_)) => return Err(OidcError::id_token("the `iss` claim names another issuer")),
        _ => return Err(OidcError::id_token("the `iss` claim (issuer) is missing")),
    }
    match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => {}
        Some(_) => return Err(OidcError::id_token("the `sub` claim is not a string")),
        None => return Err(OidcError::id_token("the `sub` claim is missing")),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or_else(|| {
                OidcError::id_token("the `aud` claim (audience) lists a value that is not a string")
            })?,
        _ => return Err(OidcError::id_token("the `aud` claim (audience) is missing")),
    };
    if !audiences.contains(&client_id) {
        return Err(OidcError::id_token(
            "the `aud` claim (audience) does not name this client",
        ));
    }
    if let Some(other) = audiences
        .iter()
        .find(|a| **a != client_id && !options.trusted_audiences.iter().any(|t| t == *a))
    {
        let shown: String = other.chars().take(64).collect();
        return Err(OidcError::id_token(format!(
            "the `aud` claim (audience) names an untrusted audience `{shown}`"
        )));
    }
    let now = options.clock.now().as_secs();
    let leeway = options.clock_leeway.as_secs();
    let exp = seconds(claims, "exp")?.ok_or_else(|| OidcError::id_token("the `exp` claim is missing"))?;
    if exp.saturating_add(leeway) <= now {
        return Err(OidcError::id_token("the id token expired"));
    }
    let iat = seconds(claims, "iat")?.ok_or_else(|| OidcError::id_token("the `iat` claim is missing"))?;
    if iat > now.saturating_add(leeway) {
        return Err(OidcError::id_token("the id token was issued in the future"));
    }
    if iat
        .saturating_add(options.max_id_token_age.as_secs())
        .saturating_add(leeway)
        < now
    {
        return Err(OidcError::id_token(
            "the id token was issued too long ago: `iat` is older than the maximum id token age",
        ));
    }
    let found = match claims.get("nonce") {
        None => None,
        Some(Value::String(found)) => Some(found.as_str()),
        Some(_) => return Err(OidcError::id_token("the `nonce` claim is not a string")),
    };
    match (nonce, found) {
        (NonceCheck::Exact(expected), Some(found))
            if constant_time_eq(expected.as_bytes(), found.as_bytes()) =>
        {
            Ok(())
        }
        (NonceCheck::Exact(_), Some(_)) => Err(OidcError::id_token(
            "the `nonce` claim does not match the login's",
        )),
        (NonceCheck::Exact(_), None) => Err(OidcError::id_token("the `nonce` claim is missing")),
        (NonceCheck::IfPresent(Some(expected)), Some(found))
            if !constant_time_eq(expected.as_bytes(), found.as_bytes()) =>
        {
            Err(OidcError::id_token(
                "the `nonce` claim does not match the original id token's",
            ))
        }
        (NonceCheck::IfPresent(_), _) => Ok(()),
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
