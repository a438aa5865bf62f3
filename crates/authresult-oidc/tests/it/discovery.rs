//! Discovery: exact issuers on all three local issuers, the cache, and a
//! provider that reports another issuer.

use authresult_core::FailureKind;
use authresult_oidc::OidcError;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{MockIdp, fast_options, issuer, provider_from};

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
