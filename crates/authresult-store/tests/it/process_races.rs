//! The races of `races.rs` across two real processes on one store: a child
//! process (this binary re-run) refreshes with a provider scripted over its
//! stdin/stdout, so its refresh blocks until the test answers it, while this
//! process acts as the second instance. On SQLite here, on Postgres in
//! `postgres.rs` (same scenarios, [`Backend::Postgres`]).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::StoreBackend;
use authresult_core::{
    AccessToken, AuthManager, AuthProvider, AuthResult, Credentials, Error, LoginRequest, LoginResponse,
    ManualClock, PendingAuthorization, TokenInfo,
};
use authresult_store::SqliteStore;

use crate::common::{child_command, child_role};
use crate::races::{
    HANG, LEASE_TTL, PROVIDER, Parked, Scripted, T0, TENANT, bob, expired_alice, invalid_grant, manager,
    stored, tokens,
};

const ROLE: &str = "slow-refresher";
const BACKEND: &str = "AUTHRESULT_RACE_BACKEND";
const SCHEMA: &str = "AUTHRESULT_RACE_SCHEMA";

/// The store both processes share.
pub(crate) enum Backend {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A schema on the server in `DATABASE_URL`.
    #[cfg(feature = "postgres")]
    Postgres {
        /// The server.
        url: String,
        /// The schema.
        schema: String,
    },
}

impl Backend {
    fn from_env() -> Self {
        let backend = std::env::var(BACKEND).unwrap();
        match backend.strip_prefix("sqlite:") {
            Some(path) => Backend::Sqlite(path.into()),
            #[cfg(feature = "postgres")]
            None => Backend::Postgres {
                url: std::env::var("DATABASE_URL").unwrap(),
                schema: std::env::var(SCHEMA).unwrap(),
            },
            #[cfg(not(feature = "postgres"))]
            None => panic!("unknown backend {backend}"),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite(path) => vec![(BACKEND, format!("sqlite:{}", path.display()))],
            #[cfg(feature = "postgres")]
            Backend::Postgres { url, schema } => vec![
                (BACKEND, "postgres".into()),
                ("DATABASE_URL", url.clone()),
                (SCHEMA, schema.clone()),
            ],
        }
    }

