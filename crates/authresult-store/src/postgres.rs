//! `PostgresStore`: sessions on a PostgreSQL server, shared by every instance
//! of an application, through a connection pool.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::{
    CasOutcome, Error, PendingAuthorization, PendingRevocation, Session, SessionKey, SessionStore, TenantId,
    Timestamp,
};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSqlOwned, ToSql};

use crate::codec::{self, Encoded};
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey, fill_random};

mod revocation;
mod schema;

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
/// Extra attempts after a serialization failure or deadlock.
const CONFLICT_RETRIES: u32 = 5;
/// PostgreSQL's longest identifier, in bytes.
const MAX_IDENTIFIER_LEN: usize = 63;

/// A statement parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

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
        })
    }
}

/// A [`SessionStore`] on a PostgreSQL server, shared by every instance of an
/// application (several processes, several machines).
///
/// * One pool of connections (deadpool); a connection the server dropped is
///   replaced by itself, so the store outlives server restarts: operations
///   during the outage fail with transient errors
///   ([`StoreError::PostgresUnavailable`]), later ones succeed again.
/// * Every write is one statement or one transaction; a write that returned
///   `Ok` was committed. Serialization failures and deadlocks (SQLSTATE
///   `40001`, `40P01`) are retried inside the store.
/// * Sessions are keyed by tenant, user and provider (the primary key, so a lookup
///   costs the same with a thousand or a million sessions); the store also
///   holds each tenant's username, pending logins and refresh leases.
/// * The refresh lease is one atomic `INSERT ... ON CONFLICT DO UPDATE ...
///   WHERE` on the `leases` table, with an expiry, so one instance refreshes
///   at a time and a crashed holder blocks the others only until its lease
///   expires.
/// * The tables live in one schema ([`PostgresOptions::schema`]), versioned
///   in `authresult_meta` and migrated forward on connect; a schema from a
///   newer version is refused.
/// * With an [`EncryptionKey`], tokens are sealed (XChaCha20-Poly1305) as in
///   [`SqliteStore`](crate::SqliteStore), bound to their row; tenant,
///   provider, subject and expiry stay queryable.
///
/// Needs a Tokio runtime.
pub struct PostgresStore {
    pool: Pool,
    sql: Sql,
    cipher: Option<Cipher>,
    schema: String,
    target: String,
    application_name: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("encrypted", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with default options (schema
    /// `authresult`, no encryption); see [`PostgresOptions`] for more.
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        PostgresOptions::new(url).connect().await
    }

    /// The PostgreSQL schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `application_name` the store's connections report.
    pub fn application_name(&self) -> &str {
        &self.application_name
    }

    /// True when tokens are encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// Closes the pool: idle connections are closed now, busy ones when
    /// their operation ends; later operations fail with [`StoreError::Stopped`].
    pub fn close(&self) {
        self.pool.close();
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(StoreError::from_pool)
    }

    /// Runs `attempt` again after a serialization failure or deadlock (the
    /// server rolled it back) and, for operations that give the same answer
    /// when repeated, once after a dropped connection.
    async fn retry<T, F, Fut>(&self, repeatable: bool, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut conflicts = 0;
        let mut reconnected = false;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable_conflict() && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tokio::time::sleep(backoff(conflicts)).await;
                }
                Err(StoreError::PostgresUnavailable { .. }) if repeatable && !reconnected => {
                    reconnected = true;
                }
                other => return other,
            }
        }
    }

    fn decode_session(
        &self,
        tenant: &str,
        user: &str,
        provider: &str,
        row: &Row,
        first: usize,
    ) -> Result<Session, StoreError> {
        let version: i64 = column(row, first)?;
        let body: String = column(row, first + 1)?;
        let sealed: Option<Vec<u8>> = column(row, first + 2)?;
        codec::decode_session(
            tenant,
            user,
            provider,
            version_of(version)?,
            &body,
            sealed.as_deref(),
            self.cipher.as_ref(),
        )
    }

    async fn get_once(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let client = self.client().await?;
        let result = self.get_on(&client, key).await;
        settle(client, result)
    }

    async fn get_on(&self, client: &Object, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let statement = client.prepare_cached(&self.sql.get).await.map_err(pg)?;
        let row = client
            .query_opt(
                &statement,
                &[&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()],
            )
            .await
            .map_err(pg)?;
        row.map(|row| {
            self.decode_session(
                key.tenant.as_str(),
                key.user.as_str(),
                key.provider.as_str(),
                &row,
                0,
            )
        })
        .transpose()
    }

    async fn list_once(&self, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let client = self.client().await?;
        let result = self.list_on(&client, tenant).await;
        settle(client, result)
    }

    async fn list_on(&self, client: &Object, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let statement = client.prepare_cached(&self.sql.list).await.map_err(pg)?;
        let rows = client.query(&statement, &[&tenant.as_str()]).await.map_err(pg)?;
        rows.iter()
            .map(|row| {
                let user: String = column(row, 0)?;
                let provider: String = column(row, 1)?;
                self.decode_session(tenant.as_str(), &user, &provider, row, 2)
            })
            .collect()
    }

    async fn put_once(&self, session: &Session, encoded: &Encoded) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let result = self.put_on(&client, session, encoded).await;
        settle(client, result)
    }

    async fn put_on(&self, client: &Object, session: &Session, encoded: &Encoded) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(&self.sql.put).await.map_err(pg)?;
        let row = client
            .query_opt(&statement, &session_params(session, encoded).as_params())
            .await
            .map_err(pg)?;
        // No row: the guard of a store without a key found the schema encrypted.
        let row = row.ok_or(StoreError::KeyRequired)?;
        version_of(column(&row, 0)?)
    }

    async fn compare_and_swap_once(
        &self,
        session: &Session,
        encoded: &Encoded,
        expected: u64,
    ) -> Result<CasOutcome, StoreError> {
        let mut client = self.client().await?;
        let result = self
            .compare_and_swap_on(&mut client, session, encoded, expected)
            .await;
        settle(client, result)
    }

    async fn compare_and_swap_on(
        &self,
        client: &mut Object,
        session: &Session,
        encoded: &Encoded,
        expected: u64,
    ) -> Result<CasOutcome, StoreError> {
        let lock = client.prepare_cached(&self.sql.lock_version).await.map_err(pg)?;
        let key: [Param<'_>; 3] = [
            &session.key.tenant.as_str(),
            &session.key.provider.as_str(),
            &session.key.user.as_str(),
        ];
        let tx = client.transaction().await.map_err(pg)?;
        let current = tx
            .query_opt(&lock, &key)
            .await
            .map_err(pg)?
            .map(|row| {
                let version = column::<i64>(&row, 0).and_then(version_of)?;
                let login = codec::login_id_of(&column::<String>(&row, 1)?)?;
                Ok::<_, StoreError>((version, login))
            })
            .transpose()?;
        if self.cipher.is_none() {
            // Run after the row lock, so it sees an encryption that committed meanwhile.
            let sealed = tx.query_one(&self.sql.schema_is_sealed, &[]).await.map_err(pg)?;
            if column::<bool>(&sealed, 0)? {
                tx.rollback().await.map_err(pg)?;
                return Err(StoreError::KeyRequired);
            }
        }
        let same = match &current {
            None => expected == 0,
            Some((version, login)) => *version == expected && *login == session.login_id,
        };
        if !same {
            tx.rollback().await.map_err(pg)?;
            return Ok(CasOutcome::Conflict {
                current: current.map(|(version, _)| version),
            });
        }
        let version = expected.checked_add(1).ok_or_else(version_overflow)?;
        let version_param = to_i64(version)?;
        let params = session_params(session, encoded);
        let mut values = params.as_params();
        let written = if expected == 0 {
            let insert = tx.prepare_cached(&self.sql.cas_insert).await.map_err(pg)?;
            tx.query_opt(&insert, &values).await.map_err(pg)?
        } else {
            let update = tx.prepare_cached(&self.sql.cas_update).await.map_err(pg)?;
            values.push(&version_param);
            tx.query_opt(&update, &values).await.map_err(pg)?
        };
        if written.is_none() {
            // Created meanwhile by another writer (the insert found its row).
            let current = tx
                .query_opt(&lock, &key)
                .await
                .map_err(pg)?
                .map(|row| column::<i64>(&row, 0).and_then(version_of))
                .transpose()?;
            tx.rollback().await.map_err(pg)?;
            return Ok(CasOutcome::Conflict { current });
        }
        tx.commit().await.map_err(pg)?;
        Ok(CasOutcome::Stored { version })
    }

    async fn execute_once(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let result = self.execute_on(&client, sql, params).await;
        settle(client, result)
    }

    async fn execute_on(&self, client: &Object, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(sql).await.map_err(pg)?;
        client.execute(&statement, params).await.map_err(pg)
    }

    async fn username_once(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let result = self.username_on(&client, tenant).await;
        settle(client, result)
    }

    async fn username_on(&self, client: &Object, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let statement = client.prepare_cached(&self.sql.username).await.map_err(pg)?;
        client
            .query_opt(&statement, &[&tenant.as_str()])
            .await
            .map_err(pg)?
            .map(|row| column(&row, 0))
            .transpose()
    }

    async fn put_pending_once(
        &self,
        pending: &PendingAuthorization,
        encoded: &Encoded,
    ) -> Result<(), StoreError> {
        let created_at = ts(pending.created_at);
        let expires_at = ts(pending.expires_at);
        let written = self
            .execute_once(
                &self.sql.put_pending,
                &[
                    &pending.key.tenant.as_str(),
                    &pending.state,
                    &pending.key.provider.as_str(),
                    &created_at,
                    &expires_at,
                    &encoded.body,
                    &encoded.sealed,
                ],
            )
            .await?;
        if written == 0 {
            return Err(StoreError::KeyRequired);
        }
        Ok(())
    }

    async fn take_pending_once(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let mut client = self.client().await?;
        let result = self.take_pending_on(&mut client, tenant, state, now).await;
        settle(client, result)
    }

    async fn take_pending_on(
        &self,
        client: &mut Object,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let statement = client.prepare_cached(&self.sql.take_pending).await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let Some(row) = tx
            .query_opt(&statement, &[&tenant.as_str(), &state])
            .await
            .map_err(pg)?
        else {
            tx.commit().await.map_err(pg)?;
            return Ok(None);
        };
        let expires_at: i64 = column(&row, 0)?;
        if expires_at <= ts(now) {
            // Expired: gone either way, and refused.
            tx.commit().await.map_err(pg)?;
            return Ok(None);
        }
        let body: String = column(&row, 1)?;
        let sealed: Option<Vec<u8>> = column(&row, 2)?;
        // A row that cannot be read stays.
        let pending = match codec::decode_pending(
            tenant.as_str(),
            state,
            &body,
            sealed.as_deref(),
            self.cipher.as_ref(),
        ) {
            Ok(pending) => pending,
            Err(e) => {
                tx.rollback().await.map_err(pg)?;
                return Err(e);
            }
        };
        tx.commit().await.map_err(pg)?;
        Ok(Some(pending))
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        Ok(self.retry(true, || self.get_once(key)).await?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        Ok(self.retry(true, || self.list_once(tenant)).await?)
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        Ok(self.retry(false, || self.put_once(session, &encoded)).await?)
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        Ok(self
            .retry(false, || self.compare_and_swap_once(session, &encoded, expected))
            .await?)
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        let params: [Param<'_>; 3] = [&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()];
        let removed = self
            .retry(false, || self.execute_once(&self.sql.remove, &params))
            .await?;
        Ok(removed > 0)
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        let version = to_i64(session.version)?;
        let params: [Param<'_>; 5] = [
            &session.key.tenant.as_str(),
            &session.key.provider.as_str(),
            &version,
            &session.login_id.as_str(),
            &session.key.user.as_str(),
        ];
        let removed = self
            .retry(false, || self.execute_once(&self.sql.remove_if_current, &params))
            .await?;
        Ok(removed > 0)
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        let params: [Param<'_>; 1] = [&tenant.as_str()];
        Ok(self
            .retry(false, || self.execute_once(&self.sql.remove_tenant, &params))
            .await?)
    }

    async fn username(&self, tenant: &TenantId) -> Result<Option<String>, Error> {
        Ok(self.retry(true, || self.username_once(tenant)).await?)
    }

    async fn set_username(&self, tenant: &TenantId, username: Option<String>) -> Result<(), Error> {
        let tenant = tenant.as_str();
        let (sql, params): (&str, Vec<Param<'_>>) = match &username {
            Some(name) => (&self.sql.set_username, vec![&tenant, name]),
            None => (&self.sql.clear_username, vec![&tenant]),
        };
        self.retry(true, || self.execute_once(sql, &params)).await?;
        Ok(())
    }

    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        let encoded = codec::encode_pending(pending, self.cipher.as_ref())?;
        Ok(self
            .retry(true, || self.put_pending_once(pending, &encoded))
            .await?)
    }

    async fn take_pending(
        &self,
        tenant: &TenantId,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        Ok(self
            .retry(false, || self.take_pending_once(tenant, state, now))
            .await?)
    }

    async fn purge_pending(&self, now: Timestamp) -> Result<u64, Error> {
        let now = ts(now);
        let params: [Param<'_>; 1] = [&now];
        Ok(self
            .retry(false, || self.execute_once(&self.sql.purge_pending, &params))
            .await?)
    }

    async fn try_acquire_lease(
        &self,
        key: &SessionKey,
        holder: &str,
        _now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, Error> {
        // The database's clock, not `now`: instances whose clocks disagree
        // must agree on whether a lease has expired.
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let params: [Param<'_>; 5] = [
            &key.tenant.as_str(),
            &key.provider.as_str(),
            &holder,
            &ttl,
            &key.user.as_str(),
        ];
        // Repeatable: a second attempt by the same holder renews its own lease.
        let taken = self
            .retry(true, || self.execute_once(&self.sql.acquire_lease, &params))
            .await?;
        Ok(taken == 1)
    }

    async fn release_lease(&self, key: &SessionKey, holder: &str) -> Result<(), Error> {
        let params: [Param<'_>; 4] = [
            &key.tenant.as_str(),
            &key.provider.as_str(),
            &holder,
            &key.user.as_str(),
        ];
        self.retry(true, || self.execute_once(&self.sql.release_lease, &params))
            .await?;
        Ok(())
    }

    async fn put_pending_revocation(&self, revocation: &PendingRevocation) -> Result<(), Error> {
        let encoded = codec::encode_revocation(revocation, self.cipher.as_ref())?;
        // Repeatable: the same id is written again with the same content.
        Ok(self
            .retry(true, || self.put_revocation_once(revocation, &encoded))
            .await?)
    }

    async fn pending_revocations(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<PendingRevocation>, Error> {
        Ok(self.retry(true, || self.revocations_once(tenant, now)).await?)
    }

    async fn remove_pending_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        Ok(self
            .retry(false, || self.remove_revocation_once(tenant, id))
            .await?)
    }
}

/// The statements, with the schema name quoted in.
#[derive(Debug)]
struct Sql {
    get: String,
    list: String,
    put: String,
    lock_version: String,
    schema_is_sealed: String,
    cas_insert: String,
    cas_update: String,
    remove: String,
    remove_if_current: String,
    remove_tenant: String,
    username: String,
    set_username: String,
    clear_username: String,
    put_pending: String,
    take_pending: String,
    purge_pending: String,
    acquire_lease: String,
    release_lease: String,
}

impl Sql {
    /// `s` is the quoted schema name; a store without a key (`encrypted`
    /// false) guards its writes so they never put clear tokens into a schema
    /// another instance has encrypted.
    fn new(s: &str, encrypted: bool) -> Self {
        let sealed = format!("EXISTS (SELECT 1 FROM {s}.authresult_meta WHERE key_check IS NOT NULL)");
        let guard = if encrypted {
            String::new()
        } else {
            format!("WHERE NOT {sealed}")
        };
        // The database's clock in Unix milliseconds, for lease expiry.
        let db_now = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
        let i64_max = i64::MAX;
        let session_values = "$1::text, $2::text, $3::text, $4::bigint, $5::bigint, 1, $6::bigint, $7::text, $8::bytea, $9::text";
        let session_columns =
            "tenant, provider, subject, expires_at, issued_at, version, updated_at, body, sealed, user_id";
        Sql {
            get: format!(
                "SELECT version, body, sealed FROM {s}.sessions
                 WHERE tenant = $1 AND provider = $2 AND user_id = $3"
            ),
            list: format!(
                "SELECT user_id, provider, version, body, sealed FROM {s}.sessions
                 WHERE tenant = $1 ORDER BY user_id, provider"
            ),
            put: format!(
                "INSERT INTO {s}.sessions AS cur ({session_columns})
                 SELECT {session_values} {guard}
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE SET subject = EXCLUDED.subject,
                    expires_at = EXCLUDED.expires_at, issued_at = EXCLUDED.issued_at,
                    version = cur.version + 1, updated_at = EXCLUDED.updated_at,
                    body = EXCLUDED.body, sealed = EXCLUDED.sealed
                 RETURNING version"
            ),
            lock_version: format!(
                "SELECT version, body FROM {s}.sessions
                 WHERE tenant = $1 AND provider = $2 AND user_id = $3 FOR UPDATE"
            ),
            schema_is_sealed: format!("SELECT {sealed}"),
            cas_insert: format!(
                "INSERT INTO {s}.sessions ({session_columns}) VALUES ({session_values})
                 ON CONFLICT (tenant, user_id, provider) DO NOTHING
                 RETURNING version"
            ),
            cas_update: format!(
                "UPDATE {s}.sessions SET subject = $3, expires_at = $4, issued_at = $5,
                    updated_at = $6, body = $7, sealed = $8, version = $10
                 WHERE tenant = $1 AND provider = $2 AND user_id = $9
                 RETURNING version"
            ),
            remove: format!("DELETE FROM {s}.sessions WHERE tenant = $1 AND provider = $2 AND user_id = $3"),
            remove_if_current: format!(
                "DELETE FROM {s}.sessions WHERE tenant = $1 AND provider = $2 AND user_id = $5
                    AND version = $3
                    AND COALESCE(body::json ->> 'login_id', '') = $4::text"
            ),
            remove_tenant: format!("DELETE FROM {s}.sessions WHERE tenant = $1"),
            username: format!("SELECT username FROM {s}.usernames WHERE tenant = $1"),
            set_username: format!(
                "INSERT INTO {s}.usernames (tenant, username) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET username = EXCLUDED.username"
            ),
            clear_username: format!("DELETE FROM {s}.usernames WHERE tenant = $1"),
            put_pending: format!(
                "INSERT INTO {s}.pending AS cur (tenant, state, provider, created_at, expires_at, body, sealed)
                 SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text, $7::bytea {guard}
                 ON CONFLICT (tenant, state) DO UPDATE SET provider = EXCLUDED.provider,
                    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
                    body = EXCLUDED.body, sealed = EXCLUDED.sealed"
            ),
            take_pending: format!(
                "DELETE FROM {s}.pending WHERE tenant = $1 AND state = $2 RETURNING expires_at, body, sealed"
            ),
            purge_pending: format!("DELETE FROM {s}.pending WHERE expires_at <= $1"),
            acquire_lease: format!(
                "INSERT INTO {s}.leases AS cur (tenant, provider, holder, expires_at, user_id)
                 VALUES ($1, $2, $3, LEAST({db_now}::numeric + $4::bigint, {i64_max})::bigint, $5)
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE
                    SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                    WHERE cur.holder = EXCLUDED.holder OR cur.expires_at <= {db_now}"
            ),
            release_lease: format!(
                "DELETE FROM {s}.leases WHERE tenant = $1 AND provider = $2 AND holder = $3 AND user_id = $4"
            ),
        }
    }
}

/// The values of a session row, in the order of `Sql::put`'s parameters.
struct SessionParams<'a> {
    tenant: &'a str,
    user: &'a str,
    provider: &'a str,
    subject: Option<&'a str>,
    expires_at: Option<i64>,
    issued_at: i64,
    updated_at: i64,
    body: &'a str,
    sealed: Option<&'a [u8]>,
}

impl SessionParams<'_> {
    fn as_params(&self) -> Vec<Param<'_>> {
        vec![
            &self.tenant,
            &self.provider,
            &self.subject,
            &self.expires_at,
            &self.issued_at,
            &self.updated_at,
            &self.body,
            &self.sealed,
            &self.user,
        ]
    }
}

