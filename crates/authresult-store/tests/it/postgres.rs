//! `PostgresStore` against a real server (`DATABASE_URL`, provided by `cargo
//! xtask ci` or `cargo xtask with-postgres ...`): the conformance suite, one
//! refresh across instances, faults (a connection dropped mid-transaction, a
//! server restart under load, serialization failures), encryption at rest,
//! schema handling and lookups among a million sessions.
//!
//! Without `DATABASE_URL` these tests fail, never skip. Each test works in
//! fresh schemas of its own, dropped when it ends. The restart test restarts
//! the whole server, so it runs alone: every other test holds [`SERVER`]
//! shared, the restart test holds it exclusively.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authresult_core::{
    AccessToken, AuthManager, AuthProvider, AuthResult, CasOutcome, Credentials, Error, FailureKind,
    LoginRequest, LoginResponse, PendingAuthorization, RefreshToken, Session, SessionKey, SessionStore,
    Timestamp, TokenInfo,
};
use authresult_store::{EncryptionKey, PostgresOptions, PostgresStore, StoreError, testing};
use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};

use crate::common::{store_error, test_key};
use crate::process_races::{self, Backend};

/// Held shared by every test here, exclusively by the one restarting the server.
static SERVER: RwLock<()> = RwLock::const_new(());

/// The server's URL; a missing `DATABASE_URL` fails the test.
fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: the Postgres tests need a server. Run `cargo xtask ci`, or \
             `cargo xtask with-postgres cargo test -p authresult-store --all-features` \
             (which starts a throwaway server), or set DATABASE_URL to a server you own"
        ),
    }
}

/// A name unique to this process and call, for schemas and application names.
fn unique(label: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("art_{label}_{}_{n}_{nanos}", std::process::id())
}

