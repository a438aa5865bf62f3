//! The demo's shared-tablet step: `example-field-device` against the real
//! provider. Two users log in online (xtask approves each device code on
//! the provider's pages), the provider is stopped, each user unlocks offline
//! with their own passcode and reads only their own sessions, a refresh
//! while it is down keeps everything, a wrong passcode is delayed then
//! locked out; the provider starts again without the grants it had (its
//! storage is in memory), so bob's refresh is refused for good and his
//! offline unlock ends, while alice logs in online again; then the grace
//! period runs out and a clock set back does not bring it back.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use authresult_test_support::{Idp, IdpOptions};
use tokio::runtime::Runtime;

use super::{Demo, approve_device, countdown, output, show};

/// The tablet's lock-out threshold in the demo (the default is 10).
const MAX_FAILURES: &str = "3";
const ALICE: (&str, &str) = ("alice", "482913");
const BOB: (&str, &str) = ("bob", "730154");

/// One tablet command's result, shown as the step's output.
struct Run {
    output: Output,
}

impl Run {
    fn ok(&self) -> bool {
        self.output.status.success()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

struct Tablet<'a> {
    demo: &'a Demo,
    store: &'a Path,
}

impl Tablet<'_> {
    /// `example-field-device` with the demo's provider, store and policy.
    fn command(&self, offset_days: i64) -> Command {
        let mut cmd = self.demo.with_provider("example-field-device", self.store);
        cmd.args(["--max-failures", MAX_FAILURES])
            .arg(format!("--clock-offset-days={offset_days}"));
        cmd
    }

    /// `<command> --user <user> --passcode-stdin`, the passcode on stdin.
    fn run(&self, command: &str, (user, passcode): (&str, &str), offset_days: i64) -> Result<Run> {
        let mut cmd = self.command(offset_days);
        cmd.args([command, "--user", user, "--passcode-stdin"]);
        let output = output(&mut cmd, Some(&format!("{passcode}\n")))?;
        show(&output);
        Ok(Run { output })
    }

    fn unlock(&self, user: (&str, &str)) -> Result<Run> {
        self.run("unlock", user, 0)
    }

