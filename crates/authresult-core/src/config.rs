//! Provider configuration as DataCollect writes it: `{ "type": "...", "fields": { ... } }`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::dpop::DpopMode;
use crate::error::Error;
use crate::profile::{ProfileSettings, ProviderKind, ProviderProfile, normalize_issuer};
use crate::secret::ClientSecret;

/// Scopes asked for when the config names none.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Fields of a `{type, fields}` config that only the app may set: a
/// security switch. They are never read from a config or an artifact (an
/// artifact reports them with `ArtifactWarning::AppSettingIgnored`); the app
/// sets them through [`AppSecurity`] and its providers' options
/// (`OidcOptions::allow_insecure_http`).
pub const APP_ONLY_FIELDS: &[&str] = &["allow_insecure_http", "allowInsecureHttp"];

/// Authorization-request parameters that neither a config nor a caller may
/// set: the client sets them for the flow's own protection (`state`,
/// `nonce`, PKCE, the redirect), and `request`/`request_uri` would replace
/// them all with a request object (OpenID Connect Core §6.1). A config
/// field of this name is ignored (an artifact warns about it).
pub const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "response_mode",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

/// The app's own security settings for reading a `{type, fields}` config or
/// an artifact: never taken from the config or the artifact itself. The
/// default is the strict one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppSecurity {
    /// Allow plain `http` to hosts other than loopback (default false).
    pub allow_insecure_http: bool,
}

impl AppSecurity {
    /// The settings with plain `http` to any host allowed or not.
    pub fn insecure_http(allow: bool) -> Self {
        AppSecurity {
            allow_insecure_http: allow,
        }
    }
}

/// The fields of `fields` a config may not set: [`APP_ONLY_FIELDS`] and
/// [`RESERVED_PARAMS`] (also inside `extraQueryParams`). They are ignored.
pub fn ignored_fields(fields: &BTreeMap<String, Value>) -> Vec<String> {
    let mut ignored: Vec<String> = fields
        .iter()
        .filter(|(name, value)| {
            !value.is_null() && !KNOWN_FIELDS.contains(&name.as_str()) && is_ignored_field(name)
        })
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(Value::String(extra)) = fields.get("extraQueryParams")
        && let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(extra)
    {
        for name in extra.keys().filter(|name| is_ignored_field(name)) {
            ignored.push(format!("extraQueryParams.{name}"));
        }
    }
    ignored
}

fn is_ignored_field(name: &str) -> bool {
    APP_ONLY_FIELDS.contains(&name) || RESERVED_PARAMS.contains(&name)
}

/// Fields with a meaning of their own; every other field is passed on as an
/// extra authorization-request parameter, as DataCollect does.
const KNOWN_FIELDS: &[&str] = &[
    "client_id",
    "clientId",
    "client_secret",
    "clientSecret",
    "domain",
    "issuer",
    "authority",
    "redirect_uri",
    "redirectUri",
    "post_logout_redirect_uri",
    "postLogoutRedirectUri",
    "scope",
    "scopes",
    "audience",
    "organization",
    "response_type",
    "responseType",
    "realm",
    "host",
    "url",
    "base_url",
    "api_client_id",
    "api_client_secret",
    "extraQueryParams",
    "dpop",
    "pushed_authorization_requests",
    "par",
];

/// A parsed, validated provider configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProviderConfig {
    /// `type: "keycloak"`.
    Keycloak(KeycloakConfig),
    /// `type: "auth0"`.
    Auth0(Auth0Config),
    /// `type: "oidc"`: any OpenID Connect provider.
    Oidc(OidcConfig),
    /// `type: "default"`: the app's own sync server with password login.
    SyncServer(SyncServerConfig),
}

/// Client settings shared by every OpenID Connect type.
#[derive(Debug, Clone)]
pub struct OidcClientSettings {
    /// The issuer, exactly as discovery must report it.
    pub issuer: Url,
    /// The OAuth client id (`client_id` or `clientId`).
    pub client_id: String,
    /// The client secret of a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// Where the provider sends the browser back (`redirect_uri`).
    pub redirect_uri: Option<Url>,
    /// Where the provider sends the browser after logout.
    pub post_logout_redirect_uri: Option<Url>,
    /// Scopes to ask for (`scope`, space separated; default [`DEFAULT_SCOPES`]).
    pub scopes: Vec<String>,
    /// Unknown fields, sent as extra authorization-request parameters.
    pub extra_params: BTreeMap<String, String>,
    /// DPoP (RFC 9449): off (default), on when the provider advertises it,
    /// or required (field `dpop`: `"off"`, `"on"`, `"required"`, or a boolean).
    pub dpop: DpopMode,
    /// Push every authorization request (RFC 9126) even when discovery does
    /// not require it (field `pushed_authorization_requests` or `par`, a
    /// boolean). A provider whose discovery says
    /// `require_pushed_authorization_requests` gets pushed requests anyway.
    pub pushed_authorization: bool,
}

