//! Where claims are looked up ([`ClaimSource`]): a parsed object, or
//! [`KnownClaims`], the claims this crate interprets, read from a JWT
//! payload by the strict reader while the others are only skipped over.

use serde::de::{IgnoredAny, MapAccess};
use serde_json::{Map, Value};

use authresult_core::{StrictMembers, read_strict_object};

/// Where claims are looked up: a parsed object, or the interpreted claims of
/// a JWT payload.
pub(crate) trait ClaimSource {
    /// The claim's value, when present (`null` included).
    fn claim(&self, name: &str) -> Option<&Value>;

    /// The claim's value, moved out where the source allows it.
    fn take(&mut self, name: &str) -> Option<Value>;
}

impl ClaimSource for Map<String, Value> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }

    /// A copy: the map stays whole, as it is kept as the token's claims.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

/// The claims this crate interprets, by position in [`known_index`].
const KNOWN_COUNT: usize = 23;

fn known_index(name: &str) -> Option<usize> {
    Some(match name {
        "iss" => 0,
        "sub" => 1,
        "aud" => 2,
        "exp" => 3,
        "nbf" => 4,
        "iat" => 5,
        "scope" => 6,
        "scp" => 7,
        "azp" => 8,
        "client_id" => 9,
        "org_id" => 10,
        "permissions" => 11,
        "realm_access" => 12,
        "resource_access" => 13,
        "typ" => 14,
        "nonce" => 15,
        "at_hash" => 16,
        "c_hash" => 17,
        "s_hash" => 18,
        "auth_time" => 19,
        "gty" => 20,
        "cnf" => 21,
        "sid" => 22,
        _ => return None,
    })
}

/// The interpreted claims of a JWT payload, read in one pass that also checks
/// the whole payload is a JSON object without duplicate members. The other
/// claims are only skipped over, so nothing is allocated for them.
#[derive(Default)]
pub(crate) struct KnownClaims {
    values: [Option<Value>; KNOWN_COUNT],
}

impl ClaimSource for KnownClaims {
    fn claim(&self, name: &str) -> Option<&Value> {
        known_index(name).and_then(|i| self.values[i].as_ref())
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        known_index(name).and_then(|i| self.values[i].take())
    }
}

impl KnownClaims {
    /// Parses a payload; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        read_strict_object(text)
    }
}

impl StrictMembers for KnownClaims {
    fn member<'de, A: MapAccess<'de>>(&mut self, name: &str, access: &mut A) -> Result<(), A::Error> {
        match known_index(name) {
            Some(i) => self.values[i] = Some(access.next_value::<Value>()?),
            None => {
                access.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}
