//! Shared helpers: the one local IdP of this test binary, providers built
//! from `{type, fields}` configs, the browser login, a wiremock provider with
//! a test signing key (ID tokens as JSON claims signed by
//! `authresult_test_support::JwtSigner`), and a recording sleeper.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authresult_core::MemoryStore;
use authresult_core::ProviderConfig;
use authresult_core::{
    AppSecurity, AuthManager, AuthResult, Clock, LoginFlow, LoginPrompt, LoginRequest, LoginResponse,
    ManualClock, PendingAuthorization, SessionKey, Sleeper, Timestamp,
};
use authresult_oidc::{LoopbackListener, OidcOptions, OidcProvider};
use authresult_test_support::{Idp, IdpOptions, JwtAlg, JwtSigner};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

static IDP: OnceLock<Idp> = OnceLock::new();

/// The local provider, started once per test binary.
pub fn idp() -> &'static Idp {
    IDP.get_or_init(|| match Idp::start(IdpOptions::default()) {
        Ok(idp) => idp,
        Err(e) => panic!("the local OpenID provider (xtask/idp) did not start: {e:#}"),
    })
}

/// The issuer URL of `name` (`plain`, `keycloak`, `auth0`).
pub fn issuer(name: &str) -> Url {
    idp().issuer(name).unwrap().clone()
}

/// Options for the local provider: device polls every 100 ms.
pub fn fast_options() -> OidcOptions {
    let mut options = OidcOptions::default();
    options.device_interval_override = Some(Duration::from_millis(100));
    options.request_timeout = Duration::from_secs(10);
    options
}

/// A provider from a DataCollect-style config, read as an app does: under
/// the app's own `allow_insecure_http` (the options'), never the config's.
pub fn provider_from(config: Value, options: OidcOptions) -> OidcProvider {
    let security = AppSecurity::insecure_http(options.allow_insecure_http);
    let config = ProviderConfig::from_json_str_with(&config.to_string(), security).unwrap();
    OidcProvider::from_config(&config, options).unwrap()
}

/// A generic OIDC provider for `client_id` at the `plain` issuer.
pub fn plain(client_id: &str) -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer("plain").as_str(), "client_id": client_id}}),
        fast_options(),
    )
}

/// `plain` for the confidential client.
pub fn confidential() -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(),
            "client_id": "confidential-app",
            "client_secret": "confidential-secret",
        }}),
        fast_options(),
    )
}

pub fn key(provider: &str) -> SessionKey {
    SessionKey::new("field-app", provider)
}

pub fn request(flow: LoginFlow, redirect_uri: Option<Url>) -> LoginRequest {
    LoginRequest {
        key: key("p"),
        flow,
        now: Timestamp::now(),
        redirect_uri,
        extra_params: BTreeMap::new(),
    }
}

pub fn authorization_url(pending: &PendingAuthorization) -> Url {
    match &pending.prompt {
        LoginPrompt::Redirect { authorization_url } => authorization_url.clone(),
        other => panic!("expected a redirect prompt, got {other:?}"),
    }
}

/// A whole authorization-code login as `username` (loopback redirect, the
/// browser driven over HTTP); answers the result.
pub async fn login_as(provider: &OidcProvider, username: &str) -> AuthResult {
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let callback = idp()
        .login_via_form(
            &authorization_url(&pending),
            username,
            &format!("{username}-password"),
        )
        .await
        .unwrap();
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap()
}

/// A manager over `store` with `provider` registered as `p`.
pub fn manager(store: Arc<MemoryStore>, provider: OidcProvider) -> AuthManager {
    AuthManager::builder("field-app", store)
        .provider("p", Arc::new(provider))
        .build()
}

/// The provider error inside a core error.
pub fn oidc_error(error: &authresult_core::Error) -> &authresult_oidc::OidcError {
    let authresult_core::Error::Provider { source, .. } = error else {
        panic!("not a provider error: {error:?}")
    };
    source.downcast_ref::<authresult_oidc::OidcError>().unwrap()
}

/// Sends the browser to a loopback callback URL.
pub async fn browser_get(url: &Url) -> u16 {
    reqwest::Client::new()
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Binds a loopback listener for `/callback`.
pub async fn listener() -> LoopbackListener {
    LoopbackListener::bind("/callback").await.unwrap()
}

// ---------------------------------------------------------------------------
// A provider on wiremock, with a test signing key.
// ---------------------------------------------------------------------------

pub const KID: &str = "test-key-1";
/// The `kid` of [`weak_signing_key`].
pub const WEAK_KID: &str = "weak-key";

/// The mock's RSA-2048 signing key, made once for this binary.
pub fn signing_key() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Rs256).unwrap())
}

/// A 1024-bit RSA key (`kid: weak-key`): too short to be trusted.
pub fn weak_signing_key() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::weak_rsa(1024).unwrap())
}

/// The public JWK of [`signing_key`] with `kid` [`KID`].
pub fn signing_jwk() -> Value {
    signing_key().jwk(KID)
}

