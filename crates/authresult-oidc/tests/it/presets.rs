//! Presets from DataCollect's `{type, fields}` configs against the matching
//! issuer of the local provider: Keycloak (`authority`, or `url` + `realm`),
//! Auth0 (`domain`, `audience`, `organization` and the `org_id` check) and
//! generic OIDC; `build_provider` for every type.

use authresult_core::ProviderConfig;
use authresult_core::{AppSecurity, FailureKind, LoginFlow, LoginResponse};
use authresult_oidc::{OidcError, OidcOptions, Preset, build_provider};
use serde_json::json;
use url::Url;

use crate::support::{authorization_url, fast_options, idp, issuer, login_as, provider_from, request};

#[tokio::test]
async fn keycloak_by_authority_or_by_url_and_realm() {
    let by_authority = provider_from(
        json!({"type": "keycloak", "fields": {"authority": issuer("keycloak").as_str(), "clientId": "native-app"}}),
        fast_options(),
    );
    let by_realm = provider_from(
        json!({"type": "keycloak", "fields": {"url": idp().base().as_str(), "realm": "field", "client_id": "native-app"}}),
        fast_options(),
    );
    assert_eq!(by_realm.issuer(), &issuer("keycloak"));
    assert_eq!(
        by_realm.preset(),
        &Preset::Keycloak {
            realm: Some("field".into())
        }
    );
    assert_eq!(
        by_authority.discover().await.unwrap().issuer,
        by_realm.discover().await.unwrap().issuer
    );
    let auth = login_as(&by_realm, "bob").await;
    let profile = auth.profile.unwrap();
    assert!(profile["realm_access"].contains("supervisor"), "{profile:?}");
    assert!(profile["resource_access"].contains("review"), "{profile:?}");
}

fn auth0(organization: Option<&str>) -> authresult_oidc::OidcProvider {
    let domain = issuer("auth0").as_str().trim_end_matches('/').to_owned();
    let mut fields = json!({"domain": domain, "client_id": "native-app", "audience": "urn:authresult:api"});
    if let Some(org) = organization {
        fields["organization"] = json!(org);
    }
    provider_from(json!({"type": "auth0", "fields": fields}), fast_options())
}

#[tokio::test]
async fn auth0_sends_audience_and_organization_and_enforces_org_id() {
    let provider = auth0(Some("org_beta"));
    assert_eq!(provider.issuer(), &issuer("auth0"), "the trailing slash is kept");
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let url = authorization_url(&pending);
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(
        query.contains(&("audience".into(), "urn:authresult:api".into())),
        "{query:?}"
    );
    assert!(
        query.contains(&("organization".into(), "org_beta".into())),
        "{query:?}"
    );

    // Alice belongs to org_alpha: her ID token's org_id is refused.
    let callback = idp()
        .login_via_form(&url, "alice", "alice-password")
        .await
        .unwrap();
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(
        matches!(error, OidcError::OrganizationMismatch { claim: "org_id", .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Terminal);

    // Bob belongs to org_beta.
    let auth = login_as(&provider, "bob").await;
    assert_eq!(auth.profile.unwrap()["org_id"], "org_beta");

    // Without an organization, anyone of the tenant may log in.
    let open = auth0(None);
    let auth = login_as(&open, "alice").await;
    assert_eq!(auth.profile.unwrap()["org_id"], "org_alpha");
}

#[tokio::test]
async fn generic_oidc_passes_unknown_fields_as_authorization_parameters() {
    let provider = provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(), "client_id": "native-app", "ui_locales": "fr",
            "scope": "openid profile offline_access",
        }}),
        fast_options(),
    );
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let url = authorization_url(&pending);
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.contains(&("ui_locales".into(), "fr".into())), "{query:?}");
    assert!(
        query.contains(&("scope".into(), "openid profile offline_access".into())),
        "{query:?}"
    );
    let callback = idp()
        .login_via_form(&url, "alice", "alice-password")
        .await
        .unwrap();
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    assert!(auth.refresh_token.is_some());
    assert!(
        !auth.profile.unwrap().contains_key("email"),
        "no email scope, no email claim"
    );
}

#[tokio::test]
async fn build_provider_handles_every_type() {
    let plain = issuer("plain");
    for config in [
        json!({"type": "keycloak", "fields": {"authority": issuer("keycloak").as_str(), "client_id": "native-app"}}),
        json!({"type": "auth0", "fields": {"domain": issuer("auth0").as_str(), "client_id": "native-app"}}),
        json!({"type": "oidc", "fields": {"issuer": plain.as_str(), "client_id": "native-app"}}),
        json!({"type": "default", "fields": {"url": "http://127.0.0.1:9"}}),
    ] {
        let parsed = ProviderConfig::from_json_str(&config.to_string()).unwrap();
        assert!(
            build_provider(&parsed, OidcOptions::default()).is_ok(),
            "{config}"
        );
    }
    // Plain http to another host is refused unless the app allows it: the
    // config's own `allow_insecure_http` is ignored.
    let lan = json!({"type": "oidc", "fields": {"issuer": "http://sso.example.org", "client_id": "a",
        "allow_insecure_http": true}})
    .to_string();
    assert!(ProviderConfig::from_json_str(&lan).is_err());
    let allowed = ProviderConfig::from_json_str_with(&lan, AppSecurity::insecure_http(true)).unwrap();
    assert!(build_provider(&allowed, OidcOptions::default()).is_err());
    let mut app = OidcOptions::default();
    app.allow_insecure_http = true;
    assert!(build_provider(&allowed, app).is_ok());
}
