//! Test support for authresult: starts the local OpenID provider of
//! `xtask/idp` and drives its login, consent and device pages over HTTP the
//! way a browser would; [`Glewlwyd`] starts and configures a second,
//! independent provider (Debian's `glewlwyd`) and logs in through its API.
//! [`Chromium`] is a real browser (headless Chromium over WebDriver) that
//! fills both providers' login pages; [`FieldLink`] runs the provider in a
//! network namespace behind a slow, lossy or broken link.
//!
//! [`TestCa`] makes a private CA for https tests (the provider served over
//! TLS with [`IdpOptions::tls`]), [`TlsServer`] a small https server
//! (optionally requiring a client certificate), and [`CountingProxy`] a proxy that counts
//! what goes through it.
//!
//! [`JwtSigner`] is the one helper that signs the tests' and benchmarks'
//! JWTs (RSA, PS256, ES256, EdDSA, HMAC, and RS256 with a too-short RSA key),
//! and [`at_hash`] computes an ID token's `at_hash`.
//!
//! Used by integration tests (as a dev-dependency) and by `xtask`. Nothing
//! here is skipped when Node.js is missing: [`Idp::start`] returns an error
//! and the test fails.
//!
//! # Example
//!
//! ```no_run
//! use authresult_test_support::{Idp, IdpOptions};
//!
//! # async fn run(authorization_url: url::Url) -> anyhow::Result<()> {
//! let idp = Idp::start(IdpOptions::default())?;
//! println!("keycloak-shaped issuer: {}", idp.issuer("keycloak")?);
//! let callback = idp.login_via_form(&authorization_url, "alice", "alice-password").await?;
//! assert!(callback.query_pairs().any(|(k, _)| k == "code"));
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//!
//! None.

mod browser;
mod chromium;
mod field_link;
mod glewlwyd;
mod jwt;
mod tls;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use url::Url;

pub use browser::Browser;
pub use chromium::Chromium;
pub use field_link::FieldLink;
pub use glewlwyd::Glewlwyd;
pub use jwt::{JwtAlg, JwtSigner, PublicKey, at_hash, b64};
pub use tls::{CountingProxy, Issued, TestCa, TlsServer};

/// How long the provider may take to print `IDP_READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `npm ci` (run by another test binary) may hold the install lock.
const INSTALL_WAIT: Duration = Duration::from_secs(600);

/// Flags for `server.mjs`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IdpOptions {
    /// `--port` (default: an ephemeral port).
    pub port: Option<u16>,
    /// `--access-ttl` in seconds (default 300).
    pub access_ttl: Option<u64>,
    /// `--refresh-ttl` in seconds (default 86400).
    pub refresh_ttl: Option<u64>,
    /// `--device-ttl` in seconds (default 600).
    pub device_ttl: Option<u64>,
    /// `--keys`: a JSON file with the signing keys (created when missing).
    pub keys: Option<PathBuf>,
    /// `--host`: the IPv4 address to listen on and build the issuers on
    /// (default `127.0.0.1`).
    pub host: Option<std::net::Ipv4Addr>,
    /// Runs the provider inside this network namespace (`ip netns exec`);
    /// see [`FieldLink`].
    pub netns: Option<String>,
    /// `--tls-cert`/`--tls-key`: serve https with this certificate, issued
    /// by a [`TestCa`] whose certificate the login browser then trusts.
    pub tls: Option<IdpTls>,
    /// `--client-jwks`: the public keys of the `private_key_jwt` client
    /// `jwt-app` (a JSON file `{"keys":[...]}`).
    pub client_jwks: Option<PathBuf>,
    /// `--backchannel-logout-uri`: adds the client `bcl-app` (as
    /// `native-app`), whose sessions' logouts the provider posts to this
    /// URL (OpenID Connect Back-Channel Logout, `sid` included).
    pub backchannel_logout_uri: Option<String>,
}

/// The files of an https provider (see [`IdpOptions::tls`]).
#[derive(Debug, Clone)]
pub struct IdpTls {
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// Its PKCS#8 key (PEM).
    pub key: PathBuf,
    /// The CA certificate (PEM) the browser trusts.
    pub ca_pem: String,
}

/// A running local OpenID provider; the process is killed on drop (and
/// exits by itself when this process dies, through `--exit-on-stdin-close`).
#[derive(Debug)]
pub struct Idp {
    child: Child,
    _stdin: Option<ChildStdin>,
    base: Url,
    issuers: BTreeMap<String, Url>,
    stderr: Arc<Mutex<String>>,
    /// The CA the browser trusts when the provider serves https.
    ca_pem: Option<String>,
}

/// The repository root: two levels above this crate.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The directory of the local provider (`xtask/idp`).
pub fn idp_dir() -> PathBuf {
    repo_root().join("xtask").join("idp")
}

