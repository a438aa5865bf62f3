//! Shared helpers: the one local IdP of this test binary, providers built
//! from `{type, fields}` configs, the browser login, a wiremock provider with
//! a test signing key, and a recording sleeper.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use authresult_core::{
    AuthManager, AuthResult, Clock, LoginFlow, LoginPrompt, LoginRequest, LoginResponse, ManualClock,
    PendingAuthorization, SessionKey, Sleeper, Timestamp,
};
use authresult_oidc::{LoopbackListener, OidcOptions, OidcProvider, ProviderConfig};
use authresult_store::MemoryStore;
use authresult_test_support::{Idp, IdpOptions};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, IssuerUrl, JsonWebKeyId, PrivateSigningKey as _, StandardClaims,
    SubjectIdentifier,
};
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

/// A provider from a DataCollect-style config.
pub fn provider_from(config: Value, options: OidcOptions) -> OidcProvider {
    let config = ProviderConfig::from_json_str(&config.to_string()).unwrap();
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

pub fn signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("fixtures/test-rsa-key.pem"),
        Some(JsonWebKeyId::new(KID.to_owned())),
    )
    .unwrap()
}

/// A mock OpenID provider: discovery, JWKS; tests mount the token endpoint etc.
pub struct MockIdp {
    pub server: MockServer,
}

/// The 1024-bit RSA key `weak-key`: too short to be trusted.
pub fn weak_signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("fixtures/test-rsa-1024-key.pem"),
        Some(JsonWebKeyId::new("weak-key".to_owned())),
    )
    .unwrap()
}

impl MockIdp {
    pub async fn start() -> MockIdp {
        MockIdp::start_custom(|_| json!({}), &[signing_key()]).await
    }

    /// A mock whose discovery document is changed by `extra` (given the
    /// server's base URL) and whose key set holds `keys`.
    pub async fn start_custom(
        extra: impl FnOnce(&str) -> Value,
        keys: &[CoreRsaPrivateSigningKey],
    ) -> MockIdp {
        let server = MockServer::start().await;
        let idp = MockIdp { server };
        idp.mount_discovery(extra(&idp.issuer())).await;
        let jwks: Vec<Value> = keys
            .iter()
            .map(|k| serde_json::to_value(k.as_verification_key()).unwrap())
            .collect();
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": jwks })))
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

    /// An ID token for this issuer, `sub`, audience `app`, signed with the test key.
    pub fn id_token(&self, edit: impl FnOnce(CoreIdTokenClaims) -> CoreIdTokenClaims) -> String {
        self.id_token_signed_with(&signing_key(), edit)
    }

    /// [`MockIdp::id_token`] signed with `key`.
    pub fn id_token_signed_with(
        &self,
        key: &CoreRsaPrivateSigningKey,
        edit: impl FnOnce(CoreIdTokenClaims) -> CoreIdTokenClaims,
    ) -> String {
        let now = chrono::Utc::now();
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(self.issuer()).unwrap(),
            vec![Audience::new("app".to_owned())],
            now + chrono::Duration::seconds(300),
            now,
            StandardClaims::new(SubjectIdentifier::new("alice".to_owned())),
            EmptyAdditionalClaims {},
        );
        CoreIdToken::new(
            edit(claims),
            key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
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
