//! The sync server's front door under a slow-body attack: authenticated
//! DataCollect clients push (10 events, `configId` in the body) and pull
//! over loopback while 1,000 unauthenticated clients hold push bodies open,
//! sending one byte every 500 ms (a third without `Authorization`, a third
//! with a refused `Bearer` token, a third with a `keycloak` token whose
//! check depends on the app, so their bodies are read before
//! authentication; an answered attacker connects again 2 s later). Side
//! by side, alternated in [`ROUNDS`] rounds: the same clients without the
//! attack; each round gives a ratio, and the median ratio judges the bar
//! (whatever else the machine does falls on both runs of a round alike).
//!
//! The server is `example-sync-server`'s front door (`BearerAuthLayer` for
//! pull, `json_body_app` for push), served as the example serves it
//! (`example_common::serve`, its default limits), in a process of its own
//! (this bench again, `AUTHRESULT_FRONT_DOOR_SERVE` set), so its memory
//! (`VmRSS`, `VmHWM`) is its own. The attackers run on a thread of their
//! own, so that driving them does not slow the measured clients' thread.
//! Each phase runs a fixed time; every loop stops by itself. Writes
//! `<out>/front_door.json`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authresult_bench::results;
use authresult_jwt::{
    AppAuth, AppSelector, BearerAuthLayer, JsonBodyApp, SyncServerSecret, SyncServerTokens, TokenCheck,
};
use authresult_test_support::{JwtAlg, JwtSigner};
use axum::Router;
use axum::routing::{get, post};
use example_common::ServeLimits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Set when this binary runs as the server.
const SERVE_ENV: &str = "AUTHRESULT_FRONT_DOOR_SERVE";
/// The server's own secret, and two providers' (stood for by secrets).
const SECRET: &[u8] = b"front-door-bench-sync-server-secret-0123";
const PROVIDER_A: &[u8] = b"front-door-bench-provider-a-secret-01234";
const PROVIDER_B: &[u8] = b"front-door-bench-provider-b-secret-01234";
/// Slow unauthenticated clients during the attack.
const ATTACKERS: usize = 1_000;
/// Authenticated clients, each pushing and pulling in turn.
const CLIENTS: usize = 8;
/// Measured seconds per phase.
const PHASE: Duration = Duration::from_secs(4);
/// Rounds of (no attack, attack), alternated so that other load on the
/// machine falls on both alike; the median of the rounds' ratios judges.
const ROUNDS: usize = 5;
/// An answered attacker's pause before it connects again.
const RECONNECT: Duration = Duration::from_secs(2);
/// The attackers' pace: one byte per connection every so often.
const DRIP: Duration = Duration::from_millis(500);
/// The bound stated for the server's resident memory under attack.
const MEMORY_BOUND_MIB: f64 = 64.0;

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        if let Err(e) = serve() {
            eprintln!("front door server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let result = match run() {
        Ok(value) => value,
        Err(e) => {
            eprintln!("front_door: not measured: {e:#}");
            json!({"measured": false, "reason": format!("{e:#}")})
        }
    };
    println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
    if let Err(e) = results::write("front_door", &result) {
        eprintln!("front_door: cannot write the results: {e:#}");
        std::process::exit(1);
    }
}

fn tokens(secret: &[u8]) -> anyhow::Result<SyncServerTokens> {
    Ok(SyncServerTokens::builder(SyncServerSecret::new(secret)).build()?)
}

/// A token as DataCollect's server signs it.
fn token(secret: &[u8], id: u64) -> anyhow::Result<String> {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = json!({"id": id, "email": format!("user{id}@example.org"), "iat": iat}).to_string();
    let signed = JwtSigner::hmac(JwtAlg::Hs256, secret)?.sign_compact(
        JwtAlg::Hs256,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims,
    )?;
    Ok(signed)
}

