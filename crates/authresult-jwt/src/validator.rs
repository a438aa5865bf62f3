//! [`TokenValidator`]: the cache, issuer routing, key sets with single-flight
//! refetching, signature and claim checks.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use authresult_core::{Clock, SystemClock, Timestamp};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::cache::TokenCache;
use super::claims::{
    ClaimSource, ClaimStore, TimeRules, Typed, ValidatedToken, Verification, classify, string,
};
use super::client::HttpLimits;
use super::config::{IssuerConfig, KeySource, OpaqueMode, uses_key_set};
use super::error::{TokenKind, TokenPart, TokenTypeReason, UpstreamEndpoint, ValidationError, sanitize};
use super::fetch::{Endpoints, Http};
use super::jose::{DEFAULT_MAX_TOKEN_LEN, JwsAlgorithm, TypHeader, UnverifiedJwt};
use super::keys::{JwkSet, Selected};
use super::network::NetworkOptions;

/// Default minimum time between two key-set fetches caused by unknown `kid`s.
pub(crate) const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// Default age after which a key set is refreshed in the background.
pub(crate) const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Default number of validated tokens kept.
pub(crate) const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Default memory budget of the token cache (approximate).
pub(crate) const DEFAULT_CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Default lifetime of a positive introspection / userinfo result.
pub(crate) const DEFAULT_OPAQUE_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default cap on a provider response body.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// Builds a [`TokenValidator`]; see [`TokenValidator::builder`].
#[derive(Debug)]
pub struct TokenValidatorBuilder {
    issuers: Vec<IssuerConfig>,
    jwks_cooldown: Duration,
    jwks_max_age: Duration,
    cache_capacity: usize,
    cache_max_bytes: usize,
    opaque_cache_ttl: Duration,
    max_token_len: usize,
    http: HttpLimits,
    network: NetworkOptions,
    clock: Arc<dyn Clock>,
}

impl TokenValidatorBuilder {
    /// Trusts one more issuer. Issuers are told apart by the token's `iss`.
    pub fn issuer(mut self, issuer: IssuerConfig) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Minimum time between two key-set fetches caused by unknown `kid`s
    /// (default 30 s). A flood of tokens with random `kid`s causes at most one
    /// fetch per cooldown.
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    /// Age after which a key set is refetched in the background, so removed
    /// keys stop being trusted (default 15 min). A failed refetch keeps the
    /// old keys.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// How many validated tokens to remember (default 10 000; 0 disables the
    /// cache).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Approximate memory budget of the token cache (default 32 MiB).
    pub fn cache_max_bytes(mut self, bytes: usize) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// How long a positive introspection or userinfo answer is reused, never
    /// beyond the token's `exp` (default 30 s).
    pub fn opaque_cache_ttl(mut self, ttl: Duration) -> Self {
        self.opaque_cache_ttl = ttl;
        self
    }

    /// Longer tokens are refused before any parsing (default 16 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Total timeout of one provider request (default 10 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// Connect timeout of provider requests (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Cap on a provider response body (default 512 KiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.http.max_body = bytes;
        self
    }

    /// Trust anchors (extra CA certificates, native roots), proxy and client
    /// certificate of provider requests (default: the web PKI roots, the
    /// proxy environment variables, no client certificate).
    pub fn network(mut self, network: NetworkOptions) -> Self {
        self.network = network;
        self
    }

    /// The clock for `exp`/`nbf`/`iat` and cache expiry (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the validator. Nothing is fetched
    /// yet; see [`TokenValidator::prefetch`].
    pub fn build(self) -> Result<TokenValidator, ValidationError> {
        if self.issuers.is_empty() {
            return Err(ValidationError::config("no issuer is configured"));
        }
        let http = Http::new(self.http, &self.network, Arc::clone(&self.clock))?;
        let mut issuers = HashMap::new();
        let mut opaque = None;
        for config in self.issuers {
            let algorithms = config.checked_algorithms()?;
            if config.opaque.is_some() {
                if opaque.is_some() {
                    return Err(ValidationError::config(
                        "only one issuer may check opaque tokens (the token would be sent to several providers)",
                    ));
                }
                opaque = Some(config.issuer.clone());
            }
            let name = config.issuer.clone();
            let issuer = Arc::new(Issuer::new(
                config,
                &algorithms,
                self.jwks_cooldown,
                self.jwks_max_age,
            ));
            if issuers.insert(name.clone(), issuer).is_some() {
                return Err(ValidationError::config(format!(
                    "issuer `{name}` is configured twice"
                )));
            }
        }
        let opaque = opaque.and_then(|name| issuers.get(&name).cloned());
        Ok(TokenValidator {
            inner: Arc::new(Shared {
                issuers,
                opaque,
                cache: TokenCache::new(self.cache_capacity, self.cache_max_bytes),
                http,
                clock: self.clock,
                max_token_len: self.max_token_len,
                opaque_ttl: self.opaque_cache_ttl,
            }),
        })
    }
}