/// A plain connection of the test's own (not through the store).
async fn connect_raw(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Fresh schema names; the schemas are dropped when this is dropped, also
/// when the test panics.
struct Schemas {
    url: String,
    names: Mutex<Vec<String>>,
}

impl Schemas {
    fn new() -> Self {
        Schemas {
            url: database_url(),
            names: Mutex::new(Vec::new()),
        }
    }

    fn fresh(&self, label: &str) -> String {
        let name = unique(label);
        self.names.lock().unwrap().push(name.clone());
        name
    }

    /// Options for a store in a fresh schema.
    fn options(&self, label: &str) -> PostgresOptions {
        PostgresOptions::new(&self.url)
            .schema(self.fresh(label))
            .max_connections(4)
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        let url = self.url.clone();
        // A runtime of its own: this may run inside the test's runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = connect_raw(&url).await;
                // Never hang here: a schema still locked is left behind.
                client.batch_execute("SET lock_timeout = '10s'").await.unwrap();
                for name in names {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&name)))
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The store error inside a port error.
fn cause(error: &Error) -> &StoreError {
    store_error(error)
}

/// Waits until a backend of `application_name` waits for a lock; its pid.
async fn blocked_backend(admin: &Client, application_name: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&application_name],
            )
            .await
            .unwrap();
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        if Instant::now() >= deadline {
            // What every backend was doing, to see why.
            let activity: Vec<String> = admin
                .query(
                    "SELECT concat_ws(' ', pid, application_name, state, wait_event_type, wait_event) \
                     FROM pg_stat_activity WHERE backend_type = 'client backend'",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            panic!("no backend of {application_name} started waiting for a lock: {activity:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `url` with `-c default_transaction_isolation=serializable` in its options.
fn serializable_url(url: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options=-c%20default_transaction_isolation%3Dserializable")
    } else {
        format!("{url} options='-c default_transaction_isolation=serializable'")
    }
}

// ---------------------------------------------------------------------------
// 1. Conformance

#[tokio::test]
async fn postgres_store_conforms() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    testing::run_all(|| {
        let options = schemas.options("conf");
        async move { options.connect().await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn an_instance_with_a_fast_clock_cannot_take_a_live_lease() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let store = schemas.options("lease_clock").connect().await.unwrap();
    testing::lease_ignores_the_callers_clock(&store).await;
}

#[tokio::test]
async fn postgres_a_refresh_outliving_its_lease_in_another_process_survives_invalid_grant() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let backend = Backend::Postgres {
        url: schemas.url.clone(),
        schema: schemas.fresh("race_lease"),
    };
    process_races::lease_expiry_across_processes(backend).await;
}

#[tokio::test]
async fn postgres_a_login_wins_over_a_refresh_in_another_process() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let backend = Backend::Postgres {
        url: schemas.url.clone(),
        schema: schemas.fresh("race_login"),
    };
    process_races::login_during_refresh_across_processes(backend).await;
}

/// A manager whose clock is a year ahead does not take the live lease of
/// another instance: it waits, then reports the session offline, and never
/// refreshes behind the holder's back.
#[tokio::test]
async fn a_manager_with_a_fast_clock_does_not_refresh_under_a_live_lease() {
    use authresult_core::ManualClock;

    use crate::races::{self, PROVIDER, Scripted};

    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let store: Arc<dyn SessionStore> = Arc::new(schemas.options("lease_fast").connect().await.unwrap());
    store.put(&races::expired_alice()).await.unwrap();
    let live = store
        .try_acquire_lease(
            &races::key(),
            "other-instance",
            Timestamp::now(),
            races::LEASE_TTL,
        )
        .await
        .unwrap();
    assert!(live);

    let clock = ManualClock::new(Timestamp::now().saturating_add(Duration::from_secs(365 * 24 * 3600)));
    let (provider, mut calls) = Scripted::new();
    let fast = races::manager(store.clone(), provider, &clock, Arc::new(clock.clone()));
    let answer = tokio::time::timeout(races::HANG, fast.access_token(PROVIDER))
        .await
        .expect("the fast instance took the lease and refreshed");
    let error = answer.expect_err("an expired session was served");
    assert!(matches!(error, Error::Offline { .. }), "{error:?}");
    assert!(calls.none(), "the fast instance refreshed under a live lease");
}

#[tokio::test]
async fn encrypted_postgres_store_conforms() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    testing::run_all(|| {
        let options = schemas.options("conf_enc").encryption_key(test_key());
        async move {
            let store = options.connect().await.unwrap();
            assert!(store.is_encrypted());
            store
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_is_shared_by_tasks_on_a_multi_threaded_runtime() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let store = Arc::new(schemas.options("tasks").connect().await.unwrap());
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..10 {
                    let session = testing::sample_session("t", &format!("p{t}"), n);
                    assert_eq!(store.put(&session).await.unwrap(), n + 1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let listed = store.list(&"t".into()).await.unwrap();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|s| s.version == 10));
}

// ---------------------------------------------------------------------------
// 2. The refresh lease across instances

/// A provider that counts refreshes; each takes 50 ms and answers `at-<n>`.
#[derive(Debug, Default)]
struct SlowCountingProvider {
    refreshes: AtomicUsize,
}

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        provider: "slow".into(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for SlowCountingProvider {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        Err(unsupported("login"))
    }

    async fn begin_login(&self, _: &LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(unsupported("interactive login"))
    }

    async fn complete_login(&self, _: &PendingAuthorization, _: &LoginResponse) -> Result<AuthResult, Error> {
        Err(unsupported("interactive login"))
    }

    async fn refresh(&self, _: &AuthResult) -> Result<AuthResult, Error> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut auth = AuthResult::new(AccessToken::new(format!("at-{n}")), 3600);
        auth.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
        Ok(auth)
    }

    async fn introspect(&self, _: &AccessToken) -> Result<TokenInfo, Error> {
        Err(unsupported("validation"))
    }

    async fn revoke(&self, _: &authresult_core::RevocableToken) -> Result<(), Error> {
        Ok(())
    }

    async fn end_session_url(&self, _: &AuthResult) -> Result<Option<url::Url>, Error> {
        Ok(None)
    }
}

const TENANT: &str = "shared-tenant";
const PROVIDER: &str = "idp";

/// A session whose access token expired a minute ago.
fn expired_session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("at-0"), 1);
    auth.refresh_token = Some(RefreshToken::new("rt-0"));
    Session::new(
        SessionKey::new(TENANT, PROVIDER),
        auth,
        Timestamp::now().saturating_sub(Duration::from_secs(60)),
    )
}

/// `n` instances: each its own store (its own pool) and manager, all on one schema.
async fn instances(
    options: &PostgresOptions,
    n: usize,
    provider: &Arc<SlowCountingProvider>,
) -> Vec<AuthManager> {
    let stores =
        futures::future::join_all((0..n).map(|_| options.clone().max_connections(2).connect())).await;
    stores
        .into_iter()
        .map(|store| {
            let provider: Arc<dyn AuthProvider> = Arc::clone(provider) as Arc<dyn AuthProvider>;
            AuthManager::builder(TENANT, Arc::new(store.unwrap()))
                .provider(PROVIDER, provider)
                .build()
        })
        .collect()
}

/// Every manager asks for a token at the same moment, each on its own task.
async fn ask_all(managers: Vec<AuthManager>) -> Vec<String> {
    let start = Arc::new(tokio::sync::Barrier::new(managers.len()));
    let tasks: Vec<_> = managers
        .into_iter()
        .map(|manager| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                manager.access_token(PROVIDER).await.unwrap().secret().to_owned()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_one_refresh_through_the_database_lease() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("lease");
    let seed = options.clone().connect().await.unwrap();
    seed.put(&expired_session()).await.unwrap();
    let provider = Arc::new(SlowCountingProvider::default());
    let managers = instances(&options, 8, &provider).await;

    let started = Instant::now();
    let tokens = ask_all(managers).await;
    eprintln!("8 instances got a token in {:?}", started.elapsed());

    assert_eq!(
        provider.refreshes.load(Ordering::SeqCst),
        1,
        "exactly one refresh reached the provider"
    );
    assert!(
        tokens.iter().all(|t| t == "at-1"),
        "all got the new token: {tokens:?}"
    );
    let stored = seed
        .get(&SessionKey::new(TENANT, PROVIDER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.auth.access_token.secret(), "at-1");
    assert_eq!(
        stored.auth.refresh_token.as_ref().map(RefreshToken::secret),
        Some("rt-1")
    );
    assert_eq!(stored.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_instances_lease_blocks_others_only_until_it_expires() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("crashed");
    let seed = options.clone().connect().await.unwrap();
    seed.put(&expired_session()).await.unwrap();
    // An instance took the lease and died without releasing it.
    let key = SessionKey::new(TENANT, PROVIDER);
    let ttl = Duration::from_millis(800);
    assert!(
        seed.try_acquire_lease(&key, "crashed-instance", Timestamp::now(), ttl)
            .await
            .unwrap()
    );
    let provider = Arc::new(SlowCountingProvider::default());
    let managers = instances(&options, 4, &provider).await;

    let started = Instant::now();
    let tokens = ask_all(managers).await;
    let elapsed = started.elapsed();
    eprintln!("4 instances got a token {elapsed:?} after a crashed holder's lease");

    assert!(
        elapsed >= Duration::from_millis(600),
        "waited for the lease: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "not blocked for long: {elapsed:?}"
    );
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert!(tokens.iter().all(|t| t == "at-1"), "{tokens:?}");
}

// ---------------------------------------------------------------------------
// 3. A connection dropped mid-transaction

#[tokio::test]
async fn a_connection_dropped_mid_transaction_leaves_no_partial_row() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let schema = schemas.fresh("drop");
    let app = unique("app_drop");
    let url = database_url();
    let store = Arc::new(
        PostgresOptions::new(&url)
            .schema(&schema)
            .application_name(&app)
            .connect()
            .await
            .unwrap(),
    );
    let existing = testing::sample_session("t", "existing", 1);
    store.put(&existing).await.unwrap();

    // A trigger that stalls every write to `sessions`, after the row is
    // written and before the statement ends, until the test lets it go.
    let admin = connect_raw(&url).await;
    let lock_key: i64 = i64::from(std::process::id()) << 20 | 0x5eed;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION {s}.stall() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_xact_lock({lock_key}); RETURN NEW; END $$;
             CREATE TRIGGER stall AFTER INSERT OR UPDATE ON {s}.sessions
             FOR EACH ROW EXECUTE FUNCTION {s}.stall();"
        ))
        .await
        .unwrap();
    let gate = connect_raw(&url).await;
    gate.execute("SELECT pg_advisory_lock($1)", &[&lock_key])
        .await
        .unwrap();

    // A new row (put: one statement) and an update inside compare-and-swap's
    // transaction (after its SELECT ... FOR UPDATE), each killed half-way.
    let fresh = testing::sample_session("t", "fresh", 2);
    let rotated = testing::sample_session("t", "existing", 3);
    for step in ["insert", "update in a transaction"] {
        let task = {
            let store = Arc::clone(&store);
            let (fresh, rotated) = (fresh.clone(), rotated.clone());
            tokio::spawn(async move {
                if step == "insert" {
                    store.put(&fresh).await.map(drop)
                } else {
                    store.compare_and_swap(&rotated, 1).await.map(drop)
                }
            })
        };
        let pid = blocked_backend(&admin, &app).await;
        let killed: bool = admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(killed, "{step}: backend {pid} terminated");
        let error = task.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), FailureKind::Transient, "{step}: {error:?}");
        assert!(
            matches!(cause(&error), StoreError::PostgresUnavailable { .. }),
            "{step}: {error:?}"
        );
    }
    gate.execute("SELECT pg_advisory_unlock($1)", &[&lock_key])
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP TRIGGER stall ON {s}.sessions"))
        .await
        .unwrap();

    // Nothing of either write is visible; the acknowledged row is intact.
    assert!(store.get(&fresh.key).await.unwrap().is_none(), "no partial row");
    let stored = store.get(&existing.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &existing);
    assert_eq!(stored.version, 1);
    let rows: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {s}.sessions"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);

    // The same store (same pool) carries on.
    assert_eq!(store.put(&fresh).await.unwrap(), 1);
    assert_eq!(
        store.compare_and_swap(&rotated, 1).await.unwrap(),
        CasOutcome::Stored { version: 2 }
    );
}

