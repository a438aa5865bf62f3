//! A resource server under load: the protected route of
//! `example-resource-server` (an axum route behind `BearerAuthLayer`), driven
//! over loopback by `wrk` at a fixed concurrency, side by side in one run with
//! the same route without authentication (the ceiling), Auth0's
//! `express-oauth2-jwt-bearer` behind express verifying the same tokens with
//! the same keys (`xtask/bench/express-server.mjs`), and DataCollect's way: a
//! userinfo call to the local provider per request. The alternating rounds
//! hold the open route against its own handler behind the layer, so what
//! they measure is the layer's cost alone.
//!
//! Each server runs in its own process (this bench re-executes itself with
//! `AUTHRESULT_LOAD_SERVE` set, or Node.js), one at a time, so the load
//! generator and one server share the machine. Token mixes: one repeated
//! token, and 10,000 distinct tokens taken in turn. Writes `<out>/load.json`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authresult_bench::tokens::{self, AUDIENCE, Alg, ISSUER, Signer};
use authresult_bench::{results, routes};
use authresult_jwt::{BearerAuthLayer, ValidatedToken};
use authresult_test_support::{Idp, IdpOptions, repo_root};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use url::Url;

/// Set (to a role) when this binary runs as one of the servers.
const SERVE_ENV: &str = "AUTHRESULT_LOAD_SERVE";
/// wrk's open connections.
const CONNECTIONS: u32 = 32;
/// wrk's threads: one, so the server under test has the other core.
const WRK_THREADS: u32 = 1;
/// Measured seconds per run (after a discarded warm-up run).
const MEASURE_SECS: u32 = 5;
/// Warm-up seconds per run: fills the caches, lets Node's JIT settle, and
/// lets the Rust validator see every distinct token once.
const WARM_UP_SECS: u32 = 3;
/// Distinct tokens of the second mix.
const DISTINCT: u64 = 10_000;
/// Provider tokens for the userinfo server's distinct mix: each one is a
/// login at the local provider, and a userinfo call costs the same whatever
/// the token (nothing is cached), so a smaller set stands for the 10,000.
const USERINFO_DISTINCT: usize = 100;