/// The server: apps `default`, `field` and `other`, all taking the server's
/// own `Bearer` tokens; `field` and `other` each with its own `keycloak`.
fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let own = tokens(SECRET)?;
        let app = |provider: &[u8]| -> anyhow::Result<AppAuth> {
            Ok(AppAuth::new().scheme("Bearer", [own.clone().into()]).scheme(
                "keycloak",
                [TokenCheck::from(tokens(provider)?), own.clone().into()],
            ))
        };
        let apps = [
            (
                "default".to_owned(),
                AppAuth::new().scheme("Bearer", [own.clone().into()]),
            ),
            ("field".to_owned(), app(PROVIDER_A)?),
            ("other".to_owned(), app(PROVIDER_B)?),
        ];
        let sync = BearerAuthLayer::for_apps(apps, AppSelector::config_id());
        let push = sync.clone().json_body_app(JsonBodyApp::config_id());
        let router =
            Router::new()
                .route(
                    "/api/sync/pull",
                    get(|| async { r#"{"events":[],"nextCursor":null}"# }).layer(sync),
                )
                .route(
                    "/api/sync/push",
                    post(|body: String| async move {
                        format!("{{\"status\":\"success\",\"bytes\":{}}}", body.len())
                    })
                    .route_layer(push),
                );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        example_common::serve(listener, router, ServeLimits::default(), std::future::pending()).await?;
        Ok(())
    })
}

/// The server's `VmRSS` and `VmHWM`, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn run() -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .env(SERVE_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the server")?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("no stdout")?;
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        bail!("the server said {line:?}");
    };
    let addr: std::net::SocketAddr = addr.parse()?;
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let attack = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(measure(addr, pid, attack.handle()));
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure(
    addr: std::net::SocketAddr,
    pid: u32,
    attack: &tokio::runtime::Handle,
) -> anyhow::Result<Value> {
    let bearer = format!("Bearer {}", token(SECRET, 3)?);
    // Warm-up.
    clients(addr, &bearer, Duration::from_secs(1)).await?;
    let (idle_rss, _) = memory(pid);
    let keycloak = format!("keycloak {}", token(PROVIDER_A, 9)?);
    let counts = Arc::new(Counts::default());
    let peak = Arc::new(std::sync::Mutex::new(0.0f64));
    let (mut quiet, mut attacked) = (Throughput::default(), Throughput::default());
    let mut quiet_rss = 0.0f64;
    let mut rounds = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..ROUNDS {
        let quiet_run = clients(addr, &bearer, PHASE).await?;
        quiet.add(&quiet_run);
        quiet_rss = quiet_rss.max(memory(pid).0);

        let stop = Arc::new(AtomicBool::new(false));
        let mut attackers = Vec::new();
        for i in 0..ATTACKERS {
            let authorization = match i % 3 {
                0 => String::new(),
                1 => "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.bm90LWEtc2lnbmF0dXJl\r\n"
                    .to_owned(),
                _ => format!("Authorization: {keycloak}\r\n"),
            };
            attackers.push(attack.spawn(attacker(addr, authorization, stop.clone(), counts.clone())));
            if i % 100 == 99 {
                tokio::task::yield_now().await;
            }
        }
        // Let every attacker connect and start its body.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (rss, _) = memory(pid);
                    if let Ok(mut p) = peak.lock() {
                        *p = p.max(rss);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let attacked_run = clients(addr, &bearer, PHASE).await?;
        attacked.add(&attacked_run);
        let ratio = attacked_run.per_sec() / quiet_run.per_sec().max(f64::MIN_POSITIVE);
        ratios.push(ratio);
        rounds.push(json!({
            "quiet_per_sec": quiet_run.per_sec(),
            "attacked_per_sec": attacked_run.per_sec(),
            "ratio": ratio,
        }));
        stop.store(true, Ordering::Relaxed);
        for attacker in attackers {
            let _ = attacker.await;
        }
        let _ = sampler.await;
    }
    let (_, hwm) = memory(pid);
    let peak_rss = peak.lock().map(|p| *p).unwrap_or_default();
    ratios.sort_by(f64::total_cmp);
    let kept = ratios.get(ratios.len() / 2).copied().unwrap_or_default();
    Ok(json!({
        "measured": true,
        "attackers": ATTACKERS,
        "clients": CLIENTS,
        "rounds": ROUNDS,
        "phase_secs": PHASE.as_secs(),
        "drip_ms": DRIP.as_millis() as u64,
        "reconnect_ms": RECONNECT.as_millis() as u64,
        "quiet": {"requests": quiet.requests, "per_sec": quiet.per_sec(), "failed": quiet.failed, "rss_mib": quiet_rss},
        "attacked": {"requests": attacked.requests, "per_sec": attacked.per_sec(), "failed": attacked.failed, "peak_rss_mib": peak_rss},
        "throughput_kept": kept,
        "rounds_kept": rounds,
        "min_kept": ratios.first(),
        "max_kept": ratios.last(),
        "idle_rss_mib": idle_rss,
        "hwm_mib": hwm,
        "memory_bound_mib": MEMORY_BOUND_MIB,
        "attack_answers": {
            "401": counts.unauthorized.load(Ordering::Relaxed),
            "503": counts.busy.load(Ordering::Relaxed),
            "408": counts.timeout.load(Ordering::Relaxed),
            "other": counts.other.load(Ordering::Relaxed),
            "connects": counts.connects.load(Ordering::Relaxed),
        },
        "kept_80_percent": kept >= 0.8,
        "under_memory_bound": hwm < MEMORY_BOUND_MIB,
    }))
}

#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    unauthorized: AtomicU64,
    busy: AtomicU64,
    timeout: AtomicU64,
    other: AtomicU64,
}

