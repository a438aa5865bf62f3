//! Validated claims: strict typing of the registered and provider-specific
//! claims, the time checks and [`ValidatedToken`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authresult_core::Timestamp;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{TokenPurpose, TokenTypeReason, ValidationError};
use super::jose::{TypHeader, parse_object};

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// How a token was found valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// Its signature was checked locally against the issuer's keys.
    Signature,
    /// The provider's introspection endpoint (RFC 7662) said it is active.
    Introspection,
    /// The provider's userinfo endpoint accepted it.
    Userinfo,
}

/// A token that passed validation, with its claims.
///
/// Cheap to clone (one `Arc`). The tower layer puts it in the request
/// extensions. Its `Debug` output leaves out the claim values.
#[derive(Clone)]
pub struct ValidatedToken(Arc<Inner>);

struct Inner {
    issuer: Arc<str>,
    subject: Option<String>,
    audiences: Vec<String>,
    scopes: Scopes,
    expires_at: Option<Timestamp>,
    issued_at: Option<Timestamp>,
    not_before: Option<Timestamp>,
    kind: TokenPurpose,
    verified_by: Verification,
    client_id: Option<String>,
    org_id: Option<String>,
    permissions: Vec<String>,
    realm_roles: Vec<String>,
    client_roles: BTreeMap<String, Vec<String>>,
    claims: ClaimStore,
}

/// All claims of a token: parsed already (introspection, userinfo), or kept
/// as the JSON text of a JWT payload and parsed when first asked for.
pub(crate) enum ClaimStore {
    Parsed(Map<String, Value>),
    Lazy {
        json: String,
        parsed: OnceLock<Map<String, Value>>,
    },
}

impl ClaimStore {
    pub(crate) fn lazy(json: String) -> Self {
        ClaimStore::Lazy {
            json,
            parsed: OnceLock::new(),
        }
    }

    pub(crate) fn map(&self) -> &Map<String, Value> {
        match self {
            ClaimStore::Parsed(map) => map,
            // The text was checked to be a JSON object without duplicates
            // before the token was accepted, so parsing cannot fail here.
            ClaimStore::Lazy { json, parsed } => {
                parsed.get_or_init(|| parse_object(json).unwrap_or_default())
            }
        }
    }
}

impl fmt::Debug for ValidatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &*self.0;
        f.debug_struct("ValidatedToken")
            .field("issuer", &t.issuer)
            .field("subject", &t.subject)
            .field("audiences", &t.audiences)
            .field("scopes", &t.scopes.list())
            .field("expires_at", &t.expires_at)
            .field("kind", &t.kind)
            .field("verified_by", &t.verified_by)
            .finish_non_exhaustive()
    }
}

impl ValidatedToken {
    /// The issuer, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// The user the token names, by its provider profile's subject claim
    /// (`ProviderProfile::subject_claim`): `sub`, or `id` for the sync
    /// server's own tokens; `None` when absent.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// `aud` as a list (a single string becomes one entry).
    pub fn audiences(&self) -> &[String] {
        &self.0.audiences
    }

    /// The scopes: `scope` (space separated) and `scp` (string or array).
    pub fn scopes(&self) -> &[String] {
        self.0.scopes.list()
    }

