//! Faults of the server and the connection: a connection dropped
//! mid-transaction, a server restart under load, serialization failures.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authresult_core::testing;
use authresult_core::{CasOutcome, FailureKind, SessionKey, SessionStore};
use authresult_store::{PostgresOptions, PostgresStore, StoreError};
use tokio_postgres::NoTls;

use super::{
    SERVER, Schemas, blocked_backend, cause, connect_raw, database_url, quote, serializable_url, unique,
};

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
    assert_eq!(stored.version(), 1);
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
    assert_eq!(stored.version(), 3);

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
