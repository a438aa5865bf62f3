//! Building an [`AuthManager`]: its settings, its stores and providers.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use super::{AuthManager, DEFAULT_LEASE_TTL, DEFAULT_MARGIN, DEFAULT_PENDING_TTL, Inner, Slot};
use crate::dpop::ProofSigner;
use crate::events::EventHub;
use crate::gate::GateListener;
use crate::provider::AuthProvider;
use crate::session::{ProviderId, TenantId, UserId};
use crate::sleep::{Sleeper, ThreadSleeper};
use crate::store::Stores;
use crate::time::{Clock, SystemClock, Timestamp};

/// Builds an [`AuthManager`].
pub struct AuthManagerBuilder {
    tenant: TenantId,
    user: UserId,
    stores: Stores,
    providers: Vec<(ProviderId, Arc<dyn AuthProvider>)>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    margin: Duration,
    lease_ttl: Duration,
    pending_ttl: Duration,
    proof_signer: Option<Arc<dyn ProofSigner>>,
}

impl fmt::Debug for AuthManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthManagerBuilder")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

static NEXT_HOLDER: AtomicU64 = AtomicU64::new(0);

impl AuthManagerBuilder {
    /// Registers `provider` under `name` (e.g. `keycloak`, `default`).
    pub fn provider(mut self, name: impl Into<ProviderId>, provider: Arc<dyn AuthProvider>) -> Self {
        self.providers.push((name.into(), provider));
        self
    }

    /// The device user whose sessions the manager serves (default: the
    /// single unnamed user, [`UserId::default`]). See [`AuthManager::for_user`].
    pub fn user(mut self, user: impl Into<UserId>) -> Self {
        self.user = user.into();
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How the manager waits for another process's refresh (default: a helper thread).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// A token is refreshed when it expires within `margin` (default 30 s).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// How long a refresh lease lasts if its holder dies (default 150 s,
    /// see [`DEFAULT_LEASE_TTL`]); the holder renews it every third of this
    /// while it refreshes.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How long an interactive login may take (default 10 min).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// Signs the DPoP proofs of resource requests
    /// ([`AuthManager::resource_headers`]) with a session's key:
    /// `authresult-jwt`'s `DpopSigner` (the core has no crypto). Without
    /// one, a bound session's headers are refused with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig), never sent as bearer.
    pub fn proof_signer(mut self, signer: Arc<dyn ProofSigner>) -> Self {
        self.proof_signer = Some(signer);
        self
    }

    /// The manager.
    pub fn build(self) -> AuthManager {
        let pid = std::process::id();
        let n = NEXT_HOLDER.fetch_add(1, Ordering::Relaxed);
        let holder = format!("{pid}-{n}-{}", Timestamp::now().as_millis());
        let slots = self
            .providers
            .into_iter()
            .map(|(name, provider)| {
                (
                    name,
                    Slot {
                        origin: provider.origin(),
                        provider,
                        cached: RwLock::new(None),
                        refresh: futures::lock::Mutex::new(()),
                        logins: AtomicU64::new(0),
                        unsaved: Mutex::new(None),
                        revocations_pending: AtomicBool::new(true),
                    },
                )
            })
            .collect();
        let gate = self.stores.sessions.access_gate(&self.tenant, &self.user);
        let inner = Arc::new(Inner {
            tenant: self.tenant,
            user: self.user,
            stores: self.stores,
            slots,
            clock: self.clock,
            sleeper: self.sleeper,
            margin: self.margin,
            lease_ttl: self.lease_ttl,
            lease_poll: Duration::from_millis(50),
            pending_ttl: self.pending_ttl,
            holder,
            events: EventHub::default(),
            revoking: futures::lock::Mutex::new(()),
            revocation_seq: AtomicU64::new(0),
            gate,
            proof_signer: self.proof_signer,
        });
        if let Some(gate) = &inner.gate {
            let listener: Weak<dyn GateListener> =
                Arc::downgrade(&(Arc::clone(&inner) as Arc<dyn GateListener>));
            gate.listen(listener);
        }
        AuthManager { inner }
    }
}

impl AuthManager {
    /// Starts building a manager for `tenant` over `stores`: one backend
    /// implementing every store port (`Arc::new(SqliteStore::open(..)?)`),
    /// or a [`Stores`] bundle with a port replaced.
    pub fn builder(tenant: impl Into<TenantId>, stores: impl Into<Stores>) -> AuthManagerBuilder {
        AuthManagerBuilder {
            tenant: tenant.into(),
            user: UserId::default(),
            stores: stores.into(),
            providers: Vec::new(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(ThreadSleeper),
            margin: DEFAULT_MARGIN,
            lease_ttl: DEFAULT_LEASE_TTL,
            pending_ttl: DEFAULT_PENDING_TTL,
            proof_signer: None,
        }
    }

    /// A manager for `user` of this device: same tenant, store, providers
    /// and settings; its own sessions (keyed by tenant, user and provider),
    /// session cache and event stream. Several users of a shared device
    /// each get one; their sessions never mix.
    pub fn for_user(&self, user: impl Into<UserId>) -> AuthManager {
        let inner = &self.inner;
        AuthManagerBuilder {
            tenant: inner.tenant.clone(),
            user: user.into(),
            stores: inner.stores.clone(),
            providers: inner
                .slots
                .iter()
                .map(|(name, slot)| (name.clone(), Arc::clone(&slot.provider)))
                .collect(),
            clock: Arc::clone(&inner.clock),
            sleeper: Arc::clone(&inner.sleeper),
            margin: inner.margin,
            lease_ttl: inner.lease_ttl,
            pending_ttl: inner.pending_ttl,
            proof_signer: inner.proof_signer.clone(),
        }
        .build()
    }
}
