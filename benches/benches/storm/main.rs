//! A refresh storm: 10,000 sessions in one Postgres store expire together and
//! four processes each ask every one of them for an access token at once;
//! and SQLite under contention: four processes read 100,000 sessions of one
//! SQLite file, one in ten of them expired and refreshed on the way.
//!
//! The provider is a counting token endpoint over HTTP, served by this
//! process: it rotates refresh tokens one-time (a reused refresh token is
//! answered `invalid_grant`, as a strict provider does) and counts every
//! refresh. The run checks that exactly one refresh per session reached it,
//! that no session was lost, and that every caller got the session's newest
//! access token, and reports the wall time and the callers' wait.
//!
//! The workers are this bench again (`AUTHRESULT_STORM_WORKER` set), each an
//! `AuthManager` per session tenant (made per call) over one store of its
//! own. Writes `<out>/storm.json`; without `DATABASE_URL` the Postgres run
//! records why it did not run.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authresult_bench::results;
use authresult_core::{AuthManager, Session, SessionKey, SessionStore, StoreBackend, Timestamp};
use authresult_store::{PostgresOptions, SqliteStore};
use futures::StreamExt as _;
use serde_json::{Value, json};

mod provider;

use provider::{Tokens, provider, seeded_auth, serve_provider};

/// Set (to the worker's number) when this binary runs as a worker.
const WORKER_ENV: &str = "AUTHRESULT_STORM_WORKER";
/// Worker processes, each asking every session for a token.
const PROCESSES: usize = 4;
/// `access_token` calls in flight per worker.
const IN_FLIGHT: usize = 256;
/// The provider's name in every manager.
const PROVIDER: &str = "storm";
/// The Postgres schema of the run (dropped and made again).
const SCHEMA: &str = "authresult_storm";
/// Stands for the tenant in the SQLite template rows until seeding replaces it.
const MARK: &str = "@@authresult-storm-tenant@@";

/// Where the sessions live.
#[derive(Debug, Clone)]
enum Backend {
    /// A Postgres server (URL); the run's own schema.
    Postgres(String),
    /// One SQLite file.
    Sqlite(String),
}

/// One scenario: how many sessions, and every how many one is expired.
#[derive(Debug, Clone)]
struct Scenario {
    backend: Backend,
    sessions: usize,
    /// Session `i` is expired when `i % expired_every == 0` (1: all of them).
    expired_every: usize,
}

impl Scenario {
    fn expired(&self, i: usize) -> bool {
        i.is_multiple_of(self.expired_every)
    }

    fn expired_count(&self) -> usize {
        self.sessions.div_ceil(self.expired_every)
    }

    /// The scenario as a worker's environment.
    fn env(&self) -> Vec<(&'static str, String)> {
        let (kind, at) = match &self.backend {
            Backend::Postgres(url) => ("postgres", url.clone()),
            Backend::Sqlite(path) => ("sqlite", path.clone()),
        };
        vec![
            ("AUTHRESULT_STORM_BACKEND", kind.into()),
            ("AUTHRESULT_STORM_STORE", at),
            ("AUTHRESULT_STORM_SESSIONS", self.sessions.to_string()),
            ("AUTHRESULT_STORM_EXPIRED_EVERY", self.expired_every.to_string()),
        ]
    }

    fn from_env() -> anyhow::Result<Scenario> {
        let var = |name: &str| std::env::var(name).with_context(|| format!("no {name}"));
        let at = var("AUTHRESULT_STORM_STORE")?;
        let backend = match var("AUTHRESULT_STORM_BACKEND")?.as_str() {
            "postgres" => Backend::Postgres(at),
            "sqlite" => Backend::Sqlite(at),
            other => bail!("unknown backend {other}"),
        };
        Ok(Scenario {
            backend,
            sessions: var("AUTHRESULT_STORM_SESSIONS")?.parse()?,
            expired_every: var("AUTHRESULT_STORM_EXPIRED_EVERY")?.parse()?,
        })
    }