// ---------------------------------------------------------------------------
// 4. A server restart under load

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_under_load_gives_transient_errors_and_the_pool_recovers() {
    let _server = SERVER.write().await;
    let schemas = Schemas::new();
    let schema = schemas.fresh("restart");
    let app = unique("app_restart");
    let url = database_url();
    let store = Arc::new(
        PostgresOptions::new(&url)
            .schema(&schema)
            .application_name(&app)
            .max_connections(4)
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let ok_after_restart = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (store, stop, restarted) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&restarted));
            let (ok_after_restart, errors) = (Arc::clone(&ok_after_restart), Arc::clone(&errors));
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let session = testing::sample_session("load", &format!("w{w}-{n}"), n);
                    let outcome = match store.put(&session).await {
                        Ok(version) => {
                            assert_eq!(version, 1);
                            acked.push(n);
                            // Read back one acknowledged earlier.
                            let earlier = acked[(n as usize * 7) % acked.len()];
                            let key = SessionKey::new("load", format!("w{w}-{earlier}"));
                            store.get(&key).await.map(|found| {
                                assert!(found.is_some(), "acknowledged w{w}-{earlier} is there");
                            })
                        }
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(()) if restarted.load(Ordering::SeqCst) => {
                            ok_after_restart.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(()) => {}
                        Err(e) => {
                            assert_eq!(e.kind(), FailureKind::Transient, "{e:?}");
                            errors.lock().unwrap().push(format!("{e:?}"));
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (w, acked)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let restart_started = Instant::now();
    match std::env::var("AUTHRESULT_PG_RESTART") {
        Ok(command) if !command.trim().is_empty() => {
            eprintln!("restarting the server: {command}");
            let status = tokio::task::spawn_blocking(move || {
                std::process::Command::new("sh")
                    .args(["-c", &command])
                    .stdout(std::process::Stdio::null())
                    .status()
            })
            .await
            .unwrap()
            .unwrap();
            assert!(status.success(), "the restart command failed: {status}");
        }
        _ => {
            eprintln!(
                "AUTHRESULT_PG_RESTART is not set (an external DATABASE_URL): instead of a restart, \
                 terminating every backend of the store's pool with pg_terminate_backend"
            );
            let admin = connect_raw(&url).await;
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .unwrap();
        }
    }
    restarted.store(true, Ordering::SeqCst);
    eprintln!("server back after {:?}", restart_started.elapsed());

    // The pool recovers by itself: operations succeed again, same store.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ok_after_restart.load(Ordering::SeqCst) < 20 {
        assert!(
            Instant::now() < deadline,
            "the store did not recover; errors: {:?}",
            errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "recovered {:?} after the restart began",
        restart_started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acked_total = 0;
    for worker in workers {
        let (w, acked) = worker.await.unwrap();
        for n in acked {
            let key = SessionKey::new("load", format!("w{w}-{n}"));
            let stored = store
                .get(&key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged put {key} was lost"));
            testing::assert_same_session(&stored, &testing::sample_session("load", &format!("w{w}-{n}"), n));
            acked_total += 1;
        }
    }
    let errors = errors.lock().unwrap();
    eprintln!(
        "{acked_total} acknowledged puts all read back; {} transient errors during the restart{}",
        errors.len(),
        errors.first().map(|e| format!(", e.g. {e}")).unwrap_or_default()
    );
    assert!(acked_total > 0);
}

// ---------------------------------------------------------------------------
// 5. Serialization failures

#[tokio::test]
async fn serialization_failures_are_retried() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let schema = schemas.fresh("serial");
    let s = quote(&schema);
    let app = unique("app_serial");
    let url = serializable_url(&database_url());
    // Every transaction of this store runs SERIALIZABLE (the server setting
    // comes from the URL, as a DBA's database default would).
    let store = Arc::new(
        PostgresOptions::new(&url)
            .schema(&schema)
            .application_name(&app)
            .connect()
            .await
            .unwrap(),
    );
    let session = testing::sample_session("t", "p", 1);
    assert_eq!(store.put(&session).await.unwrap(), 1);
    let admin = connect_raw(&database_url()).await;
    let blocker = connect_raw(&database_url()).await;
    let touch = format!("BEGIN; UPDATE {s}.sessions SET updated_at = updated_at + 1 WHERE tenant = 't'");

    // Control: with these settings, the interleaving below fails with 40001
    // for a plain client, which does not retry.
    let control_app = unique("app_ctrl");
    let mut control_config: tokio_postgres::Config = url.parse().unwrap();
    control_config.application_name(&control_app);
    let (control, connection) = control_config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    blocker.batch_execute(&touch).await.unwrap();
    let lock = format!("SELECT version FROM {s}.sessions WHERE tenant = 't' FOR UPDATE");
    let control_task = tokio::spawn(async move {
        control.batch_execute("BEGIN").await.unwrap();
        control.query(&lock, &[]).await.map(drop)
    });
    blocked_backend(&admin, &control_app).await;
    blocker.batch_execute("COMMIT").await.unwrap();
    let control_error = control_task.await.unwrap().unwrap_err();
    assert_eq!(
        control_error.code().map(|c| c.code()),
        Some("40001"),
        "{control_error:?}"
    );

    // The store's compare-and-swap (a transaction) and put (one statement)
    // meet the same conflict, retry, and succeed.
    let rotated = testing::sample_session("t", "p", 2);
    let replaced = testing::sample_session("t", "p", 3);
    for step in ["compare_and_swap", "put"] {
        blocker.batch_execute(&touch).await.unwrap();
        let task = {
            let store = Arc::clone(&store);
            let (rotated, replaced) = (rotated.clone(), replaced.clone());
            tokio::spawn(async move {
                if step == "put" {
                    store.put(&replaced).await.unwrap()
                } else {
                    match store.compare_and_swap(&rotated, 1).await.unwrap() {
                        CasOutcome::Stored { version } => version,
                        other => panic!("compare_and_swap: {other:?}"),
                    }
                }
            })
        };
        blocked_backend(&admin, &app).await;
        blocker.batch_execute("COMMIT").await.unwrap();
        let version = task.await.unwrap();
        assert_eq!(version, if step == "put" { 3 } else { 2 }, "{step}");
    }
    let stored = store.get(&session.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &replaced);
    assert_eq!(stored.version, 3);

    // And the conformance checks that race on one row hold under SERIALIZABLE.
    testing::concurrent_swaps_have_one_winner(&*schemas_store(&schemas, &url).await).await;
    testing::concurrent_puts_are_all_counted(&*schemas_store(&schemas, &url).await).await;
}

async fn schemas_store(schemas: &Schemas, url: &str) -> Arc<PostgresStore> {
    Arc::new(
        PostgresOptions::new(url)
            .schema(schemas.fresh("serial_conf"))
            .max_connections(8)
            .connect()
            .await
            .unwrap(),
    )
}

// ---------------------------------------------------------------------------
// 6. A million sessions

fn plan_root(plan_json: &str) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    plan[0]["Plan"].clone()
}

async fn time_lookups(store: &PostgresStore, count: u64, lookups: u64) -> Duration {
    let started = Instant::now();
    for i in 0..lookups {
        let key = testing::seeded_key((i * 7919) % count);
        assert!(store.get(&key).await.unwrap().is_some(), "{key}");
    }
    started.elapsed() / u32::try_from(lookups).unwrap()
}

#[tokio::test]
async fn a_lookup_among_a_million_sessions_uses_the_primary_key() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let small = schemas.options("k").connect().await.unwrap();
    let large = schemas.options("m").connect().await.unwrap();

    testing::seed_postgres(&small, 1_000).await.unwrap();
    let started = Instant::now();
    testing::seed_postgres(&large, 1_000_000).await.unwrap();
    eprintln!("seeded a million sessions in {:?}", started.elapsed());

    let key = testing::seeded_key(777_777);
    let root = plan_root(&testing::explain_postgres_get(&large, &key).await.unwrap());
    let node = root["Node Type"].as_str().unwrap_or_default();
    assert!(
        node == "Index Scan" || node == "Index Only Scan",
        "a lookup among a million sessions is an index scan, not {root}"
    );
    assert_eq!(root["Index Name"], "sessions_pkey", "{root}");
    assert!(
        root["Plan Rows"].as_f64().unwrap_or(f64::MAX) <= 1.0,
        "one row expected: {root}"
    );

    let stored = large.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.key, key);
    assert_eq!(stored.auth.access_token.secret(), "seed-access-token");
    assert!(
        large
            .get(&testing::seeded_key(1_000_000))
            .await
            .unwrap()
            .is_none()
    );

    // Informational (timing belongs to the benchmark): mean lookup time.
    let per_small = time_lookups(&small, 1_000, 200).await;
    let per_large = time_lookups(&large, 1_000_000, 200).await;
    eprintln!("mean get: {per_small:?} with 1k sessions, {per_large:?} with 1M sessions");
}

