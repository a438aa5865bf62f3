//! Private CAs, proxies and client certificates: the local provider served
//! over https with a certificate of a CA made in the test (`rcgen`), trusted
//! through `OidcOptions::network`; an untrusted certificate refused with a
//! TLS error; an https issuer listing an http endpoint refused; mutual TLS
//! against a server that requires a client certificate; `private_key_jwt`
//! accepted by the real provider; requests through a counting proxy.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authresult_core::{AuthResult, FailureKind, LoginFlow, LoginResponse, ManualClock, Timestamp};
use authresult_http::{HttpClient, HttpError, HttpLimits};
use authresult_oidc::jwt::{
    CaCertificates, ClientIdentity, IssuerConfig, JwsAlgorithm, NetworkOptions, Proxy, SigningKey,
    TokenValidator, ValidationErrorKind,
};
use authresult_oidc::{Endpoint, OidcError, OidcOptions, OidcProvider};
use authresult_test_support::{CountingProxy, Idp, IdpOptions, IdpTls, TestCa, TlsServer};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};
use url::Url;

use crate::support::{authorization_url, fast_options, provider_from, request};

/// The provider over https, its CA, and the key of its `private_key_jwt`
/// client `jwt-app`.
struct TlsIdp {
    idp: Idp,
    ca: TestCa,
    client_key: Arc<SigningKey>,
    _dir: tempfile::TempDir,
}

static TLS_IDP: OnceLock<TlsIdp> = OnceLock::new();

fn es256_key(kid: &str) -> Arc<SigningKey> {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    Arc::new(SigningKey::from_pkcs8_der(der.as_ref(), JwsAlgorithm::Es256, Some(kid.into())).unwrap())
}

fn tls_idp() -> &'static TlsIdp {
    TLS_IDP.get_or_init(|| {
        let ca = TestCa::new("authresult test ca").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca.write_server_files(dir.path()).unwrap();
        let client_key = es256_key("jwt-app-1");
        let jwks = dir.path().join("jwt-app.jwks.json");
        std::fs::write(
            &jwks,
            json!({ "keys": [Value::Object(client_key.public_jwk())] }).to_string(),
        )
        .unwrap();
        let mut options = IdpOptions::default();
        options.tls = Some(IdpTls {
            cert,
            key,
            ca_pem: ca.cert_pem().to_owned(),
        });
        options.client_jwks = Some(jwks);
        let idp = match Idp::start(options) {
            Ok(idp) => idp,
            Err(e) => panic!("the local OpenID provider (xtask/idp) did not start over https: {e:#}"),
        };
        TlsIdp {
            idp,
            ca,
            client_key,
            _dir: dir,
        }
    })
}

fn https_issuer() -> Url {
    let issuer = tls_idp().idp.issuer("plain").unwrap().clone();
    assert_eq!(issuer.scheme(), "https", "{issuer}");
    issuer
}

/// Options that trust the test CA.
fn trusting() -> OidcOptions {
    let mut options = fast_options();
    options.network.extra_roots = CaCertificates::from_pem(tls_idp().ca.cert_pem().as_bytes()).unwrap();
    options
}

fn https_provider(client_id: &str, options: OidcOptions) -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {"issuer": https_issuer().as_str(), "client_id": client_id}}),
        options,
    )
}