    async fn store(&self) -> anyhow::Result<Arc<dyn StoreBackend>> {
        Ok(match &self.backend {
            Backend::Postgres(url) => Arc::new(
                PostgresOptions::new(url.as_str())
                    .schema(SCHEMA)
                    .max_connections(16)
                    .application_name("authresult-storm")
                    .connect()
                    .await?,
            ),
            Backend::Sqlite(path) => Arc::new(SqliteStore::open(path.as_str()).await?),
        })
    }
}

fn main() {
    if let Ok(worker) = std::env::var(WORKER_ENV) {
        if let Err(e) = work(&worker) {
            eprintln!("storm worker {worker}: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let postgres = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => measure(&Scenario {
            backend: Backend::Postgres(url),
            sessions: 10_000,
            expired_every: 1,
        }),
        _ => {
            let reason = std::env::var("AUTHRESULT_BENCH_PG_SKIP")
                .unwrap_or_else(|_| "no PostgreSQL server (DATABASE_URL is not set)".into());
            json!({"measured": false, "reason": reason})
        }
    };
    let file = results::out_dir().join("storm.sqlite");
    let sqlite = measure(&Scenario {
        backend: Backend::Sqlite(file.to_string_lossy().into_owned()),
        sessions: 100_000,
        expired_every: 10,
    });
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    if let Err(e) = results::write("storm", &json!({"postgres": postgres, "sqlite": sqlite})) {
        eprintln!("storm: cannot write the results: {e:#}");
        std::process::exit(1);
    }
}

fn measure(scenario: &Scenario) -> Value {
    run(scenario).unwrap_or_else(|e| {
        eprintln!("storm: {:?} not measured: {e:#}", scenario.backend);
        json!({"measured": false, "reason": format!("{e:#}")})
    })
}

fn tenant(i: usize) -> String {
    format!("storm-{i:06}")
}

// -------------------------------------------------------------- the run

fn run(scenario: &Scenario) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let tokens = Arc::new(Tokens::default());
    let issuer = serve_provider(&runtime, tokens.clone())?;
    {
        let mut current = tokens.current.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for i in 0..scenario.sessions {
            let t = tenant(i);
            current.insert(t.clone(), (format!("rt-{t}-0"), format!("at-{t}-0")));
        }
    }

    eprintln!(
        "storm: seeding {} sessions, {} of them expired ({:?})",
        scenario.sessions,
        scenario.expired_count(),
        scenario.backend
    );
    let seeded = Instant::now();
    match &scenario.backend {
        Backend::Postgres(url) => runtime.block_on(seed_postgres(scenario, url, &issuer))?,
        Backend::Sqlite(path) => runtime.block_on(seed_sqlite(scenario, Path::new(path), &issuer))?,
    }
    let seed_secs = seeded.elapsed().as_secs_f64();

    // Start the workers; each connects, says "ready", and starts when it
    // reads a line.
    let me = std::env::current_exe()?;
    let mut workers = Vec::new();
    for i in 0..PROCESSES {
        let child = Command::new(&me)
            .env(WORKER_ENV, i.to_string())
            .envs(scenario.env())
            .env("AUTHRESULT_STORM_ISSUER", &issuer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a worker")?;
        workers.push(child);
    }
    let mut readers = Vec::new();
    for child in &mut workers {
        let mut reader = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("a worker did not get ready: {line:?}");
        }
        readers.push(reader);
    }
    eprintln!(
        "storm: {PROCESSES} processes ask for {} tokens each",
        scenario.sessions
    );
    let started = Instant::now();
    for child in &mut workers {
        writeln!(child.stdin.as_mut().context("no stdin")?, "go")?;
    }
    let mut reports = Vec::new();
    for (mut reader, mut child) in readers.into_iter().zip(workers) {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text)?;
        let status = child.wait()?;
        if !status.success() {
            bail!("a worker failed ({status})");
        }
        reports.push(serde_json::from_str::<Value>(text.trim()).context("a worker's report is not JSON")?);
    }
    let wall = started.elapsed();

    // Every caller got the session's newest access token?
    let current = tokens
        .current
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut stale = 0u64;
    let mut errors = 0u64;
    let mut busy = 0u64;
    let mut waits_us: Vec<u64> = Vec::new();
    for report in &reports {
        errors += report["errors"].as_u64().unwrap_or(0);
        busy += report["busy_errors"].as_u64().unwrap_or(0);
        for (session, token) in report["tokens"].as_object().into_iter().flatten() {
            if current.get(session).map(|(_, at)| at.as_str()) != token.as_str() {
                stale += 1;
            }
        }
        waits_us.extend(
            report["waits_us"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64),
        );
    }
    let answered = reports
        .iter()
        .map(|r| r["tokens"].as_object().map_or(0, serde_json::Map::len))
        .sum::<usize>();
    // ... and every session is still in the store, with that token?
    let lost = runtime.block_on(lost_sessions(scenario, &current))?;
    waits_us.sort_unstable();
    let pct = |p: f64| -> u64 {
        if waits_us.is_empty() {
            return 0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        // an index into a vector far below 2^52 entries
        let index = ((waits_us.len() - 1) as f64 * p).round() as usize;
        waits_us[index.min(waits_us.len() - 1)]
    };
    Ok(json!({
        "measured": true,
        "sessions": scenario.sessions,
        "expired": scenario.expired_count(),
        "processes": PROCESSES,
        "in_flight_per_process": IN_FLIGHT,
        "seed_secs": seed_secs,
        "refreshes": tokens.refreshes.load(Ordering::Relaxed),
        "reused_refresh_tokens": tokens.reused.load(Ordering::Relaxed),
        "calls": PROCESSES * scenario.sessions,
        "answered": answered,
        "errors": errors,
        "busy_errors": busy,
        "stale_tokens": stale,
        "lost_sessions": lost,
        "wall_secs": wall.as_secs_f64(),
        "wait_p50_us": pct(0.5),
        "wait_p99_us": pct(0.99),
        "wait_max_us": waits_us.last().copied().unwrap_or(0),
    }))
}

