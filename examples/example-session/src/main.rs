//! Run with: `cargo run -p example-session -- status` (or `token`, `refresh`, `logout`
//! with the provider settings, e.g. `--issuer ... --client-id ...`)
//!
//! Shows the stored sessions, prints a fresh access token for scripts
//! (refreshing first when needed), forces a refresh, or logs out (revokes at
//! the provider and removes the session). `from-artifact` and
//! `import-datacollect` load a DataCollect app-config artifact and import the
//! tokens DataCollect's client stored; `from-artifact ARTIFACT --login
//! keycloak --header --refresh --logout` uses a login of the artifact as the
//! app would, printing the header's scheme and a token fingerprint only.

use std::process::ExitCode;

use anyhow::Result;
use authresult_core::{SessionStore as _, TenantId, Timestamp};
use clap::{Parser, Subcommand};
use example_common::{Settings, exit, expiry};

mod datacollect;

/// Show, use, refresh and end stored sessions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    settings: Settings,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A table of the tenant's stored sessions (needs no provider settings).
    Status,
    /// Print a fresh access token on stdout, refreshing first when needed.
    Token,
    /// Refresh now, even if the token is still fresh.
    Refresh,
    /// Revoke the tokens at the provider and remove the session.
    Logout {
        /// Also print the provider's end-session URL, to end its browser
        /// session (the URL carries the ID token as a hint).
        #[arg(long)]
        end_session_url: bool,
    },
    /// Load a DataCollect app-config artifact (URL, QR text or file): its
    /// logins, their Authorization schemes and stored sessions; with
    /// `--login P`, use that login as the app would (`--header`: the
    /// scheme and a fingerprint of the token; `--refresh`; `--logout`).
    FromArtifact(datacollect::FromArtifactArgs),
    /// Import a token DataCollect's client stored (read from stdin) into
    /// the session store, for the app of the artifact.
    ImportDatacollect(datacollect::ImportArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Status => status(&args.settings).await,
        Command::FromArtifact(from) => datacollect::from_artifact(&args.settings, &from).await,
        Command::ImportDatacollect(import) => datacollect::import(&args.settings, &import).await,
        Command::Token => {
            let (manager, provider) = args.settings.manager().await?;
            let token = manager.access_token(&provider).await?;
            // The one place a token is printed: this command exists to hand it to a script.
            println!("{}", token.secret());
            Ok(())
        }
        Command::Refresh => {
            let (manager, provider) = args.settings.manager().await?;
            let before = manager.session(&provider).await?;
            let after = manager.refresh(&provider).await?;
            let now = Timestamp::now();
            let unchanged = before.as_ref().is_some_and(|b| b.issued_at == after.issued_at);
            if unchanged && !after.is_refreshable() {
                // A sync-server (`default`) login gives no refresh token: the
                // manager hands back the current token while it is valid.
                println!(
                    "Not refreshed: the {provider} session has no refresh token (a sync-server login \
                     cannot be refreshed); its access token expires {}, then log in again.",
                    expiry(Some(&after), now)
                );
                return Ok(());
            }
            if unchanged {
                // The offline policy: a transient failure keeps the still-valid token.
                println!(
                    "Not refreshed: the provider could not be reached; the current access token \
                     expires {} and the next call tries again.",
                    expiry(Some(&after), now)
                );
                return Ok(());
            }
            println!(
                "Refreshed {provider}: expiry {} -> {}; refresh token {}.",
                expiry(before.as_ref(), now),
                expiry(Some(&after), now),
                match (
                    before.as_ref().and_then(|b| b.auth.refresh_token.as_ref()),
                    &after.auth.refresh_token
                ) {
                    (Some(old), Some(new)) if old.secret() != new.secret() => "rotated",
                    (_, Some(_)) => "kept",
                    _ => "none",
                }
            );
            Ok(())
        }
        Command::Logout { end_session_url } => {
            let (manager, provider) = args.settings.manager().await?;
            let report = manager.logout(&provider).await?;
            println!(
                "Logged out of {provider}: local session {}; revocation at the provider {}.",
                if report.removed {
                    "removed"
                } else {
                    "was not there"
                },
                match &report.revocation {
                    Ok(()) => "done".to_owned(),
                    Err(e) if !report.pending_revocations.is_empty() => format!(
                        "failed ({e}); {:?} kept in the store, revoked on the next call that reaches the provider",
                        report.pending_revocations
                    ),
                    Err(e) => format!("failed ({e})"),
                }
            );
            match report.end_session_url {
                Some(url) if end_session_url => {
                    println!("To end the provider's browser session too, open: {url}")
                }
                Some(_) => println!(
                    "The provider also has a browser session; --end-session-url prints its logout URL."
                ),
                None => {}
            }
            Ok(())
        }
    }
}

async fn status(settings: &Settings) -> Result<()> {
    let store = settings.open_store().await?;
    let sessions = store.list(&TenantId::new(settings.tenant.as_str())).await?;
    if sessions.is_empty() {
        println!("No stored sessions for tenant {}.", settings.tenant);
        return Ok(());
    }
    let now = Timestamp::now();
    println!("TENANT       PROVIDER     SUBJECT                  EXPIRES              REFRESHABLE");
    for s in &sessions {
        let expires = expiry(Some(s), now);
        println!(
            "{:<12} {:<12} {:<24} {:<20} {}",
            s.key.tenant.as_str(),
            s.key.provider.as_str(),
            s.subject.as_deref().unwrap_or("-"),
            expires,
            if s.is_refreshable() { "yes" } else { "no" }
        );
    }
    Ok(())
}
