//! [`ProviderProfile`]: the one place that knows what each provider `{type}`
//! means for its tokens. The login client (`authresult-oidc`), the
//! validator (`authresult-jwt`'s `IssuerConfig::from_provider_config` and
//! the sync server's own tokens) and the stored-token imports all ask it,
//! so they accept exactly the same tokens: the issuer as tokens spell it,
//! the audiences and authorized party of an access token, the organisation
//! rule, the subject claim, the expiry hint, the `Authorization` scheme and
//! the extra authorization parameters.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use url::Url;

use crate::jwt;
use crate::time::Timestamp;

/// The provider types of a `{type, fields}` config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderKind {
    /// `keycloak`.
    Keycloak,
    /// `auth0`.
    Auth0,
    /// `oidc` (or `generic`): any OpenID Connect provider.
    Oidc,
    /// `default`: the app's own sync server and its password login.
    SyncServer,
}

impl ProviderKind {
    /// The type as DataCollect names it (`keycloak`, `auth0`, `oidc`,
    /// `default`).
    pub const fn type_name(self) -> &'static str {
        match self {
            ProviderKind::Keycloak => "keycloak",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Oidc => "oidc",
            ProviderKind::SyncServer => "default",
        }
    }

    /// The kind of a config's `type` as written (`generic` is `oidc`'s
    /// alias); `None` for a type this library has no provider for.
    pub fn from_type_name(name: &str) -> Option<Self> {
        Some(match name {
            "keycloak" => ProviderKind::Keycloak,
            "auth0" => ProviderKind::Auth0,
            "oidc" | "generic" => ProviderKind::Oidc,
            "default" => ProviderKind::SyncServer,
            _ => return None,
        })
    }
}

/// The provider name (and session key) of the sync server's own login,
/// implicit in every artifact through `syncServerUrl`: its type name.
pub const SYNC_SERVER_PROVIDER: &str = ProviderKind::SyncServer.type_name();

/// The `Authorization` scheme DataCollect's client sends with a token of
/// `provider_type`: `Bearer` for the sync server's own token (`default`),
/// else the type itself, exactly as written (`keycloak`, `auth0`), which
/// DataCollect's server uses to pick the validator.
///
/// ```
/// use authresult_core::datacollect_scheme;
/// assert_eq!(datacollect_scheme("default"), "Bearer");
/// assert_eq!(datacollect_scheme("keycloak"), "keycloak");
/// ```
pub fn datacollect_scheme(provider_type: &str) -> &str {
    if provider_type == SYNC_SERVER_PROVIDER {
        "Bearer"
    } else {
        provider_type
    }
}

/// Auth0's organisation rule, as Auth0 documents it: a configured
/// `organization` starting with `org_` is an organisation id, compared
/// exactly with the `org_id` claim; anything else is an organisation name,
/// compared case-insensitively with the `org_name` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Organization {
    /// `org_...`: the `org_id` claim must equal it.
    Id(String),
    /// A name: the `org_name` claim must equal it, ignoring ASCII case.
    Name(String),
}

impl Organization {
    /// The rule for a configured `organization` value.
    pub fn from_config(value: &str) -> Self {
        if value.starts_with("org_") {
            Organization::Id(value.to_owned())
        } else {
            Organization::Name(value.to_owned())
        }
    }

    /// The claim compared: `org_id` or `org_name`.
    pub fn claim(&self) -> &'static str {
        match self {
            Organization::Id(_) => "org_id",
            Organization::Name(_) => "org_name",
        }
    }

    /// The configured value.
    pub fn expected(&self) -> &str {
        match self {
            Organization::Id(v) | Organization::Name(v) => v,
        }
    }

    /// True when a token with these `org_id` and `org_name` claims belongs
    /// to the organisation.
    pub fn matches(&self, org_id: Option<&str>, org_name: Option<&str>) -> bool {
        match self {
            Organization::Id(id) => org_id == Some(id.as_str()),
            Organization::Name(name) => org_name.is_some_and(|n| n.eq_ignore_ascii_case(name)),
        }
    }

    /// [`matches`](Self::matches) on a token's claims.
    pub fn matches_claims(&self, claims: &Map<String, Value>) -> bool {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        self.matches(text("org_id"), text("org_name"))
    }

    /// True when `claims` name an organisation at all (`org_id` or
    /// `org_name`, other than `null`).
    pub fn stated_in(claims: &Map<String, Value>) -> bool {
        ["org_id", "org_name"]
            .iter()
            .any(|c| claims.get(*c).is_some_and(|v| !v.is_null()))
    }
}