/// Keycloak: `authority` (`https://kc/realms/<realm>`), or `url`/`host` + `realm`.
#[derive(Debug, Clone)]
pub struct KeycloakConfig {
    /// The client settings; `issuer` is the realm URL.
    pub client: OidcClientSettings,
    /// The realm name, when it could be told from the config.
    pub realm: Option<String>,
}

/// Auth0: `domain` (or `authority`), optional `audience` and `organization`.
#[derive(Debug, Clone)]
pub struct Auth0Config {
    /// The client settings; `issuer` is `https://<domain>/` (trailing slash).
    pub client: OidcClientSettings,
    /// The API audience to ask tokens for.
    pub audience: Option<String>,
    /// The organization to log in to; tokens of another `org_id` are rejected.
    pub organization: Option<String>,
}

/// A generic OpenID Connect provider: `issuer` (or `authority`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The client settings.
    pub client: OidcClientSettings,
}

/// The app's own sync server (`type: "default"`): `url`.
#[derive(Debug, Clone)]
pub struct SyncServerConfig {
    /// The server's base URL; the login is `POST {url}/api/users/login`.
    pub url: Url,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(rename = "type")]
    kind: Value,
    #[serde(default)]
    fields: Option<Value>,
}

impl ProviderConfig {
    /// Parses DataCollect's JSON text, with the strict [`AppSecurity`].
    pub fn from_json_str(json: &str) -> Result<Self, Error> {
        Self::from_json_str_with(json, AppSecurity::default())
    }