// ---------------------------------------------------------------------------
// Encryption at rest, schema handling, unreachable servers

const TOKEN_TEXTS: [&str; 3] = ["access-t-", "refresh-t-", "idtoken-t-"];

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_keys_are_checked() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;
    let schema = schemas.fresh("enc");
    let s = quote(&schema);
    let options = PostgresOptions::new(&url).schema(&schema);
    let store = options
        .clone()
        .encryption_key(test_key())
        .connect()
        .await
        .unwrap();
    for p in ["a", "b"] {
        store.put(&testing::sample_session("t", p, 1)).await.unwrap();
    }
    store
        .put_pending(&testing::sample_pending("t", "a", "state-1", Timestamp::MAX))
        .await
        .unwrap();
    let rows = admin
        .query(
            &format!(
                "SELECT body, sealed IS NOT NULL FROM {s}.sessions
                 UNION ALL SELECT body, sealed IS NOT NULL FROM {s}.pending"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (n, row) in rows.iter().enumerate() {
        let body: String = row.get(0);
        assert!(row.get::<_, bool>(1), "sealed");
        for secret in TOKEN_TEXTS.iter().chain(&["pkce-verifier"]) {
            assert!(!body.contains(secret), "{secret} in clear: {body}");
        }
        if n < 2 {
            assert!(body.contains("user1@example.org"), "session metadata stays clear");
        }
    }

    let error = options.clone().connect().await.unwrap_err();
    assert!(matches!(error, StoreError::KeyRequired), "{error:?}");
    let other = EncryptionKey::from_bytes([7; 32]);
    let error = options.clone().encryption_key(other).connect().await.unwrap_err();
    assert!(matches!(error, StoreError::WrongKey), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);

    // A sealed value moved to another row does not open.
    admin
        .batch_execute(&format!(
            "UPDATE {s}.sessions SET sealed = (SELECT sealed FROM {s}.sessions WHERE provider = 'a')
             WHERE provider = 'b'"
        ))
        .await
        .unwrap();
    let error = store.get(&SessionKey::new("t", "b")).await.unwrap_err();
    assert!(
        matches!(cause(&error), StoreError::Tampered { what: "session" }),
        "{error:?}"
    );
    assert!(store.get(&SessionKey::new("t", "a")).await.unwrap().is_some());

    // A passphrase: the salt is kept in the schema, the same passphrase reopens it.
    let schema = schemas.fresh("pass");
    let with = |p: &str| {
        PostgresOptions::new(&url)
            .schema(&schema)
            .encryption_key(EncryptionKey::from_passphrase(p))
    };
    let first = with("correct horse").connect().await.unwrap();
    first.put(&testing::sample_session("t", "p", 5)).await.unwrap();
    let again = with("correct horse").connect().await.unwrap();
    let stored = again.get(&SessionKey::new("t", "p")).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("t", "p", 5));
    let error = with("wrong horse").connect().await.unwrap_err();
    assert!(matches!(error, StoreError::WrongKey), "{error:?}");
}

