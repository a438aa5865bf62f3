//! Unit tests of the discovery document reader: the issuer rule, the
//! document URL, and the transport rule on every endpoint field.

use serde_json::json;

use super::*;
use crate::ValidationErrorKind;

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
    DiscoveryDocument::from_json(doc.to_string().as_bytes())
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
            assert_eq!(
                error.kind(),
                ValidationErrorKind::Configuration,
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
        assert_eq!(
            error.kind(),
            ValidationErrorKind::Configuration,
            "{field}: {error}"
        );
    }
}

#[test]
fn another_issuer_or_a_malformed_document_is_a_provider_error() {
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
    assert_eq!(error.kind(), ValidationErrorKind::ProviderError, "{error}");
    for body in [
        "[]",
        "{}",
        r#"{"issuer": 1}"#,
        r#"{"issuer": "https://a", "jwks_uri": "not a url"}"#,
        r#"{"issuer": "https://a", "token_endpoint": 3}"#,
        r#"{"issuer": "https://a", "issuer": "https://b"}"#,
    ] {
        let error = DiscoveryDocument::from_json(body.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{body} was accepted"));
        assert_eq!(
            error.kind(),
            ValidationErrorKind::ProviderError,
            "{body}: {error}"
        );
    }
}
