//! Strict typing of the claims this crate interprets ([`Typed`]), the
//! scopes, NumericDates and the time checks.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use authresult_core::Timestamp;
use serde_json::Value;

use super::claim_source::ClaimSource;
use super::error::ValidationError;

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The time rules of an issuer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeRules {
    pub(crate) leeway: Duration,
    pub(crate) max_age: Option<Duration>,
}

/// The time claims of a token: what [`TimeRules`] are checked against, on a
/// fresh validation and on every cache hit alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) exp: Option<Timestamp>,
    pub(crate) nbf: Option<Timestamp>,
    pub(crate) iat: Option<Timestamp>,
}

impl Times {
    /// `exp`, `nbf` and `iat` (and the maximum age) against `now`, with leeway.
    pub(crate) fn check(self, now: Timestamp, rules: TimeRules) -> Result<(), ValidationError> {
        if let Some(exp) = self.exp
            && now >= exp.saturating_add(rules.leeway)
        {
            return Err(ValidationError::Expired);
        }
        if let Some(nbf) = self.nbf
            && now.saturating_add(rules.leeway) < nbf
        {
            return Err(ValidationError::NotYetValid);
        }
        if let Some(iat) = self.iat {
            if now.saturating_add(rules.leeway) < iat {
                return Err(ValidationError::IssuedInFuture);
            }
            if let Some(max_age) = rules.max_age
                && now > iat.saturating_add(max_age).saturating_add(rules.leeway)
            {
                return Err(ValidationError::TooOld);
            }
        }
        Ok(())
    }
}

/// The claims this crate interprets, type-checked.
pub(crate) struct Typed {
    pub(crate) subject: Option<String>,
    /// The provider's session (`sid`, OpenID Connect Front- and Back-Channel
    /// Logout), matched against the logout list.
    pub(crate) sid: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) scopes: Scopes,
    pub(crate) exp: Option<Timestamp>,
    pub(crate) nbf: Option<Timestamp>,
    pub(crate) iat: Option<Timestamp>,
    pub(crate) azp: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) org_id: Option<String>,
    pub(crate) permissions: Vec<String>,
    pub(crate) realm_roles: Vec<String>,
    pub(crate) client_roles: BTreeMap<String, Vec<String>>,
    /// `cnf.jkt` (RFC 9449): the thumbprint of the DPoP key the token is
    /// bound to.
    pub(crate) jkt: Option<Box<str>>,
}

impl Typed {
    /// Type-checks the interpreted claims, taking their values out of
    /// `claims`; a wrong JSON type or an out-of-range number is an error.
    pub(crate) fn extract(claims: &mut impl ClaimSource) -> Result<Self, ValidationError> {
        const STRING_OR_LIST: &str = "must be a string or an array of strings";
        let scope = take_string(claims, "scope")?;
        let scopes = match claims.take("scp") {
            // The usual case: `scope` alone, kept as sent and split when
            // first listed.
            None | Some(Value::Null) => Scopes::text(scope.unwrap_or_default()),
            Some(Value::String(s)) => {
                let mut list = scope.map(split_scopes).unwrap_or_default();
                list.extend(split_scopes(s));
                Scopes::List(list)
            }
            Some(Value::Array(items)) => {
                let mut list = scope.map(split_scopes).unwrap_or_default();
                list.extend(into_strings(items, "scp")?);
                Scopes::List(list)
            }
            Some(_) => return Err(ValidationError::invalid_claim("scp", STRING_OR_LIST)),
        };
        let audiences = match claims.take("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => into_strings(items, "aud")?,
            Some(_) => return Err(ValidationError::invalid_claim("aud", STRING_OR_LIST)),
        };
        let realm_roles = match claims.take("realm_access") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(mut access)) => take_strings(&mut access, "roles").map_err(|_| {
                ValidationError::invalid_claim("realm_access", "roles must be an array of strings")
            })?,
            Some(_) => {
                return Err(ValidationError::invalid_claim(
                    "realm_access",
                    "must be an object",
                ));
            }
        };
        let mut client_roles = BTreeMap::new();
        match claims.take("resource_access") {
            None | Some(Value::Null) => {}
            Some(Value::Object(clients)) => {
                for (client, access) in clients {
                    let roles = match access {
                        Value::Object(mut access) => take_strings(&mut access, "roles").ok(),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        ValidationError::invalid_claim("resource_access", "roles must be arrays of strings")
                    })?;
                    client_roles.insert(client, roles);
                }
            }
            Some(_) => {
                return Err(ValidationError::invalid_claim(
                    "resource_access",
                    "must be an object",
                ));
            }
        }
        let jkt = match claims.take("cnf") {
            None | Some(Value::Null) => None,
            Some(Value::Object(mut cnf)) => match cnf.remove("jkt") {
                None if cnf.is_empty() => None,
                // Bound by another method (RFC 8705's `x5t#S256`, RFC
                // 7800's `jwk`...): proof of possession this crate cannot
                // check, so never a bearer token.
                None => {
                    return Err(ValidationError::invalid_claim(
                        "cnf",
                        "binds the token by a method other than jkt",
                    ));
                }
                Some(Value::String(jkt)) if !jkt.is_empty() => Some(jkt.into_boxed_str()),
                Some(_) => {
                    return Err(ValidationError::invalid_claim(
                        "cnf",
                        "jkt must be a non-empty string",
                    ));
                }
            },
            Some(_) => return Err(ValidationError::invalid_claim("cnf", "must be an object")),
        };
        Ok(Typed {
            jkt,
            subject: take_string(claims, "sub")?,
            sid: take_string(claims, "sid")?,
            audiences,
            scopes,
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
            azp: take_string(claims, "azp")?,
            client_id: take_string(claims, "client_id")?,
            org_id: take_string(claims, "org_id")?,
            permissions: take_strings(claims, "permissions")?,
            realm_roles,
            client_roles,
        })
    }

    /// The time claims.
    pub(crate) fn times(&self) -> Times {
        Times {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
        }
    }
}