/// What a provider type means for its tokens; see the module's
/// documentation. Made from a config (`ProviderConfig::profile`) or, for
/// the sync server's own tokens, [`ProviderProfile::sync_server`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProfile {
    kind: ProviderKind,
    issuer: Option<String>,
    issuer_alias: Option<String>,
    client_id: Option<String>,
    audiences: Vec<String>,
    authorized_parties: Vec<String>,
    organization: Option<Organization>,
    realm: Option<String>,
    extra_params: BTreeMap<String, String>,
}

/// The issuer URL of `kind` as the provider spells it: Auth0's ends with
/// `/` (`https://tenant.auth0.com/`), a Keycloak realm's never does. Used
/// when a config is read, so every consumer sees the normalised URL.
pub(crate) fn normalize_issuer(kind: ProviderKind, mut issuer: Url) -> Url {
    match kind {
        ProviderKind::Auth0 if !issuer.path().ends_with('/') => {
            let path = format!("{}/", issuer.path());
            issuer.set_path(&path);
        }
        ProviderKind::Keycloak if issuer.path().len() > 1 && issuer.path().ends_with('/') => {
            let path = issuer.path().trim_end_matches('/').to_owned();
            issuer.set_path(&path);
        }
        _ => {}
    }
    issuer
}

/// What a profile is made from: a config's type and the settings its rules
/// read (`ProviderConfig::profile` takes them out of the config).
pub(crate) struct ProfileSettings<'a> {
    pub(crate) kind: ProviderKind,
    /// The normalised issuer ([`normalize_issuer`]).
    pub(crate) issuer: &'a Url,
    pub(crate) client_id: &'a str,
    pub(crate) extra_params: &'a BTreeMap<String, String>,
    /// Auth0's `audience`.
    pub(crate) audience: Option<&'a str>,
    /// Auth0's `organization`.
    pub(crate) organization: Option<&'a str>,
    /// The Keycloak realm.
    pub(crate) realm: Option<&'a str>,
}

impl ProviderProfile {
    /// The profile of an OpenID Connect provider with these `settings`.
    pub(crate) fn oidc(settings: ProfileSettings<'_>) -> Self {
        let ProfileSettings {
            kind,
            issuer,
            client_id,
            extra_params,
            audience,
            organization,
            realm,
        } = settings;
        let organization = organization.map(Organization::from_config);
        let url = issuer.as_str();
        let root = issuer.path() == "/" && issuer.query().is_none();
        // `Url` writes an empty path as `/`: a root issuer is spelt without
        // it (the other spelling is accepted too), except Auth0's, whose
        // issuer is documented with the slash.
        let (issuer, issuer_alias) = match kind {
            ProviderKind::Auth0 => (url.to_owned(), None),
            _ if root => (url.trim_end_matches('/').to_owned(), Some(url.to_owned())),
            _ => (url.to_owned(), None),
        };
        let mut audiences = vec![audience.unwrap_or(client_id).to_owned()];
        if let Some(resource) = extra_params.get("resource") {
            audiences.push(resource.clone());
        }
        let authorized_parties = match kind {
            // Keycloak access tokens often name another audience (`account`)
            // and the client in `azp`.
            ProviderKind::Keycloak => vec![client_id.to_owned()],
            _ => Vec::new(),
        };
        let mut extra_params = extra_params.clone();
        if let Some(audience) = audience {
            extra_params.insert("audience".into(), audience.to_owned());
        }
        if let Some(organization) = &organization {
            extra_params.insert("organization".into(), organization.expected().to_owned());
        }
        ProviderProfile {
            kind,
            issuer: Some(issuer),
            issuer_alias,
            client_id: Some(client_id.to_owned()),
            audiences,
            authorized_parties,
            organization,
            realm: realm.map(str::to_owned),
            extra_params,
        }
    }

    /// The sync server's own login (`default`): HS256 tokens `{id, email,
    /// iat}` with `id` as the subject, no issuer, sent as `Bearer`.
    pub fn sync_server() -> Self {
        ProviderProfile {
            kind: ProviderKind::SyncServer,
            issuer: None,
            issuer_alias: None,
            client_id: None,
            audiences: Vec::new(),
            authorized_parties: Vec::new(),
            organization: None,
            realm: None,
            extra_params: BTreeMap::new(),
        }
    }

