//! A second, independent OpenID provider for the tests: Debian's `glewlwyd`
//! (C, its own JOSE library and HTTP stack), started on `127.0.0.1` with a
//! throwaway SQLite database and configured through its admin API.
//!
//! [`Glewlwyd::start`] creates the database from the schema the package ships,
//! writes a config file, starts the binary, waits until it answers, logs in
//! as the schema's default administrator and creates: the scopes `profile`,
//! `email` and `offline_access`; an `oidc` plugin instance (issuer
//! `http://127.0.0.1:PORT/api/oidc`, RS256 with a key generated here, code +
//! PKCE, refresh with one-time rotation, device grant, introspection and
//! revocation, session management); the public client [`Glewlwyd::PUBLIC_CLIENT`], the
//! confidential client [`Glewlwyd::CONFIDENTIAL_CLIENT`] and the users `alice` and
//! `bob` (password `<name>-password`). The quirks met on the way are in
//! `xtask/idp/README.md` ("glewlwyd").
//!
//! Its login page is a single-page app over a JSON API; [`Glewlwyd::login`]
//! and [`Glewlwyd::approve_device`] do what that app does (see `login.rs`).

mod login;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use url::Url;

/// Where Debian's package puts the binary.
const BINARY: &str = "/usr/bin/glewlwyd";
/// The SQLite schema the package ships (it also creates the `admin` user).
const SCHEMA: &str = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3";
/// The package's module folders.
const MODULES: &str = "/usr/lib/glewlwyd";
/// The package's login, profile and admin single-page apps.
const WEBAPP: &str = "/usr/share/glewlwyd/webapp";
/// The schema's administrator, documented in the package's GETTING_STARTED.md.
const ADMIN: (&str, &str) = ("admin", "password");
/// Glewlwyd's session cookie name (`session_key` in the config).
const SESSION_COOKIE: &str = "GLEWLWYD2_SESSION_ID";
/// The name of the OIDC plugin instance: the issuer is `{base}/api/{PLUGIN}`.
const PLUGIN: &str = "oidc";
/// How long the server may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running, configured glewlwyd; the process is killed and its folder
/// removed on drop.
#[derive(Debug)]
pub struct Glewlwyd {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
    base: Url,
    issuer: Url,
}

