//! DataCollect's app-config artifact (`authConfigs[]` + `syncServerUrl`),
//! the `Authorization` scheme its client sends per provider type, and (in
//! `stored.rs`) the token shapes its client stores. Pure parsing: fetching
//! an artifact and wiring providers live in `authresult-oidc`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use url::Url;

use crate::config::{AppSecurity, ProviderConfig, ignored_fields};
use crate::error::Error;
use crate::profile::{ProviderKind, SYNC_SERVER_PROVIDER};
use crate::session::ProviderId;

mod stored;

pub use stored::{MAX_STORED_TOKEN_BYTES, StoredToken};

/// Largest artifact accepted (8 MiB): artifacts carry the app's forms too.
pub const MAX_ARTIFACT_BYTES: usize = 8 * 1024 * 1024;

/// Fields of an `authConfigs[]` entry that hold a client secret.
const SECRET_FIELDS: &[&str] = &["client_secret", "clientSecret", "api_client_secret"];

/// A DataCollect app-config artifact (the JSON its server publishes at
/// `/artifacts/{artifactId}.json`, and the QR code points to), reduced to
/// what authentication needs.
///
/// Members other than `id`, `name`, `authConfigs` and `syncServerUrl`
/// (forms, entity data, external sync, ...) are ignored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppArtifact {
    /// The app's `id`: DataCollect's `configId`, and the tenant of its sessions.
    pub id: String,
    /// The app's display `name`, when given.
    pub name: Option<String>,
    /// The sync server (`syncServerUrl`; without a scheme, `https://` is
    /// assumed). `None` when the artifact has none: then there is no
    /// `default` login.
    pub sync_server_url: Option<Url>,
    /// One provider per supported `authConfigs[]` type, in artifact order,
    /// then the `default` sync-server login.
    pub providers: Vec<ArtifactProvider>,
    /// What was accepted but deserves attention (see [`ArtifactWarning`]).
    pub warnings: Vec<ArtifactWarning>,
}

/// One login of an artifact: its provider type (also its name in the
/// manager and its `Authorization` scheme) and the parsed configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ArtifactProvider {
    /// The `type` as written (`keycloak`, `auth0`, `oidc`, or `default`).
    pub provider_type: String,
    /// The configuration, under the same rules as a `{type, fields}` file.
    pub config: ProviderConfig,
}

impl ArtifactProvider {
    /// The name the provider is registered under: its type, as DataCollect
    /// keys its adapters and stored tokens.
    pub fn name(&self) -> ProviderId {
        ProviderId::new(self.provider_type.clone())
    }

    /// The `Authorization` scheme for its tokens: its profile's
    /// ([`ProviderProfile::scheme`](crate::ProviderProfile::scheme), DataCollect's
    /// [`datacollect_scheme`](crate::datacollect_scheme) of the type; `oidc` for its alias `generic`).
    pub fn scheme(&self) -> &'static str {
        self.config.profile().scheme()
    }
}

/// Something in an artifact that was accepted but should be looked at. The
/// text never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArtifactWarning {
    /// An `authConfigs[]` entry carries a client secret. DataCollect serves
    /// artifacts without authentication (and as a QR code), so the secret is
    /// public: rotate it and make the client public (PKCE). The secret is
    /// still used as configured.
    ClientSecretPublished {
        /// The entry's `type`.
        provider_type: String,
        /// The field that holds it, e.g. `client_secret`.
        field: &'static str,
    },
    /// An `authConfigs[]` entry of a type no adapter exists for (DataCollect
    /// skips those too, e.g. the admin UI's empty "None" type).
    UnsupportedType {
        /// Its position in `authConfigs`.
        index: usize,
        /// The type as written.
        provider_type: String,
    },
    /// Two `authConfigs[]` entries have the same type; as in DataCollect,
    /// the later one is used.
    DuplicateType {
        /// The type.
        provider_type: String,
    },
    /// `authConfigs[]` has a `default` entry; the sync-server login comes
    /// from `syncServerUrl` (DataCollect ignores the entry too).
    DefaultEntryIgnored {
        /// Its position in `authConfigs`.
        index: usize,
    },
    /// The artifact has no `syncServerUrl`, so there is no `default` login.
    NoSyncServerUrl,
    /// An `authConfigs[]` entry sets something only the app may set: a
    /// security switch (`allow_insecure_http`) or a parameter the client
    /// sets for the login's own protection (`state`, `nonce`, PKCE,
    /// `request`, ...). It is ignored: an artifact can never weaken the app.
    AppSettingIgnored {
        /// The entry's `type`.
        provider_type: String,
        /// The field, e.g. `allow_insecure_http` or `extraQueryParams.request`.
        field: String,
    },
}

