//! Tests of the `{type, fields}` provider configuration parser.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use url::Url;

use crate::{AppSecurity, Error, ProviderConfig, check_endpoint_transport, ignored_fields};

fn parse(json: &str) -> Result<ProviderConfig, Error> {
    ProviderConfig::from_json_str(json)
}

fn field_of(err: Error) -> String {
    match err {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn keycloak_from_authority() {
    let c = parse(
        r#"{"type":"keycloak","fields":{"authority":"https://kc.example.org/realms/field","client_id":"app",
        "redirect_uri":"http://127.0.0.1/callback","scope":"openid offline_access","kc_idp_hint":"google"}}"#,
    )
    .unwrap();
    let ProviderConfig::Keycloak(kc) = c else {
        panic!("not keycloak")
    };
    assert_eq!(kc.client.issuer.as_str(), "https://kc.example.org/realms/field");
    assert_eq!(kc.realm.as_deref(), Some("field"));
    assert_eq!(kc.client.client_id, "app");
    assert_eq!(kc.client.scopes, ["openid", "offline_access"]);
    assert_eq!(
        kc.client.extra_params.get("kc_idp_hint").map(String::as_str),
        Some("google")
    );
    assert!(!kc.client.extra_params.contains_key("client_id"));
}

#[test]
fn keycloak_from_base_url_and_realm() {
    let c = parse(
        r#"{"type":"keycloak","fields":{"url":"https://kc.example.org/","realm":"north","clientId":"app"}}"#,
    )
    .unwrap();
    let ProviderConfig::Keycloak(kc) = c else {
        panic!("not keycloak")
    };
    assert_eq!(kc.client.issuer.as_str(), "https://kc.example.org/realms/north");
    assert_eq!(kc.client.scopes, ["openid", "profile", "email", "offline_access"]);
    let err = parse(r#"{"type":"keycloak","fields":{"url":"https://kc.example.org","client_id":"a"}}"#)
        .unwrap_err();
    assert_eq!(field_of(err), "realm");
}

#[test]
fn auth0_domain_becomes_an_issuer_with_a_trailing_slash() {
    let c = parse(
        r#"{"type":"auth0","fields":{"domain":"tenant.eu.auth0.com","clientId":"app","audience":"https://api",
        "organization":"org_1"}}"#,
    )
    .unwrap();
    let ProviderConfig::Auth0(a) = c else {
        panic!("not auth0")
    };
    assert_eq!(a.client.issuer.as_str(), "https://tenant.eu.auth0.com/");
    assert_eq!(a.audience.as_deref(), Some("https://api"));
    assert_eq!(a.organization.as_deref(), Some("org_1"));
    assert!(a.client.extra_params.is_empty());
}

