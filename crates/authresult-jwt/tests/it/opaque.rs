//! Opaque tokens against `wiremock`: RFC 7662 introspection and the userinfo
//! check, with their short positive cache and typed transient errors.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ClientSecret, ManualClock, Timestamp};
use authresult_jwt::{IssuerConfig, TokenPurpose, TokenValidator, ValidationErrorKind as K, Verification};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::support::{AUDIENCE, assert_rejected, now};

const TOKEN: &str = "opaque-Token_0123456789abcdefghijklmnopqrstuv";

async fn server() -> (MockServer, String) {
    let server = MockServer::start().await;
    let issuer = format!("{}/op", server.uri());
    Mock::given(path("/op/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
            "userinfo_endpoint": format!("{issuer}/me"),
        })))
        .mount(&server)
        .await;
    (server, issuer)
}

fn introspecting(issuer: &str, clock: &ManualClock) -> TokenValidator {
    TokenValidator::builder()
        .issuer(
            IssuerConfig::new(issuer)
                .audience(AUDIENCE)
                .introspection("resource server", ClientSecret::new("s3cr:et&")),
        )
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_secs(now()))
}

async fn count(server: &MockServer, suffix: &str) -> usize {
    let requests = server.received_requests().await.unwrap();
    requests.iter().filter(|r| r.url.path().ends_with(suffix)).count()
}

#[tokio::test]
async fn introspection_accepts_active_tokens_and_caches_briefly() {
    let (server, issuer) = server().await;
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "resource+server:s3cr%3Aet%26"
        )
    );
    Mock::given(method("POST"))
        .and(path("/op/introspect"))
        .and(header("authorization", basic.as_str()))
        .and(body_string_contains(format!("token={TOKEN}")))
        .and(body_string_contains("token_type_hint=access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "active": true, "iss": issuer, "sub": "alice", "aud": [AUDIENCE], "client_id": "native-app",
            "scope": "api:read", "exp": now() + 3600, "org_id": "org_alpha",
        })))
        .mount(&server)
        .await;
    let clock = clock();
    let v = introspecting(&issuer, &clock);
    let ok = v.validate(TOKEN).await.unwrap();
    assert_eq!(ok.subject(), Some("alice"));
    assert_eq!(ok.verified_by(), Verification::Introspection);
    assert_eq!(ok.token_kind(), TokenPurpose::Access);
    assert!(ok.has_scope("api:read"));
    assert_eq!(ok.client_id(), Some("native-app"));
    v.validate(TOKEN).await.unwrap();
    assert_eq!(
        count(&server, "/introspect").await,
        1,
        "the positive result is not cached"
    );
    // After the short cache lifetime the provider is asked again.
    clock.advance(Duration::from_secs(31));
    v.validate(TOKEN).await.unwrap();
    assert_eq!(count(&server, "/introspect").await, 2);
    assert_eq!(count(&server, "openid-configuration").await, 1);
}

#[tokio::test]
async fn the_opaque_cache_never_outlives_the_token() {
    let (server, issuer) = server().await;
    let clock = clock();
    let exp = now() + 10;
    Mock::given(path("/op/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": true, "exp": exp})))
        .mount(&server)
        .await;
    let v = introspecting(&issuer, &clock);
    v.validate(TOKEN).await.unwrap();
    clock.advance(Duration::from_secs(11));
    assert!(v.validate_cached(TOKEN).is_none());
    // The provider (wrongly) still says active, but `exp` has passed beyond the leeway.
    clock.advance(Duration::from_secs(60));
    assert_eq!(v.validate(TOKEN).await.unwrap_err().kind(), K::Expired);
}

#[tokio::test]
async fn introspection_refusals_and_failures_are_typed() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": false})),
            K::Inactive,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": "yes"})),
            K::ProviderError,
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            K::ProviderError,
        ),
        (ResponseTemplate::new(401), K::ProviderError),
        (ResponseTemplate::new(503), K::Unavailable),
        (ResponseTemplate::new(429), K::Unavailable),
        (
            ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
            K::Unavailable,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": true, "iss": "https://evil.test"})),
            K::UntrustedIssuer,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": true, "aud": "urn:other"})),
            K::AudienceMismatch,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": true, "exp": "soon"})),
            K::InvalidClaim,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"active": true, "token_type": "refresh_token"})),
            K::WrongTokenType,
        ),
    ];
    for (response, kind) in cases {
        let (server, issuer) = server().await;
        Mock::given(path("/op/introspect"))
            .respond_with(response)
            .mount(&server)
            .await;
        let v = TokenValidator::builder()
            .issuer(
                IssuerConfig::new(&issuer)
                    .audience(AUDIENCE)
                    .introspection("rs", ClientSecret::new("s")),
            )
            .http_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        assert_rejected(v.validate(TOKEN).await, kind, TOKEN);
        // Refusals are not cached as successes.
        assert!(v.validate_cached(TOKEN).is_none());
    }
}

