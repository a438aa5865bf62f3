//! [`TokenValidator`]: the cache, issuer routing, key sets with single-flight
//! refetching, signature and claim checks.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use authresult_core::{Clock, SystemClock, Timestamp};
use serde_json::Value;

use super::cache::TokenCache;
use super::claim_source::ClaimSource;
use super::claims::{ValidatedToken, Verification};
use authresult_http::{DEFAULT_DISCOVERY_TTL, HttpLimits, NetworkOptions};

use super::config::{IssuerConfig, KeyOrigin, OpaqueMode};
use super::dpop::{DpopConfig, DpopRequest};
use super::error::{TokenPart, UpstreamEndpoint, ValidationError, sanitize};
use super::fetch::Http;
use super::jose::{DEFAULT_MAX_TOKEN_LEN, JwsAlgorithm, UnverifiedJwt};
use super::revocation::RevocationList;

mod issuer;
mod key_store;
mod trace;

use issuer::{Issuer, IssuerTiming};

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
    discovery_ttl: Duration,
    cache_capacity: usize,
    cache_max_bytes: usize,
    opaque_cache_ttl: Duration,
    max_token_len: usize,
    http: HttpLimits,
    network: NetworkOptions,
    clock: Arc<dyn Clock>,
    dpop: DpopConfig,
    revocations: Option<RevocationList>,
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

    /// How long an issuer's discovery document is used before it is read
    /// again (default one hour, as the login client's; by the validator's
    /// clock). A read that fails transiently keeps the older document.
    pub fn discovery_ttl(mut self, ttl: Duration) -> Self {
        self.discovery_ttl = ttl;
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

    /// How DPoP proofs (RFC 9449) are checked by
    /// [`TokenValidator::validate_dpop`] (default [`DpopConfig::new`]: a
    /// replay cache in this process, no server nonces).
    pub fn dpop(mut self, dpop: DpopConfig) -> Self {
        self.dpop = dpop;
        self
    }

    /// Refuses the tokens of sessions and users the providers logged out
    /// ([`ValidationError::LoggedOut`]), on every validation, the cached
    /// ones included (default: none).
    pub fn revocations(mut self, list: RevocationList) -> Self {
        self.revocations = Some(list);
        self
    }

    /// Checks the configuration and builds the validator. Nothing is fetched
    /// yet; see [`TokenValidator::prefetch`].
    pub fn build(self) -> Result<TokenValidator, ValidationError> {
        if self.issuers.is_empty() {
            return Err(ValidationError::config("no issuer is configured"));
        }
        self.dpop.check_setup()?;
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
            let names: Vec<String> = std::iter::once(&config.issuer)
                .chain(&config.aliases)
                .cloned()
                .collect();
            let timing = IssuerTiming {
                jwks_cooldown: self.jwks_cooldown,
                jwks_max_age: self.jwks_max_age,
                discovery_ttl: self.discovery_ttl,
            };
            let issuer = Arc::new(Issuer::new(config, &algorithms, &http, timing));
            // Each spelling of the issuer routes to the same checks.
            for name in names {
                if issuers.insert(name.clone(), Arc::clone(&issuer)).is_some() {
                    return Err(ValidationError::config(format!(
                        "issuer `{name}` is configured twice"
                    )));
                }
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
                dpop: self.dpop,
                revocations: self.revocations,
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
    dpop: DpopConfig,
    revocations: Option<RevocationList>,
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
    // Only the layer (feature `tower`) asks.
    #[cfg(feature = "tower")]
    /// The same issuers, keys and cache (a clone of the same validator).
    pub(crate) fn same_as(&self, other: &TokenValidator) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A builder with the defaults (see its methods).
    pub fn builder() -> TokenValidatorBuilder {
        TokenValidatorBuilder {
            issuers: Vec::new(),
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            discovery_ttl: DEFAULT_DISCOVERY_TTL,
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
            dpop: DpopConfig::new(),
            revocations: None,
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
    /// A token bound to a DPoP key (`cnf.jkt`) is refused
    /// ([`ValidationError::DpopBoundToken`]): it is accepted only with a
    /// proof, by [`validate_dpop`](Self::validate_dpop).
    ///
    /// A token seen before is answered from the cache, after the time rules
    /// of a fresh validation (`exp`, `nbf`, `iat`, maximum age) are checked
    /// again.
    /// Otherwise, for a JWT: size cap, syntax, issuer by `iss`, algorithm,
    /// key (one refetch for an unknown `kid`), signature, then claims. A
    /// token without `.` is opaque and goes to the one issuer configured for
    /// introspection or userinfo.
    pub async fn validate(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        let validated = self.validate_token(token).await?;
        if validated.dpop_thumbprint().is_some() {
            return Err(ValidationError::DpopBoundToken);
        }
        Ok(validated)
    }

    /// Validates a token sent with a DPoP proof (RFC 9449: `Authorization:
    /// DPoP <token>` and a `DPoP` header): the token as
    /// [`validate`](Self::validate) does (answered from the cache when seen
    /// before), then the proof, on every request (see [`DpopConfig`]). A
    /// bound token (`cnf.jkt`) needs a proof by its key; an unbound one is
    /// accepted with a valid proof unless
    /// [`DpopConfig::accept_unbound_tokens`] says no.
    ///
    /// Refusals of the proof are [`ValidationError::InvalidDpopProof`] (with
    /// its [`DpopProofReason`](crate::DpopProofReason)) or
    /// [`ValidationError::UseDpopNonce`]; a replay cache that cannot answer
    /// is [`ValidationError::Unavailable`] (transient).
    pub async fn validate_dpop(
        &self,
        token: &str,
        request: &DpopRequest<'_>,
    ) -> Result<ValidatedToken, ValidationError> {
        let validated = self.validate_token(token).await?;
        let now = self.inner.clock.now();
        let checked = self.inner.dpop.check(&validated, token, request, now).await;
        if let Err(e) = &checked {
            trace::refused(&self.inner, token, e);
        }
        checked?;
        Ok(validated)
    }

    /// The DPoP settings (for a challenge's `algs`, the current nonce).
    pub fn dpop_config(&self) -> &DpopConfig {
        &self.inner.dpop
    }

    /// The token's own validation (cached), whatever its binding.
    async fn validate_token(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        let result = self.validate_token_untraced(token).await;
        match &result {
            Ok(validated) => trace::accepted(validated.issuer()),
            Err(e) => trace::refused(&self.inner, token, e),
        }
        result
    }

    async fn validate_token_untraced(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        let shared = &*self.inner;
        if token.len() > shared.max_token_len {
            return Err(ValidationError::TooLarge {
                max: shared.max_token_len,
            });
        }
        let now = shared.clock.now();
        if let Some(hit) = shared
            .cache
            .get(token.as_bytes(), now, shared.revocations.as_ref())
        {
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
        let checked_at = shared.check_logout(&validated, now)?;
        if let Some(exp) = validated.expires_at() {
            shared.cache.insert(
                token,
                validated.clone(),
                issuer.time_rules(true),
                (exp.as_millis(), now.as_millis()),
                checked_at,
            );
        }
        Ok(validated)
    }

    /// The cached result for `token`, without validating it otherwise; for
    /// servers that want a synchronous fast path. `None` also when the cached
    /// token now breaks a time rule, and for a DPoP-bound token (it needs a
    /// proof: [`validate_dpop`](Self::validate_dpop)).
    pub fn validate_cached(&self, token: &str) -> Option<ValidatedToken> {
        self.cached_bytes(token.as_bytes())
    }

    /// [`validate_cached`](Self::validate_cached) for a token's raw bytes,
    /// not checked as text: the cache holds b64token text only, so a hit
    /// is such text.
    pub(crate) fn cached_bytes(&self, token: &[u8]) -> Option<ValidatedToken> {
        let now = self.inner.clock.now();
        self.inner
            .cache
            .get(token, now, self.inner.revocations.as_ref())
            .and_then(Result::ok)
            .filter(|t| t.dpop_thumbprint().is_none())
    }

    /// Fetches the key set of every issuer that has none yet (after discovery
    /// where needed), so the first requests don't wait for it.
    pub async fn prefetch(&self) -> Result<(), ValidationError> {
        for issuer in self.inner.issuers.values() {
            let seen = issuer.keys.attempts.load(Ordering::Acquire);
            let fetched = !matches!(issuer.keys.source, KeyOrigin::Static(_)) && issuer.uses_key_set;
            if fetched && issuer.keys.current().is_none() {
                issuer.keys.refresh(&self.inner.http, seen, false).await?;
            }
        }
        Ok(())
    }

    /// The configured issuers (each once, under its own name, not its
    /// other spellings).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner
            .issuers
            .iter()
            .filter(|(name, issuer)| name.as_str() == &*issuer.issuer)
            .map(|(name, _)| name.as_str())
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
        let checked_at = shared.check_logout(&validated, now)?;
        let mut expires = now.saturating_add(shared.opaque_ttl);
        if let Some(exp) = validated.expires_at() {
            expires = expires.min(exp);
        }
        shared.cache.insert(
            token,
            validated.clone(),
            issuer.time_rules(false),
            (expires.as_millis(), now.as_millis()),
            checked_at,
        );
        Ok(validated)
    }
}

impl Shared {
    /// Refuses a logged-out token; else the revocation list's generation it
    /// was checked at (read before the check, so a logout arriving during it
    /// makes the cached entry be checked again).
    fn check_logout(&self, token: &ValidatedToken, now: Timestamp) -> Result<u64, ValidationError> {
        let Some(list) = &self.revocations else {
            return Ok(0);
        };
        let generation = list.index().generation();
        list.index().check(token, now)?;
        Ok(generation)
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
    /// those of [`JwkSet::verify`](crate::JwkSet::verify).
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

    /// [`verify`](Self::verify) with the algorithms the issuer is configured
    /// for, the symmetric ones left out (a token the provider signs for
    /// every client, such as a logout token).
    pub(crate) async fn verify_as_issuer(&self, jwt: &UnverifiedJwt<'_>) -> Result<(), ValidationError> {
        let alg = jwt.alg()?;
        if alg.is_symmetric() || !self.issuer.allows(alg) {
            return Err(ValidationError::AlgorithmNotAllowed {
                alg: alg.name().to_owned(),
            });
        }
        self.issuer.verify_signature(&self.http, jwt, alg).await
    }
}