    /// The provider type.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The type as DataCollect names it.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// The issuer exactly as tokens spell it (`None` for the sync server).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Every spelling of the issuer a token's `iss` may have: the
    /// [`issuer`](Self::issuer), and for a root issuer other than Auth0's
    /// also the spelling with the `/`.
    pub fn issuer_spellings(&self) -> impl Iterator<Item = &str> {
        self.issuer.iter().chain(&self.issuer_alias).map(String::as_str)
    }

    /// True when a token whose `iss` is `iss` is of this issuer.
    pub fn accepts_issuer(&self, iss: &str) -> bool {
        self.issuer_spellings().any(|spelling| spelling == iss)
    }

    /// The OAuth client that logs users in (`None` for the sync server).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The audiences an access token for this app may name: Auth0's
    /// `audience` when set, else the `client_id`; and the RFC 8707
    /// `resource` when configured.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The `azp` values that stand in for an audience (Keycloak: the
    /// `client_id`).
    pub fn authorized_parties(&self) -> &[String] {
        &self.authorized_parties
    }

    /// The organisation tokens must belong to (Auth0's `organization`).
    pub fn organization(&self) -> Option<&Organization> {
        self.organization.as_ref()
    }

    /// The Keycloak realm, when known.
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The claim naming the user: `id` for the sync server's tokens, `sub`
    /// otherwise.
    pub fn subject_claim(&self) -> &'static str {
        match self.kind {
            ProviderKind::SyncServer => "id",
            _ => "sub",
        }
    }

    /// The subject of a token with `claims`: `Ok(None)` when the
    /// [`subject_claim`](Self::subject_claim) is absent or `null`, an error
    /// (the reason) when it has another shape than a non-empty string (or,
    /// for the sync server, whose user ids are numbers too, an integer).
    pub fn subject(&self, claims: &Map<String, Value>) -> Result<Option<String>, &'static str> {
        match (claims.get(self.subject_claim()), self.kind) {
            (None | Some(Value::Null), _) => Ok(None),
            (Some(Value::String(s)), _) if !s.is_empty() => Ok(Some(s.clone())),
            (Some(Value::Number(n)), ProviderKind::SyncServer) if n.is_u64() || n.is_i64() => {
                Ok(Some(n.to_string()))
            }
            (Some(_), ProviderKind::SyncServer) => Err("must be a non-empty string or an integer"),
            (Some(_), _) => Err("must be a non-empty string"),
        }
    }

    /// The `AuthResult` profile of a token that came without user
    /// information (a brought or stored raw token), from its unverified
    /// `claims`: for the sync server's own `{id, email, iat}`, its
    /// [`subject`](Self::subject) as `sub` and its `email`; empty for the
    /// other types, whose user comes from the ID token or userinfo.
    pub fn token_user(&self, claims: &Map<String, Value>) -> BTreeMap<String, String> {
        let mut user = BTreeMap::new();
        if self.kind != ProviderKind::SyncServer {
            return user;
        }
        if let Ok(Some(sub)) = self.subject(claims) {
            user.insert("sub".to_owned(), sub);
        }
        if let Some(Value::String(email)) = claims.get("email") {
            user.insert("email".to_owned(), email.clone());
        }
        user
    }

    /// The lifetime of an access token whose answer gave none, from its JWT
    /// `exp` (unverified, a hint only), in whole seconds after `now`; 0
    /// (unknown) when it has none or it has passed.
    pub fn expires_in_hint(&self, token: &str, now: Timestamp) -> u64 {
        jwt::expiry_hint(token).map_or(0, |exp| exp.as_secs().saturating_sub(now.as_secs()))
    }

    /// The `Authorization` scheme DataCollect's client sends with this
    /// type's tokens ([`datacollect_scheme`]).
    pub fn scheme(&self) -> &'static str {
        datacollect_scheme(self.type_name())
    }

    /// The extra authorization-request parameters: the config's own, then
    /// Auth0's `audience` and `organization`.
    pub fn authorization_params(&self) -> &BTreeMap<String, String> {
        &self.extra_params
    }
}

#[cfg(test)]
mod tests;