#[tokio::test]
async fn turning_encryption_on_seals_existing_rows_and_stops_keyless_writers() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("seal");
    let clear = PostgresOptions::new(&url)
        .schema(&schema)
        .connect()
        .await
        .unwrap();
    clear.put(&testing::sample_session("t", "p", 42)).await.unwrap();
    clear
        .put_pending(&testing::sample_pending("t", "p", "state-42", Timestamp::MAX))
        .await
        .unwrap();

    let sealed = PostgresOptions::new(&url)
        .schema(&schema)
        .encryption_key(test_key())
        .connect()
        .await
        .unwrap();
    let stored = sealed.get(&SessionKey::new("t", "p")).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &testing::sample_session("t", "p", 42));
    assert_eq!(stored.version, 1);

    // The keyless instance still connected may no longer write clear rows,
    // nor read sealed ones.
    let error = clear
        .put(&testing::sample_session("t", "other", 1))
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear
        .compare_and_swap(&testing::sample_session("t", "p", 43), 1)
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear
        .put_pending(&testing::sample_pending("t", "p", "state-43", Timestamp::MAX))
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    let error = clear.get(&SessionKey::new("t", "p")).await.unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");
    // A pending login it cannot read is not consumed.
    let error = clear
        .take_pending(&"t".into(), "state-42", testing::T0)
        .await
        .unwrap_err();
    assert!(matches!(cause(&error), StoreError::KeyRequired), "{error:?}");

    let taken = sealed
        .take_pending(&"t".into(), "state-42", testing::T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.secret.secret(), "pkce-verifier-state-42");
    let admin = connect_raw(&url).await;
    let bodies = admin
        .query(&format!("SELECT body FROM {}.sessions", quote(&schema)), &[])
        .await
        .unwrap();
    for row in bodies {
        let body: String = row.get(0);
        assert!(!body.contains("access-t-p-42"), "left in clear: {body}");
    }
}

