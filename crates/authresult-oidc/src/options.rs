//! Tunables of a provider: timeouts, limits, ID token checks, network
//! (trust anchors, proxy, client certificate), client authentication, clock
//! and sleeper.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ClientSecret, Clock, Sleeper, SystemClock};
use futures::FutureExt as _;
use futures::future::BoxFuture;

use authresult_jwt::{JwsAlgorithm, NetworkOptions, SigningKey};

use crate::dpop::DpopNonces;

/// Default response-size cap: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Default clock leeway for `exp`/`iat`: 60 s.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(60);
/// Default oldest accepted ID token: issued at most 5 min (plus the leeway) ago.
pub const DEFAULT_MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(300);
/// Device-flow poll interval when the provider names none (RFC 8628 §3.2).
pub const DEFAULT_DEVICE_INTERVAL: Duration = Duration::from_secs(5);

/// Waits with `tokio::time::sleep`: the default [`Sleeper`] of the device flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }
}

/// Options of an [`OidcProvider`](crate::OidcProvider) or
/// [`SyncServerProvider`](crate::SyncServerProvider). Start from
/// [`OidcOptions::default`] and change fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct OidcOptions {
    /// Timeout for establishing a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Timeout for a whole request, body included (default 30 s).
    pub request_timeout: Duration,
    /// Largest response body accepted (default 1 MiB).
    pub max_response_bytes: usize,
    /// Leeway for the ID token's `exp`, `iat` and `auth_time` (default 60 s).
    pub clock_leeway: Duration,
    /// How old (by `iat`, beyond `clock_leeway`) an ID token from the token
    /// endpoint may be, at login and on refresh alike: the provider issues it
    /// with the answer, so an old one is a replay (default 5 min). A refresh
    /// answer repeating the stored ID token unchanged is not a new token and
    /// is kept as it is.
    pub max_id_token_age: Duration,
    /// OpenID Connect `max_age`: when set, logins send it (authorization and
    /// device requests), and the ID token must carry an `auth_time` no older
    /// than this (plus `clock_leeway`). Refreshes keep the original
    /// `auth_time`. Default none.
    pub max_auth_age: Option<Duration>,
    /// Accepted ID token algorithms (default RS256, PS256, ES256, EdDSA);
    /// HMAC entries are ignored: an ID token signed with a shared secret is
    /// always rejected.
    pub allowed_algorithms: Vec<JwsAlgorithm>,
    /// The key set of a [`TokenValidator`](authresult_jwt::TokenValidator)
    /// for this provider's issuer ([`TokenValidator::key_set`](authresult_jwt::TokenValidator::key_set)):
    /// ID tokens are then verified with that cache, so one fetch of the
    /// provider's keys serves both ID-token and access-token checks. Default
    /// none: the provider makes its own key set of the same kind
    /// (`authresult-jwt`'s cache: single-flight, rate-limited refetch on an
    /// unknown `kid`, the last good set kept) from the discovered `jwks_uri`.
    pub shared_key_set: Option<authresult_jwt::SharedKeySet>,
    /// Audiences besides the client id an ID token may name (default none:
    /// any extra audience is rejected).
    pub trusted_audiences: Vec<String>,
    /// How long discovery is cached (default 1 h, as the validator's: both go
    /// through `authresult-http`'s one discovery cache, timed by `clock`). The
    /// key set follows the key-set cache's own rules (see `shared_key_set`).
    pub discovery_ttl: Duration,
    /// Credentials for token introspection (`introspect`) when they differ from
    /// the client's own, e.g. a resource server's.
    pub introspection_client: Option<(String, ClientSecret)>,
    /// Trust anchors (extra CA certificates such as an organisation's own
    /// CA, the platform's native roots), the proxy, and a client
    /// certificate for mutual TLS, for every request of this provider
    /// (default: the bundled web PKI roots, the proxy environment
    /// variables, no client certificate). See `authresult_jwt::NetworkOptions`.
    pub network: NetworkOptions,
    /// Authenticate the client with `private_key_jwt` (RFC 7523): every
    /// request to the token, device authorization, revocation and
    /// introspection endpoints carries a fresh assertion signed with this
    /// key (`aud` = the issuer, a random `jti`, valid one minute). Needs no
    /// `client_secret`. Register [`SigningKey::public_jwk`] with the
    /// provider. Default none.
    pub client_assertion_key: Option<Arc<SigningKey>>,
    /// Allow plain `http` to hosts other than loopback (default false).
    pub allow_insecure_http: bool,
    /// Fetch userinfo after a login and merge it into the profile (its `sub`
    /// must equal the ID token's). Default false.
    pub fetch_userinfo: bool,
    /// Overrides the device-flow poll interval the provider asks for. For
    /// tests against a local provider only; `slow_down` still adds 5 s.
    pub device_interval_override: Option<Duration>,
    /// The clock for device-code expiry and ID token times (default: system).
    pub clock: Arc<dyn Clock>,
    /// How the device flow waits between polls (default: [`TokioSleeper`]).
    pub sleeper: Arc<dyn Sleeper>,
    /// The algorithm of the sessions' DPoP keys when the provider's `dpop`
    /// is on (RFC 9449): `ES256` (default) or `EdDSA`.
    pub dpop_algorithm: JwsAlgorithm,
    /// Where the servers' DPoP nonces are kept: the app's store
    /// ([`DpopNonces::new`]`(tenant, stores.nonces)`), so every process of
    /// the app shares them. Default `None`: each provider keeps its own in
    /// memory.
    pub dpop_nonces: Option<DpopNonces>,
}

impl Default for OidcOptions {
    fn default() -> Self {
        OidcOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            clock_leeway: DEFAULT_CLOCK_LEEWAY,
            max_id_token_age: DEFAULT_MAX_ID_TOKEN_AGE,
            max_auth_age: None,
            allowed_algorithms: JwsAlgorithm::DEFAULT.to_vec(),
            shared_key_set: None,
            trusted_audiences: Vec::new(),
            discovery_ttl: authresult_http::DEFAULT_DISCOVERY_TTL,
            introspection_client: None,
            network: NetworkOptions::default(),
            client_assertion_key: None,
            allow_insecure_http: false,
            fetch_userinfo: false,
            device_interval_override: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            dpop_algorithm: JwsAlgorithm::Es256,
            dpop_nonces: None,
        }
    }
}

impl fmt::Debug for OidcOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("clock_leeway", &self.clock_leeway)
            .field("max_id_token_age", &self.max_id_token_age)
            .field("max_auth_age", &self.max_auth_age)
            .field("allowed_algorithms", &self.allowed_algorithms)
            .field("shared_key_set", &self.shared_key_set)
            .field("trusted_audiences", &self.trusted_audiences)
            .field("discovery_ttl", &self.discovery_ttl)
            .field(
                "introspection_client",
                &self.introspection_client.as_ref().map(|(id, _)| id),
            )
            .field("network", &self.network)
            .field("client_assertion_key", &self.client_assertion_key)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("fetch_userinfo", &self.fetch_userinfo)
            .field("device_interval_override", &self.device_interval_override)
            .field("clock", &self.clock)
            .field("sleeper", &self.sleeper)
            .field("dpop_algorithm", &self.dpop_algorithm)
            .field("dpop_nonces", &self.dpop_nonces)
            .finish()
    }
}