/// One slow client: a push that declares 100 KB and sends a byte every
/// [`DRIP`]; when answered, it reads the status and starts again, until
/// `stop`.
async fn attacker(
    addr: std::net::SocketAddr,
    authorization: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let head = format!(
        "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{authorization}Content-Length: 100000\r\n\r\n{{\"events\":["
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(DRIP).await;
            continue;
        };
        counts.connects.fetch_add(1, Ordering::Relaxed);
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut answer = [0u8; 64];
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::select! {
                read = stream.read(&mut answer) => {
                    let status = match read {
                        Ok(n) if n > 12 => answer.get(9..12).map(|s| s.to_vec()).unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    let counter = match status.as_slice() {
                        b"401" => &counts.unauthorized,
                        b"503" => &counts.busy,
                        b"408" => &counts.timeout,
                        _ => &counts.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                () = tokio::time::sleep(DRIP) => {
                    if stream.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            }
        }
        // An answered attacker comes back after a pause, to hold a body
        // open again.
        tokio::time::sleep(RECONNECT).await;
    }
}

#[derive(Default)]
struct Throughput {
    requests: u64,
    failed: u64,
    secs: f64,
}

impl Throughput {
    fn add(&mut self, other: &Throughput) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.secs += other.secs;
    }

    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.secs.max(f64::MIN_POSITIVE)
    }
}

/// [`CLIENTS`] authenticated clients pushing 10 events and pulling, in
/// turn, for `phase`.
async fn clients(addr: std::net::SocketAddr, bearer: &str, phase: Duration) -> anyhow::Result<Throughput> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let events: Vec<Value> = (0..10)
        .map(|i| json!({"guid": format!("e{i}"), "entityGuid": "p", "type": "create-individual",
            "data": {"name": "Ana", "i": i}, "timestamp": "2026-01-01T00:00:00.000Z", "userId": "u", "syncLevel": 0}))
        .collect();
    let body = json!({"events": events, "configId": "field"}).to_string();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, bearer, body) = (client.clone(), bearer.to_owned(), body.clone());
        let (ok, failed) = (ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut turn = 0u64;
            while started.elapsed() < phase {
                turn += 1;
                let request = if turn.is_multiple_of(2) {
                    client
                        .post(format!("http://{addr}/api/sync/push"))
                        .header("authorization", &bearer)
                        .header("content-type", "application/json")
                        .body(body.clone())
                } else {
                    client
                        .get(format!("http://{addr}/api/sync/pull?since=&configId=field"))
                        .header("authorization", &bearer)
                };
                let answered = match request.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if answered {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(Throughput {
        requests: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        secs: started.elapsed().as_secs_f64(),
    })
}