/// Validates bearer tokens locally: signatures against each issuer's cached
/// key set, then the claims. Cheap to clone; clones share keys and cache.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<Shared>,
}

struct Shared {
    issuers: HashMap<String, Arc<Issuer>>,
    opaque: Option<Arc<Issuer>>,
    cache: TokenCache,
    http: Http,
    clock: Arc<dyn Clock>,
    max_token_len: usize,
    opaque_ttl: Duration,
}

impl fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.inner.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("TokenValidator")
            .field("issuers", &issuers)
            .field("cached_tokens", &self.inner.cache.len())
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    /// A builder with the defaults (see its methods).
    pub fn builder() -> TokenValidatorBuilder {
        TokenValidatorBuilder {
            issuers: Vec::new(),
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            opaque_cache_ttl: DEFAULT_OPAQUE_CACHE_TTL,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            http: HttpLimits {
                connect_timeout: Duration::from_secs(5),
                timeout: Duration::from_secs(10),
                max_body: DEFAULT_MAX_RESPONSE_BYTES,
            },
            network: NetworkOptions::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The key set of the trusted issuer `issuer` (spelled exactly as
    /// configured), to share with the login client of the same provider;
    /// `None` for an issuer not configured.
    pub fn key_set(&self, issuer: &str) -> Option<SharedKeySet> {
        self.inner.issuers.get(issuer).map(|found| SharedKeySet {
            issuer: Arc::clone(found),
            http: self.inner.http.clone(),
        })
    }

    /// Validates a bearer token (without the `Bearer ` prefix).
    ///
    /// A token seen before is answered from the cache, after the time rules
    /// of a fresh validation (`exp`, `nbf`, `iat`, maximum age) are checked
    /// again.
    /// Otherwise, for a JWT: size cap, syntax, issuer by `iss`, algorithm,
    /// key (one refetch for an unknown `kid`), signature, then claims. A
    /// token without `.` is opaque and goes to the one issuer configured for
    /// introspection or userinfo.
    pub async fn validate(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        let shared = &*self.inner;
        if token.len() > shared.max_token_len {
            return Err(ValidationError::TooLarge {
                max: shared.max_token_len,
            });
        }
        let now = shared.clock.now();
        if let Some(hit) = shared.cache.get(token, now) {
            return hit;
        }
        if !token.contains('.') {
            return self.validate_opaque(token, now).await;
        }
        let jwt = UnverifiedJwt::parse_limited(token, shared.max_token_len)?;
        let iss = match jwt.known().claim("iss") {
            Some(Value::String(iss)) => iss,
            None | Some(Value::Null) => return Err(ValidationError::MissingClaim { claim: "iss".into() }),
            Some(_) => return Err(ValidationError::invalid_claim("iss", "must be a string")),
        };
        let issuer = shared
            .issuers
            .get(iss.as_str())
            .ok_or_else(|| ValidationError::UntrustedIssuer {
                issuer: sanitize(iss, 128),
            })?;
        let alg = jwt.alg()?;
        if !issuer.allows(alg) {
            return Err(ValidationError::AlgorithmNotAllowed {
                alg: alg.name().to_owned(),
            });
        }
        issuer.verify_signature(&shared.http, &jwt, alg).await?;
        let validated = issuer.check_claims(jwt, now)?;
        if let Some(exp) = validated.expires_at() {
            shared.cache.insert(
                token,
                validated.clone(),
                issuer.time_rules(true),
                exp.as_millis(),
                now.as_millis(),
            );
        }
        Ok(validated)
    }

    /// The cached result for `token`, without validating it otherwise; for
    /// servers that want a synchronous fast path. `None` also when the cached
    /// token now breaks a time rule.
    pub fn validate_cached(&self, token: &str) -> Option<ValidatedToken> {
        let now = self.inner.clock.now();
        self.inner.cache.get(token, now).and_then(Result::ok)
    }

    /// Fetches the key set of every issuer that has none yet (after discovery
    /// where needed), so the first requests don't wait for it.
    pub async fn prefetch(&self) -> Result<(), ValidationError> {
        for issuer in self.inner.issuers.values() {
            let seen = issuer.keys.attempts.load(Ordering::Acquire);
            let fetched = !matches!(issuer.keys.source, KeySource::Static(_)) && issuer.uses_key_set;
            if fetched && issuer.keys.current().is_none() {
                issuer
                    .keys
                    .refresh(&self.inner.http, &issuer.endpoints, seen, false)
                    .await?;
            }
        }
        Ok(())
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.keys().map(String::as_str)
    }

    /// The number of tokens in the cache (expired ones included until dropped).
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// The approximate memory held by the token cache, in bytes.
    pub fn cache_bytes(&self) -> usize {
        self.inner.cache.bytes()
    }

    async fn validate_opaque(&self, token: &str, now: Timestamp) -> Result<ValidatedToken, ValidationError> {
        let shared = &*self.inner;
        let Some(issuer) = &shared.opaque else {
            return Err(ValidationError::malformed(TokenPart::Token, "is not a JWT"));
        };
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::malformed(
                TokenPart::Token,
                "has characters outside printable ASCII",
            ));
        }
        let (claims, verified_by) = match &issuer.config.opaque {
            Some(OpaqueMode::Introspection {
                client_id,
                client_secret,
                endpoint,
            }) => {
                let url = match endpoint {
                    Some(url) => url.clone(),
                    None => issuer
                        .endpoints(&shared.http)
                        .await?
                        .introspection
                        .ok_or_else(|| ValidationError::ProviderError {
                            endpoint: UpstreamEndpoint::Discovery,
                            reason: "no introspection_endpoint".into(),
                        })?,
                };
                let claims = shared
                    .http
                    .introspect(&url, client_id, client_secret.secret(), token)
                    .await?
                    .ok_or(ValidationError::Inactive)?;
                (claims, Verification::Introspection)
            }
            Some(OpaqueMode::Userinfo { endpoint }) => {
                let url = match endpoint {
                    Some(url) => url.clone(),
                    None => issuer.endpoints(&shared.http).await?.userinfo.ok_or_else(|| {
                        ValidationError::ProviderError {
                            endpoint: UpstreamEndpoint::Discovery,
                            reason: "no userinfo_endpoint".into(),
                        }
                    })?,
                };
                let claims = shared
                    .http
                    .userinfo(&url, token)
                    .await?
                    .ok_or(ValidationError::Inactive)?;
                (claims, Verification::Userinfo)
            }
            None => return Err(ValidationError::malformed(TokenPart::Token, "is not a JWT")),
        };
        let validated = issuer.check_opaque_claims(claims, verified_by, now)?;
        let mut expires = now.saturating_add(shared.opaque_ttl);
        if let Some(exp) = validated.expires_at() {
            expires = expires.min(exp);
        }
        shared.cache.insert(
            token,
            validated.clone(),
            issuer.time_rules(false),
            expires.as_millis(),
            now.as_millis(),
        );
        Ok(validated)
    }
}

