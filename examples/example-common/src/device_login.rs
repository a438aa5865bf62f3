//! The device login's screen (RFC 8628), shared by `example-device-login`
//! and `example-field-device`: the verification URL, the user code, a QR
//! code of the complete URL, and the time left while the manager polls.

use std::time::Duration;

use anyhow::{Result, bail};
use authresult_core::{AuthManager, LoginFlow, LoginPrompt, LoginResponse, Session, Timestamp};
use indicatif::{ProgressBar, ProgressStyle};

use crate::human_duration;

/// Logs in to `provider` through `manager` (whose user the session goes
/// to) with the device grant: prints the verification URL and the user
/// code (also as `user_code: ...` and `verification_uri: ...` lines that a
/// script can read), with `qr` a QR code of the complete URL for a phone,
/// then waits for the approval with the code's time left on screen.
pub async fn device_login(manager: &AuthManager, provider: &str, qr: bool) -> Result<Session> {
    let pending = manager.begin_login(provider, LoginFlow::DeviceCode).await?;
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
        if qr {
            println!("\nOr scan this with a phone:\n\n{}", qr_text(complete.as_str())?);
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
    Ok(session?)
}

/// The QR code as text: two modules per character row, readable in a terminal.
fn qr_text(data: &str) -> Result<String> {
    let code = qrcode::QrCode::new(data.as_bytes())?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}
