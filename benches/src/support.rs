//! The manager benches' provider (a scripted `FakeProvider`), stores that
//! count reads or keep nothing, realistic sessions, and a poll-once executor.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use authresult_core::testing::FakeProvider;
use authresult_core::{
    AccessToken, AuthResult, CasOutcome, Error, IdToken, LeaseStore, NonceStore, PendingAuthorization,
    PendingLoginStore, PendingRevocation, RefreshToken, Retention, RevocationQueue, Session, SessionKey,
    SessionStore, StoreBackend, Stores, TenantId, Timestamp, UsernameStore,
};
use authresult_oidc::TokioSleeper;

/// Polls `future` once and answers its output: for code paths that never
/// wait (a cache hit, keys already cached), measured without any executor
/// overhead, the way a server's task would see them. Panics when the future
/// is not ready at once.
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("poll_once: the future waited; this path was expected not to"),
    }
}

/// The provider of the manager benches: [`FakeProvider`] answering every
/// refresh with a fresh one-hour token (`refreshed-access-token-<n>`, a
/// rotated refresh token) after `delay` (a Tokio sleep; none when zero).
/// Its [`calls`](FakeProvider::calls) count the refreshes.
pub fn bench_provider(delay: Duration) -> FakeProvider {
    let refreshes = AtomicU64::new(0);
    let provider = FakeProvider::new().refresh_with(move |_| {
        let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        let mut auth = AuthResult::new(AccessToken::new(format!("refreshed-access-token-{n}")), 3600);
        auth.refresh_token = Some(RefreshToken::new(format!("rotated-refresh-token-{n}")));
        Ok(auth)
    });
    if delay.is_zero() {
        provider
    } else {
        provider.refresh_delay(Arc::new(TokioSleeper), delay)
    }
}

/// The sessions and revocation ports of another store, counting their
/// reads (`get`, `list`, `revocations`), to show a path does not read the
/// store; [`stores`](Self::stores) gives the manager those two and the
/// other store's other ports.
#[derive(Debug)]
pub struct CountingStore<S> {
    inner: Arc<S>,
    reads: AtomicU64,
}

impl<S: StoreBackend + 'static> CountingStore<S> {
    /// Counts the reads of `inner`.
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner: Arc::new(inner),
            reads: AtomicU64::new(0),
        }
    }

    /// Session reads so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.reads.store(0, Ordering::SeqCst);
    }

    /// The ports for a manager: sessions and revocations through `this`
    /// (counted), the others straight from the inner store.
    pub fn stores(this: &Arc<Self>) -> Stores {
        let mut stores = Stores::from(Arc::clone(&this.inner)).with_sessions(this.clone());
        stores.revocations = this.clone();
        stores
    }
}

#[async_trait]
impl<S: StoreBackend> SessionStore for CountingStore<S> {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, Error> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, Error> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list(tenant).await
    }

    async fn put(&self, session: &Session) -> Result<u64, Error> {
        self.inner.put(session).await
    }

    async fn compare_and_swap(&self, session: &Session, expected: u64) -> Result<CasOutcome, Error> {
        self.inner.compare_and_swap(session, expected).await
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, Error> {
        self.inner.remove(key).await
    }

    async fn remove_if_current(&self, session: &Session) -> Result<bool, Error> {
        self.inner.remove_if_current(session).await
    }

    async fn remove_tenant(&self, tenant: &TenantId) -> Result<u64, Error> {
        self.inner.remove_tenant(tenant).await
    }
}

#[async_trait]
impl<S: StoreBackend> RevocationQueue for CountingStore<S> {
    async fn push_revocation(
        &self,
        revocation: &PendingRevocation,
        retention: Retention,
    ) -> Result<(), Error> {
        self.inner.push_revocation(revocation, retention).await
    }

    async fn revocations(&self, tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.revocations(tenant).await
    }

    async fn remove_revocation(&self, tenant: &TenantId, id: &str) -> Result<bool, Error> {
        self.inner.remove_revocation(tenant, id).await
    }
}

/// A store that keeps nothing (writes succeed, reads find nothing): what
/// the manager itself holds can be measured apart from the store.
#[derive(Debug, Default)]
pub struct NullStore;