/// wrk's script: takes the tokens from the file named after `--`, one per
/// request in turn, and prints the run as one JSON line at the end.
const WRK_SCRIPT: &str = r#"
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  i = math.random(#tokens) - 1
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n{"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

fn main() {
    if let Ok(role) = std::env::var(SERVE_ENV) {
        if let Err(e) = serve(&role) {
            eprintln!("load server {role}: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let result = match run() {
        Ok(value) => value,
        Err(e) => {
            eprintln!("load: not measured: {e:#}");
            json!({"measured": false, "reason": format!("{e:#}")})
        }
    };
    if let Err(e) = results::write("load", &result) {
        eprintln!("load: cannot write the results: {e:#}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- the servers

/// Runs one server (the role names which) until killed; prints
/// `listening on http://<addr>` first.
fn serve(role: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = match role {
            "open" => routes::open_router(),
            "ours" => {
                let jwks = std::env::var("AUTHRESULT_LOAD_JWKS").context("no key set")?;
                // The validator of the validation benches: the same keys,
                // issuer and audience as the tokens, default token cache.
                let validator = tokens::validator(&jwks, None)?;
                Router::new().route("/api/sync", get(protected).layer(BearerAuthLayer::new(validator)))
            }
            "layer" => {
                // The open route's own handler behind the layer: what the
                // alternating rounds hold against the open route.
                let jwks = std::env::var("AUTHRESULT_LOAD_JWKS").context("no key set")?;
                routes::protected_router(tokens::validator(&jwks, None)?)
            }
            "userinfo" => {
                let endpoint = std::env::var("AUTHRESULT_LOAD_USERINFO").context("no userinfo endpoint")?;
                let upstream = Upstream {
                    client: reqwest::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()?,
                    endpoint: Url::parse(&endpoint)?,
                };
                Router::new()
                    .route("/api/sync", get(via_userinfo))
                    .with_state(Arc::new(upstream))
            }
            other => bail!("unknown role {other}"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// The protected route's answer, as `example-resource-server` gives it.
async fn protected(Extension(token): Extension<ValidatedToken>) -> Json<Value> {
    Json(json!({
        "subject": token.subject(),
        "issuer": token.issuer(),
        "scopes": token.scopes(),
        "message": "sync accepted",
    }))
}

struct Upstream {
    client: reqwest::Client,
    endpoint: Url,
}

/// DataCollect's way: every request asks the provider's userinfo endpoint.
async fn via_userinfo(
    State(up): State<Arc<Upstream>>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let response = up
        .client
        .get(up.endpoint.clone())
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !response.status().is_success() {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let body = response.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    let claims: Value = serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(Json(json!({
        "subject": claims["sub"],
        "issuer": up.endpoint.origin().ascii_serialization(),
        "message": "sync accepted",
    })))
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    url: Url,
}

impl Server {
    /// Starts `command` and waits (at most 30 s) for its `listening on` line.
    fn start(mut command: Command) -> anyhow::Result<Server> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let mut server = Server {
            child,
            url: Url::parse("http://127.0.0.1:9/")?,
        };
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .context("the server did not say where it listens within 30 s")?;
        server.url = Url::parse(&url)?.join("/api/sync")?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------- the runs

fn run() -> anyhow::Result<Value> {
    let wrk_version = wrk_version()?;
    let dir = results::out_dir().join("load");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("tokens.lua");
    std::fs::write(&script, WRK_SCRIPT)?;

    eprintln!("load: signing {DISTINCT} RS256 tokens");
    let signer = Signer::generate(Alg::Rs256)?;
    let jwks = tokens::jwks_json(&[&signer]);
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, &jwks)?;
    let distinct = tokens::tokens(&signer, DISTINCT)?;
    let repeated_file = write_tokens(&dir, "repeated", &distinct[..1])?;
    let distinct_file = write_tokens(&dir, "distinct", &distinct)?;
    let mixes = [("repeated", &repeated_file), ("distinct", &distinct_file)];

    let mut servers = serde_json::Map::new();

    let open = rust_server("open", &[]);
    let ours = rust_server("ours", &[("AUTHRESULT_LOAD_JWKS", &jwks)]);
    let open_runs = open
        .as_ref()
        .map_err(clone_error)
        .and_then(|s| drive(s, &script, &mixes));
    servers.insert("open".into(), outcome(open_runs));
    let ours_runs = ours
        .as_ref()
        .map_err(clone_error)
        .and_then(|s| drive(s, &script, &mixes));
    servers.insert("ours".into(), outcome(ours_runs));
    drop(ours);
    // The same route, same handler, with and without the layer: the
    // difference is the layer's alone.
    let layer = rust_server("layer", &[("AUTHRESULT_LOAD_JWKS", &jwks)]);
    let alternating = match (&open, &layer) {
        (Ok(open), Ok(layer)) => outcome(alternate(open, layer, &script, &repeated_file)),
        _ => outcome(Err(anyhow::anyhow!("a server did not start"))),
    };
    drop((open, layer));
    let express = express_server(&jwks_file).and_then(|s| drive(&s, &script, &mixes));
    servers.insert("express".into(), outcome(express));
    let userinfo = userinfo_run(&dir, &script);
    servers.insert("userinfo".into(), outcome(userinfo));

    Ok(json!({
        "measured": true,
        "wrk": wrk_version,
        "connections": CONNECTIONS,
        "wrk_threads": WRK_THREADS,
        "measure_secs": MEASURE_SECS,
        "warm_up_secs": WARM_UP_SECS,
        "distinct_tokens": DISTINCT,
        "userinfo_distinct_tokens": USERINFO_DISTINCT,
        "token_alg": "RS256",
        "token_bytes": distinct.first().map_or(0, String::len),
        "express_oauth2_jwt_bearer": node_package_version("express-oauth2-jwt-bearer"),
        "servers": servers,
        "alternating": alternating,
    }))
}

/// This bench again, as the server `role`.
fn rust_server(role: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
    let mut command = Command::new(std::env::current_exe()?);
    command.env(SERVE_ENV, role).envs(env.iter().copied());
    Server::start(command)
}

fn outcome(result: anyhow::Result<Value>) -> Value {
    result.unwrap_or_else(|e| {
        eprintln!("load: {e:#}");
        json!({"reason": format!("{e:#}")})
    })
}

fn write_tokens(dir: &Path, name: &str, tokens: &[String]) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("tokens-{name}.txt"));
    let mut text = tokens.join("\n");
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}

fn wrk_version() -> anyhow::Result<String> {
    let out = Command::new("wrk")
        .arg("-v")
        .output()
        .context("wrk is not installed (Debian package wrk; `cargo xtask bench` installs it as root)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok(text.split_whitespace().nth(1).unwrap_or("unknown").to_owned())
}

fn node_package_version(name: &str) -> Value {
    let path = repo_root()
        .join("xtask/bench/node_modules")
        .join(name)
        .join("package.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map_or(Value::Null, |p| p["version"].clone())
}

/// One server, each token mix: a warm-up run, then the measured one.
fn drive(server: &Server, script: &Path, mixes: &[(&str, &PathBuf)]) -> anyhow::Result<Value> {
    let mut runs = serde_json::Map::new();
    for (name, tokens) in mixes {
        eprintln!("load: {} with the {name} token mix", server.url);
        wrk(&server.url, script, tokens, WARM_UP_SECS)?;
        let run = wrk(&server.url, script, tokens, MEASURE_SECS)?;
        runs.insert((*name).into(), run);
    }
    Ok(Value::Object(runs))
}

/// Rounds of the alternating comparison of the repeated-token mix.
const ALTERNATING_ROUNDS: usize = 9;

/// The repeated-token mix against the ceiling and the same handler behind
/// the layer in turn, [`ALTERNATING_ROUNDS`] times, one ratio per round: whatever else the
/// machine does slows both runs of a round alike, which two runs measured
/// tens of seconds apart cannot promise. The median ratio judges the bar.
fn alternate(open: &Server, ours: &Server, script: &Path, tokens: &Path) -> anyhow::Result<Value> {
    eprintln!("load: the repeated token, ceiling and protected route in turn, {ALTERNATING_ROUNDS} rounds");
    let mut rounds = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..ALTERNATING_ROUNDS {
        let open_run = wrk(&open.url, script, tokens, MEASURE_SECS)?;
        let ours_run = wrk(&ours.url, script, tokens, MEASURE_SECS)?;
        let (open_rps, ours_rps) = (
            open_run["rps"].as_f64().unwrap_or(0.0),
            ours_run["rps"].as_f64().unwrap_or(0.0),
        );
        let ratio = ours_rps / open_rps.max(1e-9);
        ratios.push(ratio);
        rounds.push(json!({"open_rps": open_rps, "ours_rps": ours_rps, "ratio": ratio}));
    }
    ratios.sort_by(f64::total_cmp);
    Ok(json!({
        "rounds": rounds,
        "median_ratio": ratios[ratios.len() / 2],
        "min_ratio": ratios[0],
        "max_ratio": ratios[ratios.len() - 1],
    }))
}

/// A copy of a server's start error, for each use of it.
fn clone_error(error: &anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

/// One wrk run; its JSON line plus requests per second. A run in which any
/// request failed is an error: the numbers would not be of the route.
fn wrk(url: &Url, script: &Path, tokens: &Path, secs: u32) -> anyhow::Result<Value> {
    let out = Command::new("wrk")
        .args([
            format!("-t{WRK_THREADS}"),
            format!("-c{CONNECTIONS}"),
            format!("-d{secs}s"),
            "--timeout".into(),
            "10s".into(),
            "-s".into(),
        ])
        .arg(script)
        .arg(url.as_str())
        .arg("--")
        .arg(tokens)
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("wrk printed no result")?;
    let mut run: Value = serde_json::from_str(line).context("wrk's result is not JSON")?;
    let requests = run["requests"].as_f64().unwrap_or(0.0);
    let secs = run["duration_us"].as_f64().unwrap_or(0.0) / 1e6;
    let failed = run["non2xx"].as_u64().unwrap_or(0) + run["socket_errors"].as_u64().unwrap_or(0);
    if failed > 0 || requests == 0.0 {
        bail!("{url}: {failed} of {requests} requests failed");
    }
    run["rps"] = json!(requests / secs.max(1e-9));
    Ok(run)
}

fn express_server(jwks: &Path) -> anyhow::Result<Server> {
    let dir = repo_root().join("xtask/bench");
    if !dir
        .join("node_modules/express-oauth2-jwt-bearer/package.json")
        .exists()
    {
        bail!("express-oauth2-jwt-bearer is not installed in xtask/bench (`cargo xtask bench` runs npm ci)");
    }
    let mut command = Command::new("node");
    command
        .arg("express-server.mjs")
        .arg(jwks)
        .arg(ISSUER)
        .arg(AUDIENCE)
        .current_dir(dir);
    Server::start(command)
}

/// DataCollect's way needs the provider's own (opaque) access tokens: starts
/// the local provider and logs `alice` in as many times as tokens are needed.
fn userinfo_run(dir: &Path, script: &Path) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let idp = Idp::start(IdpOptions::default()).context("the local OpenID provider did not start")?;
    let started = Instant::now();
    let (endpoint, tokens) =
        runtime.block_on(authresult_bench::idp::opaque_tokens(&idp, USERINFO_DISTINCT))?;
    eprintln!(
        "load: {} provider logins in {:.1} s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );
    let repeated = write_tokens(dir, "userinfo-repeated", &tokens[..1])?;
    let distinct = write_tokens(dir, "userinfo-distinct", &tokens)?;
    let server = rust_server("userinfo", &[("AUTHRESULT_LOAD_USERINFO", endpoint.as_str())])?;
    let result = drive(
        &server,
        script,
        &[("repeated", &repeated), ("distinct", &distinct)],
    );
    drop(server);
    drop(idp);
    result
}
