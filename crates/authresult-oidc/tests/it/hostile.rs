//! A provider that misbehaves (garbage, truncated JSON, 10 MB, missing
//! fields, hangs, 5xx/429, redirects, OAuth errors): every case is a typed,
//! classified error naming the endpoint or field, never a token, and the
//! manager stores nothing.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::{Error, FailureKind, LoginFlow};
use authresult_oidc::{Endpoint, OidcError, OidcOptions};
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MockIdp, fast_options, manager, oidc_error, provider_from, request};

const SECRET: &str = "SECRET-TOKEN-VALUE-1234567890";

fn hostile_options() -> OidcOptions {
    let mut options = fast_options();
    options.request_timeout = Duration::from_millis(700);
    options
}

/// A full code login through the manager whose token endpoint answers `response`.
async fn code_login(response: ResponseTemplate) -> (Error, Arc<MemoryStore>) {
    let mock = MockIdp::start().await;
    mock.token_response(response).await;
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), mock.provider(hostile_options()));
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = manager
        .begin_login_with(
            "p",
            LoginFlow::AuthorizationCode,
            Some(redirect.clone()),
            Default::default(),
        )
        .await
        .unwrap();
    let mut callback = redirect;
    callback
        .query_pairs_mut()
        .append_pair("code", "c")
        .append_pair("state", &pending.state)
        .append_pair("iss", &mock.issuer());
    let error = manager.handle_callback(&callback).await.unwrap_err();
    assert!(manager.session("p").await.unwrap().is_none(), "nothing is stored");
    (error, store)
}

fn json_body(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text.as_bytes().to_vec(), "application/json")
}

#[tokio::test]
async fn hostile_token_responses_are_typed_errors() {
    let big = format!("{{\"access_token\":\"{}\"}}", "a".repeat(10 * 1024 * 1024));
    let cases: Vec<(&str, ResponseTemplate, FailureKind, &str)> = vec![
        (
            "garbage",
            json_body("<html>surprise</html>"),
            FailureKind::Protocol,
            "not valid json",
        ),
        (
            "truncated",
            json_body(&format!("{{\"access_token\":\"{SECRET}\",\"token_type\":\"Bea")),
            FailureKind::Protocol,
            "truncated",
        ),
        (
            "10 MB",
            json_body(&big),
            FailureKind::Protocol,
            "exceeds the limit",
        ),
        (
            "no access_token",
            json_body(r#"{"token_type":"Bearer","expires_in":60}"#),
            FailureKind::Protocol,
            "`access_token`",
        ),
        (
            "wrong type",
            json_body(&format!(
                "{{\"access_token\":\"{SECRET}\",\"token_type\":\"Bearer\",\"expires_in\":\"{SECRET}\"}}"
            )),
            FailureKind::Protocol,
            "expires_in",
        ),
        (
            "hangs",
            json_body("{}").set_delay(Duration::from_secs(5)),
            FailureKind::Transient,
            "did not answer",
        ),
        (
            "503",
            ResponseTemplate::new(503),
            FailureKind::Transient,
            "http 503",
        ),
        (
            "429",
            ResponseTemplate::new(429),
            FailureKind::Transient,
            "http 429",
        ),
        (
            "invalid_grant",
            ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant", "error_description": format!("grant {SECRET} is gone")
            })),
            FailureKind::Terminal,
            "invalid_grant",
        ),
        (
            "invalid_client",
            ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})),
            FailureKind::Terminal,
            "invalid_client",
        ),
        (
            "redirect",
            ResponseTemplate::new(302).insert_header("Location", "http://127.0.0.1:1/elsewhere"),
            FailureKind::Protocol,
            "redirect",
        ),
        (
            "html content type",
            ResponseTemplate::new(200).set_body_raw(b"{}".to_vec(), "text/html"),
            FailureKind::Protocol,
            "content-type",
        ),
    ];
    for (name, response, kind, words) in cases {
        let (error, _) = code_login(response).await;
        assert_eq!(error.kind(), kind, "{name}: {error:?}");
        let inner = oidc_error(&error);
        let text = inner.to_string().to_lowercase();
        assert!(
            text.contains(&words.to_lowercase()),
            "{name}: `{words}` not in `{text}`"
        );
        assert!(
            text.contains("token endpoint"),
            "{name}: endpoint not named in `{text}`"
        );
        assert!(!format!("{inner:?}").contains(SECRET), "{name}: token leaked");
        assert!(!text.contains(SECRET), "{name}: token leaked");
    }
}