impl Glewlwyd {
    /// The public client: code + PKCE, refresh, device grant.
    pub const PUBLIC_CLIENT: &'static str = "native-app";
    /// The confidential client and its secret.
    pub const CONFIDENTIAL_CLIENT: (&'static str, &'static str) = ("confidential-app", "confidential-secret");
    /// The redirect URI registered for both clients at start.
    pub const REDIRECT_URI: &'static str = "http://127.0.0.1:9/callback";
    /// The users created at start; each one's password is `<name>-password`.
    pub const USERS: &'static [&'static str] = &["alice", "bob"];
    /// The scopes every client may ask for and every user has.
    pub const SCOPES: &'static str = "openid profile email offline_access";

    /// The first file of Debian's `glewlwyd` package these tests need that
    /// is missing, or `None` when it is installed.
    pub fn missing() -> Option<&'static str> {
        [BINARY, SCHEMA, MODULES]
            .into_iter()
            .find(|needed| !Path::new(needed).exists())
    }

    /// Starts and configures a server (see the module docs). Fails, never
    /// skips, when the package is not installed.
    pub fn start() -> anyhow::Result<Glewlwyd> {
        if let Some(needed) = Glewlwyd::missing() {
            bail!(
                "glewlwyd is not installed ({needed} is missing): `cargo xtask ci` installs it, \
                 or run `sudo apt-get install glewlwyd`"
            );
        }
        // The free port is found by binding and releasing it; another
        // process may take it before glewlwyd binds it: try another one.
        let mut attempt = 1;
        loop {
            match Glewlwyd::start_once() {
                Err(e) if e.is::<PortTaken>() && attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    fn start_once() -> anyhow::Result<Glewlwyd> {
        let dir = tempfile::Builder::new()
            .prefix("authresult-glewlwyd-")
            .tempdir()
            .context("could not create a temporary folder")?;
        let database = dir.path().join("glewlwyd.db");
        let schema = fs::read_to_string(SCHEMA).with_context(|| format!("could not read {SCHEMA}"))?;
        rusqlite::Connection::open(&database)
            .and_then(|db| db.execute_batch(&schema))
            .context("could not create the SQLite database from the shipped schema")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("no free loopback port")?
            .port();
        let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        let webapp = webapp_folder(dir.path())?;
        let config = dir.path().join("glewlwyd.conf");
        fs::write(
            &config,
            config_file(port, &database, &dir.path().join("glewlwyd.log"), &webapp),
        )
        .context("could not write the config file")?;
        // Through a shell that kills the server and removes its folder when
        // our end of its stdin closes: on drop, and also when this process
        // dies without dropping (a shared instance in a `static`). The shell
        // itself exits with the server, so a crash is seen at once.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                r#"dir=$1; shift; exec 3<&0; "$@" </dev/null & pid=$!; "#,
                r#"(read _ <&3; kill $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.1; done; "#,
                r#"rm -rf "$dir") & wait $pid"#
            ))
            .arg("glewlwyd")
            .arg(dir.path())
            .arg(BINARY)
            .arg(format!("--config-file={}", config.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {BINARY}"))?;
        let stdin = child.stdin.take();
        let mut server = Glewlwyd {
            child,
            stdin,
            issuer: base.join(&format!("api/{PLUGIN}"))?,
            base,
            dir,
        };
        // Configuration is async HTTP; a runtime of its own on a thread of its
        // own works whether or not the caller is inside a runtime.
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("could not build a runtime")?
                    .block_on(server.configure())
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the configuration thread panicked")))
        });
        match result {
            Ok(()) => Ok(server),
            Err(e) => Err(e.context(format!("glewlwyd's log:\n{}", server.log()))),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The issuer, `http://127.0.0.1:PORT/api/oidc`.
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("glewlwyd.log")).unwrap_or_default()
    }

    /// Adds `uri` to `client_id`'s redirect URIs. Glewlwyd compares redirect
    /// URIs exactly, port included (RFC 8252 §7.3 wants any port for
    /// loopback), so a loopback listener's URI must be registered first.
    pub async fn allow_redirect_uri(&self, client_id: &str, uri: &Url) -> anyhow::Result<()> {
        let admin = Admin::login(self).await?;
        let path = format!("api/client/{client_id}");
        let mut client = admin.call(reqwest::Method::GET, &path, None).await?;
        let uris = client["redirect_uri"]
            .as_array_mut()
            .context("the client has no redirect_uri list")?;
        uris.push(Value::String(uri.to_string()));
        admin.call(reqwest::Method::PUT, &path, Some(client)).await?;
        Ok(())
    }

    /// Runs `sql` on the server's database behind its back, for tests of
    /// how a client copes with the server's own failures (a dropped table
    /// makes it answer HTTP 500).
    pub fn execute_sql(&self, sql: &str) -> anyhow::Result<()> {
        rusqlite::Connection::open(self.dir.path().join("glewlwyd.db"))
            .and_then(|db| db.execute_batch(sql))
            .context("could not run SQL on glewlwyd's database")
    }

    async fn configure(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let http = http_client()?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if self.log().contains("Failed to bind to port") {
                    return Err(PortTaken.into());
                }
                bail!("glewlwyd exited ({status}) before it answered");
            }
            let answered = http
                .get(self.base.join("config")?)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                break;
            }
            if Instant::now() > deadline {
                bail!("glewlwyd did not answer within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let admin = Admin::login(self).await?;
        for scope in ["profile", "email", "offline_access"] {
            admin
                .call(
                    reqwest::Method::POST,
                    "api/scope/",
                    Some(json!({"name": scope, "display_name": scope, "description": scope,
                        "password_required": false, "scheme": {}})),
                )
                .await?;
        }
        let (key, cert) = rsa_key_pair()?;
        admin
            .call(
                reqwest::Method::POST,
                "api/mod/plugin/",
                Some(plugin_instance(self.issuer.as_str(), &key, &cert)),
            )
            .await?;
        for user in Glewlwyd::USERS {
            let mut name = user.to_string();
            name[..1].make_ascii_uppercase();
            admin
                .call(
                    reqwest::Method::POST,
                    "api/user/",
                    Some(json!({"username": user, "password": format!("{user}-password"),
                        "name": name, "email": format!("{user}@example.org"), "enabled": true,
                        "scope": Glewlwyd::SCOPES.split(' ').collect::<Vec<_>>()})),
                )
                .await?;
        }
        let client = |id: &str, confidential: bool| {
            json!({"client_id": id, "client_name": id, "enabled": true, "confidential": confidential,
                "redirect_uri": [Glewlwyd::REDIRECT_URI],
                "authorization_type": ["code", "refresh_token", "device_authorization"], "scope": []})
        };
        admin
            .call(
                reqwest::Method::POST,
                "api/client/",
                Some(client(Glewlwyd::PUBLIC_CLIENT, false)),
            )
            .await?;
        let mut confidential = client(Glewlwyd::CONFIDENTIAL_CLIENT.0, true);
        confidential["client_secret"] = json!(Glewlwyd::CONFIDENTIAL_CLIENT.1);
        confidential["token_endpoint_auth_method"] = json!(["client_secret_basic", "client_secret_post"]);
        admin
            .call(reqwest::Method::POST, "api/client/", Some(confidential))
            .await?;
        Ok(())
    }
}