/// Empties the schema and imports one session per tenant, already inside
/// the freshness margin (expiring in 1 s), with its first refresh token;
/// then waits until they have expired.
async fn seed_postgres(scenario: &Scenario, url: &str, issuer: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let store = scenario.store().await?;
    let provider = provider(issuer)?;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..scenario.sessions)
        .map(|i| {
            let store = store.clone();
            let provider = provider.clone();
            let lifetime = if scenario.expired(i) { 1 } else { 3600 };
            async move {
                let t = tenant(i);
                let manager = AuthManager::builder(t.clone(), store)
                    .provider(PROVIDER, provider)
                    .build();
                manager.import(PROVIDER, seeded_auth(&t, lifetime)).await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    Ok(())
}

/// Creates the file through `SqliteStore` and has it write a template
/// session (fresh, then expired an hour ago), copied each time in bulk with
/// the tenant replaced, in one transaction on a connection of our own: a
/// hundred thousand imports one by one would take minutes. The template
/// has the provider's origin, as an import gives it: a row without one would
/// be claimed by the first use, a write per session the storm is not about.
async fn seed_sqlite(scenario: &Scenario, path: &Path, issuer: &str) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let now = Timestamp::now();
    let hour_ago = Timestamp::from_millis(now.as_millis().saturating_sub(3_600_000));
    let mut inserted = 0;
    for (lifetime, issued_at, expired_rows) in [(3600, now, false), (60, hour_ago, true)] {
        let store = SqliteStore::open(path).await?;
        let mut template = Session::new(
            SessionKey::new(MARK, PROVIDER),
            seeded_auth(MARK, lifetime),
            issued_at,
        );
        template.origin = provider(issuer)?.origin();
        store.put(&template).await?;
        store.close().await;

        let mut conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        let columns: Vec<String> = {
            let mut statement = conn.prepare("SELECT name FROM pragma_table_info('sessions')")?;
            let names = statement.query_map([], |row| row.get::<_, String>(0))?;
            names.collect::<Result<_, _>>()?
        };
        if !columns.iter().any(|c| c == "tenant") || !columns.iter().any(|c| c == "body") {
            bail!("the sessions table has no tenant or body column: {columns:?}");
        }
        let tenant_expr = "'storm-' || printf('%06d', i)";
        let select: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "tenant" => tenant_expr.to_owned(),
                "body" => format!("replace(body, '{MARK}', {tenant_expr})"),
                other => format!("\"{other}\""),
            })
            .collect();
        let list = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let condition = if expired_rows { "=" } else { "<>" };
        let tx = conn.transaction()?;
        inserted += tx.execute(
            &format!(
                "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?1)
                 INSERT INTO sessions ({list})
                 SELECT {} FROM seq, sessions WHERE sessions.tenant = ?2 AND i % ?3 {condition} 0",
                select.join(", ")
            ),
            rusqlite::params![
                i64::try_from(scenario.sessions)?,
                MARK,
                i64::try_from(scenario.expired_every)?
            ],
        )?;
        tx.execute("DELETE FROM sessions WHERE tenant = ?1", [MARK])?;
        tx.commit()?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    if inserted != scenario.sessions {
        bail!(
            "seeded {inserted} SQLite sessions, expected {}",
            scenario.sessions
        );
    }
    Ok(())
}