/// A code login as alice through the https provider's pages.
async fn login(provider: &OidcProvider) -> AuthResult {
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let callback = tls_idp()
        .idp
        .login_via_form(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap()
}

#[tokio::test]
async fn login_discovery_and_refresh_work_through_a_private_ca() {
    let provider = https_provider("native-app", trusting());
    let endpoints = provider.discover().await.unwrap();
    assert_eq!(endpoints.token_endpoint.unwrap().scheme(), "https");
    let auth = login(&provider).await;
    assert_eq!(auth.subject(), Some("alice"));
    assert!(auth.refresh_token.is_some(), "the login gave no refresh token");
    let refreshed = provider.refresh(&auth).await.unwrap();
    assert_ne!(refreshed.access_token.secret(), auth.access_token.secret());

    // The validator trusts the same CA through the same options.
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(https_issuer().as_str()).any_audience())
        .network(trusting().network)
        .build()
        .unwrap();
    validator.prefetch().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_a_tls_error() {
    // Default options: the web PKI roots only.
    let provider = https_provider("native-app", fast_options());
    let error = provider.discover().await.unwrap_err();
    let OidcError::Tls { endpoint, reason, .. } = &error else {
        panic!("expected a TLS error, got {error:?}");
    };
    assert_eq!(*endpoint, Endpoint::Discovery);
    let message = error.to_string();
    assert!(
        message.starts_with("tls handshake with the discovery endpoint"),
        "{message}"
    );
    assert!(
        reason.contains("certificate") && reason.contains("UnknownIssuer"),
        "{message}"
    );
    // A captive portal presents such certificates: the session is kept.
    assert_eq!(error.kind(), FailureKind::Transient);

    // Another CA is no better.
    let mut other = fast_options();
    other.network.extra_roots =
        CaCertificates::from_pem(TestCa::new("someone else").unwrap().cert_pem().as_bytes()).unwrap();
    let error = https_provider("native-app", other).discover().await.unwrap_err();
    assert!(matches!(error, OidcError::Tls { .. }), "{error:?}");

    // The platform's store (read when the client is built) does not hold
    // the test CA either.
    let mut native = fast_options();
    native.network.native_roots = true;
    let error = https_provider("native-app", native).discover().await.unwrap_err();
    assert!(matches!(error, OidcError::Tls { .. }), "{error:?}");

    // The validator says the same, as a transient `unavailable`.
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(https_issuer().as_str()).any_audience())
        .build()
        .unwrap();
    let error = validator.prefetch().await.unwrap_err();
    assert_eq!(error.kind(), ValidationErrorKind::Unavailable);
    assert!(
        error
            .to_string()
            .contains("tls handshake failed: invalid peer certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn an_https_issuer_listing_an_http_endpoint_is_refused() {
    let ca = TestCa::new("discovery ca").unwrap();
    let server = TlsServer::start(&ca, false, |base| {
        let issuer = base.as_str().trim_end_matches('/');
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("http://127.0.0.1:{}/token", base.port().unwrap()),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
        .to_string()
    })
    .await
    .unwrap();
    let mut options = fast_options();
    options.network.extra_roots = CaCertificates::from_pem(ca.cert_pem().as_bytes()).unwrap();
    let issuer = server.url().as_str().trim_end_matches('/').to_owned();
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer, "client_id": "native-app"}}),
        options,
    );
    let error = provider.discover().await.unwrap_err();
    assert_eq!(server.served(), 1, "the discovery document was read");
    let message = error.to_string();
    assert!(message.contains("token") && message.contains("http"), "{message}");
    assert_eq!(error.kind(), FailureKind::Configuration, "{error:?}");
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_accepts_only_the_configured_one() {
    let ca = TestCa::new("mtls ca").unwrap();
    let server = TlsServer::start(&ca, true, |_| r#"{"ok":true}"#.to_owned())
        .await
        .unwrap();
    let limits = HttpLimits {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        max_body: 1024,
    };
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_800_000_000)));
    let get = || {
        http::Request::builder()
            .uri(server.url().as_str())
            .body(Vec::new())
            .unwrap()
    };
    let mut network = NetworkOptions::default();
    network.extra_roots = CaCertificates::from_pem(ca.cert_pem().as_bytes()).unwrap();

    // Without a client certificate: refused, and the error says TLS.
    let anonymous = HttpClient::new(limits, &network, clock.clone()).unwrap();
    let error = anonymous.execute(get()).await.unwrap_err();
    assert!(matches!(error, HttpError::Tls { .. }), "{error:?}");
    assert!(error.to_string().starts_with("tls handshake with"), "{error}");
    assert_eq!(server.served(), 0);

    // A certificate of another CA: refused too.
    let stranger = TestCa::new("other ca")
        .unwrap()
        .client_cert("native-app")
        .unwrap();
    network.client_identity =
        Some(ClientIdentity::from_pem(stranger.cert_pem.as_bytes(), stranger.key_pem.as_bytes()).unwrap());
    let error = HttpClient::new(limits, &network, clock.clone())
        .unwrap()
        .execute(get())
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Tls { .. }), "{error:?}");
    assert_eq!(server.served(), 0);

    // The configured certificate: accepted.
    let issued = ca.client_cert("native-app").unwrap();
    network.client_identity =
        Some(ClientIdentity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes()).unwrap());
    let response = HttpClient::new(limits, &network, clock)
        .unwrap()
        .execute(get())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), br#"{"ok":true}"#);
    assert_eq!(server.served(), 1);

    // The key shows nowhere.
    let shown = format!("{network:?}");
    assert!(
        !shown.contains("PRIVATE KEY") && !shown.contains(&issued.key_pem[40..80]),
        "{shown}"
    );
}

