//! Provider settings from flags, environment variables or a
//! DataCollect-style `{type, fields}` JSON file, and the default SQLite
//! store in the per-user data folder (the `login` feature).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authresult_core::{AuthManager, ProviderConfig, Stores};
use authresult_oidc::{OidcOptions, build_provider};
use authresult_store::SqliteStore;
use serde_json::Value;

/// Where the provider and the store come from.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// A DataCollect-style provider config file: `{"type": "...", "fields": {...}}`.
    /// Flags below override its fields.
    #[arg(long, env = "AUTHRESULT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Provider type: keycloak, auth0, oidc or default (the sync server).
    #[arg(long = "type", env = "AUTHRESULT_TYPE", value_name = "TYPE")]
    pub provider_type: Option<String>,

    /// The issuer URL (oidc), realm URL (keycloak) or domain (auth0).
    #[arg(long, env = "AUTHRESULT_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,

    /// The OAuth client id.
    #[arg(long, env = "AUTHRESULT_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// The client secret, for confidential clients (prefer the env variable).
    #[arg(
        long,
        env = "AUTHRESULT_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,

    /// Scopes to ask for, space separated.
    #[arg(long, env = "AUTHRESULT_SCOPE", value_name = "SCOPES")]
    pub scope: Option<String>,

    /// The sync server URL (type `default`).
    #[arg(long, env = "AUTHRESULT_URL", value_name = "URL")]
    pub url: Option<String>,

    /// The name the session is stored under (default: the provider type).
    #[arg(long, env = "AUTHRESULT_PROVIDER", value_name = "NAME")]
    pub provider: Option<String>,

    /// The tenant (app) the session belongs to.
    #[arg(
        long,
        env = "AUTHRESULT_TENANT",
        default_value = "default",
        value_name = "NAME"
    )]
    pub tenant: String,

    /// An extra config field, e.g. `resource=urn:my:api`; unknown fields are
    /// sent as authorization parameters. Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// The SQLite session store (default: authresult/sessions.sqlite in the
    /// per-user data folder).
    #[arg(long, env = "AUTHRESULT_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Refresh tokens that expire within this many seconds.
    #[arg(
        long,
        env = "AUTHRESULT_MIN_VALIDITY",
        default_value_t = 30,
        value_name = "SECS"
    )]
    pub min_validity: u64,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

impl Settings {
    /// The provider config: the file's fields, overridden by flags.
    pub fn provider_config(&self) -> Result<ProviderConfig> {
        let (mut kind, mut fields) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                let value: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
                let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
                let fields: BTreeMap<String, Value> = match value.get("fields") {
                    Some(Value::Object(map)) => map.clone().into_iter().collect(),
                    _ => BTreeMap::new(),
                };
                (kind, fields)
            }
            None => (None, BTreeMap::new()),
        };
        if let Some(t) = &self.provider_type {
            kind = Some(t.clone());
        }
        let kind = kind.unwrap_or_else(|| "oidc".to_owned());
        let mut set = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                fields.insert(name.to_owned(), Value::String(v.clone()));
            }
        };
        let issuer_field = match kind.as_str() {
            "keycloak" => "authority",
            "auth0" => "domain",
            _ => "issuer",
        };
        set(issuer_field, &self.issuer);
        set("client_id", &self.client_id);
        set("client_secret", &self.client_secret);
        set("scope", &self.scope);
        set("url", &self.url);
        for (name, value) in &self.params {
            fields.insert(name.clone(), Value::String(value.clone()));
        }
        if kind != "default" && !fields.contains_key("client_id") && !fields.contains_key("clientId") {
            bail!("no client id: give --client-id, AUTHRESULT_CLIENT_ID or a --config file");
        }
        Ok(ProviderConfig::from_fields(&kind, &fields)?)
    }

    /// The name sessions are stored under.
    pub fn provider_name(&self) -> Result<String> {
        if let Some(p) = &self.provider {
            return Ok(p.clone());
        }
        Ok(self.provider_config()?.profile().type_name().to_owned())
    }

    /// The store file: `--store`, or the per-user data folder.
    pub fn store_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        let dirs = directories::ProjectDirs::from("org", "authresult", "authresult")
            .context("no home folder to keep the session store in; give --store PATH")?;
        Ok(dirs.data_dir().join("sessions.sqlite"))
    }

    /// Opens the default SQLite store.
    pub async fn open_store(&self) -> Result<SqliteStore> {
        let path = self.store_path()?;
        SqliteStore::open(&path)
            .await
            .with_context(|| format!("cannot open the session store {}", path.display()))
    }

    /// A manager over the store with the configured provider registered.
    pub async fn manager(&self) -> Result<(AuthManager, String)> {
        self.manager_with(OidcOptions::default()).await
    }

    /// [`manager`](Self::manager) with adapter options.
    pub async fn manager_with(&self, options: OidcOptions) -> Result<(AuthManager, String)> {
        // A wrong config is reported before the store file is created.
        self.provider_config()?;
        let store = self.open_store().await?;
        self.manager_over(Arc::new(store), options)
    }

    /// A manager over `store` (e.g. the default store with its sessions
    /// behind an offline vault) with the configured provider registered.
    pub fn manager_over(
        &self,
        store: impl Into<Stores>,
        options: OidcOptions,
    ) -> Result<(AuthManager, String)> {
        let config = self.provider_config()?;
        let name = self.provider_name()?;
        let provider = build_provider(&config, options)?;
        let manager = AuthManager::builder(self.tenant.as_str(), store)
            .provider(name.as_str(), provider)
            .margin(Duration::from_secs(self.min_validity))
            .build();
        Ok((manager, name))
    }
}