fn session_params<'a>(session: &'a Session, encoded: &'a Encoded) -> SessionParams<'a> {
    SessionParams {
        tenant: session.key.tenant.as_str(),
        user: session.key.user.as_str(),
        provider: session.key.provider.as_str(),
        subject: session.subject.as_deref(),
        expires_at: session.expires_at.map(ts),
        issued_at: ts(session.issued_at),
        updated_at: ts(Timestamp::now()),
        body: &encoded.body,
        sealed: encoded.sealed.as_deref(),
    }
}

/// Hands `client` back to the pool, unless `result` says its connection
/// failed: then it is dropped for good, so no later operation gets it before
/// the pool has noticed it is closed.
fn settle<T>(client: Object, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if matches!(result, Err(StoreError::PostgresUnavailable { .. })) {
        drop(Object::take(client));
    }
    result
}

fn pg(error: tokio_postgres::Error) -> StoreError {
    StoreError::from_postgres(error)
}

fn config_error(reason: &str) -> StoreError {
    StoreError::PostgresConfig {
        reason: reason.to_owned(),
        source: None,
    }
}

/// A column of `row`; a value of the wrong type is damage, not a session.
fn column<T: FromSqlOwned>(row: &Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(|_| StoreError::Corrupt {
        reason: "a stored value has the wrong type".into(),
        source: None,
    })
}