    /// An online device login; xtask approves it as `user` with the
    /// provider password `<user>-password`.
    fn login(&self, runtime: &Runtime, idp: &Idp, (user, passcode): (&str, &str)) -> Result<()> {
        let mut child = self
            .command(0)
            .args(["login", "--user", user, "--passcode-stdin", "--no-qr"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start example-field-device")?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        stdin.write_all(format!("{passcode}\n").as_bytes())?;
        drop(stdin);
        let printed = approve_device(runtime, idp, child, user, &format!("{user}-password"))?;
        ensure!(
            printed.contains(&format!("{user}: logged in online as subject {user}")),
            "{user} did not log in as themselves"
        );
        Ok(())
    }
}

/// "try again in N s" in a refusal: N.
fn retry_in(text: &str) -> Option<u64> {
    let rest = text.split("try again in ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

fn part(what: &str) {
    println!("  -- {what}");
}

/// The step; takes the running provider and answers the restarted one.
pub(super) fn shared_tablet(
    demo: &mut Demo,
    runtime: &Runtime,
    idp: Idp,
    mut options: IdpOptions,
    work: &Path,
) -> Result<Idp> {
    demo.step(
        "a shared field tablet (example-field-device): two users, the provider stopped, offline unlock, \
         delay and lock-out, the provider back without bob's grant, the grace period",
    );
    let store = work.join("field-tablet.sqlite");
    let tablet = Tablet { demo, store: &store };

    part("alice and bob log in online on the same tablet, each picking a passcode for offline unlock");
    tablet.login(runtime, &idp, ALICE)?;
    tablet.login(runtime, &idp, BOB)?;

    let base = idp.base().clone();
    let address: SocketAddr = format!(
        "{}:{}",
        base.host_str().context("no provider host")?,
        base.port().context("no provider port")?
    )
    .parse()?;
    // Same port and signing keys when it comes back, so the issuer is the same.
    options.port = Some(address.port());
    let issuer = idp.issuer("plain")?.clone();
    drop(idp);
    ensure!(
        TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err(),
        "the provider still answers at {address}"
    );
    part(&format!(
        "the provider is stopped (its node process has ended; nothing listens on {address}): the tablet is offline"
    ));

    let run = tablet.unlock(ALICE)?;
    let text = run.stdout();
    ensure!(
        run.ok()
            && text.contains("alice sees: field (subject alice")
            && text.contains("alice cannot read: bob/field")
            && !text.contains("ALSO"),
        "alice did not see exactly her own session"
    );
    let run = tablet.unlock(BOB)?;
    let text = run.stdout();
    ensure!(
        run.ok()
            && text.contains("bob sees: field (subject bob")
            && text.contains("bob cannot read: alice/field")
            && !text.contains("ALSO"),
        "bob did not see exactly his own session"
    );

    part(
        "bob's refresh while the provider is down: a transient failure keeps the session and his offline unlock",
    );
    let run = tablet.run("refresh", BOB, 0)?;
    ensure!(
        !run.ok() && run.stdout().contains("not refreshed (transient failure)"),
        "a refresh with the provider down was not a transient failure"
    );
    let run = tablet.unlock(BOB)?;
    ensure!(
        run.ok() && run.stdout().contains("bob sees: field (subject bob"),
        "the transient failure cost bob his session"
    );

    part(&format!(
        "a wrong passcode is delayed (doubling), then locked out after {MAX_FAILURES} failures"
    ));
    let wrong = (ALICE.0, "000000");
    let failures: u32 = MAX_FAILURES.parse()?;
    for attempt in 1..=failures {
        // The thief's first try goes through the online login form: with
        // the provider unreachable it is an offline unlock, counted alike.
        let run = if attempt == 1 {
            println!("  the thief types a passcode into the online login form: the provider is unreachable");
            tablet.run("login", wrong, 0)?
        } else {
            tablet.unlock(wrong)?
        };
        if attempt < failures {
            ensure!(
                !run.ok() && run.stderr().contains("offline secret is wrong"),
                "a wrong passcode was not refused"
            );
            let run = tablet.unlock(ALICE)?;
            let delay = retry_in(&run.stderr());
            ensure!(
                !run.ok() && delay.is_some(),
                "the right passcode right after a wrong one was not delayed"
            );
            println!(
                "  the right passcode at once is refused too: failure {attempt} set a delay of {} s (doubling \
                 from the default 2 s), counted from the start of the failed attempt",
                2u64 << (attempt - 1)
            );
            countdown(
                delay.unwrap_or(0) + 1,
                "waiting out the delay",
                "the delay is over.",
            )?;
        } else {
            ensure!(
                !run.ok() && run.stderr().contains("locked after too many failures"),
                "the last failure did not lock alice out"
            );
        }
    }
    let run = tablet.unlock(ALICE)?;
    ensure!(
        !run.ok() && run.stderr().contains("locked after too many failures"),
        "the right passcode opened a locked-out vault"
    );

    let idp = Idp::start(options).context("cannot start the local OpenID provider again")?;
    ensure!(
        idp.issuer("plain")? == &issuer,
        "the provider came back under another issuer"
    );
    part(&format!(
        "the provider is back at {issuer}, but oidc-provider keeps grants in memory: it came back without \
         bob's grant (and alice's), so for this tablet bob's grant is revoked"
    ));
    let run = tablet.run("refresh", BOB, 0)?;
    ensure!(
        !run.ok()
            && run.stdout().contains("the offline credential disabled")
            && run.stderr().contains("invalid_grant"),
        "bob's refresh was not refused for good"
    );
    let run = tablet.unlock(BOB)?;
    ensure!(
        !run.ok() && run.stderr().contains("disabled by the provider's answer"),
        "the revoked user still unlocked offline"
    );

    part("alice, locked out, logs in online again (device flow) and unlocks with her passcode");
    tablet.login(runtime, &idp, ALICE)?;
    let run = tablet.unlock(ALICE)?;
    ensure!(
        run.ok() && run.stdout().contains("alice sees: field (subject alice"),
        "the online login did not lift alice's lock-out"
    );

    part("one process, as a long-running app (example-field-device shell): alice's token, then a lock");
    let mut cmd = tablet.command(0);
    cmd.args(["shell", "--no-qr"]);
    let script = format!(
        "unlock {a} {p}\ntoken {a}\nlock {a}\ntoken {a}\nquit\n",
        a = ALICE.0,
        p = ALICE.1
    );
    let out = output(&mut cmd, Some(&script))?;
    show(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success()
            && text.matches("alice: access token sha256:").count() == 1
            && text.contains("alice: locked")
            && errors.contains("sessions of this user are locked"),
        "after a lock the shell still answered alice's token"
    );

    part("the grace period (14 days) runs out: the tablet's clock moves 15 days on");
    let run = tablet.run("unlock", ALICE, 15)?;
    ensure!(
        !run.ok() && run.stderr().contains("grace period is over"),
        "alice unlocked offline after the grace period"
    );
    part("the clock is set back to today: alice's vault has seen 15 days later, so her offline access ends");
    let run = tablet.unlock(ALICE)?;
    ensure!(
        !run.ok() && run.stderr().contains("clock is behind"),
        "setting the clock back did not end offline access"
    );
    part("what the tablet's vault says now (example-field-device status: no passcode, no network)");
    for (user, wanted) in [
        (ALICE.0, "the clock went back"),
        (BOB.0, "offline credential disabled by the provider's answer"),
    ] {
        let out = output(tablet.command(0).args(["status", "--user", user]), None)?;
        show(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success() && text.contains(wanted),
            "the vault's status of {user} is not what the step left"
        );
    }
    println!("  alice must go online again; every rule held.");
    Ok(idp)
}
