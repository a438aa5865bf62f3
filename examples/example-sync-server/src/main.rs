//! Run with: `JWT_SECRET='<the server's secret>' cargo run -p example-sync-server -- --app field.json --admin admin@example.org`
//!
//! A sync server standing in for DataCollect's (`packages/backend`): the
//! same requests a DataCollect client makes are accepted or refused as its
//! server would. `GET /api/sync/pull?since=..&configId=..` and
//! `POST /api/sync/push` (`{events, configId}`) take
//! `Authorization: Bearer <the sync server's own HS256 token>` or
//! `Authorization: <provider type> <provider token>` (`keycloak`, `auth0`,
//! `oidc`: each app's `authConfigs`), the provider first, then the secret.
//! `GET /api/users/check-token` takes the server's own token only;
//! `GET /api/users/me` also needs the user to be an admin (`--admin`, the
//! stand-in for DataCollect's user table). Each `--app` is a DataCollect app
//! config (`{id, authConfigs: [{type, fields}], ...}`; other members are
//! ignored); the app `default` (the server's own login only) always exists.
//! Pushed events are kept in memory and pulled as DataCollect's server
//! answers (server-side fields, `syncLevel: 1`, pages of 10 strictly after
//! `since`); a full store refuses a push (507), never drops an event.
//! Served over HTTP/1.1 with a time limit on each request's headers and on
//! idle connections, and a bound on connections at once
//! (`example_common::serve`). With `--dpop-origin URL` (the URL clients
//! use) a provider's DPoP-bound tokens (RFC 9449) are taken with their
//! proof (`Authorization: DPoP <token>`, or a provider scheme, plus a `DPoP`
//! header) and refused without one; used proofs are remembered in this
//! process (the server keeps its events in memory: one instance).
//! `docs/datacollect-server.md` tells more.
//! Prints the address it listens on, then serves until Ctrl-C.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authresult_jwt::{SyncServerSecret, SyncServerTokens};
use clap::Parser;
use example_common::{ServeLimits, exit, serve};
use url::Url;

mod events;
mod server;
#[cfg(test)]
mod tests;

use server::{AppConfig, Settings};

/// Serve DataCollect's sync routes with its header schemes, apps and tokens.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A DataCollect app config file (`{id, authConfigs}`), repeatable.
    #[arg(long, value_name = "FILE")]
    app: Vec<PathBuf>,

    /// Also accept this audience from every provider (repeatable); by
    /// default each provider's `client_id` (or Auth0 `audience`).
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,

    /// The environment variable holding the server's HS256 secret
    /// (DataCollect's `JWT_SECRET`); never given as a flag.
    #[arg(long, default_value = "JWT_SECRET", value_name = "VAR")]
    secret_env: String,

    /// Accept a secret shorter than 32 bytes (an existing deployment's).
    #[arg(long)]
    allow_short_secret: bool,

    /// The server's own tokens (which have no `exp`) are refused this many
    /// days after their `iat`.
    #[arg(long, default_value_t = 7, value_name = "DAYS")]
    max_age_days: u64,

    /// An admin's email, for `/api/users/me` (repeatable).
    #[arg(long, value_name = "EMAIL")]
    admin: Vec<String>,

    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    max_body: usize,

    /// Events kept per app, in memory; a push past it is refused with 507
    /// (nothing is dropped).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    max_events: usize,

    /// Push bodies read at once before their client is authenticated (a
    /// provider scheme several apps check differently); more get 503.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_unauthenticated: usize,

    /// Seconds a push may take to arrive whole, once authenticated.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    body_timeout_secs: u64,

    /// Seconds a client may take to send a request's headers (and an idle
    /// connection its next request) before it is disconnected.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    header_timeout_secs: u64,

    /// Connections served at once; more wait until one closes.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    max_connections: usize,

    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,

    /// Accept DPoP-bound provider tokens with a proof; the URL clients reach
    /// this server at (scheme, host, port, path prefix), which the proofs'
    /// `htu` must match.
    #[arg(long, env = "AUTHRESULT_DPOP_ORIGIN", value_name = "URL")]
    dpop_origin: Option<Url>,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    let secret = std::env::var(&args.secret_env).with_context(|| {
        format!(
            "set the server's secret in the environment variable {}",
            args.secret_env
        )
    })?;
    if secret.is_empty() {
        bail!("the environment variable {} is empty", args.secret_env);
    }
    let own = SyncServerTokens::builder(SyncServerSecret::new(secret))
        .max_age(Duration::from_secs(args.max_age_days.saturating_mul(24 * 3600)))
        .allow_short_secret(args.allow_short_secret)
        .build()
        .context("cannot use the server's secret (--allow-short-secret takes a short one)")?;
    let mut apps = Vec::new();
    for path in &args.app {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let app =
            AppConfig::from_json(&text).with_context(|| format!("bad app config {}", path.display()))?;
        apps.push(app);
    }
    let settings = Settings {
        apps,
        audiences: args.audience,
        own,
        admins: args.admin.into_iter().collect::<HashSet<_>>(),
        max_body: args.max_body,
        max_events: args.max_events,
        max_unauthenticated: args.max_unauthenticated,
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        dpop_origin: args.dpop_origin,
    };
    let app = server::router(settings)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        max_connections: args.max_connections,
        ..ServeLimits::default()
    };
    serve(listener, app, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