/// A timestamp as a `BIGINT` of Unix milliseconds; beyond `i64::MAX` ms is "forever" anyway.
fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn version_of(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt {
        reason: "a session row has a negative version".into(),
        source: None,
    })
}

fn to_i64(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| version_overflow())
}

fn version_overflow() -> StoreError {
    StoreError::Corrupt {
        reason: "the session version overflowed".into(),
        source: None,
    }
}

/// The pause before retry `attempt` (1-based): 5, 10, 20, ... ms plus up to
/// as much again at random, so conflicting writers spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.saturating_sub(1).min(6);
    let mut byte = [0u8];
    let jitter = match fill_random(&mut byte) {
        Ok(()) => base * u64::from(byte[0]) / 255,
        Err(_) => 0,
    };
    Duration::from_millis(base + jitter)
}

/// `options` with `-c statement_timeout=<ms>` appended (the URL's own options
/// kept). Without an explicit `timeout`, a statement timeout already in the
/// options is left alone, else the default is added.
fn with_statement_timeout(options: Option<&str>, timeout: Option<Duration>) -> String {
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
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Any text PostgreSQL takes as an identifier: 1 to 63 bytes, no NUL.
fn check_schema_name(name: &str) -> Result<(), StoreError> {
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

#[cfg(feature = "testing")]
impl PostgresStore {
    /// Writes `count` clear sessions `seed-<first>` ... with one server-side
    /// statement, then refreshes the planner's statistics.
    pub(crate) async fn seed_sessions(&self, first: u64, count: u64) -> Result<(), StoreError> {
        if self.cipher.is_some() {
            return Err(config_error("only a store without encryption can be seeded"));
        }
        let Some(last) = (first + count).checked_sub(1) else {
            return Ok(());
        };
        const MARK: &str = "@@authresult-seed-tenant@@";
        let template = crate::testing::seed_session(MARK);
        let encoded = codec::encode_session(&template, None)?;
        let s = quote_ident(&self.schema);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute("SET LOCAL statement_timeout = 0")
            .await
            .map_err(pg)?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.sessions (tenant, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
                 SELECT 'seed-' || i, $1::text, $2::text, $3::bigint, $4::bigint, 1, $5::bigint,
                        replace($6::text, $7::text, 'seed-' || i), NULL
                 FROM generate_series($8::bigint, $9::bigint) AS i"
            ),
            &[
                &template.key.provider.as_str(),
                &template.subject,
                &template.expires_at.map(ts),
                &ts(template.issued_at),
                &ts(Timestamp::now()),
                &encoded.body,
                &MARK,
                &to_i64(first)?,
                &to_i64(last)?,
            ],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        client
            .batch_execute(&format!("ANALYZE {s}.sessions"))
            .await
            .map_err(pg)
    }

    /// `EXPLAIN (FORMAT JSON)` of the statement `get` runs, for `key`.
    pub(crate) async fn explain_get(&self, key: &SessionKey) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!("EXPLAIN (FORMAT JSON) {}", self.sql.get),
                &[&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()],
            )
            .await
            .map_err(pg)?;
        let plan: serde_json::Value = column(&row, 0)?;
        Ok(plan.to_string())
    }
}

#[cfg(test)]
mod tests;