#[tokio::test]
async fn private_key_jwt_is_accepted_by_the_provider() {
    let mut options = trusting();
    options.client_assertion_key = Some(Arc::clone(&tls_idp().client_key));
    let provider = https_provider("jwt-app", options);
    let auth = login(&provider).await;
    assert_eq!(auth.subject(), Some("alice"));
    let refreshed = provider.refresh(&auth).await.unwrap();
    assert!(refreshed.refresh_token.is_some());

    // Another key: the provider refuses the client, a terminal answer.
    let mut options = trusting();
    options.client_assertion_key = Some(es256_key("jwt-app-1"));
    let stranger = https_provider("jwt-app", options);
    let error = stranger.refresh(&refreshed).await.unwrap_err();
    assert_eq!(error.oauth_error(), Some("invalid_client"), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Terminal);
    // Neither the assertion nor the key shows in the error or the provider.
    let shown = format!("{error} {error:?} {stranger:?}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(!shown.contains("client_assertion="), "{shown}");
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    let proxy = CountingProxy::start().await.unwrap();
    let mut options = trusting();
    options.network.proxy = Proxy::Url(proxy.url());
    let provider = https_provider("native-app", options);
    provider.discover().await.unwrap();
    assert!(proxy.tunnels() >= 1, "discovery went through the proxy");
    let auth = login(&provider).await;
    assert_eq!(auth.subject(), Some("alice"));

    // A proxy that is not there: the request fails rather than going direct.
    let dead = CountingProxy::start().await.unwrap();
    let dead_url = dead.url();
    drop(dead);
    let mut options = trusting();
    options.network.proxy = Proxy::Url(dead_url);
    let error = https_provider("native-app", options)
        .discover()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FailureKind::Transient, "{error:?}");

    // `Proxy::None` goes direct: the counting proxy sees nothing more.
    let seen = proxy.tunnels();
    let mut options = trusting();
    options.network.proxy = Proxy::None;
    https_provider("native-app", options).discover().await.unwrap();
    assert_eq!(proxy.tunnels(), seen);
}

#[tokio::test]
async fn a_client_certificate_uses_the_mtls_endpoint_aliases() {
    let ca = TestCa::new("alias ca").unwrap();
    // One body serves as discovery document and (empty) key set.
    let server = TlsServer::start(&ca, false, |base| {
        let issuer = base.as_str().trim_end_matches('/');
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "mtls_endpoint_aliases": { "token_endpoint": format!("{issuer}/mtls/token") },
            "keys": [],
        })
        .to_string()
    })
    .await
    .unwrap();
    let issuer = server.url().as_str().trim_end_matches('/').to_owned();
    let discover = |identity: Option<ClientIdentity>| {
        let mut options = fast_options();
        options.network.extra_roots = CaCertificates::from_pem(ca.cert_pem().as_bytes()).unwrap();
        options.network.client_identity = identity;
        let provider = provider_from(
            json!({"type": "oidc", "fields": {"issuer": issuer, "client_id": "native-app"}}),
            options,
        );
        async move { provider.discover().await.unwrap().token_endpoint.unwrap() }
    };
    let plain = discover(None).await;
    assert_eq!(plain.path(), "/token");
    let issued = ca.client_cert("native-app").unwrap();
    let identity = ClientIdentity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes()).unwrap();
    let aliased = discover(Some(identity)).await;
    assert_eq!(aliased.path(), "/mtls/token");
}
