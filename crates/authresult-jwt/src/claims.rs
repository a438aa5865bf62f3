//! [`ValidatedToken`]: a token that passed validation, its claims (kept
//! whole, parsed when first asked for) and how it was found valid.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use authresult_core::Timestamp;
use serde_json::{Map, Value};

use super::error::TokenPurpose;
use super::typed_claims::{Scopes, Times, Typed};
use authresult_core::parse_strict_object;

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
    sid: Option<String>,
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
    jkt: Option<Box<str>>,
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
                parsed.get_or_init(|| parse_strict_object(json).unwrap_or_default())
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

    /// The provider's session the token belongs to (`sid`), when it names one.
    pub fn session_id(&self) -> Option<&str> {
        self.0.sid.as_deref()
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

    /// `cnf.jkt` (RFC 9449): the JWK thumbprint of the DPoP key this token
    /// is bound to; `None` for a bearer token. A bound token is accepted only
    /// with a proof signed by that key
    /// ([`TokenValidator::validate_dpop`](crate::TokenValidator::validate_dpop)).
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        self.0.jkt.as_deref()
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

impl Typed {
    /// The validated token of these claims.
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
            sid: self.sid,
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
            jkt: self.jkt,
            claims,
        }))
    }
}
