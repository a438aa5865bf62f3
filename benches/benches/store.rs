//! Session stores: SQLite, and Postgres when `DATABASE_URL` is set. Get and
//! durable put, one caller at a time, and get latency with 1,000 and with
//! 1,000,000 stored sessions.
//!
//! The million sessions are written in bulk (SQLite: one `INSERT ... SELECT`
//! over a recursive CTE on a connection of our own; Postgres: the store's
//! `testing::seed_postgres`), each row a copy of a session the store itself
//! wrote, so the store reads them back like its own.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context as _, bail};
use authresult_bench::results;
use authresult_core::testing::sample_session;
use authresult_core::{AccessToken, AuthResult, Session, SessionKey, SessionStore, Timestamp};
use authresult_store::testing::{self, SEED_PROVIDER, seeded_key};
use authresult_store::{PostgresOptions, PostgresStore, SqliteStore};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use rusqlite::params;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const SMALL: u64 = 1_000;
const LARGE: u64 = 1_000_000;
/// Distinct random keys a get benchmark cycles through.
const KEYS: usize = 65_536;
/// Stands for the tenant in the template row until seeding replaces it.
const MARK: &str = "@@authresult-bench-tenant@@";

fn main() {
    if let Err(e) = run() {
        eprintln!("store bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut criterion = results::criterion();
    let sqlite = sqlite(&mut criterion, &runtime)?;
    let postgres = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => match postgres(&mut criterion, &runtime, &url) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("store: Postgres not measured: {e:#}");
                json!({"measured": false, "reason": format!("{e:#}")})
            }
        },
        _ => {
            let reason = std::env::var("AUTHRESULT_BENCH_PG_SKIP")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "DATABASE_URL is not set".into());
            json!({"measured": false, "reason": reason})
        }
    };
    results::write("store", &json!({ "sqlite": sqlite, "postgres": postgres }))?;
    criterion.final_summary();
    Ok(())
}

/// The session seeding copies: an access token only, as Postgres seeding writes.
fn seed_template(tenant: &str) -> Session {
    let auth = AuthResult::new(AccessToken::new("seed-access-token"), 3600);
    Session::new(
        SessionKey::new(tenant, SEED_PROVIDER),
        auth,
        authresult_core::testing::T0,
    )
}

/// `KEYS` keys of seeded sessions, in a fixed pseudo-random order.
fn random_keys(count: u64) -> Vec<SessionKey> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..KEYS)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let n = state.wrapping_mul(0x2545_f491_4f6c_dd1d) % count;
            seeded_key(n)
        })
        .collect()
}

fn bench_get<S: SessionStore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    runtime: &Runtime,
    store: &S,
    count: u64,
) {
    let keys = random_keys(count);
    group.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            let key = &keys[i];
            i = (i + 1) % KEYS;
            runtime
                .block_on(store.get(black_box(key)))
                .expect("get")
                .expect("a seeded session")
        });
    });
}

