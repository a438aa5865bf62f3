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

#[test]
fn https_issuers_need_https_endpoints() {
    let issuer = url("https://id.example.org");
    assert!(check_same_scheme(&issuer, &url("https://id.example.org/jwks"), "jwks_uri").is_ok());
    assert!(check_same_scheme(&issuer, &url("http://id.example.org/jwks"), "jwks_uri").is_err());
}