impl Idp {
    /// Installs the provider's npm packages when missing (once, across
    /// parallel test binaries), starts `node server.mjs` and waits for its
    /// `IDP_READY` line.
    pub fn start(options: IdpOptions) -> anyhow::Result<Idp> {
        let dir = idp_dir();
        ensure_node_modules(&dir)?;
        let mut command = match &options.netns {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace, "node"]);
                command
            }
            None => Command::new("node"),
        };
        command
            .current_dir(&dir)
            .arg("server.mjs")
            .arg("--exit-on-stdin-close");
        if let Some(port) = options.port {
            command.arg(format!("--port={port}"));
        }
        if let Some(ttl) = options.access_ttl {
            command.arg(format!("--access-ttl={ttl}"));
        }
        if let Some(ttl) = options.refresh_ttl {
            command.arg(format!("--refresh-ttl={ttl}"));
        }
        if let Some(ttl) = options.device_ttl {
            command.arg(format!("--device-ttl={ttl}"));
        }
        if let Some(keys) = &options.keys {
            command.arg("--keys").arg(keys);
        }
        if let Some(host) = options.host {
            command.arg(format!("--host={host}"));
        }
        if let Some(uri) = &options.backchannel_logout_uri {
            command.arg("--backchannel-logout-uri").arg(uri);
        }
        if let Some(tls) = &options.tls {
            command
                .arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        if let Some(jwks) = &options.client_jwks {
            command.arg("--client-jwks").arg(jwks);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("`node` was not found on PATH: install Node.js (20 or newer) to run these tests")
            } else {
                anyhow!(e).context("could not start `node server.mjs`")
            }
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let stderr_pipe = child.stderr.take().context("no stderr pipe")?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if let Ok(mut all) = sink.lock() {
                    all.push_str(&line);
                }
                line.clear();
            }
        });
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let reader = BufReader::new(stdout);
            for line in reader.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut idp = Idp {
            child,
            _stdin: stdin,
            base: Url::parse("http://127.0.0.1/")?,
            issuers: BTreeMap::new(),
            stderr,
            ca_pem: options.tls.as_ref().map(|tls| tls.ca_pem.clone()),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(json) = line.strip_prefix("IDP_READY ") {
                        break json.to_owned();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the local IdP did not print IDP_READY within {READY_TIMEOUT:?}; stderr:\n{}",
                        idp.stderr()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Give the stderr reader a moment to collect the last words.
                    std::thread::sleep(Duration::from_millis(200));
                    let status = idp.child.try_wait().ok().flatten();
                    bail!(
                        "the local IdP exited before it was ready ({status:?}); stderr:\n{}",
                        idp.stderr()
                    );
                }
            }
        };
        let info: serde_json::Value = serde_json::from_str(&ready).context("IDP_READY carries no JSON")?;
        let base = info["base"].as_str().context("IDP_READY has no `base`")?;
        idp.base = Url::parse(base).context("IDP_READY `base` is not a URL")?;
        let issuers = info["issuers"]
            .as_object()
            .context("IDP_READY has no `issuers`")?;
        for (name, issuer) in issuers {
            let issuer = issuer.as_str().context("an issuer is not a string")?;
            idp.issuers.insert(
                name.clone(),
                Url::parse(issuer).context("an issuer is not a URL")?,
            );
        }
        Ok(idp)
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`IdpOptions::tls`]).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The issuer named `plain`, `keycloak` or `auth0`.
    pub fn issuer(&self, name: &str) -> anyhow::Result<&Url> {
        self.issuers
            .get(name)
            .with_context(|| format!("the local IdP has no issuer `{name}`"))
    }

    /// A fresh browser for this provider (trusting its CA over https).
    /// A browser with an empty jar for this provider, to keep a session
    /// across a login and a logout.
    pub fn new_browser(&self) -> anyhow::Result<Browser> {
        self.browser()
    }

    fn browser(&self) -> anyhow::Result<Browser> {
        match &self.ca_pem {
            Some(ca) => Browser::trusting(self.base.clone(), ca.as_bytes()),
            None => Browser::new(self.base.clone()),
        }
    }

    /// Everything the provider wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Logs in through the provider's pages with a fresh browser and answers
    /// the redirect to the client's `redirect_uri` (not requested).
    pub async fn login_via_form(
        &self,
        authorization_url: &Url,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Url> {
        self.browser()?.login(authorization_url, username, password).await
    }

    /// Enters `user_code` at `verification_uri` (a `verification_uri_complete`
    /// works too when `user_code` is `None`), then approves as `username`, or
    /// denies.
    pub async fn approve_device(
        &self,
        verification_uri: &Url,
        user_code: Option<&str>,
        username: &str,
        password: &str,
        approve: bool,
    ) -> anyhow::Result<()> {
        self.browser()?
            .device(verification_uri, user_code, username, password, approve)
            .await
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self._stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `npm ci` in `dir` unless `node_modules` is complete. A lock file
/// created with `create_new` makes parallel callers wait for one install.
fn ensure_node_modules(dir: &Path) -> anyhow::Result<()> {
    let installed = || dir.join("node_modules").join(".package-lock.json").exists();
    if installed() {
        return Ok(());
    }
    let lock = dir.join(".npm-ci.lock");
    let started = Instant::now();
    loop {
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_) => {
                let result = if installed() { Ok(()) } else { npm_ci(dir) };
                let _ = fs::remove_file(&lock);
                return result;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if installed() {
                    return Ok(());
                }
                let stale = fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > INSTALL_WAIT);
                if stale {
                    let _ = fs::remove_file(&lock);
                    continue;
                }
                if started.elapsed() > INSTALL_WAIT {
                    bail!(
                        "timed out waiting for another `npm ci` (lock file {})",
                        lock.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(anyhow!(e).context(format!("could not create {}", lock.display()))),
        }
    }
}

fn npm_ci(dir: &Path) -> anyhow::Result<()> {
    let output = Command::new("npm")
        .arg("ci")
        .arg("--no-audit")
        .arg("--no-fund")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("`npm` was not found on PATH: install Node.js (20 or newer) to run these tests")
            } else {
                anyhow!(e).context("could not start `npm ci`")
            }
        })?;
    if !output.status.success() {
        bail!(
            "`npm ci` in {} failed ({}):\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