/// A thread spinning on one CPU while alive. A get hands its query to
/// another thread (SQLite's worker, or the Postgres server) and waits for the
/// answer; on a virtual machine with nothing else to do, waking an idle CPU
/// for that handoff can cost more than the query. With one CPU kept busy the
/// same get shows the store's own cost, as on a machine with other work.
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        Spinner {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Durable puts of a full sample session (tokens, ID token, profile,
/// metadata), cycling over the seeded keys of the small store.
fn bench_put<S: SessionStore>(group: &mut BenchmarkGroup<'_, WallTime>, runtime: &Runtime, store: &S) {
    let sessions: Vec<Session> = (0..SMALL)
        .map(|n| sample_session(seeded_key(n).tenant.as_str(), SEED_PROVIDER, n))
        .collect();
    group.bench_function("put", |b| {
        let mut i = 0;
        b.iter(|| {
            let session = &sessions[i];
            i = (i + 1) % sessions.len();
            runtime.block_on(store.put(black_box(session))).expect("put")
        });
    });
}

fn sqlite(criterion: &mut Criterion, runtime: &Runtime) -> anyhow::Result<Value> {
    let dir = results::out_dir().join("sqlite");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let small_path = dir.join("sessions-1k.db");
    let large_path = dir.join("sessions-1m.db");
    let started = Instant::now();
    seed_sqlite(runtime, &small_path, SMALL)?;
    seed_sqlite(runtime, &large_path, LARGE)?;
    let seed_secs = started.elapsed().as_secs_f64();
    let opened = Instant::now();
    let small = runtime.block_on(SqliteStore::open(&small_path))?;
    let large = runtime.block_on(SqliteStore::open(&large_path))?;
    let open_secs = opened.elapsed().as_secs_f64();
    for (store, count) in [(&small, SMALL), (&large, LARGE)] {
        for n in [0, count / 2, count - 1] {
            if runtime.block_on(store.get(&seeded_key(n)))?.is_none() {
                bail!("seeded SQLite session {n} of {count} is missing");
            }
        }
    }
    let large_bytes = file_size(&large_path);
    eprintln!(
        "store: SQLite seeded with {SMALL} and {LARGE} sessions in {seed_secs:.1} s ({} MB), opened in {open_secs:.1} s",
        large_bytes / 1_000_000
    );
    let mut group = criterion.benchmark_group("sqlite");
    bench_get(&mut group, "get_1k", runtime, &small, SMALL);
    bench_get(&mut group, "get_1m", runtime, &large, LARGE);
    {
        let _busy = Spinner::start();
        bench_get(&mut group, "get_1k_busy", runtime, &small, SMALL);
        bench_get(&mut group, "get_1m_busy", runtime, &large, LARGE);
    }
    bench_put(&mut group, runtime, &small);
    group.finish();
    runtime.block_on(small.close());
    runtime.block_on(large.close());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "measured": true,
        "version": rusqlite::version(),
        "seed_secs": seed_secs,
        "open_secs": open_secs,
        "large_file_bytes": large_bytes,
        "synchronous": "FULL (WAL)",
    }))
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Creates the store file (schema and all) through `SqliteStore`, has it
/// write the template session, then copies that row `count` times with
/// the tenant replaced, on a connection of our own, in one transaction.
fn seed_sqlite(runtime: &Runtime, path: &Path, count: u64) -> anyhow::Result<()> {
    let store = runtime.block_on(SqliteStore::open(path))?;
    runtime.block_on(store.put(&seed_template(MARK)))?;
    runtime.block_on(store.close());

    let mut conn = rusqlite::Connection::open(path)?;
    // Seeding only: the store's own writes stay `synchronous = FULL`.
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    let (provider, subject, expires_at, issued_at, updated_at, body): (
        String,
        Option<String>,
        Option<i64>,
        i64,
        i64,
        String,
    ) = tx.query_row(
        "SELECT provider, subject, expires_at, issued_at, updated_at, body FROM sessions WHERE tenant = ?1",
        [MARK],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
    )?;
    tx.execute("DELETE FROM sessions WHERE tenant = ?1", [MARK])?;
    let inserted = tx.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?1)
         INSERT INTO sessions (tenant, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
         SELECT 'seed-' || i, ?2, ?3, ?4, ?5, 1, ?6, replace(?7, ?8, 'seed-' || i), NULL FROM seq",
        params![
            i64::try_from(count)?,
            provider,
            subject,
            expires_at,
            issued_at,
            updated_at,
            body,
            MARK
        ],
    )?;
    tx.commit()?;
    if inserted as u64 != count {
        bail!("seeded {inserted} SQLite sessions, expected {count}");
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

fn postgres(criterion: &mut Criterion, runtime: &Runtime, url: &str) -> anyhow::Result<Value> {
    let run = format!(
        "{}_{}",
        std::process::id(),
        Timestamp::now().as_millis() % 1_000_000
    );
    let small_schema = format!("authresult_bench_{run}_1k");
    let large_schema = format!("authresult_bench_{run}_1m");
    let (client, version) = runtime.block_on(admin(url))?;
    let result = measure_postgres(criterion, runtime, url, &small_schema, &large_schema);
    for schema in [&small_schema, &large_schema] {
        let _ =
            runtime.block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")));
    }
    let mut found = result?;
    found["version"] = json!(version);
    Ok(found)
}

/// A plain connection for dropping the benchmark schemas, and the server version.
async fn admin(url: &str) -> anyhow::Result<(tokio_postgres::Client, String)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("cannot connect to DATABASE_URL")?;
    tokio::spawn(connection);
    let mut settings = Vec::new();
    for name in ["server_version", "fsync", "synchronous_commit"] {
        let value: String = client.query_one(&format!("SHOW {name}"), &[]).await?.get(0);
        settings.push(value);
    }
    let version = format!(
        "{} (fsync {}, synchronous_commit {})",
        settings[0], settings[1], settings[2]
    );
    Ok((client, version))
}

fn measure_postgres(
    criterion: &mut Criterion,
    runtime: &Runtime,
    url: &str,
    small_schema: &str,
    large_schema: &str,
) -> anyhow::Result<Value> {
    let connect = |schema: &str| PostgresOptions::new(url).schema(schema).connect();
    let small: PostgresStore = runtime.block_on(connect(small_schema))?;
    let large: PostgresStore = runtime.block_on(connect(large_schema))?;
    let started = Instant::now();
    runtime.block_on(testing::seed_postgres(&small, SMALL))?;
    runtime.block_on(testing::seed_postgres(&large, LARGE))?;
    let seed_secs = started.elapsed().as_secs_f64();
    let plan = runtime.block_on(testing::explain_postgres_get(&large, &seeded_key(LARGE / 2)))?;
    let uses_index = plan.contains("Index Scan") || plan.contains("Index Only Scan");
    eprintln!("store: Postgres seeded with {SMALL} and {LARGE} sessions in {seed_secs:.1} s");
    let mut group = criterion.benchmark_group("postgres");
    bench_get(&mut group, "get_1k", runtime, &small, SMALL);
    bench_get(&mut group, "get_1m", runtime, &large, LARGE);
    {
        let _busy = Spinner::start();
        bench_get(&mut group, "get_1k_busy", runtime, &small, SMALL);
        bench_get(&mut group, "get_1m_busy", runtime, &large, LARGE);
    }
    bench_put(&mut group, runtime, &small);
    group.finish();
    small.close();
    large.close();
    Ok(json!({
        "measured": true,
        "seed_secs": seed_secs,
        "get_uses_index": uses_index,
    }))
}
