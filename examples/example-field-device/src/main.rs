//! Run with: `cargo run -p example-field-device -- --issuer http://127.0.0.1:PORT/plain --client-id device-app --store tablet.sqlite login --user alice`
//! (then `unlock --user alice`, `refresh --user alice`, `status --user alice`;
//! `cargo xtask idp` runs a local provider with the accounts alice and bob)
//!
//! A tablet shared by a field team, one SQLite store for everyone. Each user
//! logs in online once (the device grant: the code is approved on a phone)
//! and picks a passcode, which wraps that user's vault key (Argon2id); the
//! user's tokens are sealed with it. Later, with no network, `unlock` opens
//! that user's sessions and no one else's; a wrong passcode is counted in the
//! store, delayed, then locked out; unlock is refused once the last online
//! proof is older than the grace period, measured on the user's own time
//! mark (a clock set back ends offline access until an online login);
//! offline, the login form is a counted unlock too; `refresh` asks
//! the provider, and its terminal answer disables the user's offline unlock.
//! Each command is one process: everything it remembers is in the store
//! file; `shell` is one process for many commands read from stdin, as a
//! long-running app is (`lock` then `token` answers nothing).
//!
//! Passcodes are read without echo, or as one line from stdin with
//! `--passcode-stdin` (scripts). `--clock-offset-days` moves this process's
//! vault clock: a demo aid to reach the end of the grace period.
//!
//! The tablet is `KeySource::PerUser` with neither a store key nor a device
//! key: a short passcode alone keeps other users of the tablet out, not a
//! thief who copies the file (the README's threat model); an app adds
//! `OfflineVault::with_device_key` with a key from the OS keystore.

use std::io::BufRead as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authresult_core::{Clock, Password, Timestamp};
use clap::{Parser, Subcommand};
use example_common::{Settings, exit};

mod shell;
mod tablet;

use tablet::Tablet;

/// A shared field tablet: online login, offline unlock per user, online truth.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    settings: Settings,

    #[command(flatten)]
    policy: PolicyArgs,

    #[command(subcommand)]
    command: Command,
}

/// The tablet's offline policy (`OfflinePolicy`); give the same values to
/// every command.
#[derive(Debug, Clone, clap::Args)]
struct PolicyArgs {
    /// Offline unlock is refused once the user's last online login or
    /// refresh is older than this many days.
    #[arg(
        long,
        env = "AUTHRESULT_GRACE_DAYS",
        default_value_t = 14,
        value_name = "DAYS"
    )]
    grace_days: u64,

    /// Wrong passcodes before the lock-out (only an online login lifts it).
    #[arg(
        long,
        env = "AUTHRESULT_MAX_FAILURES",
        default_value_t = 10,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    max_failures: u32,

    /// Demo aid: this process's vault clock runs this many days ahead of
    /// the system clock (negative: behind), to reach the end of the grace
    /// period without waiting, or to show that a clock set back gains
    /// nothing. The provider and the tokens keep the real time.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "DAYS")]
    clock_offset_days: i64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in online with the device grant (approve the code on a phone),
    /// then enroll the passcode the user picks for offline unlock.
    Login {
        #[command(flatten)]
        user: UserArgs,
        /// Do not draw the QR code.
        #[arg(long)]
        no_qr: bool,
    },
    /// Unlock offline with the passcode (no network) and show the sessions
    /// the user can read, and those of other users, which they cannot.
    Unlock {
        #[command(flatten)]
        user: UserArgs,
    },
    /// The online check: unlock, then refresh at the provider. A transient
    /// failure keeps everything; a terminal answer removes the session and
    /// disables the user's offline unlock. Exits 0 only when refreshed.
    Refresh {
        #[command(flatten)]
        user: UserArgs,
    },
    /// One process for many commands, as a long-running app: reads
    /// `login USER PASSCODE`, `unlock USER PASSCODE`, `lock USER`,
    /// `token USER` (prints a fingerprint, never the token), `status USER`
    /// and `quit` from stdin, one a line.
    Shell {
        /// Do not draw the QR code of a device login.
        #[arg(long)]
        no_qr: bool,
    },
    /// What the vault knows about a user (no passcode needed).
    Status {
        /// The tablet user.
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct UserArgs {
    /// The tablet user (their name on this device).
    #[arg(long)]
    user: String,

    /// Read the passcode as one line from stdin instead of the terminal.
    #[arg(long)]
    passcode_stdin: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    example_common::init_tracing();
    exit(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<()> {
    let tablet = Tablet::open(&args.settings, &args.policy).await?;
    match &args.command {
        Command::Login { user, no_qr } => {
            let passcode = passcode(user, true)?;
            let (manager, provider) = tablet.manager(&args.settings)?;
            tablet
                .login(&manager, &provider, &user.user, &passcode, !no_qr)
                .await
        }
        Command::Shell { no_qr } => shell::run(&tablet, &args.settings, !no_qr).await,
        Command::Unlock { user } => tablet.unlock(&user.user, &passcode(user, false)?).await,
        Command::Refresh { user } => {
            tablet
                .refresh(&args.settings, &user.user, &passcode(user, false)?)
                .await
        }
        Command::Status { user } => tablet.status(user).await,
    }
}

/// The passcode: a line of stdin, or typed without echo (twice when
/// `choose`: the user picks it now).
fn passcode(args: &UserArgs, choose: bool) -> Result<Password> {
    if args.passcode_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the passcode from stdin")?;
        let len = line.trim_end_matches(['\r', '\n']).len();
        line.truncate(len);
        // Moved, not copied: the passcode's memory is wiped when it is dropped.
        return Ok(Password::new(line));
    }
    let prompt = if choose {
        format!("Pick a passcode for {} on this tablet: ", args.user)
    } else {
        format!("Passcode of {}: ", args.user)
    };
    let first = Password::new(rpassword::prompt_password(prompt).context("cannot read the passcode")?);
    if choose {
        let again =
            Password::new(rpassword::prompt_password("Once more: ").context("cannot read the passcode")?);
        if again.secret() != first.secret() {
            bail!("the two passcodes differ");
        }
    }
    Ok(first)
}

/// The system clock moved by a whole number of days (the demo's way to
/// move time on; see `--clock-offset-days`).
#[derive(Debug, Clone, Copy)]
struct OffsetClock {
    days: i64,
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        let by = Duration::from_secs(self.days.unsigned_abs().saturating_mul(24 * 3600));
        if self.days >= 0 {
            now.saturating_add(by)
        } else {
            now.saturating_sub(by)
        }
    }
}