/// One issuer's key set as a [`TokenValidator`] keeps it: fetched through
/// discovery (or the configured `jwks_uri`), one refetch at a time,
/// rate-limited for unknown `kid`s, the last good set kept when a refetch
/// fails. `authresult-oidc` verifies ID tokens with it, so one fetch of a
/// provider's keys serves both ID-token and access-token checks. Cloning
/// shares it.
#[derive(Clone)]
pub struct SharedKeySet {
    issuer: Arc<Issuer>,
    http: Http,
}

impl fmt::Debug for SharedKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeySet")
            .field("issuer", &&*self.issuer.issuer)
            .finish_non_exhaustive()
    }
}

impl SharedKeySet {
    /// The issuer exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer.issuer
    }

    /// Verifies the signature of `jwt` (an asymmetric algorithm in
    /// `allowed`) with this issuer's keys, refetching them once, within the
    /// rate limit, when the token names a key not seen yet. The refusals are
    /// those of [`JwkSet::verify`].
    pub async fn verify(
        &self,
        jwt: &UnverifiedJwt<'_>,
        allowed: &[JwsAlgorithm],
    ) -> Result<(), ValidationError> {
        let alg = jwt.alg()?;
        if alg.is_symmetric() || !allowed.contains(&alg) {
            return Err(ValidationError::AlgorithmNotAllowed {
                alg: alg.name().to_owned(),
            });
        }
        self.issuer.verify_signature(&self.http, jwt, alg).await
    }
}

