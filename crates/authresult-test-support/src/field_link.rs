//! A field network for the tests: a network namespace joined to this one by
//! a veth pair, whose link can be made slow, lossy, cut, or made to lose
//! only the answers (the request arrives, the response never does).
//!
//! The provider runs inside the namespace (`IdpOptions::netns`, listening on
//! [`FieldLink::remote_addr`]); the test process stays outside and reaches
//! it over the veth, so every shaping rule sits between the two. The shaping
//! is done inside the namespace with what the kernel offers: `tc tbf` (a
//! slow link: every answer queues behind the rate), `nft` (random loss with
//! `numgen`, answers dropped by size, everything dropped) and `ip link set
//! down`. `tc netem` (real propagation delay) is used nowhere: kernels
//! without `CONFIG_NET_SCH_NETEM` (this project's CI VM) lack it.
//!
//! Needs root (or `CAP_NET_ADMIN`), `ip` (iproute2) and `nft` (nftables);
//! `cargo xtask ci` installs both when missing. [`FieldLink::create`] fails,
//! never skips, when any of it is missing. The namespace (and with it the
//! veth pair) is deleted on drop.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, bail};

/// Links created by this process, for unique names and subnets.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace and the veth pair that joins it to this namespace.
#[derive(Debug)]
pub struct FieldLink {
    namespace: String,
    local_if: String,
    remote_if: String,
    local: Ipv4Addr,
    remote: Ipv4Addr,
}

