//! Helpers shared by the integration tests: child processes, a seeded RNG,
//! a counting fake provider, and error inspection.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use async_trait::async_trait;
use authresult_core::{
    AccessToken, AuthProvider, AuthResult, Credentials, Error, LoginRequest, LoginResponse,
    PendingAuthorization, RefreshToken, TokenInfo,
};
use authresult_store::{EncryptionKey, StoreError};

/// The environment variable naming the role of a child process.
pub(crate) const ROLE: &str = "AUTHRESULT_STORE_TEST_ROLE";

/// The role this process was started for, if it is a child.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A command re-running this test binary as a child that runs only the test
/// `entry` (a `module::function` path) with `role` set.
pub(crate) fn child_command(entry: &str, role: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// A small deterministic RNG (SplitMix64) so runs can be reproduced.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeded from `AUTHRESULT_STORE_SEED` when set, else from `default`.
    pub(crate) fn seeded(default: u64) -> Self {
        let seed = std::env::var("AUTHRESULT_STORE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("rng seed {seed} (set AUTHRESULT_STORE_SEED to reproduce)");
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `len` random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// A fixed raw key for tests.
pub(crate) fn test_key() -> EncryptionKey {
    EncryptionKey::from_bytes(*b"0123456789abcdef0123456789abcdef")
}

/// The `StoreError` inside a port error; panics if there is none.
pub(crate) fn store_error(error: &Error) -> &StoreError {
    match error {
        Error::Store { source, .. } => source
            .downcast_ref::<StoreError>()
            .unwrap_or_else(|| panic!("not a StoreError: {error:?}")),
        other => panic!("not a store error: {other:?}"),
    }
}

/// True when this process may write files it has no permission for (root).
pub(crate) fn ignores_file_permissions(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let probe = dir.join("permission-probe");
    std::fs::write(&probe, b"x").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o400)).unwrap();
    let writable = std::fs::OpenOptions::new().append(true).open(&probe).is_ok();
    std::fs::remove_file(&probe).unwrap();
    writable
}

/// A provider whose refresh tokens carry a generation `rt-<g>`: refreshing
/// `rt-<g>` answers `at-<g+1>`/`rt-<g+1>` valid for `expires_in` seconds and
/// appends `refresh <g>` to `log` (one `O_APPEND` write, so lines from
/// several processes never mix). A double refresh of one generation shows
/// as a repeated line.
#[derive(Debug)]
pub(crate) struct CountingProvider {
    /// Where refreshes are recorded.
    pub(crate) log: std::path::PathBuf,
    /// Lifetime of issued access tokens.
    pub(crate) expires_in: u64,
}

impl CountingProvider {
    /// The result for generation `g`.
    pub(crate) fn result(g: u64, expires_in: u64) -> AuthResult {
        let mut auth = AuthResult::new(AccessToken::new(format!("at-{g}")), expires_in);
        auth.refresh_token = Some(RefreshToken::new(format!("rt-{g}")));
        auth
    }
}

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        provider: "counting".into(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for CountingProvider {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        Ok(Self::result(0, self.expires_in))
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
        let g: u64 = refresh_token
            .secret()
            .strip_prefix("rt-")
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| unsupported("unknown refresh token"))?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        log.write_all(format!("refresh {g} {}\n", std::process::id()).as_bytes())
            .unwrap();
        Ok(Self::result(g + 1, self.expires_in))
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
