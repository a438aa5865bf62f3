//! A throwaway PostgreSQL server for `cargo xtask ci`: `DATABASE_URL` when set,
//! otherwise a fresh cluster in a temporary folder on a loopback port, run as
//! an unprivileged user, stopped and removed afterwards.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::apt::{self, is_root};

/// A running server; dropping it stops the throwaway cluster.
#[derive(Debug)]
pub(crate) struct Postgres {
    /// The connection URL for the tests.
    pub(crate) url: String,
    /// A shell command that restarts the server (throwaway clusters only),
    /// for tests of recovery after a restart.
    pub(crate) restart_command: Option<String>,
    cluster: Option<Cluster>,
}

impl Postgres {
    /// The environment tests need: `DATABASE_URL` and, when known, `AUTHRESULT_PG_RESTART`.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("DATABASE_URL", self.url.clone())];
        if let Some(cmd) = &self.restart_command {
            env.push(("AUTHRESULT_PG_RESTART", cmd.clone()));
        }
        env
    }
}

#[derive(Debug)]
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    run_as: Option<String>,
}

impl Postgres {
    /// `DATABASE_URL` when set, else a throwaway cluster.
    pub(crate) fn provide() -> Result<Postgres> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.is_empty()
        {
            eprintln!("postgres: using DATABASE_URL");
            return Ok(Postgres {
                url,
                restart_command: None,
                cluster: None,
            });
        }
        let bin = match find_bin() {
            Some(bin) => bin,
            None => {
                install()?;
                find_bin().context("postgresql was installed but initdb is still not found")?
            }
        };
        start(bin)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(c) = &self.cluster {
            let data = c.dir.join("data");
            let _ = as_user(&c.run_as, &c.bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-w", "-D"])
                .arg(&data)
                .status();
            let _ = std::fs::remove_dir_all(&c.dir);
            eprintln!("postgres: throwaway cluster stopped and removed");
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn install() -> Result<()> {
    apt::install(
        "postgresql",
        "run `sudo apt-get install postgresql` or set DATABASE_URL",
    )
}

/// `program` run as `user` (via `runuser`) when given, else as ourselves.
fn as_user(user: &Option<String>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn start(bin: PathBuf) -> Result<Postgres> {
    // PostgreSQL refuses to run as root: use the package's `postgres` user then.
    let run_as = is_root().then(|| "postgres".to_owned());
    let dir = std::env::temp_dir().join(format!("authresult-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    if let Some(user) = &run_as {
        let ok = Command::new("chown")
            .arg(format!("{user}:"))
            .arg(&dir)
            .status()?
            .success();
        if !ok {
            bail!("could not hand {} to user {user}", dir.display());
        }
    }
    let cluster = Cluster {
        bin: bin.clone(),
        dir: dir.clone(),
        run_as: run_as.clone(),
    };
    let data = dir.join("data");
    let out = as_user(&run_as, &bin.join("initdb"))
        .args([
            "-U",
            "authresult",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .output()
        .context("could not run initdb")?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let port = free_port()?;
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=on -c max_connections=200",
        dir.display()
    );
    let pg_ctl = bin.join("pg_ctl");
    let runner = match &run_as {
        Some(user) => format!("runuser -u {user} -- "),
        None => String::new(),
    };
    let restart_command = format!(
        "{runner}{} restart -m fast -w -t 60 -D {} -l {} -o '{options}'",
        pg_ctl.display(),
        data.display(),
        dir.join("server.log").display()
    );
    let pg = Postgres {
        url: format!("postgres://authresult@127.0.0.1:{port}/postgres"),
        restart_command: Some(restart_command),
        cluster: Some(cluster),
    };
    let status = as_user(&run_as, &bin.join("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-o", &options])
        .status()
        .context("could not run pg_ctl")?;
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        bail!("pg_ctl start failed: {log}");
    }
    eprintln!(
        "postgres: throwaway cluster on 127.0.0.1:{port} ({})",
        dir.display()
    );
    Ok(pg)
}