/// A string claim; `null` counts as absent.
pub(crate) fn string<'a>(
    claims: &'a impl ClaimSource,
    name: &str,
) -> Result<Option<&'a str>, ValidationError> {
    match claims.claim(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::invalid_claim(name, "must be a string")),
    }
}

/// A string claim, taken out of `claims`; `null` counts as absent.
fn take_string(claims: &mut impl ClaimSource, name: &str) -> Result<Option<String>, ValidationError> {
    match claims.take(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::invalid_claim(name, "must be a string")),
    }
}

/// An array-of-strings claim, taken out of `claims`; `null` counts as absent.
fn take_strings(claims: &mut impl ClaimSource, name: &str) -> Result<Vec<String>, ValidationError> {
    match claims.take(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => into_strings(items, name),
        Some(_) => Err(ValidationError::invalid_claim(
            name,
            "must be an array of strings",
        )),
    }
}

fn into_strings(items: Vec<Value>, name: &str) -> Result<Vec<String>, ValidationError> {
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(ValidationError::invalid_claim(
                name,
                "must be an array of strings",
            )),
        })
        .collect()
}

/// Space-separated scopes; a single scope keeps its allocation.
/// A token's scopes: `scope` as sent (space separated), or a list when
/// `scp` is present too.
pub(crate) enum Scopes {
    /// The `scope` text, split into [`list`](Scopes::list) on first use; the
    /// common case costs no allocation beyond the claim itself.
    Text {
        text: String,
        list: OnceLock<Vec<String>>,
    },
    /// Already a list.
    List(Vec<String>),
}

impl Scopes {
    fn text(text: String) -> Scopes {
        Scopes::Text {
            text,
            list: OnceLock::new(),
        }
    }

    pub(crate) fn list(&self) -> &[String] {
        match self {
            Scopes::Text { text, list } => list.get_or_init(|| split_scopes(text.clone())),
            Scopes::List(list) => list,
        }
    }

    pub(crate) fn contains(&self, scope: &str) -> bool {
        match self {
            Scopes::Text { text, .. } => text.split_ascii_whitespace().any(|s| s == scope),
            Scopes::List(list) => list.iter().any(|s| s == scope),
        }
    }
}

fn split_scopes(text: String) -> Vec<String> {
    if text.contains(|c: char| c.is_ascii_whitespace()) {
        text.split_ascii_whitespace().map(str::to_owned).collect()
    } else if text.is_empty() {
        Vec::new()
    } else {
        vec![text]
    }
}

/// A NumericDate claim (RFC 7519 §2): a non-negative number of seconds,
/// fractions allowed, no later than year 9999.
pub(crate) fn numeric_date(
    claims: &impl ClaimSource,
    name: &str,
) -> Result<Option<Timestamp>, ValidationError> {
    let number = match claims.claim(name) {
        None => return Ok(None),
        Some(Value::Number(n)) => n,
        Some(_) => return Err(ValidationError::invalid_claim(name, "must be a number")),
    };
    let secs = if let Some(secs) = number.as_u64() {
        secs
    } else if number.is_i64() {
        return Err(ValidationError::invalid_claim(name, "is negative"));
    } else {
        match number.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64 => f.floor() as u64,
            _ => return Err(ValidationError::invalid_claim(name, "is out of range")),
        }
    };
    if secs > MAX_NUMERIC_DATE {
        return Err(ValidationError::invalid_claim(name, "is out of range"));
    }
    Ok(Some(Timestamp::from_secs(secs)))
}