#[tokio::test]
async fn newer_and_foreign_schemas_are_refused_untouched() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;

    let newer = schemas.fresh("newer");
    drop(PostgresOptions::new(&url).schema(&newer).connect().await.unwrap());
    admin
        .batch_execute(&format!(
            "UPDATE {}.authresult_meta SET schema_version = 99",
            quote(&newer)
        ))
        .await
        .unwrap();
    let error = PostgresOptions::new(&url)
        .schema(&newer)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 3
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Configuration);

    let foreign = schemas.fresh("foreign");
    let f = quote(&foreign);
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {f}; CREATE TABLE {f}.sessions (id INT); INSERT INTO {f}.sessions VALUES (1)"
        ))
        .await
        .unwrap();
    let error = PostgresOptions::new(&url)
        .schema(&foreign)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::ForeignSchema { .. }), "{error:?}");
    let tables: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&foreign],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing created next to the foreign table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_create_the_schema_once() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("start");
    let connects = (0..8).map(|_| PostgresOptions::new(&url).schema(&schema).connect());
    let stores: Vec<PostgresStore> = futures::future::join_all(connects)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (n, store) in (0u64..).zip(&stores) {
        store
            .put(&testing::sample_session("t", &format!("p{n}"), n))
            .await
            .unwrap();
    }
    assert_eq!(stores[0].list(&"t".into()).await.unwrap().len(), 8);
    let admin = connect_raw(&url).await;
    let version: i64 = admin
        .query_one(
            &format!("SELECT schema_version FROM {}.authresult_meta", quote(&schema)),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 3);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_failure() {
    let _server = SERVER.read().await;
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let error = PostgresOptions::new(format!("postgres://nobody@127.0.0.1:{port}/none"))
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::PostgresUnavailable { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(started.elapsed() < Duration::from_secs(10));
    let core: Error = error.into();
    assert!(core.is_transient());
}

/// A rustls client configuration trusting no certificate.
fn tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// `url` with `sslmode=<mode>`.
fn with_sslmode(url: &str, mode: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    } else {
        format!("{url} sslmode={mode}")
    }
}