#[test]
fn generic_oidc_and_sync_server() {
    let c = parse(r#"{"type":"oidc","fields":{"issuer":"https://id.example.org","client_id":"c"}}"#).unwrap();
    assert_eq!(
        c.oidc_client().unwrap().issuer.as_str(),
        "https://id.example.org/"
    );
    let c = parse(r#"{"type":"default","fields":{"url":"http://127.0.0.1:3000"}}"#).unwrap();
    let ProviderConfig::SyncServer(s) = c else {
        panic!("not sync")
    };
    assert_eq!(s.url.as_str(), "http://127.0.0.1:3000/");
    assert!(c_is_none_oidc(
        r#"{"type":"default","fields":{"url":"https://sync.example.org"}}"#
    ));
}

fn c_is_none_oidc(json: &str) -> bool {
    parse(json).unwrap().oidc_client().is_none()
}

#[test]
fn missing_required_fields_are_named() {
    assert_eq!(
        field_of(parse(r#"{"type":"oidc","fields":{"client_id":"c"}}"#).unwrap_err()),
        "issuer"
    );
    assert_eq!(
        field_of(parse(r#"{"type":"oidc","fields":{"issuer":"https://id.example.org"}}"#).unwrap_err()),
        "client_id"
    );
    assert_eq!(
        field_of(parse(r#"{"type":"auth0","fields":{"clientId":"c"}}"#).unwrap_err()),
        "domain"
    );
    assert_eq!(
        field_of(parse(r#"{"type":"default","fields":{}}"#).unwrap_err()),
        "url"
    );
    assert_eq!(
        field_of(parse(r#"{"type":"keycloak"}"#).unwrap_err()),
        "authority"
    );
    assert_eq!(
        field_of(parse(r#"{"type":"saml","fields":{}}"#).unwrap_err()),
        "type"
    );
    assert_eq!(field_of(parse(r#"{"type":1,"fields":{}}"#).unwrap_err()), "type");
    assert_eq!(
        field_of(parse(r#"{"type":"oidc","fields":[]}"#).unwrap_err()),
        "fields"
    );
    assert_eq!(field_of(parse(r#"not json"#).unwrap_err()), "(document)");
}

#[test]
fn bad_urls_and_insecure_transport_are_named() {
    let err = parse(r#"{"type":"oidc","fields":{"issuer":"not a url","client_id":"c"}}"#).unwrap_err();
    assert_eq!(field_of(err), "issuer");
    let err =
        parse(r#"{"type":"oidc","fields":{"issuer":"http://id.example.org","client_id":"c"}}"#).unwrap_err();
    assert_eq!(field_of(err), "issuer");
    assert!(
        err_text(r#"{"type":"default","fields":{"url":"http://sync.example.org"}}"#).contains("plain http")
    );
    let err =
        parse(r#"{"type":"oidc","fields":{"issuer":"ftp://id.example.org","client_id":"c"}}"#).unwrap_err();
    assert_eq!(field_of(err), "issuer");
    let err =
        parse(r#"{"type":"oidc","fields":{"issuer":"https://id.example.org","client_id":7}}"#).unwrap_err();
    assert_eq!(field_of(err), "client_id");
    let err = parse(
        r#"{"type":"oidc","fields":{"issuer":"https://id.example.org","client_id":"c","redirect_uri":"::"}}"#,
    )
    .unwrap_err();
    assert_eq!(field_of(err), "redirect_uri");
    // Loopback is fine over http.
    for ok in [
        r#"{"type":"oidc","fields":{"issuer":"http://127.0.0.1:8080/plain","client_id":"c"}}"#,
        r#"{"type":"oidc","fields":{"issuer":"http://localhost:8080","client_id":"c"}}"#,
        r#"{"type":"oidc","fields":{"issuer":"http://[::1]:8080","client_id":"c"}}"#,
    ] {
        parse(ok).unwrap();
    }
    // Any host only when the app says so: the config's own switch is ignored.
    let lan = r#"{"type":"default","fields":{"url":"http://sync.lan","allow_insecure_http":"true"}}"#;
    assert_eq!(field_of(parse(lan).unwrap_err()), "url");
    ProviderConfig::from_json_str_with(lan, AppSecurity::insecure_http(true)).unwrap();
    let fields = serde_json::from_str(r#"{"url":"http://sync.lan","allow_insecure_http":true}"#).unwrap();
    assert_eq!(ignored_fields(&fields), ["allow_insecure_http"]);
}

fn err_text(json: &str) -> String {
    parse(json).unwrap_err().to_string()
}

#[test]
fn unknown_fields_and_extra_query_params_become_authorization_parameters() {
    let c = parse(
        r#"{"type":"oidc","fields":{"issuer":"https://id.example.org","client_id":"c","prompt":"login",
        "max_age":300,"extraQueryParams":"{\"ui_locales\":\"fr\"}"}}"#,
    )
    .unwrap();
    let extra = &c.oidc_client().unwrap().extra_params;
    assert_eq!(extra["prompt"], "login");
    assert_eq!(extra["max_age"], "300");
    assert_eq!(extra["ui_locales"], "fr");
    assert_eq!(extra.len(), 3);
}

#[test]
fn endpoints_of_an_https_issuer_must_be_https_unless_insecure_is_allowed() {
    let url = |s: &str| Url::parse(s).unwrap();
    let https = url("https://id.example.org/realms/a");
    let loopback = url("http://127.0.0.1:8080/realms/a");
    // An https issuer: https endpoints only, not even loopback http.
    assert!(check_endpoint_transport(&https, &url("https://id.example.org/token"), false).is_ok());
    for endpoint in [
        "http://id.example.org/token",
        "http://127.0.0.1:9/token",
        "http://localhost/token",
    ] {
        let refused = check_endpoint_transport(&https, &url(endpoint), false).unwrap_err();
        assert!(refused.contains("allow_insecure_http"), "{endpoint}: {refused}");
        assert!(
            check_endpoint_transport(&https, &url(endpoint), true).is_ok(),
            "{endpoint}"
        );
    }
    // A loopback http issuer: loopback http endpoints, not remote ones.
    assert!(check_endpoint_transport(&loopback, &url("http://127.0.0.1:9/token"), false).is_ok());
    assert!(check_endpoint_transport(&loopback, &url("https://id.example.org/token"), false).is_ok());
    assert!(check_endpoint_transport(&loopback, &url("http://0.0.0.0:9/token"), false).is_err());
    assert!(check_endpoint_transport(&loopback, &url("http://id.example.org/token"), false).is_err());
    // Other schemes never.
    assert!(check_endpoint_transport(&loopback, &url("ftp://127.0.0.1/token"), true).is_err());
}

/// A `realm` that URL parsing reads as something other than one path
/// segment (a dot segment, a query, a fragment, a backslash that special
/// URLs read as `/`, a percent-encoded `/` or dot) would move the issuer
/// out of `{url}/realms/{realm}`: to the host's root or another realm.
#[test]
fn keycloak_realm_cannot_leave_the_realms_path() {
    for realm in [
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        ".%2e",
        "%2e",
        "a?x",
        "a#x",
        r"a\..\..",
        r"..\other",
        "a%2F..",
        "%2e%2e%2fother",
    ] {
        let fields = serde_json::json!({
            "url": "https://kc.example.org",
            "realm": realm,
            "client_id": "app",
        });
        let json = serde_json::json!({"type": "keycloak", "fields": fields}).to_string();
        match parse(&json) {
            Err(e) => assert_eq!(field_of(e), "realm", "realm {realm:?}"),
            Ok(c) => {
                let ProviderConfig::Keycloak(kc) = c else {
                    panic!("not keycloak")
                };
                panic!("realm {realm:?} accepted as issuer {}", kc.client.issuer);
            }
        }
    }
}

/// A `url` with a query or fragment would swallow `/realms/{realm}`.
#[test]
fn keycloak_url_with_query_or_fragment_is_refused() {
    for url in ["https://kc.example.org/?x=", "https://kc.example.org/#x"] {
        let fields = serde_json::json!({"url": url, "realm": "field", "client_id": "app"});
        let json = serde_json::json!({"type": "keycloak", "fields": fields}).to_string();
        assert_eq!(field_of(parse(&json).unwrap_err()), "url", "url {url:?}");
    }
}
