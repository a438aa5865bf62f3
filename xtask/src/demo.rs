//! `cargo xtask demo`: the whole system end to end against the local OpenID
//! provider, each step saying what it does and what it got.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context as _, Result, ensure};
use authresult_test_support::{Idp, IdpOptions};

use crate::{cargo, root, run};

mod dpop;
mod field_device;

const EXAMPLES: &[&str] = &[
    "example-device-login",
    "example-session",
    "example-resource-server",
    "example-validate",
    "example-field-device",
];
const API: &str = "urn:authresult:api";
/// Access tokens of the demo's provider live this long, so expiry can be watched.
const ACCESS_TTL: u64 = 12;

struct Demo {
    bin: PathBuf,
    store: PathBuf,
    issuer: String,
    step: usize,
}

impl Demo {
    fn step(&mut self, what: &str) {
        self.step += 1;
        println!("\n\x1b[1m==> step {}: {what}\x1b[0m", self.step);
    }

    fn example(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.env_remove("AUTHRESULT_CONFIG");
        cmd
    }

    /// An example with the provider settings of the demo.
    fn with_provider(&self, name: &str, store: &Path) -> Command {
        let mut cmd = self.example(name);
        cmd.args([
            "--issuer",
            &self.issuer,
            "--client-id",
            "device-app",
            "--provider",
            "field",
        ])
        .args(["--tenant", "demo", "--param", &format!("resource={API}")])
        // The demo's tokens live 12 s; refresh only in their last 2.
        .args(["--min-validity", "2"])
        .arg("--store")
        .arg(store);
        cmd
    }
}

/// Prints a command's output indented, as what the step got.
fn show(output: &Output) {
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        println!("    | {line}");
    }
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        println!("    ! {line}");
    }
}

