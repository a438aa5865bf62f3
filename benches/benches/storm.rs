//! A refresh storm: 10,000 sessions in one Postgres store expire together and
//! four processes each ask every one of them for an access token at once.
//!
//! The provider is a counting token endpoint over HTTP, served by this
//! process: it rotates refresh tokens one-time (a reused refresh token is
//! answered `invalid_grant`, as a strict provider does) and counts every
//! refresh. The run checks that exactly one refresh per session reached it,
//! that no session was lost, and that every caller got the session's newest
//! access token, and reports the wall time and the callers' wait.
//!
//! The workers are this bench again (`AUTHRESULT_STORM_WORKER` set), each an
//! `AuthManager` per session tenant over one `PostgresStore`. Writes
//! `<out>/storm.json`; without `DATABASE_URL` it records why it did not run.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authresult_bench::results;
use authresult_core::{
    AccessToken, AuthManager, AuthProvider, AuthResult, ProviderConfig, RefreshToken, SessionStore,
};
use authresult_oidc::{OidcOptions, OidcProvider};
use authresult_store::{PostgresOptions, PostgresStore};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// Set (to the worker's number) when this binary runs as a worker.
const WORKER_ENV: &str = "AUTHRESULT_STORM_WORKER";
/// Sessions in the store.
const SESSIONS: usize = 10_000;
/// Worker processes, each asking every session for a token.
const PROCESSES: usize = 4;
/// `access_token` calls in flight per worker.
const IN_FLIGHT: usize = 256;
/// The provider's name in every manager.
const PROVIDER: &str = "storm";
/// The Postgres schema of the run (dropped and made again).
const SCHEMA: &str = "authresult_storm";

fn main() {
    if let Ok(worker) = std::env::var(WORKER_ENV) {
        if let Err(e) = work(&worker) {
            eprintln!("storm worker {worker}: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let result = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => run(&url).unwrap_or_else(|e| {
            eprintln!("storm: not measured: {e:#}");
            json!({"measured": false, "reason": format!("{e:#}")})
        }),
        _ => {
            let reason = std::env::var("AUTHRESULT_BENCH_PG_SKIP")
                .unwrap_or_else(|_| "no PostgreSQL server (DATABASE_URL is not set)".into());
            json!({"measured": false, "reason": reason})
        }
    };
    if let Err(e) = results::write("storm", &result) {
        eprintln!("storm: cannot write the results: {e:#}");
        std::process::exit(1);
    }
}

fn tenant(i: usize) -> String {
    format!("storm-{i:05}")
}

// ------------------------------------------------------------ the provider

/// The counting token endpoint: the current refresh and access token of
/// each session, and what it was asked.
#[derive(Default)]
struct Tokens {
    current: Mutex<HashMap<String, (String, String)>>,
    refreshes: AtomicU64,
    reused: AtomicU64,
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    refresh_token: Option<String>,
}

async fn token(
    State(tokens): State<Arc<Tokens>>,
    Form(request): Form<TokenRequest>,
) -> (StatusCode, Json<Value>) {
    let refused = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error})));
    if request.grant_type != "refresh_token" {
        return refused("unsupported_grant_type");
    }
    let Some(presented) = request.refresh_token else {
        return refused("invalid_request");
    };
    // "rt-<tenant>-<generation>"
    let Some((session, generation)) = presented
        .strip_prefix("rt-")
        .and_then(|rest| rest.rsplit_once('-'))
        .and_then(|(s, g)| Some((s.to_owned(), g.parse::<u64>().ok()?)))
    else {
        return refused("invalid_grant");
    };
    let Ok(mut current) = tokens.current.lock() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "server_error"})),
        );
    };
    match current.get(&session) {
        Some((refresh, _)) if *refresh == presented => {}
        _ => {
            tokens.reused.fetch_add(1, Ordering::Relaxed);
            return refused("invalid_grant");
        }
    }
    let next = generation + 1;
    let access = format!("at-{session}-{next}");
    let refresh = format!("rt-{session}-{next}");
    current.insert(session, (refresh.clone(), access.clone()));
    tokens.refreshes.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::OK,
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
        })),
    )
}

/// Serves discovery, an empty key set and the token endpoint; returns the issuer.
fn serve_provider(runtime: &tokio::runtime::Runtime, tokens: Arc<Tokens>) -> anyhow::Result<String> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
        .route("/token", post(token))
        .with_state(tokens);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(issuer)
}

// -------------------------------------------------------------- the run

