//! Discovery: exact issuers on all three local issuers, the cache, a
//! provider that reports another issuer, and endpoints in plain http.

use authresult_core::{AccessToken, AuthResult, FailureKind, LoginFlow, RefreshToken};
use authresult_oidc::OidcError;
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{MockIdp, fast_options, issuer, provider_from, request, signing_jwk};

#[tokio::test]
async fn discovery_reports_each_issuer_exactly() {
    for (kind, name) in [("oidc", "plain"), ("keycloak", "keycloak"), ("auth0", "auth0")] {
        let configured = issuer(name);
        let field = if kind == "auth0" { "domain" } else { "issuer" };
        let provider = provider_from(
            json!({"type": kind, "fields": {field: configured.as_str(), "client_id": "native-app"}}),
            fast_options(),
        );
        let endpoints = provider.discover().await.unwrap();
        assert_eq!(endpoints.issuer, configured.as_str(), "{name}");
        let prefix = configured.as_str().trim_end_matches('/');
        assert!(endpoints.authorization_endpoint.as_str().starts_with(prefix));
        assert!(endpoints.token_endpoint.is_some());
        assert!(endpoints.device_authorization_endpoint.is_some());
        assert!(endpoints.revocation_endpoint.is_some());
        assert!(endpoints.introspection_endpoint.is_some());
        assert!(endpoints.end_session_endpoint.is_some());
        assert!(endpoints.authorization_response_iss_parameter_supported);
    }
    // Auth0's issuer keeps its trailing slash.
    assert!(issuer("auth0").as_str().ends_with("/auth0/"));
}

#[tokio::test]
async fn discovery_is_cached_per_provider() {
    let mock = MockIdp::start().await;
    let provider = mock.provider(fast_options());
    for _ in 0..3 {
        provider.discover().await.unwrap();
    }
    let requests = mock.server.received_requests().await.unwrap();
    let discovery_calls = requests
        .iter()
        .filter(|r| r.url.path() == "/.well-known/openid-configuration")
        .count();
    assert_eq!(discovery_calls, 1);
}

#[tokio::test]
async fn another_issuer_in_discovery_is_rejected() {
    let mock = MockIdp::start().await;
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": format!("{}/tenant", mock.issuer()), "client_id": "app"}}),
        fast_options(),
    );
    Mock::given(method("GET"))
        .and(path("/tenant/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mock.discovery_document(json!({}))))
        .mount(&mock.server)
        .await;
    let error = provider.discover().await.unwrap_err();
    assert!(matches!(error, OidcError::IssuerMismatch { .. }), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);
    assert!(error.to_string().contains("issuer"), "{error}");
}

/// A discovery whose token endpoint is plain http to a host that is not
/// loopback. `0.0.0.0` is not a loopback address, yet on Linux and macOS it
/// reaches this machine, i.e. the mock: so a request, if one were sent,
/// would be seen.
async fn mock_with_plain_http_token_endpoint() -> MockIdp {
    let mock = MockIdp::start_custom(
        |base| {
            let port = Url::parse(base).unwrap().port().unwrap();
            json!({ "token_endpoint": format!("http://0.0.0.0:{port}/token") })
        },
        &[signing_jwk()],
    )
    .await;
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "token_type": "Bearer", "expires_in": 60,
    })))
    .await;
    mock
}

async fn token_requests(mock: &MockIdp) -> usize {
    let received = mock.server.received_requests().await.unwrap();
    received.iter().filter(|r| r.url.path() == "/token").count()
}

#[tokio::test]
async fn a_plain_http_token_endpoint_in_discovery_is_refused_before_any_request() {
    let mock = mock_with_plain_http_token_endpoint().await;
    let provider = mock.provider(fast_options());
    let mut previous = AuthResult::new(AccessToken::new("old-at"), 0);
    previous.refresh_token = Some(RefreshToken::new("old-rt"));
    let refused = provider.refresh(&previous).await.unwrap_err();
    assert!(matches!(refused, OidcError::Configuration { .. }), "{refused:?}");
    assert_eq!(refused.kind(), FailureKind::Configuration);
    assert!(refused.to_string().contains("token_endpoint"), "{refused}");
    let login = provider
        .begin_login(&request(
            LoginFlow::AuthorizationCode,
            Some(Url::parse("http://127.0.0.1:9/cb").unwrap()),
        ))
        .await
        .unwrap_err();
    assert!(matches!(login, OidcError::Configuration { .. }), "{login:?}");
    assert_eq!(
        token_requests(&mock).await,
        0,
        "the refresh token went out in clear"
    );
    // Not even the key set was fetched: the document is refused as a whole.
    let received = mock.server.received_requests().await.unwrap();
    assert!(received.iter().all(|r| r.url.path() != "/jwks"));

    // The explicit insecure option lets it through (and the endpoint is reachable).
    let mut insecure = fast_options();
    insecure.allow_insecure_http = true;
    let refreshed = mock.provider(insecure).refresh(&previous).await.unwrap();
    assert_eq!(refreshed.access_token.secret(), "new-at");
    assert_eq!(token_requests(&mock).await, 1);
}