fn output(cmd: &mut Command, input: Option<&str>) -> Result<Output> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start the example")?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// Waits `secs` seconds, showing `waiting` and the seconds left, then `done`.
fn countdown(secs: u64, waiting: &str, done: &str) -> Result<()> {
    for left in (1..=secs).rev() {
        print!("\r  {waiting}: {left:>2}s ");
        std::io::stdout().flush()?;
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    println!("\r  {done:<width$}", width = waiting.len() + 6);
    Ok(())
}

/// Kills a child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Plays the person with the phone for a device login running in `child`
/// (stdout piped): shows its output up to the user code and the
/// verification URI, approves the code as `username` through the provider's
/// pages (an HTTP client acting as a browser), then shows the rest and waits
/// for the example to succeed. Answers everything the example printed.
fn approve_device(
    runtime: &tokio::runtime::Runtime,
    idp: &Idp,
    mut child: Child,
    username: &str,
    password: &str,
) -> Result<String> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    let (mut code, mut uri) = (None, None);
    for line in lines.by_ref() {
        let line = line?;
        println!("    | {line}");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(c) = line.strip_prefix("user_code: ") {
            code = Some(c.to_owned());
        }
        if let Some(u) = line.strip_prefix("verification_uri: ") {
            uri = Some(u.parse::<url::Url>()?);
        }
        if code.is_some() && uri.is_some() {
            break;
        }
    }
    let (code, uri) = (
        code.context("no user code shown")?,
        uri.context("no verification URI shown")?,
    );
    println!(
        "  xtask now plays the person with the phone: it opens {uri} in an HTTP client acting as a browser,\n  \
         enters the code {code}, logs in as {username}/{password} and approves the device."
    );
    runtime
        .block_on(idp.approve_device(&uri, Some(&code), username, password, true))
        .context("approving the device code failed")?;
    println!("  approved; the example is polling the token endpoint ...");
    for line in lines {
        let line = line?;
        println!("    | {line}");
        printed.push_str(&line);
        printed.push('\n');
    }
    let status = child.0.wait()?;
    ensure!(status.success(), "the device login failed: {status}");
    Ok(printed)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

pub(crate) fn demo() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--quiet"]);
    for name in EXAMPLES {
        build.args(["-p", name]);
    }
    run("building the examples", &mut build)?;
    crate::ensure_idp_packages()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let work = target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let mut options = IdpOptions::default();
    options.access_ttl = Some(ACCESS_TTL);
    // The same signing keys after the restart of the field-tablet step.
    options.keys = Some(work.join("idp-keys.json"));
    let idp = Idp::start(options.clone()).context("cannot start the local OpenID provider")?;
    let issuer = idp.issuer("plain")?.to_string();
    let mut demo = Demo {
        bin: target_dir().join("debug"),
        store: work.join("sessions.sqlite"),
        issuer,
        step: 0,
    };
    println!(
        "\nThe local OpenID provider (oidc-provider from npm) runs at {}",
        idp.base()
    );
    println!("Issuer: {}   store: {}", demo.issuer, demo.store.display());

    // 1. Device login, with xtask as the person approving on a phone.
    demo.step("device login (RFC 8628) with example-device-login");
    let child = demo
        .with_provider("example-device-login", &demo.store.clone())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start example-device-login")?;
    approve_device(&runtime, &idp, child, "alice", "alice-password")?;

    demo.step("the stored session (example-session status)");
    let out = output(
        demo.example("example-session")
            .args(["--tenant", "demo", "--store"])
            .arg(&demo.store)
            .arg("status"),
        None,
    )?;
    show(&out);
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("alice"),
        "status did not show alice's session"
    );

    demo.step("let the access token expire, then ask for a token: the manager refreshes it");
    let store = demo.store.clone();
    let status_cmd = |demo: &Demo| {
        let mut cmd = demo.example("example-session");
        cmd.args(["--tenant", "demo", "--store"])
            .arg(&store)
            .arg("status");
        cmd
    };
    countdown(
        ACCESS_TTL,
        &format!("waiting for the {ACCESS_TTL}s access token to expire"),
        "the access token has expired.",
    )?;
    let out = output(&mut status_cmd(&demo), None)?;
    show(&out);
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("expired"),
        "the session should show as expired"
    );
    let out = output(demo.with_provider("example-session", &store).arg("token"), None)?;
    ensure!(
        out.status.success(),
        "example-session token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    println!(
        "    | example-session token -> a fresh access token ({} bytes, starts {}...)",
        token.len(),
        &token[..token.len().min(12)]
    );
    let out = output(&mut status_cmd(&demo), None)?;
    show(&out);
    ensure!(
        !String::from_utf8_lossy(&out.stdout).contains("expired"),
        "the refreshed session should be fresh"
    );
    let out = output(demo.with_provider("example-session", &store).arg("refresh"), None)?;
    show(&out);
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("rotated"),
        "the refresh token was not rotated"
    );
    let out = output(demo.with_provider("example-session", &store).arg("token"), None)?;
    ensure!(out.status.success(), "example-session token failed");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    demo.step("call the resource server (example-resource-server, axum + the tower layer)");
    let mut server = Command::new(demo.bin.join("example-resource-server"));
    server
        .args([
            "--issuer",
            &demo.issuer,
            "--audience",
            API,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut server = KillOnDrop(server.spawn().context("cannot start example-resource-server")?);
    let mut server_out = BufReader::new(server.0.stdout.take().context("no stdout")?);
    let mut first = String::new();
    server_out.read_line(&mut first)?;
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .context("the server did not say where it listens")?
        .to_owned();
    println!("    | {}", first.trim());
    let api = format!("{base}/api/sync");
    let (unauthorized, authorized) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let without = client.get(&api).send().await?;
        let without = (
            without.status(),
            without.headers().get("www-authenticate").cloned(),
        );
        let with = client.get(&api).bearer_auth(&token).send().await?;
        let with = (with.status(), with.text().await?);
        anyhow::Ok((without, with))
    })?;
    println!(
        "    | GET /api/sync without a token -> {} {:?}",
        unauthorized.0, unauthorized.1
    );
    println!(
        "    | GET /api/sync with the token  -> {} {}",
        authorized.0, authorized.1
    );
    ensure!(
        unauthorized.0 == 401,
        "the server let a request without a token through"
    );
    ensure!(
        authorized.0 == 200 && authorized.1.contains("alice"),
        "the server refused the token"
    );
    drop(server);

    demo.step("validate tokens locally (example-validate): the real one and a tampered copy");
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let input = format!("{token}\n{}\n", String::from_utf8_lossy(&tampered));
    let out = output(
        demo.example("example-validate")
            .args(["--issuer", &demo.issuer, "--audience", API]),
        Some(&input),
    )?;
    show(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains("ok alice") && text.contains("rejected"),
        "validation did not tell the tokens apart"
    );
    ensure!(
        out.status.code() == Some(1),
        "example-validate should exit 1 when a token is rejected"
    );
    println!("  exit code 1: one token was rejected, as it should be");

    demo.step("log out (revokes at the provider and removes the session), keeping a copy of the store first");
    let backup = work.join("backup.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", demo.store.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", backup.display()))?;
        }
    }
    let out = output(
        demo.with_provider("example-session", &demo.store.clone())
            .arg("logout"),
        None,
    )?;
    show(&out);
    ensure!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("revocation at the provider done"),
        "logout failed"
    );

    demo.step("the revoked refresh token (from the copy) now fails terminally");
    let out = output(
        demo.with_provider("example-session", &backup).arg("refresh"),
        None,
    )?;
    show(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && err.contains("re-authentication required"),
        "the revoked refresh token did not fail terminally"
    );
    let out = output(
        demo.example("example-session")
            .args(["--tenant", "demo", "--store"])
            .arg(&backup)
            .arg("status"),
        None,
    )?;
    show(&out);
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("No stored sessions"),
        "a terminal failure must remove the session"
    );

    dpop::stolen_tokens(&mut demo, &runtime, &idp, &work)?;

    let idp = field_device::shared_tablet(&mut demo, &runtime, idp, options, &work)?;
    drop(idp);
    println!("\ndemo: all {} steps succeeded", demo.step);
    Ok(())
}