#[tokio::test]
async fn tls_is_negotiated_and_required_when_the_url_says_so() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let admin = connect_raw(&url).await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let error = PostgresOptions::new(with_sslmode(&url, "require"))
        .schema(schemas.fresh("tls"))
        .tls(tls_config())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PostgresRefused { .. }), "{error:?}");
    if ssl == "on" {
        eprintln!("this server has TLS: its certificate was refused by an empty trust store");
        return;
    }
    // The throwaway server has no TLS: `require` refused it, `prefer` falls back.
    assert_eq!(error.kind(), FailureKind::Configuration);
    let store = PostgresOptions::new(with_sslmode(&url, "prefer"))
        .schema(schemas.fresh("tls"))
        .tls(tls_config())
        .connect()
        .await
        .unwrap();
    store.put(&testing::sample_session("t", "p", 1)).await.unwrap();
}

#[tokio::test]
async fn a_version_1_schema_migrates_without_loss_and_seals_its_revocations() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("v1");
    let connect = |key: Option<EncryptionKey>| {
        let mut options = PostgresOptions::new(&url).schema(&schema);
        if let Some(key) = key {
            options = options.encryption_key(key);
        }
        options.connect()
    };
    let store = connect(None).await.unwrap();
    let session = testing::sample_session("t", "p", 1);
    store.put(&session).await.unwrap();
    store.close();
    // Back to what version 1 wrote: no revocations table.
    let admin = connect_raw(&url).await;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "{}; DROP TABLE {s}.revocations; UPDATE {s}.authresult_meta SET schema_version = 1;",
            back_to_v2(&s)
        ))
        .await
        .unwrap();

    let store = connect(None).await.unwrap();
    let stored = store.get(&session.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &session);
    let revocation = testing::sample_revocation("t", "p", "r1", false, testing::T0);
    store.put_pending_revocation(&revocation).await.unwrap();
    store.close();
    let version: i64 = admin
        .query_one(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 3);

    // The first connect with a key seals the clear revocation too.
    let store = connect(Some(test_key())).await.unwrap();
    let found = store.pending_revocations(&"t".into(), testing::T0).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].token.secret(), revocation.token.secret());
    let row = admin
        .query_one(
            &format!("SELECT body, sealed IS NOT NULL FROM {s}.revocations"),
            &[],
        )
        .await
        .unwrap();
    let body: String = row.get(0);
    let sealed: bool = row.get(1);
    assert!(sealed && !body.contains(revocation.token.secret()), "{body}");
}