impl fmt::Display for ArtifactWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactWarning::ClientSecretPublished { provider_type, field } => write!(
                f,
                "the `{provider_type}` auth config carries a client secret (`{field}`) in a published \
                 artifact: treat it as public, rotate it and use a public client"
            ),
            ArtifactWarning::UnsupportedType { index, provider_type } => write!(
                f,
                "authConfigs[{index}] has unsupported type `{provider_type}` and is skipped"
            ),
            ArtifactWarning::DuplicateType { provider_type } => write!(
                f,
                "several auth configs have type `{provider_type}`; the last one is used"
            ),
            ArtifactWarning::DefaultEntryIgnored { index } => write!(
                f,
                "authConfigs[{index}] has type `default`, which comes from `syncServerUrl`; the entry is ignored"
            ),
            ArtifactWarning::NoSyncServerUrl => {
                f.write_str("the artifact has no `syncServerUrl`: no `default` sync-server login")
            }
            ArtifactWarning::AppSettingIgnored { provider_type, field } => write!(
                f,
                "the `{provider_type}` auth config sets `{field}`, which only the app may set; it is ignored"
            ),
        }
    }
}

impl AppArtifact {
    /// Parses an artifact's JSON text (at most [`MAX_ARTIFACT_BYTES`]).
    ///
    /// Every supported `authConfigs[]` entry is parsed with
    /// [`ProviderConfig::from_fields`] (unknown fields become extra
    /// authorization parameters, plain `http` only to loopback); an entry
    /// that fails is an error naming it (`authConfigs[1].client_id`), never
    /// skipped. `allow_insecure_http` is the app's own setting (never the
    /// artifact's): it applies to every entry and to `syncServerUrl`. An
    /// entry's own security switches and reserved parameters are ignored
    /// with an [`ArtifactWarning::AppSettingIgnored`].
    pub fn from_json_str(json: &str, allow_insecure_http: bool) -> Result<Self, Error> {
        if json.len() > MAX_ARTIFACT_BYTES {
            return Err(artifact_error(
                "(document)",
                format!("is larger than {MAX_ARTIFACT_BYTES} bytes"),
            ));
        }
        // Strict at the top, where the app's id, providers and sync URL are:
        // a member given twice is refused, not read as whichever a parser keeps.
        let object =
            crate::parse_strict_object(json).map_err(|reason| artifact_error("(document)", reason))?;
        Self::from_json_value(Value::Object(object), allow_insecure_http)
    }

    /// [`from_json_str`](Self::from_json_str) on a parsed value.
    pub fn from_json_value(value: Value, allow_insecure_http: bool) -> Result<Self, Error> {
        let Value::Object(mut object) = value else {
            return Err(artifact_error("(document)", "is not a JSON object"));
        };
        let id = match object.remove("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(artifact_error("id", "is missing (the app's configId)"));
            }
            Some(_) => return Err(artifact_error("id", "must be a string")),
        };
        let name = match object.remove("name") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let mut warnings = Vec::new();
        let mut providers: Vec<ArtifactProvider> = Vec::new();
        let entries = match object.remove("authConfigs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(artifact_error("authConfigs", "must be an array")),
        };
        for (index, entry) in entries.into_iter().enumerate() {
            let Some(provider) = parse_entry(index, entry, allow_insecure_http, &mut warnings)? else {
                continue;
            };
            if let Some(pos) = providers
                .iter()
                .position(|p| p.provider_type == provider.provider_type)
            {
                warnings.push(ArtifactWarning::DuplicateType {
                    provider_type: provider.provider_type.clone(),
                });
                providers.remove(pos);
            }
            providers.push(provider);
        }
        let sync_server_url = match object.remove("syncServerUrl") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                let (url, provider) = sync_server(&s, allow_insecure_http)?;
                providers.push(provider);
                Some(url)
            }
            Some(_) => return Err(artifact_error("syncServerUrl", "must be a string")),
        };
        if sync_server_url.is_none() {
            warnings.push(ArtifactWarning::NoSyncServerUrl);
        }
        Ok(AppArtifact {
            id,
            name,
            sync_server_url,
            providers,
            warnings,
        })
    }

    /// The `Authorization` scheme for tokens of the provider registered as
    /// `provider`, when the artifact has it.
    pub fn scheme_of(&self, provider: &str) -> Option<&'static str> {
        self.providers
            .iter()
            .find(|p| p.provider_type == provider)
            .map(ArtifactProvider::scheme)
    }
}

