//! [`IssuerConfig`]: what a validator trusts about one issuer.

use std::fmt;
use std::time::Duration;

use authresult_core::{ClientSecret, Organization, ProviderConfig};
use url::Url;

use super::error::ValidationError;
use super::jose::JwsAlgorithm;
use super::keys::{HmacKeys, JwkSet};

/// The clock leeway when none is configured.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The maximum token age (`iat` to now) when none is configured: one day.
pub(crate) const DEFAULT_MAX_TOKEN_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeyOrigin {
    /// `jwks_uri` from `{issuer}/.well-known/openid-configuration`.
    Discovery,
    /// A configured `jwks_uri`.
    Uri(Url),
    /// A fixed key set; never fetched.
    Static(JwkSet),
}

/// How opaque (non-JWT) tokens of the issuer are checked.
#[derive(Debug, Clone)]
pub(crate) enum OpaqueMode {
    /// RFC 7662 introspection with `client_secret_basic`.
    Introspection {
        client_id: String,
        client_secret: ClientSecret,
        endpoint: Option<Url>,
    },
    /// A userinfo call with the token, as DataCollect's server does.
    Userinfo { endpoint: Option<Url> },
}

/// What a [`TokenValidator`](crate::TokenValidator) trusts about one issuer:
/// its audiences, algorithms, clock leeway, required claims and where its
/// keys come from.
///
/// `iss` must equal [`IssuerConfig::new`]'s argument exactly (no trailing
/// slash is added or removed).
///
/// ```
/// use std::time::Duration;
/// use authresult_jwt::{JwsAlgorithm, IssuerConfig};
///
/// let issuer = IssuerConfig::new("https://id.example.org/realms/field")
///     .audience("urn:datacollect:sync")
///     .algorithms([JwsAlgorithm::Rs256, JwsAlgorithm::Es256])
///     .leeway(Duration::from_secs(30))
///     .require_claim("sub");
/// # let _ = issuer;
/// ```
#[derive(Clone)]
pub struct IssuerConfig {
    pub(crate) issuer: String,
    /// Other spellings of the issuer its tokens may carry (a root issuer
    /// with its `/`), from the provider profile.
    pub(crate) aliases: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) any_audience: bool,
    pub(crate) authorized_parties: Vec<String>,
    pub(crate) algorithms: Option<Vec<JwsAlgorithm>>,
    pub(crate) leeway: Duration,
    pub(crate) max_age: Option<Duration>,
    pub(crate) required_claims: Vec<String>,
    pub(crate) organization: Option<Organization>,
    pub(crate) hmac: Option<HmacKeys>,
    pub(crate) keys: KeyOrigin,
    pub(crate) opaque: Option<OpaqueMode>,
    pub(crate) accept_id_tokens: bool,
    pub(crate) accept_unclassified_tokens: bool,
    pub(crate) login_clients: Vec<String>,
    pub(crate) accept_login_client_audience: bool,
    pub(crate) require_access_token_type: bool,
    pub(crate) allow_insecure_http: bool,
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("issuer", &self.issuer)
            .field("aliases", &self.aliases)
            .field("audiences", &self.audiences)
            .field("any_audience", &self.any_audience)
            .field("authorized_parties", &self.authorized_parties)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("max_age", &self.max_age)
            .field("required_claims", &self.required_claims)
            .field("organization", &self.organization)
            .field("shared_secret", &self.hmac.as_ref().map(|_| "[redacted]"))
            .field("keys", &self.keys)
            .field("opaque", &self.opaque)
            .field("accept_id_tokens", &self.accept_id_tokens)
            .field("accept_unclassified_tokens", &self.accept_unclassified_tokens)
            .field("login_clients", &self.login_clients)
            .field("accept_login_client_audience", &self.accept_login_client_audience)
            .field("require_access_token_type", &self.require_access_token_type)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl IssuerConfig {
    /// An issuer whose keys are found through discovery; add at least one
    /// [`audience`](Self::audience) (or opt out with
    /// [`any_audience`](Self::any_audience)).
    pub fn new(issuer: impl Into<String>) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            aliases: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            authorized_parties: Vec::new(),
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            max_age: Some(DEFAULT_MAX_TOKEN_AGE),
            required_claims: Vec::new(),
            organization: None,
            hmac: None,
            keys: KeyOrigin::Discovery,
            opaque: None,
            accept_id_tokens: false,
            accept_unclassified_tokens: false,
            login_clients: Vec::new(),
            accept_login_client_audience: false,
            require_access_token_type: false,
            allow_insecure_http: false,
        }
    }

    /// An issuer configured from DataCollect's `{type, fields}` provider
    /// config, following its [`ProviderProfile`](authresult_core::ProviderProfile)
    /// (the login client's rules too):
    ///
    /// * The issuer as the type's tokens spell it: Auth0's with its trailing
    ///   `/`, a Keycloak realm's without; a root issuer of another type is
    ///   accepted with or without the `/` that URL parsing adds.
    /// * The accepted audience is Auth0's `audience` when set, else the
    ///   `client_id`, and the RFC 8707 `resource` field when set; for
    ///   Keycloak a token whose `azp` is the `client_id` is also accepted, as
    ///   Keycloak access tokens often name another audience.
    /// * The `client_id` is the [login client](Self::login_client): a token
    ///   whose only audience is the `client_id` is that client's ID token,
    ///   not a bearer token, and is refused (unless
    ///   [`accept_login_client_audience`](Self::accept_login_client_audience)),
    ///   as are ID tokens and tokens nothing marks as access tokens.
    /// * Auth0's `organization` (see [`organization`](Self::organization)):
    ///   `org_...` must be the `org_id`, a name the `org_name` (any case).
    /// * A plain-`http` loopback issuer may have plain-`http` loopback
    ///   endpoints only; a plain-`http` issuer on another host (which only
    ///   the app's own setting lets a config name) may have plain-`http`
    ///   endpoints anywhere.
    ///
    /// Fails for the sync server's own login type (`default`), which issues no
    /// tokens to validate.
    pub fn from_provider_config(config: &ProviderConfig) -> Result<Self, ValidationError> {
        let profile = config.profile();
        let (Some(client), Some(issuer)) = (config.oidc_client(), profile.issuer()) else {
            return Err(ValidationError::config(
                "this provider type issues no tokens that can be validated locally",
            ));
        };
        let mut this = IssuerConfig::new(issuer);
        this.aliases = profile
            .issuer_spellings()
            .filter(|s| *s != issuer)
            .map(str::to_owned)
            .collect();
        this.audiences = profile.audiences().to_vec();
        this.authorized_parties = profile.authorized_parties().to_vec();
        this.organization = profile.organization().cloned();
        this = this.login_client(client.client_id.clone());
        this.allow_insecure_http =
            client.issuer.scheme() == "http" && !authresult_core::is_loopback(&client.issuer);
        Ok(this)
    }

    /// Accepts tokens whose `aud` (a string or an array) contains `audience`.
    /// May be called several times; one match is enough. An Auth0 access token
    /// for an API also names the userinfo endpoint and is accepted.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens with any (or no) `aud`. Only for issuers that mint
    /// tokens for this server alone.
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Also accepts tokens whose `azp` is `client_id` when no audience
    /// matches (Keycloak access tokens often carry `aud: "account"`).
    pub fn authorized_party(mut self, client_id: impl Into<String>) -> Self {
        self.authorized_parties.push(client_id.into());
        self
    }

    /// The signature algorithms to accept (default [`JwsAlgorithm::DEFAULT`];
    /// `none` can never be accepted). HMAC algorithms also need
    /// [`shared_secret`](Self::shared_secret).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = JwsAlgorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Allowed clock difference for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Tokens with an `iat` older than this are refused (default one day);
    /// `None` accepts any age.
    pub fn max_token_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Tokens without this claim (absent or `null`) are refused. `exp` is
    /// always required of JWTs.
    pub fn require_claim(mut self, claim: impl Into<String>) -> Self {
        self.required_claims.push(claim.into());
        self
    }

    /// Tokens must belong to `organization` (Auth0 Organizations), by
    /// Auth0's rule ([`Organization::from_config`]): an `org_...` value is
    /// compared exactly with the `org_id` claim, a name case-insensitively
    /// with the `org_name` claim.
    pub fn organization(mut self, organization: impl AsRef<str>) -> Self {
        self.organization = Some(Organization::from_config(organization.as_ref()));
        self
    }

    /// A shared secret for HMAC-signed tokens. Adds `HS256` to the default
    /// algorithms; list `HS384`/`HS512` in [`algorithms`](Self::algorithms)
    /// to use them. The secret must be at least as long as the hash output.
    pub fn shared_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.hmac = Some(HmacKeys::new(secret.as_ref()));
        self
    }

    /// Fetches keys from this `jwks_uri` instead of discovering it.
    pub fn jwks_uri(mut self, uri: Url) -> Self {
        self.keys = KeyOrigin::Uri(uri);
        self
    }

    /// Uses this fixed key set; nothing is fetched.
    pub fn jwks(mut self, keys: JwkSet) -> Self {
        self.keys = KeyOrigin::Static(keys);
        self
    }

    /// Checks opaque (non-JWT) tokens by RFC 7662 introspection, with
    /// `client_secret_basic` as `client_id`. The endpoint comes from discovery
    /// unless [`introspection_endpoint`](Self::introspection_endpoint) is set.
    /// Only one issuer of a validator may check opaque tokens.
    pub fn introspection(mut self, client_id: impl Into<String>, client_secret: ClientSecret) -> Self {
        self.opaque = Some(OpaqueMode::Introspection {
            client_id: client_id.into(),
            client_secret,
            endpoint: None,
        });
        self
    }

    /// Sets the introspection endpoint (after [`introspection`](Self::introspection)).
    pub fn introspection_endpoint(mut self, url: Url) -> Self {
        if let Some(OpaqueMode::Introspection { endpoint, .. }) = &mut self.opaque {
            *endpoint = Some(url);
        }
        self
    }

    /// Checks opaque tokens by calling the userinfo endpoint with them, as
    /// DataCollect's server does: a `200` with a `sub` accepts the token. The
    /// audience cannot be checked this way. The endpoint comes from discovery
    /// unless `endpoint` is given.
    pub fn userinfo(mut self, endpoint: Option<Url>) -> Self {
        self.opaque = Some(OpaqueMode::Userinfo { endpoint });
        self
    }

    /// Also accepts OpenID Connect ID tokens (refused by default: an ID token
    /// is not a bearer credential).
    pub fn accept_id_tokens(mut self, accept: bool) -> Self {
        self.accept_id_tokens = accept;
        self
    }

    /// Also accepts JWTs that nothing marks as access tokens nor as ID
    /// tokens (refused by default). An access token is marked by the RFC 9068
    /// header `typ: at+jwt`, Keycloak's `typ: "Bearer"` claim, or a `scope`,
    /// `scp`, `client_id` or Auth0 `gty` claim.
    pub fn accept_unclassified_tokens(mut self, accept: bool) -> Self {
        self.accept_unclassified_tokens = accept;
        self
    }

    /// Names the client id of an app that logs users in at this issuer
    /// (may be called several times). Its ID tokens have it as their only
    /// audience, so a token whose every audience is a login client is
    /// refused as an ID token, whatever else it carries, unless
    /// [`accept_login_client_audience`](Self::accept_login_client_audience).
    /// [`from_provider_config`](Self::from_provider_config) sets the
    /// config's `client_id`.
    pub fn login_client(mut self, client_id: impl Into<String>) -> Self {
        self.login_clients.push(client_id.into());
        self
    }

    /// Accepts access tokens whose only audience is a
    /// [login client](Self::login_client), for providers that issue the
    /// client's access tokens for the client itself (e.g. Microsoft Entra
    /// with one app registration). Such tokens must still carry an
    /// access-token marker (`typ: at+jwt`, Keycloak `typ: "Bearer"`, `scope`,
    /// `scp`, `client_id`, `gty`) and no `auth_time`; ID tokens stay refused.
    pub fn accept_login_client_audience(mut self, accept: bool) -> Self {
        self.accept_login_client_audience = accept;
        self
    }

    /// Requires the RFC 9068 header `typ: at+jwt` on every JWT.
    pub fn require_access_token_type(mut self, require: bool) -> Self {
        self.require_access_token_type = require;
        self
    }

    /// Allows plain-`http` endpoints: the issuer and its endpoints on any
    /// host. Without it, a plain-`http` issuer must be on a loopback host (a
    /// local provider), and so must its plain-`http` endpoints; every
    /// endpoint of an `https` issuer (discovered or configured) must be
    /// `https`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The issuer, exactly as tokens must name it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The algorithms in force, and a check of the whole configuration.
    pub(crate) fn checked_algorithms(&self) -> Result<Vec<JwsAlgorithm>, ValidationError> {
        let issuer = &self.issuer;
        let algorithms = match &self.algorithms {
            Some(list) => list.clone(),
            None => {
                let mut list = JwsAlgorithm::DEFAULT.to_vec();
                if self.hmac.is_some() {
                    list.push(JwsAlgorithm::Hs256);
                }
                list
            }
        };
        if let Some(keys) = &self.hmac
            && !keys.long_enough_for(JwsAlgorithm::Hs256)
        {
            return Err(ValidationError::config(format!(
                "the shared secret of issuer `{issuer}` is shorter than 32 bytes"
            )));
        }
        if algorithms.is_empty() {
            return Err(ValidationError::config(format!(
                "issuer `{issuer}` allows no algorithm"
            )));
        }
        for alg in algorithms.iter().filter(|a| a.is_symmetric()) {
            match &self.hmac {
                None => {
                    return Err(ValidationError::config(format!(
                        "issuer `{issuer}` allows {alg} but has no shared secret"
                    )));
                }
                Some(keys) if !keys.long_enough_for(*alg) => {
                    return Err(ValidationError::config(format!(
                        "the shared secret of issuer `{issuer}` is too short for {alg}"
                    )));
                }
                Some(_) => {}
            }
        }
        if self.audiences.is_empty() && self.authorized_parties.is_empty() && !self.any_audience {
            return Err(ValidationError::config(format!(
                "issuer `{issuer}` has no audience (add one, or call any_audience())"
            )));
        }
        let needs_fetch = (matches!(self.keys, KeyOrigin::Discovery) && uses_key_set(&algorithms))
            || matches!(
                self.opaque,
                Some(
                    OpaqueMode::Introspection { endpoint: None, .. }
                        | OpaqueMode::Userinfo { endpoint: None }
                )
            );
        let issuer_url = Url::parse(issuer).ok();
        if needs_fetch {
            let url = issuer_url
                .as_ref()
                .ok_or_else(|| ValidationError::config(format!("issuer `{issuer}` is not a url")))?;
            authresult_core::check_transport(url, self.allow_insecure_http)
                .map_err(|reason| ValidationError::config(format!("issuer `{issuer}` {reason}")))?;
        }
        let endpoints = [
            match &self.keys {
                KeyOrigin::Uri(url) => Some(url),
                _ => None,
            },
            match &self.opaque {
                Some(OpaqueMode::Introspection { endpoint, .. } | OpaqueMode::Userinfo { endpoint }) => {
                    endpoint.as_ref()
                }
                None => None,
            },
        ];
        for url in endpoints.into_iter().flatten() {
            super::fetch::check_endpoint(issuer_url.as_ref(), url, self.allow_insecure_http).map_err(
                |reason| ValidationError::config(format!("an endpoint of issuer `{issuer}` {reason}")),
            )?;
        }
        Ok(algorithms)
    }
}

/// True when some algorithm needs the issuer's published keys.
pub(crate) fn uses_key_set(algorithms: &[JwsAlgorithm]) -> bool {
    algorithms.iter().any(|a| !a.is_symmetric())
}