#[async_trait]
impl SessionStore for NullStore {
    async fn get(&self, _key: &SessionKey) -> Result<Option<Session>, Error> {
        Ok(None)
    }

    async fn list(&self, _tenant: &TenantId) -> Result<Vec<Session>, Error> {
        Ok(Vec::new())
    }

    async fn put(&self, _session: &Session) -> Result<u64, Error> {
        Ok(1)
    }

    async fn compare_and_swap(&self, _session: &Session, _expected: u64) -> Result<CasOutcome, Error> {
        Ok(CasOutcome::Stored { version: 1 })
    }

    async fn remove(&self, _key: &SessionKey) -> Result<bool, Error> {
        Ok(false)
    }

    async fn remove_if_current(&self, _session: &Session) -> Result<bool, Error> {
        Ok(false)
    }

    async fn remove_tenant(&self, _tenant: &TenantId) -> Result<u64, Error> {
        Ok(0)
    }
}

#[async_trait]
impl UsernameStore for NullStore {
    async fn username(&self, _tenant: &TenantId) -> Result<Option<String>, Error> {
        Ok(None)
    }

    async fn set_username(&self, _tenant: &TenantId, _username: Option<String>) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl PendingLoginStore for NullStore {
    async fn put_pending(&self, _pending: &PendingAuthorization) -> Result<(), Error> {
        Ok(())
    }

    async fn take_pending(
        &self,
        _tenant: &TenantId,
        _state: &str,
        _now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        Ok(None)
    }

    async fn purge_pending(&self, _now: Timestamp) -> Result<u64, Error> {
        Ok(0)
    }
}

#[async_trait]
impl LeaseStore for NullStore {
    async fn try_acquire_lease(
        &self,
        _key: &SessionKey,
        _holder: &str,
        _now: Timestamp,
        _ttl: Duration,
    ) -> Result<bool, Error> {
        Ok(true)
    }

    async fn release_lease(&self, _key: &SessionKey, _holder: &str) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl RevocationQueue for NullStore {
    async fn push_revocation(
        &self,
        _revocation: &PendingRevocation,
        _retention: Retention,
    ) -> Result<(), Error> {
        Ok(())
    }

    async fn revocations(&self, _tenant: &TenantId) -> Result<Vec<PendingRevocation>, Error> {
        Ok(Vec::new())
    }

    async fn remove_revocation(&self, _tenant: &TenantId, _id: &str) -> Result<bool, Error> {
        Ok(false)
    }
}

#[async_trait]
impl NonceStore for NullStore {
    async fn dpop_nonce(&self, _tenant: &TenantId, _origin: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }

    async fn set_dpop_nonce(&self, _tenant: &TenantId, _origin: &str, _nonce: &str) -> Result<(), Error> {
        Ok(())
    }
}

/// Sizes of the tokens in [`realistic_auth`], in bytes.
#[derive(Debug, Clone, Copy)]
pub struct TokenSizes {
    /// The access token (the JWT given).
    pub access: usize,
    /// The refresh token.
    pub refresh: usize,
    /// The ID token.
    pub id: usize,
}

/// A login result as a Keycloak-like provider returns it: `access_token`
/// (the JWT given), an opaque 43-character refresh token, an ID token of
/// the access token's size, four profile claims, one hour of validity.
pub fn realistic_auth(access_token: &str, n: u64) -> (AuthResult, TokenSizes) {
    let refresh = format!("rt-{n:040}");
    // An ID token is about as long as the access token.
    let id_token = access_token.to_owned();
    let sizes = TokenSizes {
        access: access_token.len(),
        refresh: refresh.len(),
        id: id_token.len(),
    };
    let mut auth = AuthResult::new(AccessToken::new(access_token), 3600);
    auth.refresh_token = Some(RefreshToken::new(refresh));
    auth.id_token = Some(IdToken::new(id_token));
    auth.profile = Some(BTreeMap::from([
        ("sub".to_owned(), format!("f3b9c2a0-5d1e-4c7a-9e42-{n:012x}")),
        ("name".to_owned(), "Amina Diallo".to_owned()),
        ("email".to_owned(), format!("user{n}@example.org")),
        ("preferred_username".to_owned(), format!("user{n}")),
    ]));
    (auth, sizes)
}