/// Glewlwyd could not bind the port it was given.
#[derive(Debug)]
struct PortTaken;

impl std::fmt::Display for PortTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("glewlwyd could not bind its port (taken by another process)")
    }
}

impl std::error::Error for PortTaken {}

impl Drop for Glewlwyd {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill the server; then reap the shell.
        self.stdin = None;
        let _ = self.child.wait();
    }
}

/// A client for glewlwyd's own API: no redirects followed, a timeout.
fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .context("could not build an HTTP client")
}

/// The value of glewlwyd's session cookie in `response`, if it sets one.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|h| {
        let (name, rest) = h.to_str().ok()?.split_once('=')?;
        let value = rest.split(';').next()?;
        (name.trim() == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Logs `username` in through `POST /api/auth/` and answers the session cookie.
async fn api_login(
    http: &reqwest::Client,
    base: &Url,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(base.join("api/auth/")?)
        .header(CONTENT_TYPE, "application/json")
        .body(json!({"username": username, "password": password}).to_string())
        .send()
        .await
        .context("POST /api/auth/ failed")?;
    let status = response.status();
    if !status.is_success() {
        bail!("glewlwyd refused the password of `{username}` (HTTP {status})");
    }
    session_cookie(&response).context("glewlwyd's login answered no session cookie")
}

/// An administrator's session.
struct Admin {
    http: reqwest::Client,
    base: Url,
    cookie: String,
}

impl Admin {
    async fn login(server: &Glewlwyd) -> anyhow::Result<Admin> {
        let http = http_client()?;
        let cookie = api_login(&http, &server.base, ADMIN.0, ADMIN.1).await?;
        Ok(Admin {
            http,
            base: server.base.clone(),
            cookie,
        })
    }

    /// One admin API call; answers the JSON body (`null` when empty).
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), self.base.join(path)?)
            .header(COOKIE, format!("{SESSION_COOKIE}={}", self.cookie));
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} /{path} failed"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("admin API {method} /{path} answered HTTP {status}: {text}");
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("admin API {method} /{path} answered no JSON"))
    }
}

/// A fresh RSA key pair as PKCS#8 PEM (private) and SPKI PEM (public).
fn rsa_key_pair() -> anyhow::Result<(String, String)> {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).context("RSA key generation failed")?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("could not encode the private key")?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .context("could not encode the public key")?;
    Ok((private.to_string(), public))
}

