//! [`KeyStore`]: one issuer's key set, replaced atomically, with
//! single-flight, rate-limited refetching and background refresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use authresult_core::Timestamp;
use authresult_http::Discovery;

use crate::config::KeyOrigin;
use crate::error::{UpstreamEndpoint, ValidationError};
use crate::fetch::Http;
use crate::keys::JwkSet;

/// A key set as fetched.
pub(super) struct Snapshot {
    pub(super) set: JwkSet,
}

/// The key set of one issuer: the current snapshot, replaced atomically, and
/// the single-flight refetch state.
pub(super) struct KeyStore {
    pub(super) source: KeyOrigin,
    /// The issuer's discovery (shared with its opaque-token checks); `None`
    /// when the issuer is not a URL.
    discovery: Option<Arc<Discovery>>,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped after every fetch attempt has stored its result.
    pub(super) attempts: AtomicU64,
    state: Arc<tokio::sync::Mutex<RefreshState>>,
    cooldown: Duration,
    max_age: Duration,
    /// The earliest next background refresh, in ms since the epoch by the
    /// validator's clock (0: at the first use).
    next_background_ms: AtomicU64,
    /// The issuer's configured name, for `tracing` events.
    pub(super) issuer: std::sync::OnceLock<Arc<str>>,
}

#[derive(Default)]
struct RefreshState {
    /// When an unknown `kid` last caused a fetch.
    last_miss: Option<Timestamp>,
    /// The last failed attempt.
    last_failure: Option<(Timestamp, ValidationError)>,
}

impl KeyStore {
    pub(super) fn new(
        source: KeyOrigin,
        discovery: Option<Arc<Discovery>>,
        cooldown: Duration,
        max_age: Duration,
        now: Timestamp,
    ) -> Self {
        let current = match &source {
            KeyOrigin::Static(set) => Some(Arc::new(Snapshot { set: set.clone() })),
            _ => None,
        };
        KeyStore {
            source,
            discovery,
            current: RwLock::new(current),
            attempts: AtomicU64::new(0),
            state: Arc::new(tokio::sync::Mutex::new(RefreshState::default())),
            cooldown,
            max_age,
            next_background_ms: AtomicU64::new(now.saturating_add(max_age).as_millis()),
            issuer: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn current(&self) -> Option<Arc<Snapshot>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        match self.current.write() {
            Ok(mut guard) => *guard = Some(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Some(snapshot),
        }
    }

    /// How long to wait after a failed attempt before fetching again.
    fn failure_backoff(&self) -> Duration {
        self.cooldown.min(Duration::from_secs(5))
    }

    /// Single-flight refetch. `seen` is `attempts` as read before the caller
    /// looked at the current keys: if another attempt finished since, its
    /// result is used instead of fetching again. A refetch for an unknown
    /// `kid` (`miss`) happens at most once per cooldown. A failed attempt
    /// keeps the last good key set.
    pub(super) async fn refresh(
        &self,
        http: &Http,
        seen: u64,
        miss: bool,
    ) -> Result<Arc<Snapshot>, ValidationError> {
        let mut state = self.state.lock().await;
        let current = self.current();
        let unavailable = |state: &RefreshState| match &state.last_failure {
            Some((_, error)) => error.clone(),
            None => ValidationError::Unavailable {
                endpoint: UpstreamEndpoint::Jwks,
                reason: "no key set yet".into(),
            },
        };
        if matches!(self.source, KeyOrigin::Static(_)) || self.attempts.load(Ordering::Acquire) != seen {
            return current.ok_or_else(|| unavailable(&state));
        }
        let now = http.now();
        if let Some(current) = &current
            && miss
            && state
                .last_miss
                .is_some_and(|at| now.duration_since(at) < self.cooldown)
        {
            return Ok(current.clone());
        }
        if let Some((at, _)) = &state.last_failure
            && now.duration_since(*at) < self.failure_backoff()
        {
            return current.ok_or_else(|| unavailable(&state));
        }
        if miss {
            state.last_miss = Some(now);
        }
        let reason = match (&current, miss) {
            (None, _) => "initial",
            (Some(_), true) => "unknown_kid",
            (Some(_), false) => "stale",
        };
        let result = self.fetch(http).await;
        super::trace::key_fetch(self.issuer.get().map_or("", |i| i), reason, result.as_ref().err());
        let outcome = match result {
            Ok(set) => {
                let snapshot = Arc::new(Snapshot { set });
                self.store(snapshot.clone());
                state.last_failure = None;
                self.next_background_ms
                    .store(now.saturating_add(self.max_age).as_millis(), Ordering::Relaxed);
                Ok(snapshot)
            }
            Err(error) => {
                state.last_failure = Some((now, error.clone()));
                current.ok_or(error)
            }
        };
        self.attempts.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    async fn fetch(&self, http: &Http) -> Result<JwkSet, ValidationError> {
        match &self.source {
            KeyOrigin::Static(set) => Ok(set.clone()),
            KeyOrigin::Uri(url) => http.jwks(url).await,
            KeyOrigin::Discovery => {
                let found = http.endpoints(self.discovery.as_deref()).await?;
                let url = found.jwks_uri.ok_or_else(|| ValidationError::ProviderError {
                    endpoint: UpstreamEndpoint::Discovery,
                    reason: "no jwks_uri".into(),
                })?;
                let result = http.jwks(&url).await;
                if result.is_err()
                    && let Some(discovery) = &self.discovery
                {
                    // The provider may have moved its keys: discover again next time.
                    discovery.forget().await;
                }
                result
            }
        }
    }

    /// Starts a background refetch when the key set is older than `max_age`
    /// (at most once per cooldown while the provider keeps failing).
    pub(super) fn refresh_if_stale(self: &Arc<Self>, http: &Http) {
        if matches!(self.source, KeyOrigin::Static(_)) {
            return;
        }
        let now_ms = http.now().as_millis();
        let next = self.next_background_ms.load(Ordering::Relaxed);
        if now_ms < next {
            return;
        }
        let retry = now_ms.saturating_add(duration_ms(self.cooldown.max(Duration::from_secs(1))));
        if self
            .next_background_ms
            .compare_exchange(next, retry, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        let http = http.clone();
        runtime.spawn(async move {
            let seen = store.attempts.load(Ordering::Acquire);
            let _ = store.refresh(&http, seen, false).await;
        });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