#[tokio::test]
async fn hostile_discovery_is_a_typed_error() {
    let cases: Vec<(&str, ResponseTemplate, FailureKind)> = vec![
        ("garbage", json_body("not json at all"), FailureKind::Protocol),
        ("500", ResponseTemplate::new(500), FailureKind::Transient),
        ("404", ResponseTemplate::new(404), FailureKind::Protocol),
        (
            "hangs",
            json_body("{}").set_delay(Duration::from_secs(5)),
            FailureKind::Transient,
        ),
        (
            "10 MB",
            json_body(&format!("{{\"x\":\"{}\"}}", "a".repeat(10 * 1024 * 1024))),
            FailureKind::Protocol,
        ),
        (
            "missing fields",
            json_body(r#"{"issuer":"x"}"#),
            FailureKind::Protocol,
        ),
    ];
    for (name, response, kind) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(response)
            .mount(&server)
            .await;
        let provider = provider_from(
            json!({"type": "oidc", "fields": {"issuer": server.uri(), "client_id": "app"}}),
            hostile_options(),
        );
        let error = provider.discover().await.unwrap_err();
        assert_eq!(error.kind(), kind, "{name}: {error:?}");
        assert!(
            error.to_string().contains("discovery endpoint"),
            "{name}: {error}"
        );
        // Nothing was cached: the next call asks again.
        let _ = provider.discover().await;
        let calls = server.received_requests().await.unwrap().len();
        assert_eq!(calls, 2, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_transient() {
    // Nothing listens on port 1.
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": "http://127.0.0.1:1", "client_id": "app"}}),
        hostile_options(),
    );
    let error = provider
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::Connect { .. }), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(error.to_string().contains("discovery endpoint"));
}

#[tokio::test]
async fn a_refresh_answered_with_garbage_stores_nothing() {
    let mock = MockIdp::start().await;
    mock.token_response(json_body("{\"access_token\": ")).await;
    let direct = mock
        .provider(hostile_options())
        .refresh(&{
            let mut previous =
                authresult_core::AuthResult::new(authresult_core::AccessToken::new("old-at"), 0);
            previous.refresh_token = Some(authresult_core::RefreshToken::new("old-rt"));
            previous
        })
        .await
        .unwrap_err();
    assert_eq!(direct.kind(), FailureKind::Protocol, "{direct:?}");
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), mock.provider(hostile_options()));
    let auth = authresult_core::AuthResult::from_json_value(json!({
        "access_token": "old-at", "refresh_token": "old-rt", "expires_in": 0,
    }))
    .unwrap();
    manager.import("p", auth).await.unwrap();
    let before = manager.session("p").await.unwrap().unwrap();
    // The manager keeps the session through a protocol failure (its policy);
    // what matters here is that nothing new was written.
    let _ = manager.refresh("p").await;
    let after = manager.session("p").await.unwrap().unwrap();
    assert_eq!(after.version(), before.version());
    assert_eq!(after.auth.refresh_token.unwrap().secret(), "old-rt");
}

#[tokio::test]
async fn userinfo_and_introspection_answers_go_through_the_one_client() {
    // A token userinfo refuses is inactive (terminal), as the validator's
    // userinfo check says; an outage stays transient; both keep their cause.
    let mock = MockIdp::start().await;
    let token = authresult_core::AccessToken::new("at-1");
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&mock.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&mock.server)
        .await;
    let provider = mock.provider(hostile_options());
    let refused = provider.userinfo(&token, None).await.unwrap_err();
    assert!(matches!(refused, OidcError::TokenInactive), "{refused:?}");
    assert_eq!(refused.kind(), FailureKind::Terminal);
    let down = provider.userinfo(&token, None).await.unwrap_err();
    assert!(
        matches!(
            down,
            OidcError::HttpStatus {
                endpoint: Endpoint::Userinfo,
                status: 503,
                ..
            }
        ),
        "{down:?}"
    );
    assert_eq!(down.kind(), FailureKind::Transient);
    assert!(!format!("{down} {down:?}").contains("at-1"));
}
