//! Run with: `cargo run -p example-browser-login -- --issuer https://id.example.org --client-id my-native-app`
//!
//! Logs in with authorization code + PKCE: listens on a loopback port for the
//! redirect (RFC 8252), opens the system browser at the provider's login page
//! (or prints the URL when no browser can be opened), and stores the session.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use authresult_core::{LoginFlow, LoginPrompt, Timestamp};
use authresult_oidc::LoopbackListener;
use clap::Parser;
use example_common::{Settings, exit, human_duration};

/// Log in through the system browser.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    settings: Settings,

    /// Print the URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,

    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    let (manager, provider) = args.settings.manager().await?;
    let listener = LoopbackListener::bind("/callback").await?;
    let pending = manager
        .begin_login_with(
            &provider,
            LoginFlow::AuthorizationCode,
            Some(listener.redirect_uri().clone()),
            BTreeMap::new(),
        )
        .await?;
    let LoginPrompt::Redirect { authorization_url } = &pending.prompt else {
        bail!("the provider did not start a browser login");
    };
    let opened = !args.no_browser && webbrowser::open(authorization_url.as_str()).is_ok();
    if opened {
        println!("Your browser was opened at the login page. If it did not appear, open:");
    } else {
        println!("Open this URL in a browser to log in:");
    }
    println!("{authorization_url}");
    println!(
        "Waiting up to {}s for the browser to come back to {} ...",
        args.timeout,
        listener.redirect_uri()
    );
    let callback = listener
        .wait_for_callback(&pending.state, Duration::from_secs(args.timeout))
        .await?;
    let session = manager.handle_callback(&callback).await?;
    let left = session.expires_in(Timestamp::now()).map(|d| d.as_secs() as i64);
    println!(
        "Logged in as {}.",
        session.subject.as_deref().unwrap_or("(unknown subject)")
    );
    println!(
        "Access token expires {}; refreshable: {}.",
        left.map_or_else(|| "at an unknown time".to_owned(), human_duration),
        if session.is_refreshable() { "yes" } else { "no" }
    );
    Ok(())
}