    /// Parses DataCollect's JSON text under the app's `security` settings.
    pub fn from_json_str_with(json: &str, security: AppSecurity) -> Result<Self, Error> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| Error::InvalidConfig {
            field: "(document)".into(),
            reason: format!("is not a {{type, fields}} object: {e}"),
        })?;
        let kind = match raw.kind {
            Value::String(s) => s,
            _ => return Err(config_error("type", "must be a string")),
        };
        let fields = match raw.fields {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map.into_iter().collect(),
            Some(_) => return Err(config_error("fields", "must be an object")),
        };
        Self::from_fields_with(&kind, &fields, security)
    }

    /// Builds a config from a type name and its fields, with the strict
    /// [`AppSecurity`].
    pub fn from_fields(kind: &str, fields: &BTreeMap<String, Value>) -> Result<Self, Error> {
        Self::from_fields_with(kind, fields, AppSecurity::default())
    }

    /// Builds a config from a type name and its fields under the app's
    /// `security` settings. Plain `http` is accepted only to a loopback host
    /// unless `security` allows it; the fields' own security switches
    /// ([`APP_ONLY_FIELDS`]) and [`RESERVED_PARAMS`] are ignored
    /// ([`ignored_fields`] names them).
    pub fn from_fields_with(
        kind: &str,
        fields: &BTreeMap<String, Value>,
        security: AppSecurity,
    ) -> Result<Self, Error> {
        let f = Fields { fields, security };
        let Some(kind) = ProviderKind::from_type_name(kind) else {
            return Err(config_error(
                "type",
                format!("`{kind}` is not one of keycloak, auth0, oidc, default"),
            ));
        };
        match kind {
            ProviderKind::Keycloak => {
                let realm = f.string("realm")?;
                let issuer = match f.string_any(&["authority", "issuer"])? {
                    Some((name, authority)) => f.url(name, &authority)?,
                    None => {
                        let (name, base) = f.string_any(&["url", "base_url", "host"])?.ok_or_else(|| {
                            config_error("authority", "is missing (or give `url` and `realm`)")
                        })?;
                        let realm = realm
                            .as_deref()
                            .ok_or_else(|| config_error("realm", "is missing (needed with `url`)"))?;
                        if !is_realm_name(realm) {
                            return Err(config_error(
                                "realm",
                                "must be a name (not `.` or `..`, without `/`, `\\`, `?`, `#`, `%` or control characters)",
                            ));
                        }
                        let base = base.trim_end_matches('/');
                        let issuer = f.url(name, &format!("{base}/realms/{realm}"))?;
                        // The realm must stay the last path segment, after
                        // `/realms/`: not a query or fragment of `url`.
                        let in_realms = issuer
                            .path_segments()
                            .and_then(|mut s| s.nth_back(1))
                            .is_some_and(|s| s == "realms");
                        if !in_realms || issuer.query().is_some() || issuer.fragment().is_some() {
                            return Err(config_error(name, "must be a base URL without query or fragment"));
                        }
                        issuer
                    }
                };
                let issuer = normalize_issuer(ProviderKind::Keycloak, issuer);
                let realm = realm.or_else(|| {
                    let path = issuer.path();
                    path.rsplit_once("/realms/")
                        .map(|(_, r)| r.trim_end_matches('/').to_owned())
                });
                Ok(ProviderConfig::Keycloak(KeycloakConfig {
                    client: f.client(issuer)?,
                    realm,
                }))
            }
            ProviderKind::Auth0 => {
                let (name, domain) = f
                    .string_any(&["domain", "authority", "issuer"])?
                    .ok_or_else(|| config_error("domain", "is missing"))?;
                let with_scheme = if domain.contains("://") {
                    domain
                } else {
                    format!("https://{domain}")
                };
                let issuer = normalize_issuer(ProviderKind::Auth0, f.url(name, &with_scheme)?);
                Ok(ProviderConfig::Auth0(Auth0Config {
                    client: f.client(issuer)?,
                    audience: f.string("audience")?,
                    organization: f.string("organization")?,
                }))
            }
            ProviderKind::Oidc => {
                let (name, issuer) = f
                    .string_any(&["issuer", "authority"])?
                    .ok_or_else(|| config_error("issuer", "is missing"))?;
                let issuer = f.url(name, &issuer)?;
                Ok(ProviderConfig::Oidc(OidcConfig {
                    client: f.client(issuer)?,
                }))
            }
            ProviderKind::SyncServer => {
                let (name, url) = f
                    .string_any(&["url", "host", "base_url"])?
                    .ok_or_else(|| config_error("url", "is missing"))?;
                Ok(ProviderConfig::SyncServer(SyncServerConfig {
                    url: f.url(name, &url)?,
                }))
            }
        }
    }

    /// This config's [`ProviderProfile`]: what its type means for its tokens.
    pub fn profile(&self) -> ProviderProfile {
        use ProviderKind::{Auth0, Keycloak, Oidc};
        let (kind, client, audience, organization, realm) = match self {
            ProviderConfig::Keycloak(c) => (Keycloak, &c.client, None, None, c.realm.as_deref()),
            ProviderConfig::Auth0(c) => (
                Auth0,
                &c.client,
                c.audience.as_deref(),
                c.organization.as_deref(),
                None,
            ),
            ProviderConfig::Oidc(c) => (Oidc, &c.client, None, None, None),
            ProviderConfig::SyncServer(_) => return ProviderProfile::sync_server(),
        };
        ProviderProfile::oidc(ProfileSettings {
            kind,
            issuer: &client.issuer,
            client_id: &client.client_id,
            extra_params: &client.extra_params,
            audience,
            organization,
            realm,
        })
    }

    /// The OpenID Connect client settings, for the OIDC types.
    pub fn oidc_client(&self) -> Option<&OidcClientSettings> {
        match self {
            ProviderConfig::Keycloak(c) => Some(&c.client),
            ProviderConfig::Auth0(c) => Some(&c.client),
            ProviderConfig::Oidc(c) => Some(&c.client),
            ProviderConfig::SyncServer(_) => None,
        }
    }
}