/// One trusted issuer at run time.
struct Issuer {
    config: IssuerConfig,
    /// `config.issuer`, shared with every token validated for it.
    issuer: Arc<str>,
    /// Some allowed algorithm needs the published key set.
    uses_key_set: bool,
    /// Bit `i` set when `JwsAlgorithm::ALL[i]` is allowed.
    allowed: u16,
    keys: Arc<KeyStore>,
    endpoints: Arc<tokio::sync::Mutex<Option<Endpoints>>>,
}

fn alg_bit(alg: JwsAlgorithm) -> u16 {
    JwsAlgorithm::ALL
        .iter()
        .position(|a| *a == alg)
        .map_or(0, |i| 1 << i)
}

impl Issuer {
    fn new(config: IssuerConfig, algorithms: &[JwsAlgorithm], cooldown: Duration, max_age: Duration) -> Self {
        let allowed = algorithms.iter().fold(0, |bits, a| bits | alg_bit(*a));
        let keys = Arc::new(KeyStore::new(
            config.keys.clone(),
            config.issuer.clone(),
            config.allow_insecure_http,
            cooldown,
            max_age,
        ));
        Issuer {
            issuer: Arc::from(config.issuer.as_str()),
            uses_key_set: uses_key_set(algorithms),
            config,
            allowed,
            keys,
            endpoints: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    fn allows(&self, alg: JwsAlgorithm) -> bool {
        self.allowed & alg_bit(alg) != 0
    }

    /// Discovery, done once (retried after a failure).
    async fn endpoints(&self, http: &Http) -> Result<Endpoints, ValidationError> {
        let mut cached = self.endpoints.lock().await;
        if let Some(found) = &*cached {
            return Ok(found.clone());
        }
        let found = http
            .discover(&self.config.issuer, self.config.allow_insecure_http)
            .await?;
        *cached = Some(found.clone());
        Ok(found)
    }

    async fn verify_signature(
        &self,
        http: &Http,
        jwt: &UnverifiedJwt<'_>,
        alg: JwsAlgorithm,
    ) -> Result<(), ValidationError> {
        let message = jwt.signing_input();
        let sig = jwt.signature();
        if alg.is_symmetric() {
            let keys = self
                .config
                .hmac
                .as_ref()
                .ok_or_else(|| ValidationError::AlgorithmNotAllowed {
                    alg: alg.name().to_owned(),
                })?;
            return if keys.verify(alg, message, sig) {
                Ok(())
            } else {
                Err(ValidationError::InvalidSignature)
            };
        }
        let kid = jwt.key_id();
        let seen = self.keys.attempts.load(Ordering::Acquire);
        let current = self.keys.current();
        if let Some(snapshot) = &current {
            match snapshot.set.select(kid, alg) {
                Selected::Key(key) => {
                    self.keys.refresh_if_stale(http, &self.endpoints);
                    return verified(key.verify(alg, message, sig));
                }
                Selected::Err(e) => return Err(e),
                Selected::Missing => {}
            }
        }
        let snapshot = self
            .keys
            .refresh(http, &self.endpoints, seen, current.is_some())
            .await?;
        match snapshot.set.select(kid, alg) {
            Selected::Key(key) => verified(key.verify(alg, message, sig)),
            Selected::Err(e) => Err(e),
            Selected::Missing if kid.is_none() => Err(ValidationError::UnknownKey { kid: None }),
            Selected::Missing => Err(ValidationError::UnknownKey {
                kid: kid.map(|k| sanitize(k, 64)),
            }),
        }
    }

    fn time_rules(&self, max_age: bool) -> TimeRules {
        TimeRules {
            leeway: self.config.leeway,
            max_age: if max_age { self.config.max_age } else { None },
        }
    }

    /// Claims of a JWT whose signature verified.
    fn check_claims(
        &self,
        jwt: UnverifiedJwt<'_>,
        now: Timestamp,
    ) -> Result<ValidatedToken, ValidationError> {
        let typ = jwt.typ();
        let (mut known, payload) = jwt.into_parts();
        // The kind looks at claims that extraction moves out.
        let (kind, reason) = classify(
            typ,
            &known,
            &self.config.login_clients,
            self.config.accept_login_client_audience,
        );
        let typed = Typed::extract(&mut known)?;
        if typed.exp.is_none() {
            return Err(ValidationError::MissingClaim { claim: "exp".into() });
        }
        typed.times().check(now, self.time_rules(true))?;
        let accepted = match kind {
            TokenKind::Access => true,
            TokenKind::Id => self.config.accept_id_tokens,
            TokenKind::Unknown => self.config.accept_unclassified_tokens,
            _ => false,
        };
        if !accepted {
            return Err(ValidationError::WrongTokenType {
                found: kind,
                reason: reason.unwrap_or(TokenTypeReason::DeclaredType),
            });
        }
        if self.config.require_access_token_type && typ != TypHeader::AccessToken {
            return Err(ValidationError::WrongTokenType {
                found: kind,
                reason: TokenTypeReason::NotAtJwt,
            });
        }
        self.check_audience(&typed, true)?;
        let claims = ClaimStore::lazy(payload);
        self.check_common(&typed, &claims)?;
        Ok(typed.into_token(&self.issuer, kind, Verification::Signature, claims))
    }

    /// Claims of an introspection or userinfo answer.
    fn check_opaque_claims(
        &self,
        claims: Map<String, Value>,
        verified_by: Verification,
        now: Timestamp,
    ) -> Result<ValidatedToken, ValidationError> {
        let mut claims = claims;
        let typed = Typed::extract(&mut claims)?;
        if let Some(iss) = string(&claims, "iss")?
            && iss != self.config.issuer
        {
            return Err(ValidationError::UntrustedIssuer {
                issuer: sanitize(iss, 128),
            });
        }
        typed.times().check(now, self.time_rules(false))?;
        // Introspection may name the audience; userinfo never does.
        if verified_by == Verification::Introspection && !typed.audiences.is_empty() {
            self.check_audience(&typed, false)?;
        }
        if let Some(Value::String(t)) = claims.get("token_type")
            && t.eq_ignore_ascii_case("refresh_token")
        {
            return Err(ValidationError::WrongTokenType {
                found: TokenKind::Other,
                reason: TokenTypeReason::DeclaredType,
            });
        }
        let claims = ClaimStore::Parsed(claims);
        self.check_common(&typed, &claims)?;
        Ok(typed.into_token(&self.issuer, TokenKind::Access, verified_by, claims))
    }

    fn check_audience(&self, typed: &Typed, use_azp: bool) -> Result<(), ValidationError> {
        if self.config.any_audience {
            return Ok(());
        }
        let audience_ok = typed.audiences.iter().any(|a| self.config.audiences.contains(a));
        let azp_ok = use_azp
            && typed
                .azp
                .as_ref()
                .is_some_and(|azp| self.config.authorized_parties.contains(azp));
        if audience_ok || azp_ok {
            Ok(())
        } else {
            Err(ValidationError::AudienceMismatch)
        }
    }

    /// Organization and required claims.
    fn check_common(&self, typed: &Typed, claims: &ClaimStore) -> Result<(), ValidationError> {
        if let Some(org) = &self.config.organization
            && typed.org_id.as_deref() != Some(org.as_str())
        {
            return Err(ValidationError::WrongOrganization);
        }
        for claim in &self.config.required_claims {
            if claims.map().get(claim).is_none_or(Value::is_null) {
                return Err(ValidationError::MissingClaim { claim: claim.clone() });
            }
        }
        Ok(())
    }
}

fn verified(ok: bool) -> Result<(), ValidationError> {
    if ok {
        Ok(())
    } else {
        Err(ValidationError::InvalidSignature)
    }
}

/// A key set as fetched.
struct Snapshot {
    set: JwkSet,
}

/// The key set of one issuer: the current snapshot, replaced atomically, and
/// the single-flight refetch state.
struct KeyStore {
    source: KeySource,
    issuer: String,
    insecure_ok: bool,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped after every fetch attempt has stored its result.
    attempts: AtomicU64,
    state: Arc<tokio::sync::Mutex<RefreshState>>,
    cooldown: Duration,
    max_age: Duration,
    /// `base` + this many ms is the earliest next background refresh.
    base: Instant,
    next_background_ms: AtomicU64,
}

#[derive(Default)]
struct RefreshState {
    /// When an unknown `kid` last caused a fetch.
    last_miss: Option<Instant>,
    /// The last failed attempt.
    last_failure: Option<(Instant, ValidationError)>,
}

impl KeyStore {
    fn new(
        source: KeySource,
        issuer: String,
        insecure_ok: bool,
        cooldown: Duration,
        max_age: Duration,
    ) -> Self {
        let now = Instant::now();
        let current = match &source {
            KeySource::Static(set) => Some(Arc::new(Snapshot { set: set.clone() })),
            _ => None,
        };
        KeyStore {
            source,
            issuer,
            insecure_ok,
            current: RwLock::new(current),
            attempts: AtomicU64::new(0),
            state: Arc::new(tokio::sync::Mutex::new(RefreshState::default())),
            cooldown,
            max_age,
            base: now,
            next_background_ms: AtomicU64::new(duration_ms(max_age)),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
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
    async fn refresh(
        &self,
        http: &Http,
        endpoints: &tokio::sync::Mutex<Option<Endpoints>>,
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
        if matches!(self.source, KeySource::Static(_)) || self.attempts.load(Ordering::Acquire) != seen {
            return current.ok_or_else(|| unavailable(&state));
        }
        let now = Instant::now();
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
        let result = self.fetch(http, endpoints).await;
        let outcome = match result {
            Ok(set) => {
                let snapshot = Arc::new(Snapshot { set });
                self.store(snapshot.clone());
                state.last_failure = None;
                self.next_background_ms.store(
                    duration_ms(now.duration_since(self.base) + self.max_age),
                    Ordering::Relaxed,
                );
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

    async fn fetch(
        &self,
        http: &Http,
        endpoints: &tokio::sync::Mutex<Option<Endpoints>>,
    ) -> Result<JwkSet, ValidationError> {
        match &self.source {
            KeySource::Static(set) => Ok(set.clone()),
            KeySource::Uri(url) => http.jwks(url).await,
            KeySource::Discovery => {
                let mut cached = endpoints.lock().await;
                let found = match &*cached {
                    Some(found) => found.clone(),
                    None => {
                        let found = http.discover(&self.issuer, self.insecure_ok).await?;
                        *cached = Some(found.clone());
                        found
                    }
                };
                drop(cached);
                let url = found.jwks_uri.ok_or_else(|| ValidationError::ProviderError {
                    endpoint: UpstreamEndpoint::Discovery,
                    reason: "no jwks_uri".into(),
                })?;
                let result = http.jwks(&url).await;
                if result.is_err() {
                    // The provider may have moved its keys: discover again next time.
                    *endpoints.lock().await = None;
                }
                result
            }
        }
    }

    /// Starts a background refetch when the key set is older than `max_age`
    /// (at most once per cooldown while the provider keeps failing).
    fn refresh_if_stale(
        self: &Arc<Self>,
        http: &Http,
        endpoints: &Arc<tokio::sync::Mutex<Option<Endpoints>>>,
    ) {
        if matches!(self.source, KeySource::Static(_)) {
            return;
        }
        let now_ms = duration_ms(self.base.elapsed());
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
        let endpoints = endpoints.clone();
        runtime.spawn(async move {
            let seen = store.attempts.load(Ordering::Acquire);
            let _ = store.refresh(&http, &endpoints, seen, false).await;
        });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
