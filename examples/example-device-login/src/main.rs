//! Run with: `cargo run -p example-device-login -- --issuer https://id.example.org --client-id my-device-app`
//!
//! Logs in with the device authorization grant (RFC 8628): shows the
//! verification URL, the user code and a QR code of the complete URL (field
//! staff scan it with a phone), waits with the time left on screen, stores the
//! session in the default SQLite store and prints its status.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use authresult_core::{LoginFlow, LoginPrompt, LoginResponse, Timestamp};
use clap::Parser;
use example_common::{Settings, exit, human_duration};
use indicatif::{ProgressBar, ProgressStyle};

/// Log in on this device by approving a code on another one.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    settings: Settings,

    /// Do not draw the QR code.
    #[arg(long)]
    no_qr: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    let (manager, provider) = args.settings.manager().await?;
    let pending = manager.begin_login(&provider, LoginFlow::DeviceCode).await?;
    let LoginPrompt::DeviceCode {
        user_code,
        verification_uri,
        verification_uri_complete,
        ..
    } = &pending.prompt
    else {
        bail!("the provider did not start a device login");
    };
    println!("To sign in, open {verification_uri} and enter the code:");
    println!();
    println!("    {user_code}");
    println!();
    println!("user_code: {user_code}");
    println!("verification_uri: {verification_uri}");
    if let Some(complete) = verification_uri_complete {
        println!("verification_uri_complete: {complete}");
        if !args.no_qr {
            println!("\nOr scan this with a phone:\n\n{}", qr(complete.as_str())?);
        }
    }

    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let login = manager.complete_login(&pending, LoginResponse::DevicePoll);
    tokio::pin!(login);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let session = loop {
        tokio::select! {
            result = &mut login => break result,
            _ = ticker.tick() => {
                let left = pending.expires_at.duration_since(Timestamp::now()).as_secs();
                spinner.set_message(format!("waiting for approval; the code expires {}", human_duration(left as i64)));
            }
        }
    };
    spinner.finish_and_clear();
    let session = session?;
    let left = session.expires_in(Timestamp::now()).map(|d| d.as_secs() as i64);
    println!("Logged in.");
    println!(
        "  subject:     {}",
        session.subject.as_deref().unwrap_or("(unknown)")
    );
    println!("  provider:    {provider} (tenant {})", session.key.tenant);
    println!(
        "  expires:     {}",
        left.map_or_else(|| "unknown".to_owned(), human_duration)
    );
    println!(
        "  refreshable: {}",
        if session.is_refreshable() { "yes" } else { "no" }
    );
    println!("  stored in:   {}", args.settings.store_path()?.display());
    Ok(())
}

/// The QR code as text: two modules per character row, readable in a terminal.
fn qr(data: &str) -> Result<String> {
    let code = qrcode::QrCode::new(data.as_bytes())?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}