#[tokio::test]
async fn userinfo_mode_is_datacollect_compatible() {
    let (server, issuer) = server().await;
    Mock::given(method("GET"))
        .and(path("/op/me"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sub": "bob", "org_id": "org_beta"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/op/me"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let clock = clock();
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(&issuer).any_audience().userinfo(None))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let ok = v.validate(TOKEN).await.unwrap();
    assert_eq!(ok.subject(), Some("bob"));
    assert_eq!(ok.org_id(), Some("org_beta"));
    assert_eq!(ok.verified_by(), Verification::Userinfo);
    v.validate(TOKEN).await.unwrap();
    assert_eq!(count(&server, "/me").await, 1);
    assert_rejected(
        v.validate("another-opaque-token").await,
        K::Inactive,
        "another-opaque-token",
    );

    // With an organization configured, another org is refused.
    let v = TokenValidator::builder()
        .issuer(
            IssuerConfig::new(&issuer)
                .any_audience()
                .organization("org_alpha")
                .userinfo(None),
        )
        .build()
        .unwrap();
    assert_rejected(v.validate(TOKEN).await, K::WrongOrganization, TOKEN);
}

#[tokio::test]
async fn userinfo_failures_are_transient() {
    for (response, kind) in [
        (ResponseTemplate::new(500), K::Unavailable),
        (
            ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
            K::Unavailable,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"name": "no sub"})),
            K::ProviderError,
        ),
        (ResponseTemplate::new(404), K::ProviderError),
    ] {
        let (server, issuer) = server().await;
        Mock::given(path("/op/me"))
            .respond_with(response)
            .mount(&server)
            .await;
        let v = TokenValidator::builder()
            .issuer(IssuerConfig::new(&issuer).any_audience().userinfo(None))
            .http_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let error = assert_rejected(v.validate(TOKEN).await, kind, TOKEN);
        assert!(error.is_transient());
    }
    // An explicit endpoint skips discovery.
    let server = MockServer::start().await;
    Mock::given(path("/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sub": "carol"})))
        .mount(&server)
        .await;
    let endpoint = url::Url::parse(&format!("{}/userinfo", server.uri())).unwrap();
    let v = TokenValidator::builder()
        .issuer(
            IssuerConfig::new("https://issuer.test")
                .any_audience()
                .userinfo(Some(endpoint))
                // The test endpoint is plain http; the issuer is not.
                .allow_insecure_http(true),
        )
        .build()
        .unwrap();
    assert_eq!(v.validate(TOKEN).await.unwrap().issuer(), "https://issuer.test");
}

#[tokio::test]
async fn opaque_tokens_with_odd_characters_never_reach_the_provider() {
    let (server, issuer) = server().await;
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(&issuer).any_audience().userinfo(None))
        .build()
        .unwrap();
    for token in ["", "has space", "new\nline", "tab\t", "ünïcode"] {
        assert_rejected(v.validate(token).await, K::Malformed, token);
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_https_issuer_never_sends_introspection_secrets_to_a_plain_http_loopback_port() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": true, "sub": "eve"})))
        .mount(&server)
        .await;
    let plain_http = url::Url::parse(&format!("{}/introspect", server.uri())).unwrap();
    let configs = [
        IssuerConfig::new("https://issuer.test")
            .any_audience()
            .introspection("resource server", ClientSecret::new("s3cret"))
            .introspection_endpoint(plain_http.clone()),
        IssuerConfig::new("https://issuer.test")
            .any_audience()
            .userinfo(Some(plain_http.clone())),
        IssuerConfig::new("https://issuer.test")
            .audience(AUDIENCE)
            .jwks_uri(plain_http.clone()),
    ];
    for config in configs {
        let error = TokenValidator::builder().issuer(config).build().unwrap_err();
        assert_eq!(error.kind(), K::Configuration, "{error}");
        assert!(error.to_string().contains("plain http"), "{error}");
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "the plain-http endpoint was called"
    );
}