    /// True when the token carries this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.contains(scope)
    }

    /// `exp`, when present.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at
    }

    /// `iat`, when present.
    pub fn issued_at(&self) -> Option<Timestamp> {
        self.0.issued_at
    }

    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<Timestamp> {
        self.0.not_before
    }

    /// The time claims, for the cache to check again on every hit.
    pub(crate) fn times(&self) -> Times {
        Times {
            exp: self.0.expires_at,
            nbf: self.0.not_before,
            iat: self.0.issued_at,
        }
    }

    /// Access token, ID token, or unmarked.
    pub fn token_kind(&self) -> TokenPurpose {
        self.0.kind
    }

    /// Signature, introspection or userinfo.
    pub fn verified_by(&self) -> Verification {
        self.0.verified_by
    }

    /// `client_id` (RFC 9068), else `azp`.
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }

    /// Keycloak realm roles: `realm_access.roles`.
    pub fn realm_roles(&self) -> &[String] {
        &self.0.realm_roles
    }

    /// True when `realm_access.roles` holds `role`.
    pub fn has_realm_role(&self, role: &str) -> bool {
        self.0.realm_roles.iter().any(|r| r == role)
    }

    /// Keycloak client roles: `resource_access.<client>.roles` (empty when absent).
    pub fn client_roles(&self, client: &str) -> &[String] {
        self.0.client_roles.get(client).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when `resource_access.<client>.roles` holds `role`.
    pub fn has_client_role(&self, client: &str, role: &str) -> bool {
        self.client_roles(client).iter().any(|r| r == role)
    }

    /// Auth0 `org_id`.
    pub fn org_id(&self) -> Option<&str> {
        self.0.org_id.as_deref()
    }

    /// Auth0 RBAC `permissions`.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// True when `permissions` holds `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0.permissions.iter().any(|p| p == permission)
    }

    /// All claims, as sent by the provider (parsed on first use).
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.map()
    }

    /// One claim.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.0.claims.map().get(name)
    }
}

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
        Ok(Typed {
            subject: take_string(claims, "sub")?,
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

    pub(crate) fn into_token(
        self,
        issuer: &Arc<str>,
        kind: TokenPurpose,
        verified_by: Verification,
        claims: ClaimStore,
    ) -> ValidatedToken {
        ValidatedToken(Arc::new(Inner {
            issuer: issuer.clone(),
            subject: self.subject,
            audiences: self.audiences,
            scopes: self.scopes,
            expires_at: self.exp,
            issued_at: self.iat,
            not_before: self.nbf,
            kind,
            verified_by,
            client_id: self.client_id.or(self.azp),
            org_id: self.org_id,
            permissions: self.permissions,
            realm_roles: self.realm_roles,
            client_roles: self.client_roles,
            claims,
        }))
    }
}

/// What a JWT is, from its `typ` header and its claims, and for a token that
/// is not an access token, why. `login_clients` are the client ids whose
/// ID tokens name them as their only audience (empty when such an audience
/// is accepted).
///
/// In order: a declared type (`typ` header other than `at+jwt`, Keycloak's
/// `typ` claim); the hash claims only ID tokens carry; `nonce`, unless the
/// token declares itself an access token (Keycloak before 25 copies `nonce`
/// into its `typ: "Bearer"` access tokens); an audience that is only login
/// clients; the declared access types; a login client audience without an
/// access-token claim, or with `auth_time`; then the claims only access
/// tokens carry (`scope`, `scp`, RFC 9068 `client_id`, Auth0's grant type
/// `gty`).
pub(crate) fn classify(
    typ: TypHeader,
    claims: &impl ClaimSource,
    login_clients: &[String],
    accept_login_client_audience: bool,
) -> (TokenPurpose, Option<TokenTypeReason>) {
    let id = |reason| (TokenPurpose::Id, Some(reason));
    if typ == TypHeader::Other {
        return (TokenPurpose::Other, Some(TokenTypeReason::DeclaredType));
    }
    // Keycloak marks its tokens with a `typ` claim.
    let mut bearer = false;
    match claims.claim("typ").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("bearer") => bearer = true,
        Some(t) if t.eq_ignore_ascii_case("id") => {
            return id(TokenTypeReason::IdTokenClaim { claim: "typ" });
        }
        Some(t)
            if ["refresh", "offline", "logout"]
                .iter()
                .any(|other| t.eq_ignore_ascii_case(other)) =>
        {
            return (TokenPurpose::Other, Some(TokenTypeReason::DeclaredType));
        }
        _ => {}
    }
    if let Some(claim) = ["at_hash", "c_hash", "s_hash"]
        .into_iter()
        .find(|c| claims.claim(c).is_some())
    {
        return id(TokenTypeReason::IdTokenClaim { claim });
    }
    let declared_access = bearer || typ == TypHeader::AccessToken;
    if !declared_access && claims.claim("nonce").is_some() {
        return id(TokenTypeReason::IdTokenClaim { claim: "nonce" });
    }
    let login_audience = only_login_clients(claims.claim("aud"), login_clients);
    if login_audience && !accept_login_client_audience {
        return id(TokenTypeReason::LoginClientAudience);
    }
    if declared_access {
        return (TokenPurpose::Access, None);
    }
    let access_claim = ["scope", "scp", "client_id", "gty"]
        .into_iter()
        .any(|c| claims.claim(c).is_some_and(|v| !v.is_null()));
    if login_audience && (!access_claim || claims.claim("auth_time").is_some()) {
        return id(TokenTypeReason::IdTokenShape);
    }
    if access_claim {
        (TokenPurpose::Access, None)
    } else {
        (TokenPurpose::Unknown, Some(TokenTypeReason::Unclassified))
    }
}

/// True when `aud` names at least one audience and all are login clients.
fn only_login_clients(aud: Option<&Value>, login_clients: &[String]) -> bool {
    let known = |a: &Value| a.as_str().is_some_and(|a| login_clients.iter().any(|c| c == a));
    match aud {
        Some(one @ Value::String(_)) => known(one),
        Some(Value::Array(items)) => !items.is_empty() && items.iter().all(known),
        _ => false,
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

    fn list(&self) -> &[String] {
        match self {
            Scopes::Text { text, list } => list.get_or_init(|| split_scopes(text.clone())),
            Scopes::List(list) => list,
        }
    }

    fn contains(&self, scope: &str) -> bool {
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
const KNOWN_COUNT: usize = 21;

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
        match text.trim_start().as_bytes().first() {
            Some(b'{') => {}
            _ => return Err("is not a JSON object"),
        }
        serde_json::from_str::<KnownClaims>(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "has a duplicate member",
            _ => "is not valid JSON",
        })
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Above this many members, duplicates are found with a hash set.
const LINEAR_SCAN_MAX: usize = 32;

impl<'de> Deserialize<'de> for KnownClaims {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimsVisitor;

        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = KnownClaims;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<KnownClaims, A::Error> {
                let mut claims = KnownClaims::default();
                // The first LINEAR_SCAN_MAX names, on the stack; past them
                // all names go to a hash set.
                let mut seen: [Cow<'de, str>; LINEAR_SCAN_MAX] = std::array::from_fn(|_| Cow::Borrowed(""));
                let mut seen_len = 0;
                let mut seen_many: HashSet<Cow<'de, str>> = HashSet::new();
                while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
                    let duplicate = if seen_len < LINEAR_SCAN_MAX {
                        seen[..seen_len].contains(&key)
                    } else {
                        if seen_many.is_empty() {
                            seen_many.extend(seen.iter().cloned());
                        }
                        !seen_many.insert(key.clone())
                    };
                    if duplicate {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    match known_index(&key) {
                        Some(i) => claims.values[i] = Some(access.next_value::<Value>()?),
                        None => {
                            access.next_value::<IgnoredAny>()?;
                        }
                    }
                    if seen_len < LINEAR_SCAN_MAX {
                        seen[seen_len] = key;
                        seen_len += 1;
                    }
                }
                Ok(claims)
            }
        }

        deserializer.deserialize_map(ClaimsVisitor)
    }
}
