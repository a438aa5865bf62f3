//! Tunables of a provider: timeouts, limits, ID token checks, clock and sleeper.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ClientSecret, Clock, Sleeper, SystemClock};
use futures::FutureExt as _;
use futures::future::BoxFuture;

/// Default response-size cap: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Default clock leeway for `exp`/`iat`: 60 s.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(60);
/// Device-flow poll interval when the provider names none (RFC 8628 §3.2).
pub const DEFAULT_DEVICE_INTERVAL: Duration = Duration::from_secs(5);

/// An ID token signature algorithm this crate can accept. HMAC and `none`
/// are deliberately absent: an ID token signed with a shared secret or not at
/// all is always rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// EdDSA (Ed25519).
    EdDsa,
}

impl SigningAlgorithm {
    pub(crate) fn to_core(self) -> openidconnect::core::CoreJwsSigningAlgorithm {
        use openidconnect::core::CoreJwsSigningAlgorithm as A;
        match self {
            SigningAlgorithm::Rs256 => A::RsaSsaPkcs1V15Sha256,
            SigningAlgorithm::Rs384 => A::RsaSsaPkcs1V15Sha384,
            SigningAlgorithm::Rs512 => A::RsaSsaPkcs1V15Sha512,
            SigningAlgorithm::Ps256 => A::RsaSsaPssSha256,
            SigningAlgorithm::Ps384 => A::RsaSsaPssSha384,
            SigningAlgorithm::Ps512 => A::RsaSsaPssSha512,
            SigningAlgorithm::Es256 => A::EcdsaP256Sha256,
            SigningAlgorithm::Es384 => A::EcdsaP384Sha384,
            SigningAlgorithm::EdDsa => A::EdDsa,
        }
    }
}

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
    /// Leeway for the ID token's `exp` and `iat` (default 60 s).
    pub clock_leeway: Duration,
    /// Accepted ID token algorithms (default RS256, PS256, ES256, EdDSA).
    pub allowed_algorithms: Vec<SigningAlgorithm>,
    /// Audiences besides the client id an ID token may name (default none:
    /// any extra audience is rejected).
    pub trusted_audiences: Vec<String>,
    /// How long discovery and the key set are cached (default 1 h; the key
    /// set is also refetched once when a token names an unknown key).
    pub discovery_ttl: Duration,
    /// Credentials for token introspection (`validate`) when they differ from
    /// the client's own, e.g. a resource server's.
    pub introspection_client: Option<(String, ClientSecret)>,
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
}

impl Default for OidcOptions {
    fn default() -> Self {
        OidcOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            clock_leeway: DEFAULT_CLOCK_LEEWAY,
            allowed_algorithms: vec![
                SigningAlgorithm::Rs256,
                SigningAlgorithm::Ps256,
                SigningAlgorithm::Es256,
                SigningAlgorithm::EdDsa,
            ],
            trusted_audiences: Vec::new(),
            discovery_ttl: Duration::from_secs(3600),
            introspection_client: None,
            allow_insecure_http: false,
            fetch_userinfo: false,
            device_interval_override: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
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
            .field("allowed_algorithms", &self.allowed_algorithms)
            .field("trusted_audiences", &self.trusted_audiences)
            .field("discovery_ttl", &self.discovery_ttl)
            .field(
                "introspection_client",
                &self.introspection_client.as_ref().map(|(id, _)| id),
            )
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("fetch_userinfo", &self.fetch_userinfo)
            .field("device_interval_override", &self.device_interval_override)
            .field("clock", &self.clock)
            .field("sleeper", &self.sleeper)
            .finish()
    }
}
