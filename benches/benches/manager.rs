//! `AuthManager::access_token`: a fresh session (the cached fast path, no
//! store read), and 1,000 concurrent calls on an expiring session (exactly
//! one refresh, and how long the callers wait).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authresult_bench::results::{self, micros, percentile};
use authresult_bench::support::{CountingStore, bench_provider, poll_once, realistic_auth};
use authresult_bench::tokens::{self, Alg, Signer};
use authresult_core::MemoryStore;
use authresult_core::{AuthManager, ManualClock, Timestamp};
use criterion::Criterion;
use serde_json::{Value, json};

/// Concurrent callers per round.
const CALLERS: usize = 1000;
/// Rounds of the concurrency measurement, each on a new manager.
const ROUNDS: usize = 20;
/// How long the provider takes to refresh.
const REFRESH_DELAY: Duration = Duration::from_millis(5);

fn main() {
    if let Err(e) = run() {
        eprintln!("manager bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let mut criterion = results::criterion();
    let signer = Signer::generate(Alg::EdDsa)?;
    let access_token = signer.sign(&tokens::access_claims(Alg::EdDsa, 0))?;
    let fresh = fresh_session(&mut criterion, &access_token)?;
    let concurrent = concurrent_refresh(&access_token)?;
    results::write("manager", &json!({ "fresh": fresh, "concurrent": concurrent }))?;
    criterion.final_summary();
    // Written first, so the table shows the failure; then fail loudly.
    let reads = fresh["store_reads"].as_u64().unwrap_or(u64::MAX);
    if reads != 0 {
        bail!("access_token read the store {reads} times for a fresh session");
    }
    let (least, most) = (&concurrent["refreshes_min"], &concurrent["refreshes_max"]);
    if least.as_u64() != Some(1) || most.as_u64() != Some(1) {
        bail!(
            "{CALLERS} concurrent callers caused {least} to {most} refreshes per round, expected exactly one"
        );
    }
    Ok(())
}

/// A session imported a moment ago (valid for an hour): every call is
/// answered from the manager's cache. A store that counts reads proves none
/// happens.
fn fresh_session(criterion: &mut Criterion, access_token: &str) -> anyhow::Result<Value> {
    let store = Arc::new(CountingStore::new(MemoryStore::new()));
    let manager = AuthManager::builder("bench", CountingStore::stores(&store))
        .provider("p", Arc::new(bench_provider(Duration::ZERO)))
        .build();
    let (auth, sizes) = realistic_auth(access_token, 0);
    poll_once(manager.import("p", auth))?;
    store.reset();
    let mut calls: u64 = 0;
    let mut group = criterion.benchmark_group("manager");
    group.bench_function("access_token_fresh", |b| {
        b.iter(|| {
            calls += 1;
            poll_once(manager.access_token(black_box("p"))).expect("a token")
        });
    });
    group.finish();
    let reads = store.reads();
    Ok(json!({ "calls": calls, "store_reads": reads, "access_token_len": sizes.access }))
}

/// `ROUNDS` times: a manager whose session expires within the margin, and
/// `CALLERS` tasks released at once on a two-thread runtime, each timing its
/// own `access_token` call; counts the refreshes of each round. Fails unless
/// every caller got the refreshed token.
fn concurrent_refresh(access_token: &str) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut waits = Vec::with_capacity(ROUNDS * CALLERS);
    let mut spans = Vec::with_capacity(ROUNDS);
    let mut refreshes = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (round_waits, span, count) = runtime.block_on(one_round(access_token, round as u64))?;
        waits.extend(round_waits);
        spans.push(span);
        refreshes.push(count);
    }
    waits.sort_unstable();
    spans.sort_unstable();
    eprintln!(
        "manager: {ROUNDS} rounds of {CALLERS} concurrent calls, refreshes per round {:?}; wait p50 {:?}, p99 {:?}",
        refreshes,
        percentile(&waits, 50.0),
        percentile(&waits, 99.0)
    );
    Ok(json!({
        "callers": CALLERS,
        "rounds": ROUNDS,
        "refreshes_min": refreshes.iter().min(),
        "refreshes_max": refreshes.iter().max(),
        "refresh_delay_ms": REFRESH_DELAY.as_millis() as u64,
        "worker_threads": 2,
        "wait_p50_us": micros(percentile(&waits, 50.0)),
        "wait_p99_us": micros(percentile(&waits, 99.0)),
        "wait_max_us": micros(percentile(&waits, 100.0)),
        "all_done_p50_us": micros(percentile(&spans, 50.0)),
    }))
}

async fn one_round(access_token: &str, round: u64) -> anyhow::Result<(Vec<Duration>, Duration, u64)> {
    let provider = Arc::new(bench_provider(REFRESH_DELAY));
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let manager = AuthManager::builder("bench", Arc::new(MemoryStore::new()))
        .provider("p", provider.clone())
        .clock(Arc::new(clock))
        .build();
    let (mut auth, _) = realistic_auth(access_token, round);
    // Expires in 20 s, inside the default 30 s margin: the next call refreshes.
    auth.expires_in = 20;
    manager.import("p", auth).await?;
    let (start, ready) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(CALLERS);
    for _ in 0..CALLERS {
        let manager = manager.clone();
        let mut ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            let _ = ready.wait_for(|go| *go).await;
            let began = Instant::now();
            let token = manager.access_token("p").await;
            (began.elapsed(), token)
        }));
    }
    // Let every task reach the start line, then release them together.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let released = Instant::now();
    start.send(true).context("no caller is waiting")?;
    let mut waits = Vec::with_capacity(CALLERS);
    for task in tasks {
        let (wait, token) = task.await?;
        let token = token?;
        if !token.secret().starts_with("refreshed-access-token-") {
            bail!("a caller got the old token after the refresh");
        }
        waits.push(wait);
    }
    Ok((waits, released.elapsed(), provider.calls().refresh as u64))
}