    pub(crate) async fn open(&self) -> Arc<dyn StoreBackend> {
        match self {
            Backend::Sqlite(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            #[cfg(feature = "postgres")]
            Backend::Postgres { url, schema } => Arc::new(
                authresult_store::PostgresOptions::new(url)
                    .schema(schema)
                    .max_connections(2)
                    .connect()
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Makes the child's lease expire, as if its refresh outlived it:
    /// SQLite measures leases with the caller's clock, so `clock` (the second
    /// instance's) moves past it; Postgres with its own, so the lease row is
    /// aged in the database.
    async fn expire_lease(&self, clock: &ManualClock) {
        match self {
            Backend::Sqlite(_) => clock.advance(LEASE_TTL + Duration::from_secs(1)),
            #[cfg(feature = "postgres")]
            Backend::Postgres { url, schema } => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
                let aged = client
                    .execute(&format!("UPDATE {quoted}.leases SET expires_at = 0"), &[])
                    .await
                    .unwrap();
                assert_eq!(aged, 1, "the child holds the lease");
            }
        }
    }
}

/// The child's provider: a refresh prints `refresh-started <token>` and
/// answers what the parent writes on stdin (`ok <suffix>` or `invalid_grant`).
#[derive(Debug)]
struct StdioProvider;

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        provider: "stdio".into(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for StdioProvider {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        Err(unsupported("login"))
    }

    async fn begin_login(&self, _: &LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(unsupported("interactive login"))
    }

    async fn complete_login(&self, _: &PendingAuthorization, _: &LoginResponse) -> Result<AuthResult, Error> {
        Err(unsupported("interactive login"))
    }

    async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, Error> {
        let refresh_token = previous
            .refresh_token
            .as_ref()
            .ok_or_else(|| Error::provider(authresult_core::FailureKind::Protocol, "no refresh token"))?;
        println!("refresh-started {}", refresh_token.secret());
        std::io::stdout().flush().unwrap();
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        match line.trim().split_once(' ') {
            Some(("ok", suffix)) => Ok(tokens(suffix)),
            _ => Err(invalid_grant()),
        }
    }

    async fn introspect(&self, _: &AccessToken) -> Result<TokenInfo, Error> {
        Err(unsupported("validation"))
    }

    async fn revoke(&self, _: &authresult_core::RevocableToken) -> Result<(), Error> {
        Ok(())
    }

    async fn end_session_url(&self, _: &AuthResult) -> Result<Option<url::Url>, Error> {
        Ok(None)
    }
}

/// Child: asks once for the access token (a refresh: the stored session is
/// expired) and prints `result ok <token>` or `result err <error>`. Its
/// sleeper never wakes, so it never renews its lease: a stalled holder.
#[tokio::test]
async fn child_slow_refresher() {
    if child_role().as_deref() != Some(ROLE) {
        return;
    }
    let store = Backend::from_env().open().await;
    let clock = ManualClock::new(T0);
    let manager = AuthManager::builder(TENANT, store)
        .provider(PROVIDER, Arc::new(StdioProvider))
        .clock(Arc::new(clock))
        .sleeper(Arc::new(Parked))
        .lease_ttl(LEASE_TTL)
        .build();
    match manager.access_token(PROVIDER).await {
        Ok(token) => println!("result ok {}", token.secret()),
        Err(Error::SessionReplaced { .. }) => println!("result err session-replaced"),
        Err(other) => println!("result err {other}"),
    }
}

/// The child process refreshing, and the lines it prints.
struct SlowRefresher {
    child: Child,
    stdin: ChildStdin,
    lines: std_mpsc::Receiver<String>,
}

impl SlowRefresher {
    fn spawn(backend: &Backend) -> Self {
        let mut command = child_command("process_races::child_slow_refresher", ROLE);
        command.stdin(Stdio::piped());
        for (name, value) in backend.env() {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        SlowRefresher { child, stdin, lines }
    }

    /// The rest of the first line starting with `prefix`.
    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(HANG)
                .unwrap_or_else(|e| panic!("the child never printed `{prefix}`: {e}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    fn answer(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The child's result line, after it exited successfully.
    fn finish(mut self) -> String {
        let result = self.expect("result ");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child failed: {status:?}");
        result
    }
}

/// Issue 11 item 1 across processes: the child's refresh outlives its lease;
/// this process takes the lease, refreshes the same old token and gets
/// `invalid_grant` after the child stored its rotation. The rotation stays.
pub(crate) async fn lease_expiry_across_processes(backend: Backend) {
    let store = backend.open().await;
    store.put(&expired_alice()).await.unwrap();
    let mut child = SlowRefresher::spawn(&backend);
    assert_eq!(child.expect("refresh-started"), "rt-alice-0");

    let clock = ManualClock::new(T0);
    backend.expire_lease(&clock).await;
    let (provider, mut calls) = Scripted::new();
    let here = manager(store.clone(), provider, &clock, Arc::new(Parked));
    let task = tokio::spawn(async move { here.access_token(PROVIDER).await });
    let call = calls.next().await;
    assert_eq!(call.refresh_token, "rt-alice-0");

    child.answer("ok alice-1");
    assert_eq!(child.finish(), "ok at-alice-1");
    call.answer(Err(invalid_grant()));
    let token = task
        .await
        .unwrap()
        .expect("a stale invalid_grant ended the session");
    assert_eq!(token.secret(), "at-alice-1");
    let session = stored(store.as_ref()).await.expect("the session was lost");
    assert_eq!(
        session.auth.refresh_token.as_ref().unwrap().secret(),
        "rt-alice-1",
        "the rotated refresh token is stored"
    );
}

/// Issue 11 item 2 across processes: bob logs in here while the child
/// refreshes alice's session. Bob's session stays; the child is told.
pub(crate) async fn login_during_refresh_across_processes(backend: Backend) {
    let store = backend.open().await;
    store.put(&expired_alice()).await.unwrap();
    let mut child = SlowRefresher::spawn(&backend);
    assert_eq!(child.expect("refresh-started"), "rt-alice-0");

    let clock = ManualClock::new(T0);
    let (provider, _calls) = Scripted::new();
    let here = manager(store.clone(), provider, &clock, Arc::new(Parked));
    here.login(PROVIDER, &bob()).await.unwrap();

    child.answer("ok alice-1");
    assert_eq!(child.finish(), "err session-replaced");
    let session = stored(store.as_ref()).await.expect("bob's session was removed");
    assert_eq!(
        session.subject.as_deref(),
        Some("bob"),
        "alice's refresh replaced bob"
    );
    assert_eq!(session.auth.refresh_token.as_ref().unwrap().secret(), "rt-bob-0");
}

#[tokio::test]
async fn sqlite_a_refresh_outliving_its_lease_in_another_process_survives_invalid_grant() {
    let dir = tempfile::tempdir().unwrap();
    lease_expiry_across_processes(Backend::Sqlite(dir.path().join("sessions.db"))).await;
}

#[tokio::test]
async fn sqlite_a_login_wins_over_a_refresh_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    login_during_refresh_across_processes(Backend::Sqlite(dir.path().join("sessions.db"))).await;
}
