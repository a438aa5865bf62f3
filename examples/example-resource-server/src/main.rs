//! Run with: `cargo run -p example-resource-server -- --issuer https://id.example.org --audience my-api`
//!
//! A sync server as DataCollect's would be: `GET /api/sync` needs a valid
//! bearer token (checked locally by the authresult tower layer: 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` otherwise, 403 when a
//! required scope is missing); `GET /health` is open. With
//! `--dpop-origin URL` (the URL clients use) it also takes DPoP-bound tokens
//! (RFC 9449) as `Authorization: DPoP <token>` with a `DPoP` proof, and
//! refuses such a token sent as a bearer token; used proofs are remembered
//! in this process (one instance). Prints the address it listens on, then
//! serves until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use authresult_jwt::{BearerAuthLayer, ValidatedToken};
use axum::routing::get;
use axum::{Extension, Json, Router};
use clap::Parser;
use example_common::{exit, validator};
use serde_json::{Value, json};
use url::Url;

/// Serve /api/sync behind bearer-token validation.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A trusted issuer URL (repeatable).
    #[arg(long, env = "AUTHRESULT_ISSUER", required = true, value_name = "URL")]
    issuer: Vec<String>,

    /// An accepted audience (repeatable). Without one, any audience is accepted.
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,

    /// A scope every /api/sync request must carry (repeatable).
    #[arg(long = "require-scope", value_name = "SCOPE")]
    require_scope: Vec<String>,

    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,

    /// Accept DPoP-bound tokens with a proof; the URL clients reach this
    /// server at (scheme, host, port), which the proofs' `htu` must match.
    #[arg(long, env = "AUTHRESULT_DPOP_ORIGIN", value_name = "URL")]
    dpop_origin: Option<Url>,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn sync(Extension(token): Extension<ValidatedToken>) -> Json<Value> {
    Json(json!({
        "subject": token.subject(),
        "issuer": token.issuer(),
        "scopes": token.scopes(),
        "realm_roles": token.realm_roles(),
        "message": "sync accepted",
    }))
}

async fn run(args: Args) -> Result<()> {
    let validator = validator(&args.issuer, &args.audience, Duration::from_secs(60))?;
    // Fetch the key sets now, so the first request does not wait and a wrong
    // issuer shows at start-up.
    validator
        .prefetch()
        .await
        .context("cannot fetch the issuers' keys")?;
    let layer = args
        .require_scope
        .iter()
        .fold(BearerAuthLayer::new(validator), |l, s| {
            l.require_scope(s.as_str())
        });
    let layer = match args.dpop_origin {
        Some(origin) => layer.dpop(origin),
        None => layer,
    };
    let app = Router::new()
        .route("/api/sync", get(sync).layer(layer))
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
