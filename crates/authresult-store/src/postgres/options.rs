//! How to reach the server: [`PostgresOptions`], connecting the pool, and
//! the connection-string helpers (statement timeout, quoting, the target
//! named in `Debug`).

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::pool::config_error;
use super::sql::Sql;
use super::{PostgresStore, schema};
use crate::error::StoreError;
use crate::key::EncryptionKey;

/// The PostgreSQL schema the tables live in unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "authresult";
/// Connections in the pool unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10;
/// How long connecting (and waiting for a free pooled connection) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one SQL statement may run by default.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The `application_name` the connections report unless told otherwise.
const DEFAULT_APPLICATION_NAME: &str = "authresult-store";
/// PostgreSQL's longest identifier, in bytes.
const MAX_IDENTIFIER_LEN: usize = 63;

/// How to connect a [`PostgresStore`]; [`PostgresStore::connect`] uses the defaults.
///
/// ```no_run
/// # async fn demo() -> Result<(), authresult_store::StoreError> {
/// use std::time::Duration;
/// use authresult_store::{EncryptionKey, PostgresOptions};
/// let store = PostgresOptions::new("postgres://app@db.internal/app")
///     .schema("authresult")
///     .max_connections(20)
///     .statement_timeout(Duration::from_secs(5))
///     .encryption_key(EncryptionKey::from_passphrase("correct horse battery staple"))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresOptions {
    url: String,
    key: Option<EncryptionKey>,
    schema: String,
    max_connections: usize,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
    application_name: Option<String>,
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is left out: it may hold a password.
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("encrypted", &self.key.is_some())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// Options for the server and database at `url`: a `postgres://` URL or
    /// a `key=value` connection string, as libpq takes them (`host`, `port`,
    /// `user`, `password`, `dbname`, `options`, `sslmode`, ...).
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            key: None,
            schema: DEFAULT_SCHEMA.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: None,
            application_name: None,
            tls: None,
        }
    }

    /// Turns encryption at rest on: tokens are sealed under `key`. Existing
    /// clear rows are sealed when a store first connects with a key; every
    /// instance must then use the same key.
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The PostgreSQL schema holding the tables (default `authresult`),
    /// created when missing. Instances sharing sessions use the same schema;
    /// separate schemas are separate stores.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the pool opens (default 10).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long opening a connection, and waiting for a free one when all
    /// are in use, may take (default 10 s). Past it an operation fails with
    /// a transient error.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may run before the server cancels it (zero
    /// turns the limit off). Applied as the connections' `statement_timeout`,
    /// next to any `options` of the URL. Default: the URL's own
    /// `statement_timeout` option if it has one, else 30 s.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// The `application_name` the connections report in
    /// `pg_stat_activity` (default: the URL's, else `authresult-store`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Connects with TLS (rustls 0.23) using `config`, for servers that are
    /// not on the loopback interface. Add `sslmode=require` to the URL so a
    /// server without TLS is refused rather than used in clear. Without this
    /// the store connects without TLS.
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects, creates the schema and tables or migrates them forward, and
    /// checks the encryption key.
    ///
    /// Several instances may connect at once: schema work runs under a
    /// transaction-scoped advisory lock. Fails with a typed error, changing
    /// nothing, when the schema was written by a newer version
    /// ([`StoreError::NewerSchema`]), holds another application's tables
    /// ([`StoreError::ForeignSchema`]), or is encrypted with another key or
    /// while no key was given.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let PostgresOptions {
            url,
            key,
            schema,
            max_connections,
            connect_timeout,
            statement_timeout,
            application_name,
            tls,
        } = self;
        check_schema_name(&schema)?;
        if max_connections == 0 {
            return Err(config_error("the pool needs at least one connection"));
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::PostgresConfig {
            reason: "the connection url or string is invalid".into(),
            source: Some(Box::new(e)),
        })?;
        config.connect_timeout(connect_timeout);
        if let Some(name) = application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name(DEFAULT_APPLICATION_NAME);
        }
        let options = with_statement_timeout(config.get_options(), statement_timeout);
        config.options(options);
        let application_name = config.get_application_name().unwrap_or_default().to_owned();
        let target = describe_target(&config);
        let mut listen_config = config.clone();
        listen_config.application_name(format!("{application_name}/logouts"));
        let listen = super::Listen {
            config: listen_config,
            tls: tls.clone(),
        };
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            Some(tls) => Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            ),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(connect_timeout))
            .create_timeout(Some(connect_timeout))
            .recycle_timeout(Some(connect_timeout))
            .build()
            .map_err(|e| StoreError::PostgresConfig {
                reason: "the connection pool cannot be built".into(),
                source: Some(Box::new(e)),
            })?;
        let quoted = quote_ident(&schema);
        let cipher = schema::prepare(&pool, &schema, &quoted, key.as_ref()).await?;
        let sql = Sql::new(&quoted, cipher.is_some());
        Ok(PostgresStore {
            pool,
            sql,
            cipher,
            schema,
            target,
            application_name,
            replay_purged_at: std::sync::atomic::AtomicU64::new(0),
            listen,
        })
    }
}

/// `options` with `-c statement_timeout=<ms>` appended (the URL's own options
/// kept). Without an explicit `timeout`, a statement timeout already in the
/// options is left alone, else the default is added.
pub(super) fn with_statement_timeout(options: Option<&str>, timeout: Option<Duration>) -> String {
    let existing = options.map(str::trim).filter(|o| !o.is_empty());
    if timeout.is_none()
        && let Some(existing) = existing
        && existing.contains("statement_timeout")
    {
        return existing.to_owned();
    }
    let timeout = timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .min(i32::MAX as u64);
    let ours = format!("-c statement_timeout={ms}");
    match existing {
        Some(existing) => format!("{existing} {ours}"),
        None => ours,
    }
}

/// A PostgreSQL identifier, quoted: `"name"`, inner quotes doubled.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Any text PostgreSQL takes as an identifier: 1 to 63 bytes, no NUL.
pub(super) fn check_schema_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_IDENTIFIER_LEN || name.contains('\0') {
        return Err(config_error(
            "a schema name must be 1 to 63 bytes long, without NUL characters",
        ));
    }
    Ok(())
}

/// Hosts, ports and database, for `Debug` (never the password).
fn describe_target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}:{}/{}",
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or_default()
    )
}
