//! Unit tests of discovery helpers.

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|_| unreachable!("test URLs are valid"))
}

#[test]
fn issuers_match_exactly() {
    assert!(issuer_matches(
        &url("https://id.example.org/realms/a"),
        "https://id.example.org/realms/a"
    ));
    assert!(!issuer_matches(
        &url("https://id.example.org/realms/a"),
        "https://id.example.org/realms/a/"
    ));
    assert!(issuer_matches(
        &url("https://tenant.auth0.com/"),
        "https://tenant.auth0.com/"
    ));
    // `Url` writes an empty path as `/`: a configured bare host matches either spelling.
    assert!(issuer_matches(
        &url("https://accounts.example.com"),
        "https://accounts.example.com"
    ));
    assert!(!issuer_matches(
        &url("https://id.example.org/realms/a"),
        "https://id.example.org/realms/b"
    ));
    assert!(!issuer_matches(
        &url("https://id.example.org/"),
        "http://id.example.org"
    ));
}

#[test]
fn discovery_url_for_trailing_slash_issuers() {
    assert_eq!(
        Discovery::document_url(&url("https://tenant.auth0.com/"))
            .map(|u| u.to_string())
            .ok(),
        Some("https://tenant.auth0.com/.well-known/openid-configuration".to_owned())
    );
    assert_eq!(
        Discovery::document_url(&url("https://kc.example.org/realms/field"))
            .map(|u| u.to_string())
            .ok(),
        Some("https://kc.example.org/realms/field/.well-known/openid-configuration".to_owned())
    );
}

/// A discovery document for `issuer` whose endpoints are at `endpoint_base`,
/// with `field` moved to `field_url`.
fn metadata(issuer: &str, endpoint_base: &str, field: &str, field_url: &str) -> Metadata {
    let mut doc = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{endpoint_base}/auth"),
        "token_endpoint": format!("{endpoint_base}/token"),
        "jwks_uri": format!("{endpoint_base}/jwks"),
        "userinfo_endpoint": format!("{endpoint_base}/me"),
        "device_authorization_endpoint": format!("{endpoint_base}/device"),
        "revocation_endpoint": format!("{endpoint_base}/revoke"),
        "introspection_endpoint": format!("{endpoint_base}/introspect"),
        "end_session_endpoint": format!("{endpoint_base}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    doc[field] = serde_json::json!(field_url);
    serde_json::from_value(doc).unwrap_or_else(|e| unreachable!("test documents parse: {e}"))
}

const FIELDS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
];

#[test]
fn every_plain_http_endpoint_of_an_https_issuer_is_a_configuration_error() {
    let issuer = "https://id.example.org";
    for field in FIELDS {
        for http in ["http://id.example.org/x", "http://127.0.0.1:8080/x"] {
            let doc = metadata(issuer, issuer, field, http);
            let error = check_endpoints(&url(issuer), &doc, false)
                .err()
                .unwrap_or_else(|| panic!("{field} = {http} was accepted"));
            assert!(
                matches!(error, OidcError::Configuration { .. }),
                "{field}: {error:?}"
            );
            assert_eq!(error.kind(), authresult_core::FailureKind::Configuration);
            assert!(error.to_string().contains(field), "{field}: {error}");
            // The explicit insecure option allows it.
            assert!(check_endpoints(&url(issuer), &doc, true).is_ok(), "{field}");
        }
        let doc = metadata(issuer, issuer, field, "https://other.example.org/x");
        assert!(check_endpoints(&url(issuer), &doc, false).is_ok(), "{field}");
    }
}

#[test]
fn a_loopback_issuer_may_list_loopback_http_endpoints_only() {
    let issuer = "http://127.0.0.1:8080";
    for field in FIELDS {
        let doc = metadata(issuer, issuer, field, "http://localhost:9090/x");
        assert!(check_endpoints(&url(issuer), &doc, false).is_ok(), "{field}");
        let doc = metadata(issuer, issuer, field, "http://id.example.org/x");
        let error = check_endpoints(&url(issuer), &doc, false)
            .err()
            .unwrap_or_else(|| panic!("{field}: remote plain http was accepted"));
        assert!(
            matches!(error, OidcError::Configuration { .. }),
            "{field}: {error:?}"
        );
    }
}

fn metadata_with(extra: serde_json::Value) -> Metadata {
    let mut document = serde_json::json!({
        "issuer": "https://id.example.org",
        "authorization_endpoint": "https://id.example.org/auth",
        "token_endpoint": "https://id.example.org/token",
        "userinfo_endpoint": "https://id.example.org/me",
        "revocation_endpoint": "https://id.example.org/revoke",
        "jwks_uri": "https://id.example.org/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if let (Some(document), Some(extra)) = (document.as_object_mut(), extra.as_object()) {
        document.extend(extra.clone());
    }
    serde_json::from_value(document).unwrap_or_else(|e| unreachable!("test metadata: {e}"))
}

#[test]
fn mtls_aliases_replace_the_endpoints_they_name() {
    let mut found = metadata_with(serde_json::json!({"mtls_endpoint_aliases": {
        "token_endpoint": "https://mtls.id.example.org/token",
        "revocation_endpoint": "https://mtls.id.example.org/revoke",
        "device_authorization_endpoint": "https://mtls.id.example.org/device",
    }}));
    assert!(use_mtls_aliases(&mut found).is_ok());
    assert_eq!(
        found.token_endpoint().map(|u| u.url().as_str()),
        Some("https://mtls.id.example.org/token")
    );
    let extra = found.additional_metadata();
    assert_eq!(
        extra.revocation_endpoint.as_ref().map(Url::as_str),
        Some("https://mtls.id.example.org/revoke")
    );
    assert_eq!(
        extra.device_authorization_endpoint.as_ref().map(Url::as_str),
        Some("https://mtls.id.example.org/device")
    );
    // Not aliased: unchanged.
    assert_eq!(
        found.userinfo_endpoint().map(|u| u.url().as_str()),
        Some("https://id.example.org/me")
    );
    assert!(extra.introspection_endpoint.is_none());

    // Without aliases nothing changes.
    let mut plain = metadata_with(serde_json::json!({}));
    assert!(use_mtls_aliases(&mut plain).is_ok());
    assert_eq!(
        plain.token_endpoint().map(|u| u.url().as_str()),
        Some("https://id.example.org/token")
    );
}

#[test]
fn mtls_aliases_follow_the_transport_rule_and_must_be_urls() {
    let issuer = url("https://id.example.org");
    let mut http_alias = metadata_with(serde_json::json!({"mtls_endpoint_aliases": {
        "token_endpoint": "http://mtls.id.example.org/token",
    }}));
    assert!(use_mtls_aliases(&mut http_alias).is_ok());
    let error = check_endpoints(&issuer, &http_alias, false).map(|_| ()).err();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("token_endpoint")),
        "{error:?}"
    );
    let mut garbage = metadata_with(serde_json::json!({"mtls_endpoint_aliases": {"token_endpoint": 7}}));
    let error = use_mtls_aliases(&mut garbage).err();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("mtls_endpoint_aliases.token_endpoint")),
        "{error:?}"
    );
}