/// Sessions missing from the store, or holding another access token than
/// the provider's newest.
async fn lost_sessions(
    scenario: &Scenario,
    current: &HashMap<String, (String, String)>,
) -> anyhow::Result<u64> {
    let store = scenario.store().await?;
    let mut lost = 0;
    for (tenant, (_, access)) in current {
        let key = SessionKey::new(tenant.as_str(), PROVIDER);
        match store.get(&key).await? {
            Some(session) if session.auth.access_token.secret() == access => {}
            _ => lost += 1,
        }
    }
    Ok(lost)
}

// ------------------------------------------------------------ a worker

fn work(worker: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scenario = Scenario::from_env()?;
    let issuer = std::env::var("AUTHRESULT_STORM_ISSUER").context("no issuer")?;
    runtime.block_on(async {
        let store = scenario.store().await?;
        let provider = provider(&issuer)?;
        // Each worker goes through the sessions from another starting point,
        // so the processes meet on every session rather than in lockstep.
        let sessions = scenario.sessions;
        let offset = worker.parse::<usize>().unwrap_or(0) * sessions / PROCESSES;
        println!("ready");
        std::io::stdout().flush()?;
        let mut go = String::new();
        std::io::stdin().read_line(&mut go)?;
        let calls: Vec<(String, Result<String, String>, u64)> = futures::stream::iter(0..sessions)
            .map(|n| {
                let tenant = tenant((n + offset) % sessions);
                // A manager per call, as a server holding many users' sessions
                // would make one per request.
                let manager = AuthManager::builder(tenant.as_str(), store.clone())
                    .provider(PROVIDER, provider.clone())
                    .build();
                async move {
                    let started = Instant::now();
                    let token = manager
                        .access_token(PROVIDER)
                        .await
                        .map(|t| t.secret().to_owned())
                        .map_err(|e| format!("{e:#}"));
                    let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    (tenant, token, waited)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut tokens = BTreeMap::new();
        let mut waits = Vec::with_capacity(calls.len());
        let (mut errors, mut busy) = (0u64, 0u64);
        for (tenant, token, waited) in calls {
            waits.push(waited);
            match token {
                Ok(token) => {
                    tokens.insert(tenant, token);
                }
                Err(e) => {
                    if errors == 0 {
                        eprintln!("storm worker {worker}: {tenant}: {e}");
                    }
                    if e.contains("busy") || e.contains("locked") {
                        busy += 1;
                    }
                    errors += 1;
                }
            }
        }
        println!(
            "{}",
            json!({"tokens": tokens, "errors": errors, "busy_errors": busy, "waits_us": waits})
        );
        Ok(())
    })
}