/// Runs `ip`/`tc`/`nft` (optionally inside `namespace`), failing with its stderr.
fn run(namespace: Option<&str>, program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<()> {
    let mut command = match namespace {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    };
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{program}` was not found: install iproute2 and nftables (`cargo xtask ci` does)"
            )
        } else {
            anyhow::anyhow!(e).context(format!("could not start `{program}`"))
        }
    })?;
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .context("no stdin pipe")?
            .write_all(text.as_bytes())
            .with_context(|| format!("could not write to `{program}`"))?;
    }
    let output = child
        .wait_with_output()
        .with_context(|| format!("`{program}` did not finish"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl FieldLink {
    /// The Debian package of the first tool these links need (`ip`, `tc`,
    /// `nft`) that does not run, or `None` when all of them do.
    pub fn missing() -> Option<&'static str> {
        [
            ("ip", "-V", "iproute2"),
            ("tc", "-V", "iproute2"),
            ("nft", "--version", "nftables"),
        ]
        .into_iter()
        .find(|(tool, flag, _)| {
            !Command::new(tool)
                .arg(flag)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, _, package)| package)
    }

    /// Creates a namespace named `authresult-<pid>-<n>` and a veth pair with
    /// a /30 of `10.213.0.0/16` (this end `.1`, the namespace's end `.2`);
    /// both ends up, no shaping. Fails when `ip netns` is not permitted.
    pub fn create() -> anyhow::Result<FieldLink> {
        let pid = std::process::id();
        let mut last_error = None;
        for _ in 0..8 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            // 16,384 /30 subnets; pid and counter spread parallel processes.
            let slot = (pid.wrapping_mul(64).wrapping_add(n)) % 16_384;
            let base = 0x0ad5_0000_u32 + slot * 4; // 10.213.0.0 + 4·slot
            let link = FieldLink {
                namespace: format!("authresult-{pid}-{n}"),
                local_if: format!("arh{}n{n}", pid % 1_000_000),
                remote_if: format!("arp{}n{n}", pid % 1_000_000),
                local: Ipv4Addr::from(base + 1),
                remote: Ipv4Addr::from(base + 2),
            };
            match link.set_up() {
                Ok(()) => return Ok(link),
                // Drop removes what was made; another address may be free.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| anyhow::anyhow!("no attempt was made"))
            .context(
                "could not create a network namespace with a veth pair (needs root or \
                 CAP_NET_ADMIN, and iproute2)",
            ))
    }

    fn set_up(&self) -> anyhow::Result<()> {
        let ns = self.namespace.as_str();
        let local_if = self.local_if.as_str();
        let local = format!("{}/30", self.local);
        let remote = format!("{}/30", self.remote);
        run(None, "ip", &["netns", "add", ns], None)?;
        run(
            None,
            "ip",
            &[
                "link",
                "add",
                local_if,
                "type",
                "veth",
                "peer",
                "name",
                &self.remote_if,
            ],
            None,
        )?;
        run(None, "ip", &["link", "set", &self.remote_if, "netns", ns], None)?;
        run(None, "ip", &["addr", "add", &local, "dev", local_if], None)?;
        run(None, "ip", &["link", "set", local_if, "up"], None)?;
        run(
            Some(ns),
            "ip",
            &["addr", "add", &remote, "dev", &self.remote_if],
            None,
        )?;
        run(Some(ns), "ip", &["link", "set", &self.remote_if, "up"], None)?;
        run(Some(ns), "ip", &["link", "set", "lo", "up"], None)?;
        self.rules("")
    }

    /// The namespace's name, for `ip netns exec` (`IdpOptions::netns`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The address of the namespace's end: where a server inside listens.
    pub fn remote_addr(&self) -> Ipv4Addr {
        self.remote
    }

    /// The address of this end.
    pub fn local_addr(&self) -> Ipv4Addr {
        self.local
    }

    /// A slow link, like GPRS/EDGE in the field: small packets (the
    /// namespace's end gets an MTU of 576) and whatever the namespace sends
    /// queues behind `kbit` per second (`tc tbf`, a 600-byte bucket, queue
    /// up to 10 s), so an answer of a few kB takes `size / rate` to arrive.
    pub fn slow(&self, kbit: u32) -> anyhow::Result<()> {
        let ns = Some(self.namespace.as_str());
        run(ns, "ip", &["link", "set", &self.remote_if, "mtu", "576"], None)?;
        let rate = format!("{kbit}kbit");
        run(
            ns,
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                &self.remote_if,
                "root",
                "tbf",
                "rate",
                &rate,
                "burst",
                "600",
                "latency",
                "10s",
            ],
            None,
        )
    }

    /// Drops `percent` of the packets in each direction, at random.
    pub fn lossy(&self, percent: u8) -> anyhow::Result<()> {
        self.rules(&format!(
            "chain in {{ type filter hook input priority 0; policy accept; numgen random mod 100 < {percent} drop; }}\n\
             chain out {{ type filter hook output priority 0; policy accept; numgen random mod 100 < {percent} drop; }}"
        ))
    }

    /// Lets requests to `port` arrive but drops every answer carrying data
    /// (IP packets over 120 bytes from `port`): the server does the work,
    /// the client never hears of it.
    pub fn lose_answers(&self, port: u16) -> anyhow::Result<()> {
        self.rules(&format!(
            "chain out {{ type filter hook output priority 0; policy accept; tcp sport {port} ip length > 120 drop; }}"
        ))
    }

    /// Drops everything in both directions: out of coverage.
    pub fn blackhole(&self) -> anyhow::Result<()> {
        self.rules(
            "chain in { type filter hook input priority 0; policy drop; }\n\
             chain out { type filter hook output priority 0; policy drop; }",
        )
    }

    /// Takes the namespace's end of the link down.
    pub fn down(&self) -> anyhow::Result<()> {
        run(
            Some(&self.namespace),
            "ip",
            &["link", "set", &self.remote_if, "down"],
            None,
        )
    }

    /// A perfect link again: the end up, no rules, no queueing discipline.
    pub fn heal(&self) -> anyhow::Result<()> {
        let ns = Some(self.namespace.as_str());
        run(ns, "ip", &["link", "set", &self.remote_if, "up"], None)?;
        run(ns, "ip", &["link", "set", &self.remote_if, "mtu", "1500"], None)?;
        self.rules("")?;
        // Nothing to delete is fine: the link may not have been slowed.
        let _ = run(ns, "tc", &["qdisc", "del", "dev", &self.remote_if, "root"], None);
        Ok(())
    }

    /// Replaces every rule with `chains`, in one transaction: every rule
    /// lives in the table `inet field`, recreated here.
    fn rules(&self, chains: &str) -> anyhow::Result<()> {
        let ruleset =
            format!("table inet field {{}}\ndelete table inet field\ntable inet field {{\n{chains}\n}}\n");
        run(Some(&self.namespace), "nft", &["-f", "-"], Some(&ruleset))
    }
}

impl Drop for FieldLink {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth, and so the pair.
        let _ = run(None, "ip", &["netns", "del", &self.namespace], None);
        // A half-made pair (creation failed before the move) is still here.
        let _ = run(None, "ip", &["link", "del", &self.local_if], None);
    }
}