/// The `oidc` plugin instance: RS256, code + PKCE (S256 only), refresh with
/// one-time rotation, device grant, introspection/revocation, session
/// management, `name` and `email` claims.
fn plugin_instance(issuer: &str, key: &str, cert: &str) -> Value {
    json!({
        "module": "oidc", "name": PLUGIN, "display_name": "OpenID Connect", "enabled": true,
        "parameters": {
            "iss": issuer, "jwt-type": "rsa", "jwt-key-size": "256", "key": key, "cert": cert,
            "jwks-show": true, "subject-type": "public",
            "access-token-duration": 300, "refresh-token-duration": 86400, "code-duration": 600,
            "refresh-token-rolling": true, "refresh-token-one-use": "always",
            "allow-non-oidc": false,
            "auth-type-code-enabled": true, "auth-type-refresh-enabled": true,
            "auth-type-device-enabled": true, "auth-type-client-enabled": true,
            "auth-type-token-enabled": false, "auth-type-id-token-enabled": false,
            "auth-type-none-enabled": false, "auth-type-password-enabled": false,
            "pkce-allowed": true, "pkce-method-plain-allowed": false,
            "introspection-revocation-allowed": true,
            "introspection-revocation-allow-target-client": true,
            "session-management-allowed": true,
            "session-cookie-name": "GLEWLWYD_OIDC_SID", "session-cookie-expiration": 2419200,
            "device-authorization-expiration": 600, "device-authorization-interval": 5,
            "name-claim": "mandatory", "email-claim": "mandatory",
            "scope": [],
        }
    })
}

/// The login app for a real browser ([`crate::Chromium`]): a copy of the
/// package's `webapp` folder in `{dir}/webapp`, links resolved (glewlwyd
/// serves no symbolic link, and the package links jQuery, Bootstrap and
/// its fonts from their own packages), with the real `config.json` (the
/// package's is a link to a folder).
fn webapp_folder(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let kind = fs::metadata(entry.path())?.file_type();
            if kind.is_dir() {
                copy_tree(&entry.path(), &to.join(entry.file_name()))?;
            } else if kind.is_file() {
                fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
        Ok(())
    }
    let webapp = dir.join("webapp");
    copy_tree(Path::new(WEBAPP), &webapp).with_context(|| format!("could not copy {WEBAPP}"))?;
    let config = "/etc/glewlwyd/config-2.7.json/config.json";
    let _ = fs::remove_dir_all(webapp.join("config.json"));
    fs::copy(config, webapp.join("config.json")).with_context(|| format!("could not copy {config}"))?;
    Ok(webapp)
}

/// The server's config file (libconfig syntax): loopback only, plain http,
/// the package's module folders, the SQLite database, a log file, the
/// login app under `/`.
fn config_file(port: u16, database: &Path, log: &Path, webapp: &Path) -> String {
    let quote = |p: &Path| p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"port={port}
bind_address="127.0.0.1"
external_url="http://127.0.0.1:{port}"
login_url="login.html"
api_prefix="api"
allow_origin="*"
log_mode="file"
log_level="INFO"
log_file="{log}"
cookie_secure=0
session_expiration=3600
session_key="{SESSION_COOKIE}"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
max_post_size=1048576
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="{MODULES}/user"
client_module_path="{MODULES}/client"
user_auth_scheme_module_path="{MODULES}/scheme"
plugin_module_path="{MODULES}/plugin"
hash_algorithm="SHA512"
static_files_path="{webapp}/"
static_files_mime_types = (
  {{ extension = ".html" mime_type = "text/html" }},
  {{ extension = ".css" mime_type = "text/css" }},
  {{ extension = ".js" mime_type = "application/javascript" }},
  {{ extension = ".json" mime_type = "application/json" }},
  {{ extension = ".png" mime_type = "image/png" }},
  {{ extension = ".ico" mime_type = "image/x-icon" }},
  {{ extension = ".woff" mime_type = "font/woff" }},
  {{ extension = ".woff2" mime_type = "font/woff2" }},
  {{ extension = ".ttf" mime_type = "font/ttf" }}
);
database =
{{
  type = "sqlite3"
  path = "{database}"
}};
"#,
        log = quote(log),
        database = quote(database),
        webapp = quote(webapp),
    )
}
