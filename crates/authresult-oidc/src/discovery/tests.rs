//! RFC 8705 §5 aliases: what they replace, and the transport rule they follow.
//! (The discovery document itself is read and checked by `authresult-jwt`'s
//! `DiscoveryDocument`, tested there.)

use super::*;

fn issuer() -> Url {
    Url::parse("https://id.example.org").unwrap_or_else(|e| unreachable!("test issuer: {e}"))
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
    assert!(use_mtls_aliases(&issuer(), &mut found, false).is_ok());
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
    assert!(use_mtls_aliases(&issuer(), &mut plain, false).is_ok());
    assert_eq!(
        plain.token_endpoint().map(|u| u.url().as_str()),
        Some("https://id.example.org/token")
    );
}

#[test]
fn mtls_aliases_follow_the_transport_rule_and_must_be_urls() {
    let issuer = issuer();
    let mut http_alias = metadata_with(serde_json::json!({"mtls_endpoint_aliases": {
        "token_endpoint": "http://mtls.id.example.org/token",
    }}));
    let error = use_mtls_aliases(&issuer, &mut http_alias, false).err();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("token_endpoint")),
        "{error:?}"
    );
    let mut garbage = metadata_with(serde_json::json!({"mtls_endpoint_aliases": {"token_endpoint": 7}}));
    let error = use_mtls_aliases(&issuer, &mut garbage, false).err();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("mtls_endpoint_aliases.token_endpoint")),
        "{error:?}"
    );
}
