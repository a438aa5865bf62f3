//! Run with: `cargo run -p example-sync-login -- --url https://sync.example.org --email you@example.org`
//!
//! Logs in to the app's own sync server (`POST {url}/api/users/login`) with an
//! email and a password read without echo (or from `AUTHRESULT_PASSWORD` for
//! scripts), and stores the session.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use authresult_core::{Credentials, Password, Timestamp};
use clap::Parser;
use example_common::{Settings, exit, human_duration};

/// Log in to the sync server with email and password.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    settings: Settings,

    /// The account's email.
    #[arg(long, env = "AUTHRESULT_EMAIL")]
    email: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(mut args: Args) -> Result<()> {
    args.settings
        .provider_type
        .get_or_insert_with(|| "default".to_owned());
    let password = match std::env::var("AUTHRESULT_PASSWORD") {
        Ok(p) => p,
        Err(_) => rpassword::prompt_password(format!("Password for {}: ", args.email))
            .context("cannot read the password from the terminal (set AUTHRESULT_PASSWORD in scripts)")?,
    };
    let (manager, provider) = args.settings.manager().await?;
    let credentials = Credentials::Password {
        username: args.email.clone(),
        password: Password::new(password),
    };
    let session = manager.login(&provider, &credentials).await?;
    let left = session.expires_in(Timestamp::now()).map(|d| d.as_secs() as i64);
    println!(
        "Logged in as {} (user id {}); the token expires {}.",
        args.email,
        session.subject.as_deref().unwrap_or("unknown"),
        left.map_or_else(|| "at an unknown time".to_owned(), human_duration)
    );
    Ok(())
}