/// The public JWK of [`weak_signing_key`] with `kid` [`WEAK_KID`].
pub fn weak_jwk() -> Value {
    weak_signing_key().jwk(WEAK_KID)
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Chainable edits of JSON claims (or a JWK).
pub trait ClaimsExt {
    /// These claims with `name` set to `value`.
    fn with(self, name: &str, value: impl Into<Value>) -> Value;
    /// These claims without `name`.
    fn without(self, name: &str) -> Value;
}

impl ClaimsExt for Value {
    fn with(mut self, name: &str, value: impl Into<Value>) -> Value {
        self[name] = value.into();
        self
    }

    fn without(mut self, name: &str) -> Value {
        if let Some(map) = self.as_object_mut() {
            map.remove(name);
        }
        self
    }
}

/// Valid ID-token claims of `issuer` for client `app` and subject `alice`,
/// issued now, valid for five minutes (no `nonce`).
pub fn id_claims(issuer: &str) -> Value {
    let now = now();
    json!({"iss": issuer, "sub": "alice", "aud": "app", "exp": now + 300, "iat": now})
}

/// An RS256 ID token of `claims` signed with `key`, the header naming `kid`
/// when given.
pub fn sign_id_token(key: &JwtSigner, kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    key.sign_jwt(&header, claims).unwrap()
}

/// A mock OpenID provider: discovery, JWKS; tests mount the token endpoint etc.
pub struct MockIdp {
    pub server: MockServer,
}

impl MockIdp {
    pub async fn start() -> MockIdp {
        MockIdp::start_custom(|_| json!({}), &[signing_jwk()]).await
    }

    /// A mock whose discovery document is changed by `extra` (given the
    /// server's base URL) and whose key set holds the public JWKs `keys`.
    pub async fn start_custom(extra: impl FnOnce(&str) -> Value, keys: &[Value]) -> MockIdp {
        let server = MockServer::start().await;
        let idp = MockIdp { server };
        idp.mount_discovery(extra(&idp.issuer())).await;
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
            .mount(&idp.server)
            .await;
        idp
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    pub fn discovery_document(&self, extra: Value) -> Value {
        let base = self.server.uri();
        let mut doc = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/auth"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "userinfo_endpoint": format!("{base}/me"),
            "device_authorization_endpoint": format!("{base}/device/auth"),
            "revocation_endpoint": format!("{base}/revoke"),
            "introspection_endpoint": format!("{base}/introspect"),
            "end_session_endpoint": format!("{base}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": true,
        });
        if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
            doc.extend(extra);
        }
        doc
    }

    pub async fn mount_discovery(&self, extra: Value) {
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.discovery_document(extra)))
            .mount(&self.server)
            .await;
    }

    /// A generic provider for client `app` at this mock, with `options`.
    pub fn provider(&self, options: OidcOptions) -> OidcProvider {
        provider_from(
            json!({"type": "oidc", "fields": {"issuer": self.issuer(), "client_id": "app"}}),
            options,
        )
    }

    /// Mounts `response` at `POST /token`.
    pub async fn token_response(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// An ID token of this issuer ([`id_claims`] changed by `edit`), signed
    /// with the test key under [`KID`].
    pub fn id_token(&self, edit: impl FnOnce(Value) -> Value) -> String {
        self.id_token_signed_with(signing_key(), KID, edit)
    }

    /// [`MockIdp::id_token`] signed with `key`, the header naming `kid`.
    pub fn id_token_signed_with(
        &self,
        key: &JwtSigner,
        kid: &str,
        edit: impl FnOnce(Value) -> Value,
    ) -> String {
        sign_id_token(key, Some(kid), &edit(id_claims(&self.issuer())))
    }

    /// Starts a code login and answers a callback URL carrying `code=c`.
    pub async fn code_callback(&self, provider: &OidcProvider) -> (PendingAuthorization, Url) {
        let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
        let pending = provider
            .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect.clone())))
            .await
            .unwrap();
        let mut callback = redirect;
        callback
            .query_pairs_mut()
            .append_pair("code", "c")
            .append_pair("state", &pending.state)
            .append_pair("iss", &self.issuer());
        (pending, callback)
    }

    /// The nonce a pending login sent.
    pub fn nonce_of(pending: &PendingAuthorization) -> String {
        authorization_url(pending)
            .query_pairs()
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }
}

// ---------------------------------------------------------------------------
// A sleeper that records its waits and moves a manual clock.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RecordingSleeper {
    pub clock: ManualClock,
    pub waits: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    pub fn new() -> Self {
        RecordingSleeper {
            // A whole second, so HTTP dates (whole seconds) map to exact waits.
            clock: ManualClock::new(Timestamp::from_secs(Timestamp::now().as_secs())),
            waits: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }

    /// Options using this sleeper and its clock.
    pub fn options(&self) -> OidcOptions {
        let mut options = OidcOptions::default();
        options.clock = Arc::new(self.clock.clone());
        options.sleeper = Arc::new(self.clone());
        options.request_timeout = Duration::from_secs(5);
        options
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.waits.lock().unwrap().push(duration);
        self.clock.advance(duration);
        futures::future::ready(()).boxed()
    }
}