fn parse_entry(
    index: usize,
    entry: Value,
    allow_insecure_http: bool,
    warnings: &mut Vec<ArtifactWarning>,
) -> Result<Option<ArtifactProvider>, Error> {
    let at = |field: &str| format!("authConfigs[{index}].{field}");
    let Value::Object(mut entry) = entry else {
        return Err(artifact_error(
            &format!("authConfigs[{index}]"),
            "must be an object",
        ));
    };
    let provider_type = match entry.remove("type") {
        Some(Value::String(s)) => s.trim().to_owned(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(artifact_error(&at("type"), "must be a string")),
    };
    if provider_type == SYNC_SERVER_PROVIDER {
        warnings.push(ArtifactWarning::DefaultEntryIgnored { index });
        return Ok(None);
    }
    // The types DataCollect's client builds an adapter for, plus this
    // library's generic `oidc` (and its alias `generic`).
    let supported =
        ProviderKind::from_type_name(&provider_type).is_some_and(|k| k != ProviderKind::SyncServer);
    if !supported {
        warnings.push(ArtifactWarning::UnsupportedType {
            index,
            provider_type: sanitize(&provider_type),
        });
        return Ok(None);
    }
    let fields: BTreeMap<String, Value> = match entry.remove("fields") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map.into_iter().collect(),
        Some(_) => return Err(artifact_error(&at("fields"), "must be an object")),
    };
    for field in SECRET_FIELDS {
        if matches!(fields.get(*field), Some(Value::String(s)) if !s.trim().is_empty()) {
            warnings.push(ArtifactWarning::ClientSecretPublished {
                provider_type: provider_type.clone(),
                field,
            });
        }
    }
    for field in ignored_fields(&fields) {
        warnings.push(ArtifactWarning::AppSettingIgnored {
            provider_type: provider_type.clone(),
            field: sanitize(&field),
        });
    }
    let security = AppSecurity::insecure_http(allow_insecure_http);
    let config =
        ProviderConfig::from_fields_with(&provider_type, &fields, security).map_err(|e| match e {
            Error::InvalidConfig { field, reason } => artifact_error(&at(&field), reason),
            other => other,
        })?;
    Ok(Some(ArtifactProvider {
        provider_type,
        config,
    }))
}

fn sync_server(text: &str, allow_insecure_http: bool) -> Result<(Url, ArtifactProvider), Error> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let mut fields = BTreeMap::new();
    fields.insert("url".to_owned(), Value::String(with_scheme));
    let security = AppSecurity::insecure_http(allow_insecure_http);
    let config =
        ProviderConfig::from_fields_with(SYNC_SERVER_PROVIDER, &fields, security).map_err(|e| match e {
            Error::InvalidConfig { reason, .. } => artifact_error("syncServerUrl", reason),
            other => other,
        })?;
    let ProviderConfig::SyncServer(server) = &config else {
        return Err(artifact_error("syncServerUrl", "is not a sync server URL"));
    };
    let url = server.url.clone();
    let provider = ArtifactProvider {
        provider_type: SYNC_SERVER_PROVIDER.to_owned(),
        config,
    };
    Ok((url, provider))
}

/// A type name fit for a message: printable, short.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn artifact_error(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
