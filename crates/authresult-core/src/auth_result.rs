//! `AuthResult`: the JSON object DataCollect stores and exchanges.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::dpop::DpopBinding;
use crate::error::Error;
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// The result of a login or refresh, wire-compatible with DataCollect's
/// TypeScript `AuthResult`:
///
/// ```json
/// {"access_token":"eyJ...","id_token":"eyJ...","refresh_token":"def502...",
///  "expires_in":3600,"profile":{"sub":"user-123","name":"John Doe"}}
/// ```
///
/// Absent optional fields are omitted when written. Reading is strict where it
/// matters and liberal where real data is messy:
///
/// * `access_token` must be a string and `expires_in` a non-negative whole
///   number; anything else is [`Error::InvalidAuthResult`] naming the field.
///   An `expires_in` beyond `u64::MAX` saturates to "far future".
/// * `profile` / `user_metadata` values that are not strings (real providers
///   send `"email_verified": true`) are kept as their JSON text.
/// * Unknown top-level fields (`token_type`, `scope`, ...) are ignored.
#[derive(Debug, Clone)]
pub struct AuthResult {
    /// The access token.
    pub access_token: AccessToken,
    /// The OpenID Connect ID token, when the provider issued one.
    pub id_token: Option<IdToken>,
    /// The refresh token, when the provider issued one.
    pub refresh_token: Option<RefreshToken>,
    /// Lifetime of the access token in seconds from issue; 0 when unknown.
    pub expires_in: u64,
    /// User claims (`sub`, `name`, `email`, ...).
    pub profile: Option<BTreeMap<String, String>>,
    /// Application-specific user metadata.
    pub user_metadata: Option<BTreeMap<String, String>>,
    /// The session's DPoP key (RFC 9449), when the provider's DPoP is on.
    /// Not part of DataCollect's JSON ([`to_json_value`](Self::to_json_value)
    /// leaves it out); a store keeps it (sealed with the tokens) under
    /// `auth.dpop`, and reading accepts that member.
    pub dpop: Option<DpopBinding>,
}

impl AuthResult {
    /// A result holding only an access token and its lifetime.
    pub fn new(access_token: AccessToken, expires_in: u64) -> Self {
        AuthResult {
            access_token,
            id_token: None,
            refresh_token: None,
            expires_in,
            profile: None,
            user_metadata: None,
            dpop: None,
        }
    }

    /// Parses DataCollect's JSON text: one object, no member twice.
    pub fn from_json_str(json: &str) -> Result<Self, Error> {
        // Strict: a member given twice (two `access_token`s) is refused, not
        // read as whichever a parser keeps.
        let object = crate::parse_strict_object(json).map_err(|reason| invalid("(document)", reason))?;
        Self::from_json_value(Value::Object(object))
    }

    /// Reads a parsed JSON value.
    pub fn from_json_value(value: Value) -> Result<Self, Error> {
        let Value::Object(mut object) = value else {
            return Err(invalid("(document)", "is not a JSON object"));
        };
        let access_token = match object.remove("access_token") {
            Some(Value::String(s)) => AccessToken::new(s),
            Some(other) => return Err(invalid("access_token", wrong_type("a string", &other))),
            None => return Err(invalid("access_token", "is missing")),
        };
        let expires_in = match object.remove("expires_in") {
            Some(Value::Number(n)) => parse_expires_in(&n)?,
            Some(other) => return Err(invalid("expires_in", wrong_type("a number", &other))),
            None => return Err(invalid("expires_in", "is missing")),
        };
        let id_token = optional_string(&mut object, "id_token")?.map(IdToken::new);
        let refresh_token = optional_string(&mut object, "refresh_token")?.map(RefreshToken::new);
        let profile = optional_map(&mut object, "profile")?;
        let user_metadata = optional_map(&mut object, "user_metadata")?;
        let dpop = match object.remove("dpop") {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(DpopBinding::from_json_value(value).map_err(|reason| invalid("dpop", reason))?)
            }
        };
        Ok(AuthResult {
            access_token,
            id_token,
            refresh_token,
            expires_in,
            profile,
            user_metadata,
            dpop,
        })
    }

    /// Writes DataCollect's JSON value (absent optionals omitted).
    ///
    /// # Security warning
    ///
    /// The value contains the tokens in clear text.
    pub fn to_json_value(&self) -> Value {
        let mut object = Map::new();
        object.insert(
            "access_token".into(),
            Value::String(self.access_token.secret().to_owned()),
        );
        if let Some(t) = &self.id_token {
            object.insert("id_token".into(), Value::String(t.secret().to_owned()));
        }
        if let Some(t) = &self.refresh_token {
            object.insert("refresh_token".into(), Value::String(t.secret().to_owned()));
        }
        object.insert("expires_in".into(), Value::from(self.expires_in));
        for (name, map) in [("profile", &self.profile), ("user_metadata", &self.user_metadata)] {
            if let Some(map) = map {
                let entries = map
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                object.insert(name.into(), Value::Object(entries));
            }
        }
        Value::Object(object)
    }

    /// The stored form: DataCollect's JSON plus the DPoP key (`dpop`), for
    /// a session store (which seals it with the tokens).
    ///
    /// # Security warning
    ///
    /// The value contains the tokens and the DPoP private key in clear text.
    pub(crate) fn to_stored_value(&self) -> Value {
        let mut value = self.to_json_value();
        if let (Some(dpop), Value::Object(object)) = (&self.dpop, &mut value) {
            object.insert("dpop".into(), dpop.to_json_value());
        }
        value
    }

    /// The `sub` of the profile, when present.
    pub fn subject(&self) -> Option<&str> {
        self.profile.as_ref()?.get("sub").map(String::as_str)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidAuthResult {
        field,
        reason: reason.into(),
    }
}

fn wrong_type(expected: &str, got: &Value) -> String {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("must be {expected}, not {got}")
}

fn parse_expires_in(n: &serde_json::Number) -> Result<u64, Error> {
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    if n.as_i64().is_some() {
        return Err(invalid("expires_in", "must not be negative"));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 => {
            // Whole numbers written in float form (e.g. `3600.0`, `1e30`);
            // beyond u64 saturates to "far future".
            if f >= u64::MAX as f64 {
                Ok(u64::MAX)
            } else {
                // In range and whole: the conversion is exact enough for seconds.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(f as u64)
            }
        }
        Some(f) if f < 0.0 => Err(invalid("expires_in", "must not be negative")),
        _ => Err(invalid("expires_in", "must be a whole number of seconds")),
    }
}

fn optional_string(object: &mut Map<String, Value>, field: &'static str) -> Result<Option<String>, Error> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(field, wrong_type("a string", &other))),
    }
}

fn optional_map(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(entries)) => Ok(Some(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        )),
        Some(other) => Err(invalid(field, wrong_type("an object", &other))),
    }
}

impl Serialize for AuthResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AuthResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        AuthResult::from_json_value(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