fn run(database_url: &str) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let tokens = Arc::new(Tokens::default());
    let issuer = serve_provider(&runtime, tokens.clone())?;

    eprintln!("storm: seeding {SESSIONS} sessions that expire together");
    let seeded = Instant::now();
    runtime.block_on(seed(database_url, &issuer, &tokens))?;
    let seed_secs = seeded.elapsed().as_secs_f64();

    // Start the workers; each connects and builds its managers, says
    // "ready", and starts when it reads a line.
    let me = std::env::current_exe()?;
    let mut workers = Vec::new();
    for i in 0..PROCESSES {
        let child = Command::new(&me)
            .env(WORKER_ENV, i.to_string())
            .env("DATABASE_URL", database_url)
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
    eprintln!("storm: {PROCESSES} processes ask for {SESSIONS} tokens each");
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
    let mut waits_us: Vec<u64> = Vec::new();
    for report in &reports {
        errors += report["errors"].as_u64().unwrap_or(0);
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
        .map(|r| r["tokens"].as_object().map_or(0, |t| t.len()))
        .sum::<usize>();
    // ... and every session is still in the store, with that token?
    let lost = runtime.block_on(lost_sessions(database_url, &current))?;
    waits_us.sort_unstable();
    let pct = |p: f64| -> u64 {
        if waits_us.is_empty() {
            return 0;
        }
        let index = ((waits_us.len() as f64 - 1.0) * p).round() as usize;
        waits_us[index.min(waits_us.len() - 1)]
    };
    Ok(json!({
        "measured": true,
        "sessions": SESSIONS,
        "processes": PROCESSES,
        "in_flight_per_process": IN_FLIGHT,
        "seed_secs": seed_secs,
        "refreshes": tokens.refreshes.load(Ordering::Relaxed),
        "reused_refresh_tokens": tokens.reused.load(Ordering::Relaxed),
        "calls": PROCESSES * SESSIONS,
        "answered": answered,
        "errors": errors,
        "stale_tokens": stale,
        "lost_sessions": lost,
        "wall_secs": wall.as_secs_f64(),
        "wait_p50_us": pct(0.5),
        "wait_p99_us": pct(0.99),
        "wait_max_us": waits_us.last().copied().unwrap_or(0),
    }))
}

async fn store(database_url: &str) -> anyhow::Result<PostgresStore> {
    Ok(PostgresOptions::new(database_url)
        .schema(SCHEMA)
        .max_connections(16)
        .application_name("authresult-storm")
        .connect()
        .await?)
}

/// Empties the schema and imports one session per tenant, already inside
/// the freshness margin (expiring in 1 s), with its first refresh token.
async fn seed(database_url: &str, issuer: &str, tokens: &Tokens) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    let store: Arc<dyn SessionStore> = Arc::new(store(database_url).await?);
    let provider = provider(issuer)?;
    {
        let mut current = tokens.current.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for i in 0..SESSIONS {
            let t = tenant(i);
            current.insert(t.clone(), (format!("rt-{t}-0"), format!("at-{t}-0")));
        }
    }
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..SESSIONS)
        .map(|i| {
            let store = store.clone();
            let provider = provider.clone();
            async move {
                let t = tenant(i);
                let manager = AuthManager::builder(t.clone(), store)
                    .provider(PROVIDER, provider)
                    .build();
                let mut auth = AuthResult::new(AccessToken::new(format!("at-{t}-0")), 1);
                auth.refresh_token = Some(RefreshToken::new(format!("rt-{t}-0")));
                manager.import(PROVIDER, auth).await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    // Past the 1 s lifetime: every session has expired.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    Ok(())
}

fn provider(issuer: &str) -> anyhow::Result<Arc<dyn AuthProvider>> {
    let config = ProviderConfig::from_json_str(
        &json!({"type": "oidc", "fields": {"issuer": issuer, "client_id": "storm"}}).to_string(),
    )?;
    Ok(Arc::new(OidcProvider::from_config(
        &config,
        OidcOptions::default(),
    )?))
}

/// Sessions missing from the store, or holding another access token than
/// the provider's newest.
async fn lost_sessions(
    database_url: &str,
    current: &HashMap<String, (String, String)>,
) -> anyhow::Result<u64> {
    let store = store(database_url).await?;
    let mut lost = 0;
    for (tenant, (_, access)) in current {
        let key = authresult_core::SessionKey::new(tenant.as_str(), PROVIDER);
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
    let database_url = std::env::var("DATABASE_URL").context("no DATABASE_URL")?;
    let issuer = std::env::var("AUTHRESULT_STORM_ISSUER").context("no issuer")?;
    runtime.block_on(async {
        let store: Arc<dyn SessionStore> = Arc::new(store(&database_url).await?);
        let provider = provider(&issuer)?;
        let managers: Vec<(String, AuthManager)> = (0..SESSIONS)
            .map(|i| {
                let t = tenant(i);
                let manager = AuthManager::builder(t.clone(), store.clone())
                    .provider(PROVIDER, provider.clone())
                    .build();
                (t, manager)
            })
            .collect();
        // Each worker goes through the sessions from another starting point,
        // so the processes meet on every session rather than in lockstep.
        let offset = worker.parse::<usize>().unwrap_or(0) * SESSIONS / PROCESSES;
        println!("ready");
        std::io::stdout().flush()?;
        let mut go = String::new();
        std::io::stdin().read_line(&mut go)?;
        let calls: Vec<(String, Result<String, String>, u64)> = futures::stream::iter(0..SESSIONS)
            .map(|n| {
                let (tenant, manager) = &managers[(n + offset) % SESSIONS];
                async move {
                    let started = Instant::now();
                    let token = manager
                        .access_token(PROVIDER)
                        .await
                        .map(|t| t.secret().to_owned())
                        .map_err(|e| e.to_string());
                    let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    (tenant.clone(), token, waited)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut tokens = BTreeMap::new();
        let mut waits = Vec::with_capacity(calls.len());
        let mut errors = 0u64;
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
                    errors += 1;
                }
            }
        }
        println!(
            "{}",
            json!({"tokens": tokens, "errors": errors, "waits_us": waits})
        );
        Ok(())
    })
}