fn config_error(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

struct Fields<'a> {
    fields: &'a BTreeMap<String, Value>,
    security: AppSecurity,
}

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<Option<String>, Error> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(config_error(name, "must be a string")),
        }
    }

    fn string_any(&self, names: &[&'static str]) -> Result<Option<(&'static str, String)>, Error> {
        for name in names {
            if let Some(v) = self.string(name)? {
                return Ok(Some((name, v)));
            }
        }
        Ok(None)
    }

    fn url(&self, field: &str, text: &str) -> Result<Url, Error> {
        let url = Url::parse(text).map_err(|e| config_error(field, format!("is not a valid URL: {e}")))?;
        check_transport(&url, self.security.allow_insecure_http)
            .map_err(|reason| config_error(field, reason))?;
        Ok(url)
    }

    fn client(&self, issuer: Url) -> Result<OidcClientSettings, Error> {
        let client_id = self
            .string_any(&["client_id", "clientId"])?
            .map(|(_, v)| v)
            .ok_or_else(|| config_error("client_id", "is missing"))?;
        let client_secret = self
            .string_any(&["client_secret", "clientSecret"])?
            .map(|(_, v)| ClientSecret::new(v));
        let redirect_uri = match self.string_any(&["redirect_uri", "redirectUri"])? {
            Some((name, v)) => {
                Some(Url::parse(&v).map_err(|e| config_error(name, format!("is not a valid URL: {e}")))?)
            }
            None => None,
        };
        let post_logout_redirect_uri =
            match self.string_any(&["post_logout_redirect_uri", "postLogoutRedirectUri"])? {
                Some((name, v)) => {
                    Some(Url::parse(&v).map_err(|e| config_error(name, format!("is not a valid URL: {e}")))?)
                }
                None => None,
            };
        let scopes = match self.string_any(&["scope", "scopes"])? {
            Some((_, s)) => s
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut extra_params = BTreeMap::new();
        if let Some(extra) = self.string("extraQueryParams")? {
            let parsed: BTreeMap<String, Value> = serde_json::from_str(&extra)
                .map_err(|e| config_error("extraQueryParams", format!("is not a JSON object: {e}")))?;
            for (k, v) in parsed {
                if !is_ignored_field(&k) {
                    extra_params.insert(k, value_text(v));
                }
            }
        }
        for (name, value) in self.fields {
            if !KNOWN_FIELDS.contains(&name.as_str()) && !is_ignored_field(name) && !value.is_null() {
                extra_params.insert(name.clone(), value_text(value.clone()));
            }
        }
        let dpop = match self.fields.get("dpop") {
            None | Some(Value::Null) => DpopMode::Off,
            Some(Value::Bool(on)) => {
                if *on {
                    DpopMode::On
                } else {
                    DpopMode::Off
                }
            }
            Some(Value::String(name)) => DpopMode::from_name(name.trim())
                .ok_or_else(|| config_error("dpop", "must be `off`, `on` or `required`"))?,
            Some(_) => {
                return Err(config_error(
                    "dpop",
                    "must be `off`, `on`, `required` or a boolean",
                ));
            }
        };
        let mut pushed_authorization = false;
        for name in ["pushed_authorization_requests", "par"] {
            match self.fields.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(on)) => pushed_authorization |= *on,
                Some(Value::String(text)) if text.trim() == "true" => pushed_authorization = true,
                Some(Value::String(text)) if text.trim() == "false" => {}
                Some(_) => return Err(config_error(name, "must be a boolean")),
            }
        }
        Ok(OidcClientSettings {
            issuer,
            client_id,
            client_secret,
            redirect_uri,
            post_logout_redirect_uri,
            scopes,
            extra_params,
            dpop,
            pushed_authorization,
        })
    }
}

fn value_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// True for a Keycloak realm name that `{url}/realms/{realm}` keeps as one
/// path segment: URL parsing reads `.`/`..` (also percent-encoded) as dot
/// segments, `\\` as `/`, drops tabs and newlines, and `?`/`#` end the path.
fn is_realm_name(realm: &str) -> bool {
    !realm.is_empty()
        && realm != "."
        && realm != ".."
        && !realm
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%'))
}

/// The one transport rule of every URL the crates call: `https` anywhere;
/// plain `http` only to a loopback host unless `allow_insecure_http`. The
/// error is the reason, to follow the field's name.
pub fn check_transport(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(
            "uses plain http to a non-loopback host (only the app's own `allow_insecure_http` setting allows it)"
                .into(),
        ),
        other => Err(format!("has unsupported scheme `{other}`")),
    }
}

/// [`check_transport`] for an endpoint that a discovery document of `issuer`
/// lists: besides, an `https` issuer's endpoints are `https` too. Plain
/// `http` (to a loopback host) is accepted only when the issuer itself is
/// plain `http` on a loopback host, or anywhere with `allow_insecure_http`.
pub fn check_endpoint_transport(
    issuer: &Url,
    endpoint: &Url,
    allow_insecure_http: bool,
) -> Result<(), String> {
    check_transport(endpoint, allow_insecure_http)?;
    let loopback_issuer = issuer.scheme() == "http" && is_loopback(issuer);
    if endpoint.scheme() != "https" && !allow_insecure_http && !loopback_issuer {
        return Err(
            "uses plain http although the issuer does not (only the app's own `allow_insecure_http` setting allows it)"
                .into(),
        );
    }
    Ok(())
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