/// SQL turning schema `s` back into what version 2 wrote: sessions and
/// leases keyed by tenant and provider, no `user_id`.
fn back_to_v2(s: &str) -> String {
    format!(
        "ALTER TABLE {s}.sessions DROP CONSTRAINT sessions_pkey, DROP COLUMN user_id,
            ADD PRIMARY KEY (tenant, provider);
         ALTER TABLE {s}.leases DROP CONSTRAINT leases_pkey, DROP COLUMN user_id,
            ADD PRIMARY KEY (tenant, provider)"
    )
}

#[tokio::test]
async fn a_version_2_schema_migrates_to_users_without_losing_a_session() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let url = database_url();
    let schema = schemas.fresh("v2");
    let connect = || {
        PostgresOptions::new(&url)
            .schema(&schema)
            .encryption_key(test_key())
            .connect()
    };
    let store = connect().await.unwrap();
    let keycloak = testing::sample_session("t", "keycloak", 1);
    store.put(&keycloak).await.unwrap();
    store.put(&keycloak).await.unwrap();
    store.close();
    let admin = connect_raw(&url).await;
    let s = quote(&schema);
    admin
        .batch_execute(&format!(
            "{}; UPDATE {s}.authresult_meta SET schema_version = 2;",
            back_to_v2(&s)
        ))
        .await
        .unwrap();

    let store = connect().await.unwrap();
    let stored = store.get(&keycloak.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &keycloak);
    assert_eq!(stored.version, 2);
    let amina = testing::sample_user_session("t", "amina", "keycloak", 2);
    assert_eq!(store.put(&amina).await.unwrap(), 1);
    let stored = store.get(&amina.key).await.unwrap().unwrap();
    testing::assert_same_session(&stored, &amina);
    let users: Vec<String> = store
        .list(&"t".into())
        .await
        .unwrap()
        .iter()
        .map(|s| s.key.user.to_string())
        .collect();
    assert_eq!(users, ["", "amina"]);
    let version: i64 = admin
        .query_one(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 3);
}
