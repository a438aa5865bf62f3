//! `PostgresStore` against a real server (`DATABASE_URL`, provided by `cargo
//! xtask ci` or `cargo xtask with-postgres ...`): the conformance suite, one
//! refresh across instances, faults (a connection dropped mid-transaction, a
//! server restart under load, serialization failures), encryption at rest,
//! schema handling, lookups among a million sessions, and the offline vault.
//!
//! Without `DATABASE_URL` these tests fail, never skip. Each test works in
//! fresh schemas of its own, dropped when it ends. The restart test restarts
//! the whole server, so it runs alone: every other test holds [`SERVER`]
//! shared, the restart test holds it exclusively.
//!
//! By job: this file (the shared helpers, the conformance suites),
//! `lease.rs` (one refresh across instances), `faults.rs` (dropped
//! connections, a server restart, serialization failures), `scale.rs` (a
//! million sessions), `schema.rs` (encryption at rest, schema versions and
//! migrations, TLS, unreachable servers), `vault.rs` (the offline vault on
//! Postgres: its suite, migration, and per-user sealing through it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authresult_core::StoreBackend;
use authresult_core::testing;
use authresult_core::{Error, SessionStore, Timestamp};
use authresult_store::{PostgresOptions, StoreError};
use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};

use crate::common::{store_error, test_key};
use crate::process_races::{self, Backend};

mod faults;
mod lease;
mod logouts;
mod replay;
mod scale;
mod schema;
mod vault;

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
    let store: Arc<dyn StoreBackend> = Arc::new(schemas.options("lease_fast").connect().await.unwrap());
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
    assert!(listed.iter().all(|s| s.version() == 10));
}

/// Two instances pushing revocations of one tenant at once never leave more
/// than the cap: each push trims under a per-tenant lock, so neither trims
/// without the other's row (at READ COMMITTED they could, leaving 33+).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_from_two_instances_keep_the_revocation_cap() {
    use authresult_core::{MAX_PENDING_REVOCATIONS, RevocationQueue as _, RevocationQueueExt as _};
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("revcap").max_connections(8);
    let first = Arc::new(options.clone().connect().await.unwrap());
    let second = Arc::new(options.connect().await.unwrap());
    // A lost trim shows only when two pushes overlap: several rounds, one
    // tenant each, make an overlap all but certain.
    for round in 0..6 {
        let tenant = format!("t{round}");
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let store = if t % 2 == 0 {
                    Arc::clone(&first)
                } else {
                    Arc::clone(&second)
                };
                let tenant = tenant.clone();
                tokio::spawn(async move {
                    for n in 0..12u64 {
                        let at = testing::T0.saturating_add_secs(n);
                        let id = format!("r{t}-{n}");
                        let revocation = testing::sample_revocation(&tenant, "p", &id, false, at);
                        store.put_pending_revocation(&revocation).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let kept = first.revocations(&tenant.as_str().into()).await.unwrap();
        assert_eq!(
            kept.len(),
            MAX_PENDING_REVOCATIONS,
            "the cap after 96 concurrent pushes ({tenant})"
        );
    }
}
