//! The refresh lease across `PostgresStore` instances: one refresh per expiry,
//! and a crashed holder blocks the others only until its lease expires.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authresult_core::LeaseStore as _;
use authresult_core::{
    AccessToken, AuthManager, AuthProvider, AuthResult, Credentials, Error, LoginRequest, LoginResponse,
    PendingAuthorization, RefreshToken, Session, SessionKey, SessionStore, Timestamp, TokenInfo,
};
use authresult_store::PostgresOptions;

use super::{SERVER, Schemas};

// ---------------------------------------------------------------------------
// 2. The refresh lease across instances

/// A provider that counts refreshes; each takes 50 ms and answers `at-<n>`.
#[derive(Debug, Default)]
struct SlowCountingProvider {
    refreshes: AtomicUsize,
}

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        provider: "slow".into(),
        operation,
    }
}

#[async_trait]
impl AuthProvider for SlowCountingProvider {
    async fn login(&self, _: &Credentials) -> Result<AuthResult, Error> {
        Err(unsupported("login"))
    }

    async fn begin_login(&self, _: &LoginRequest) -> Result<PendingAuthorization, Error> {
        Err(unsupported("interactive login"))
    }

    async fn complete_login(&self, _: &PendingAuthorization, _: &LoginResponse) -> Result<AuthResult, Error> {
        Err(unsupported("interactive login"))
    }

    async fn refresh(&self, _: &AuthResult) -> Result<AuthResult, Error> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut auth = AuthResult::new(AccessToken::new(format!("at-{n}")), 3600);
        auth.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
        Ok(auth)
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

const TENANT: &str = "shared-tenant";
const PROVIDER: &str = "idp";

/// A session whose access token expired a minute ago.
fn expired_session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("at-0"), 1);
    auth.refresh_token = Some(RefreshToken::new("rt-0"));
    Session::new(
        SessionKey::new(TENANT, PROVIDER),
        auth,
        Timestamp::now().saturating_sub(Duration::from_secs(60)),
    )
}

/// `n` instances: each its own store (its own pool) and manager, all on one schema.
async fn instances(
    options: &PostgresOptions,
    n: usize,
    provider: &Arc<SlowCountingProvider>,
) -> Vec<AuthManager> {
    let stores =
        futures::future::join_all((0..n).map(|_| options.clone().max_connections(2).connect())).await;
    stores
        .into_iter()
        .map(|store| {
            let provider: Arc<dyn AuthProvider> = Arc::clone(provider) as Arc<dyn AuthProvider>;
            AuthManager::builder(TENANT, Arc::new(store.unwrap()))
                .provider(PROVIDER, provider)
                .build()
        })
        .collect()
}

/// Every manager asks for a token at the same moment, each on its own task.
async fn ask_all(managers: Vec<AuthManager>) -> Vec<String> {
    let start = Arc::new(tokio::sync::Barrier::new(managers.len()));
    let tasks: Vec<_> = managers
        .into_iter()
        .map(|manager| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                manager.access_token(PROVIDER).await.unwrap().secret().to_owned()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_one_refresh_through_the_database_lease() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("lease");
    let seed = options.clone().connect().await.unwrap();
    seed.put(&expired_session()).await.unwrap();
    let provider = Arc::new(SlowCountingProvider::default());
    let managers = instances(&options, 8, &provider).await;

    let started = Instant::now();
    let tokens = ask_all(managers).await;
    eprintln!("8 instances got a token in {:?}", started.elapsed());

    assert_eq!(
        provider.refreshes.load(Ordering::SeqCst),
        1,
        "exactly one refresh reached the provider"
    );
    assert!(
        tokens.iter().all(|t| t == "at-1"),
        "all got the new token: {tokens:?}"
    );
    let stored = seed
        .get(&SessionKey::new(TENANT, PROVIDER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.auth.access_token.secret(), "at-1");
    assert_eq!(
        stored.auth.refresh_token.as_ref().map(RefreshToken::secret),
        Some("rt-1")
    );
    assert_eq!(stored.version(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_instances_lease_blocks_others_only_until_it_expires() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("crashed");
    let seed = options.clone().connect().await.unwrap();
    seed.put(&expired_session()).await.unwrap();
    // An instance took the lease and died without releasing it.
    let key = SessionKey::new(TENANT, PROVIDER);
    let ttl = Duration::from_millis(800);
    assert!(
        seed.try_acquire_lease(&key, "crashed-instance", Timestamp::now(), ttl)
            .await
            .unwrap()
    );
    let provider = Arc::new(SlowCountingProvider::default());
    let managers = instances(&options, 4, &provider).await;

    let started = Instant::now();
    let tokens = ask_all(managers).await;
    let elapsed = started.elapsed();
    eprintln!("4 instances got a token {elapsed:?} after a crashed holder's lease");

    assert!(
        elapsed >= Duration::from_millis(600),
        "waited for the lease: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "not blocked for long: {elapsed:?}"
    );
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert!(tokens.iter().all(|t| t == "at-1"), "{tokens:?}");
}
