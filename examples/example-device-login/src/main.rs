//! Run with: `cargo run -p example-device-login -- --issuer https://id.example.org --client-id my-device-app`
//!
//! Logs in with the device authorization grant (RFC 8628): shows the
//! verification URL, the user code and a QR code of the complete URL (field
//! staff scan it with a phone), waits with the time left on screen, stores the
//! session in the default SQLite store and prints its status.

use std::process::ExitCode;

use anyhow::Result;
use authresult_core::Timestamp;
use clap::Parser;
use example_common::{Settings, device_login, exit, human_duration};

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
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    let (manager, provider) = args.settings.manager().await?;
    let session = device_login(&manager, &provider, !args.no_qr).await?;
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
