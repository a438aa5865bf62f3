//! Unit tests of the discovery document reader: the issuer rule, the
//! document URL, and the transport rule on every endpoint field.

use serde_json::json;

use super::*;
use std::sync::Arc;

use authresult_core::{ManualClock, Timestamp};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{HttpLimits, NetworkOptions};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|_| unreachable!("test URLs are valid"))
}

/// A document for `issuer` whose endpoints are at `base`, with `field` moved to `field_url`.
fn document(issuer: &str, base: &str, field: &str, field_url: &str) -> DiscoveryDocument {
    let mut doc = json!({"issuer": issuer});
    for name in ENDPOINT_FIELDS {
        doc[*name] = json!(format!("{base}/{name}"));
    }
    doc[field] = json!(field_url);
    DiscoveryDocument::from_json(&url(issuer), doc.to_string().as_bytes())
        .unwrap_or_else(|e| unreachable!("test documents parse: {e}"))
}

#[test]
fn issuers_match_exactly() {
    let cases = [
        (
            "https://id.example.org/realms/a",
            "https://id.example.org/realms/a",
            true,
        ),
        (
            "https://id.example.org/realms/a",
            "https://id.example.org/realms/a/",
            false,
        ),
        ("https://tenant.auth0.com/", "https://tenant.auth0.com/", true),
        // `Url` writes an empty path as `/`: a configured bare host matches either spelling.
        (
            "https://accounts.example.com",
            "https://accounts.example.com",
            true,
        ),
        (
            "https://id.example.org/realms/a",
            "https://id.example.org/realms/b",
            false,
        ),
        ("https://id.example.org/", "http://id.example.org", false),
    ];
    for (configured, found, expected) in cases {
        assert_eq!(
            issuer_matches(&url(configured), found),
            expected,
            "{configured} ~ {found}"
        );
    }
}

#[test]
fn the_document_url_ignores_a_trailing_slash() {
    let of = |issuer: &str| DiscoveryDocument::url(&url(issuer)).map(|u| u.to_string()).ok();
    assert_eq!(
        of("https://tenant.auth0.com/").as_deref(),
        Some("https://tenant.auth0.com/.well-known/openid-configuration")
    );
    assert_eq!(
        of("https://kc.example.org/realms/field").as_deref(),
        Some("https://kc.example.org/realms/field/.well-known/openid-configuration")
    );
}

#[test]
fn every_plain_http_endpoint_of_an_https_issuer_is_a_configuration_error() {
    let issuer = "https://id.example.org";
    for field in ENDPOINT_FIELDS {
        for http in [
            "http://id.example.org/x",
            "http://127.0.0.1:8080/x",
            "http://[::1]:8080/x",
            "http://localhost/x",
        ] {
            let doc = document(issuer, issuer, field, http);
            let error = doc
                .check(&url(issuer), false)
                .err()
                .unwrap_or_else(|| panic!("{field} = {http} was accepted"));
            assert!(
                matches!(&error, HttpError::InsecureEndpoint { field: f, .. } if f == field),
                "{field}: {error}"
            );
            assert!(error.to_string().contains(field), "{field}: {error}");
            // The explicit insecure option allows it.
            assert!(doc.check(&url(issuer), true).is_ok(), "{field}");
        }
        let doc = document(issuer, issuer, field, "https://other.example.org/x");
        assert!(doc.check(&url(issuer), false).is_ok(), "{field}");
        assert_eq!(doc.endpoint(field), Some(&url("https://other.example.org/x")));
    }
}

#[test]
fn a_loopback_issuer_may_list_loopback_http_endpoints_only() {
    let issuer = "http://127.0.0.1:8080";
    for field in ENDPOINT_FIELDS {
        let doc = document(issuer, issuer, field, "http://localhost:9090/x");
        assert!(doc.check(&url(issuer), false).is_ok(), "{field}");
        let doc = document(issuer, issuer, field, "http://id.example.org/x");
        let error = doc
            .check(&url(issuer), false)
            .err()
            .unwrap_or_else(|| panic!("{field}: remote plain http was accepted"));
        assert!(
            matches!(error, HttpError::InsecureEndpoint { .. }),
            "{field}: {error}"
        );
    }
}

#[test]
fn another_issuer_or_a_malformed_document_is_refused() {
    let doc = document(
        "https://id.example.org/b",
        "https://id.example.org",
        "jwks_uri",
        "https://x/",
    );
    let error = doc
        .check(&url("https://id.example.org/a"), false)
        .err()
        .unwrap_or_else(|| panic!("another issuer's document was accepted"));
    assert!(matches!(error, HttpError::IssuerMismatch { .. }), "{error}");
    for body in [
        "[]",
        "{}",
        r#"{"issuer": 1}"#,
        r#"{"issuer": "https://a", "jwks_uri": "not a url"}"#,
        r#"{"issuer": "https://a", "token_endpoint": 3}"#,
        r#"{"issuer": "https://a", "issuer": "https://b"}"#,
    ] {
        let error = DiscoveryDocument::from_json(&url("https://a"), body.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{body} was accepted"));
        assert!(matches!(error, HttpError::Malformed { .. }), "{body}: {error}");
    }
}

/// A discovery of `server`'s issuer through a client on `clock`, kept for a minute.
fn discovery(server: &MockServer, clock: &ManualClock) -> Discovery {
    let limits = HttpLimits {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        max_body: 64 * 1024,
    };
    let client = HttpClient::new(limits, &NetworkOptions::default(), Arc::new(clock.clone()))
        .unwrap_or_else(|e| unreachable!("the client builds: {e}"));
    Discovery::new(url(&server.uri()), client, Duration::from_secs(60), false)
}

#[tokio::test]
async fn the_document_is_kept_for_the_ttl_by_the_injected_clock_then_read_again() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issuer": issuer})))
        .expect(2)
        .mount(&server)
        .await;
    let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
    let discovery = discovery(&server, &clock);
    let first = discovery.get().await.unwrap_or_else(|e| unreachable!("{e}"));
    clock.advance(Duration::from_secs(59));
    let second = discovery.get().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(Arc::ptr_eq(&first, &second), "read again within the ttl");
    clock.advance(Duration::from_secs(1));
    let third = discovery.get().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!Arc::ptr_eq(&first, &third), "not read again after the ttl");
}

#[tokio::test]
async fn a_transient_failure_keeps_the_older_document_and_a_refusal_does_not() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issuer": issuer})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
    let discovery = discovery(&server, &clock);
    let first = discovery.get().await.unwrap_or_else(|e| unreachable!("{e}"));
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(120));
    let kept = discovery.get().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(Arc::ptr_eq(&first, &kept), "a 503 dropped the older document");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issuer": "https://other.example"})))
        .mount(&server)
        .await;
    let error = discovery.get().await.err();
    assert!(
        matches!(error, Some(HttpError::IssuerMismatch { .. })),
        "another issuer's document was not refused: {error:?}"
    );
}
