//! Run with: `printf '%s\n' "$TOKEN" | cargo run -p example-validate -- --issuer https://id.example.org --audience my-api`
//!
//! Reads access tokens from stdin, one per line, validates each locally
//! against the trusted issuer(s) (signature through the issuer's published
//! keys, `iss`, `aud`, expiry), and prints one line per token: `ok <subject>`
//! or `rejected <reason-kind>`. Exits 0 when every token is ok, 1 otherwise.
//! The token itself is never printed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use example_common::{print_error, validator};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Validate access tokens read from stdin.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A trusted issuer URL (repeatable; each takes every --audience).
    #[arg(long, env = "AUTHRESULT_ISSUER", required = true, value_name = "URL")]
    issuer: Vec<String>,

    /// An accepted audience (repeatable). Without one, any audience is accepted.
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,

    /// Clock leeway in seconds for exp, nbf and iat.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    leeway: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            print_error(&e);
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool> {
    let validator = validator(&args.issuer, &args.audience, Duration::from_secs(args.leeway))?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let (mut seen, mut all_ok) = (0usize, true);
    while let Some(line) = lines.next_line().await? {
        let token = line.trim();
        if token.is_empty() {
            continue;
        }
        seen += 1;
        match validator.validate(token).await {
            Ok(valid) => println!("ok {}", valid.subject().unwrap_or("-")),
            Err(e) => {
                all_ok = false;
                println!("rejected {}", e.kind().as_str());
            }
        }
    }
    if seen == 0 {
        bail!("no tokens on stdin (one per line)");
    }
    Ok(all_ok)
}
