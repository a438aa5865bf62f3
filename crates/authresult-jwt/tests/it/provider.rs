//! Real tokens of the local OpenID provider (`xtask/idp`): JWT access tokens
//! of all three issuers, Keycloak roles, Auth0 organizations, ID tokens,
//! opaque tokens through introspection and userinfo, and key rotation
//! (in-place and by restart) without restarting the validator, and the
//! client's own ID tokens refused by a validator built from its provider
//! config. These tests fail, never skip, when Node.js is missing.

use std::time::Duration;

use authresult_core::{ClientSecret, ProviderConfig};
use authresult_jwt::{
    IssuerConfig, TokenPurpose, TokenTypeReason, TokenValidator, ValidationError, ValidationErrorKind as K,
    Verification,
};
use authresult_test_support::{Idp, IdpOptions};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use url::Url;

use crate::support::{idp, rand_u64};

pub const API: &str = "urn:authresult:api";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";

fn endpoint(issuer: &Url, suffix: &str) -> String {
    format!("{}/{suffix}", issuer.as_str().trim_end_matches('/'))
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn post_token(issuer: &Url, form: &[(&str, &str)], client_auth: Option<(&str, &str)>) -> Value {
    let mut request = reqwest::Client::new().post(endpoint(issuer, "token"));
    if let Some((id, secret)) = client_auth {
        request = request.header("authorization", basic(id, secret));
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let json: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(status.is_success(), "token endpoint: {status} {json}");
    json
}

/// A client-credentials JWT access token of `confidential-app`.
pub async fn client_credentials(issuer: &Url) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "api:read api:write"),
    ];
    let json = post_token(issuer, &form, Some(("confidential-app", "confidential-secret"))).await;
    json["access_token"].as_str().unwrap().to_owned()
}

/// Logs `username` in with the authorization code flow (PKCE S256) and
/// returns the token response. `resource` asks for a JWT access token.
async fn login(idp: &Idp, issuer: &Url, client_id: &str, username: &str, resource: bool) -> Value {
    let verifier = format!(
        "verifier-{:016x}{:016x}{:016x}",
        rand_u64(),
        rand_u64(),
        rand_u64()
    );
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    let mut auth = Url::parse(&endpoint(issuer, "auth")).unwrap();
    {
        let mut q = auth.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid profile email api:read")
            .append_pair("state", "state-1")
            .append_pair("nonce", "nonce-1")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if resource {
            q.append_pair("resource", API);
        }
    }
    let password = format!("{username}-password");
    let callback = idp.login_via_form(&auth, username, &password).await.unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    if resource {
        form.push(("resource", API));
    }
    if client_id == "confidential-app" {
        post_token(issuer, &form, Some(("confidential-app", "confidential-secret"))).await
    } else {
        form.push(("client_id", client_id));
        post_token(issuer, &form, None).await
    }
}

fn api_validator(issuer: &Url) -> TokenValidator {
    TokenValidator::builder()
        .issuer(
            IssuerConfig::new(issuer.as_str())
                .audience(API)
                .require_access_token_type(true),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_credentials_tokens_of_every_issuer_validate() {
    for name in ["plain", "keycloak", "auth0"] {
        let issuer = idp().issuer(name).unwrap().clone();
        let validator = api_validator(&issuer);
        let token = client_credentials(&issuer).await;
        let ok = validator
            .validate(&token)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ok.issuer(), issuer.as_str());
        assert_eq!(ok.subject(), Some("confidential-app"));
        assert_eq!(ok.client_id(), Some("confidential-app"));
        assert_eq!(ok.token_kind(), TokenPurpose::Access);
        assert!(
            ok.has_scope("api:read") && ok.has_scope("api:write"),
            "{:?}",
            ok.scopes()
        );
        assert_eq!(validator.cached_tokens(), 1);
        validator.validate(&token).await.unwrap();
        // Another issuer of the same provider does not trust it.
        let other = if name == "plain" { "keycloak" } else { "plain" };
        let error = api_validator(idp().issuer(other).unwrap())
            .validate(&token)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), K::UntrustedIssuer);
    }
}

#[tokio::test]
async fn keycloak_user_tokens_carry_realm_and_client_roles() {
    let issuer = idp().issuer("keycloak").unwrap().clone();
    let validator = api_validator(&issuer);
    let tokens = login(idp(), &issuer, "confidential-app", "bob", true).await;
    let ok = validator
        .validate(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.subject(), Some("bob"));
    assert!(
        ok.has_realm_role("supervisor") && ok.has_realm_role("enumerator"),
        "{:?}",
        ok.realm_roles()
    );
    assert_eq!(ok.client_roles("native-app"), ["collect", "review"]);
}

#[tokio::test]
async fn an_auth0_config_enforces_the_organization_on_real_tokens() {
    let issuer = idp().issuer("auth0").unwrap().clone();
    let config = ProviderConfig::from_json_str(
        &json!({"type": "auth0", "fields": {
            "domain": issuer.as_str(), "client_id": "native-app", "audience": API, "organization": "org_alpha"}})
        .to_string(),
    )
    .unwrap();
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::from_provider_config(&config).unwrap())
        .build()
        .unwrap();
    let alice = login(idp(), &issuer, "native-app", "alice", true).await;
    let ok = validator
        .validate(alice["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.org_id(), Some("org_alpha"));
    let bob = login(idp(), &issuer, "native-app", "bob", true).await;
    let error = validator
        .validate(bob["access_token"].as_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), K::WrongOrganization);
}

#[tokio::test]
async fn real_id_tokens_validate_only_when_accepted() {
    let issuer = idp().issuer("plain").unwrap().clone();
    for client in ["native-app", "native-app-es256"] {
        let tokens = login(idp(), &issuer, client, "alice", false).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let accepting = TokenValidator::builder()
            .issuer(
                IssuerConfig::new(issuer.as_str())
                    .audience(client)
                    .accept_id_tokens(true),
            )
            .build()
            .unwrap();
        let ok = accepting
            .validate(id_token)
            .await
            .unwrap_or_else(|e| panic!("{client}: {e}"));
        assert_eq!(ok.token_kind(), TokenPurpose::Id);
        assert_eq!(ok.subject(), Some("alice"));
        let refusing = TokenValidator::builder()
            .issuer(IssuerConfig::new(issuer.as_str()).audience(client))
            .build()
            .unwrap();
        assert_eq!(
            refusing.validate(id_token).await.unwrap_err().kind(),
            K::WrongTokenType
        );
    }
}

#[tokio::test]
async fn real_opaque_tokens_validate_through_introspection_and_userinfo() {
    let issuer = idp().issuer("keycloak").unwrap().clone();
    let tokens = login(idp(), &issuer, "confidential-app", "alice", false).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains('.'), "expected an opaque token");
    let introspecting = || {
        TokenValidator::builder()
            .issuer(
                IssuerConfig::new(issuer.as_str())
                    .any_audience()
                    .introspection("resource-server", ClientSecret::new("resource-secret")),
            )
            .build()
            .unwrap()
    };
    let userinfo = || {
        TokenValidator::builder()
            .issuer(IssuerConfig::new(issuer.as_str()).any_audience().userinfo(None))
            .build()
            .unwrap()
    };
    let ok = introspecting().validate(&token).await.unwrap();
    assert_eq!(ok.verified_by(), Verification::Introspection);
    assert_eq!(ok.subject(), Some("alice"));
    assert!(ok.expires_at().is_some());
    let ok = userinfo().validate(&token).await.unwrap();
    assert_eq!(ok.verified_by(), Verification::Userinfo);
    assert_eq!(ok.subject(), Some("alice"));
    assert!(ok.has_realm_role("enumerator"), "{:?}", ok.claims());

    // Revoked: both checks refuse it.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &token)
        .finish();
    let response = reqwest::Client::new()
        .post(endpoint(&issuer, "token/revocation"))
        .header("authorization", basic("confidential-app", "confidential-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(
        introspecting().validate(&token).await.unwrap_err().kind(),
        K::Inactive
    );
    assert_eq!(userinfo().validate(&token).await.unwrap_err().kind(), K::Inactive);
}

#[tokio::test]
async fn new_tokens_validate_after_key_rotation_without_restarting_the_validator() {
    let first = Idp::start(IdpOptions::default()).unwrap();
    let port = first.base().port().unwrap();
    let issuer = first.issuer("plain").unwrap().clone();
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(issuer.as_str()).audience(API))
        .jwks_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let before = client_credentials(&issuer).await;
    validator.validate(&before).await.unwrap();
    let kid = |token: &str| {
        authresult_jwt::UnverifiedJwt::parse(token)
            .unwrap()
            .key_id()
            .unwrap()
            .to_owned()
    };

    // 1. The provider publishes new keys next to the old ones and signs with the new ones.
    let response = reqwest::Client::new()
        .post(format!("{}__admin/rotate-keys", first.base()))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let rotated = client_credentials(&issuer).await;
    assert_ne!(kid(&rotated), kid(&before));
    validator.validate(&rotated).await.unwrap();
    validator.validate(&before).await.unwrap();

    // 2. The provider restarts with entirely new keys on the same address.
    drop(first);
    let mut options = IdpOptions::default();
    options.port = Some(port);
    let second = Idp::start(options).unwrap();
    assert_eq!(second.issuer("plain").unwrap(), &issuer);
    let restarted = client_credentials(&issuer).await;
    assert_ne!(kid(&restarted), kid(&rotated));
    let ok = validator.validate(&restarted).await.unwrap();
    assert_eq!(ok.subject(), Some("confidential-app"));
}

/// Logs `username` in with the device flow of `device-app` (no nonce, as the
/// flow has none) and returns the token response, with a JWT access token
/// for [`API`].
async fn device_login(idp: &Idp, issuer: &Url, username: &str) -> Value {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "device-app")
        .append_pair("scope", "openid profile email api:read")
        .append_pair("resource", API)
        .finish();
    let response = reqwest::Client::new()
        .post(endpoint(issuer, "device/auth"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let device: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let verification = Url::parse(device["verification_uri"].as_str().unwrap()).unwrap();
    let user_code = device["user_code"].as_str().unwrap();
    let password = format!("{username}-password");
    idp.approve_device(&verification, Some(user_code), username, &password, true)
        .await
        .unwrap();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device["device_code"].as_str().unwrap()),
        ("client_id", "device-app"),
        ("resource", API),
    ];
    post_token(issuer, &form, None).await
}

/// A DataCollect config of issuer `name` for `client_id`, asking for [`API`].
fn app_config(name: &str, client_id: &str) -> ProviderConfig {
    let issuer = idp().issuer(name).unwrap().as_str().to_owned();
    let config = match name {
        "keycloak" => json!({"type": "keycloak", "fields": {
            "authority": issuer, "client_id": client_id, "resource": API}}),
        "auth0" => json!({"type": "auth0", "fields": {
            "domain": issuer, "client_id": client_id, "audience": API, "resource": API}}),
        _ => json!({"type": "oidc", "fields": {
            "issuer": issuer, "client_id": client_id, "resource": API}}),
    };
    ProviderConfig::from_json_str(&config.to_string()).unwrap()
}

fn sync_server(config: IssuerConfig) -> TokenValidator {
    TokenValidator::builder().issuer(config).build().unwrap()
}

#[track_caller]
fn refused_id_token(error: ValidationError) -> TokenTypeReason {
    match error {
        ValidationError::WrongTokenType {
            found: TokenPurpose::Id,
            reason,
        } => reason,
        other => panic!("expected an id token refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sync_server_from_the_provider_config_refuses_the_clients_own_id_tokens() {
    for name in ["plain", "keycloak", "auth0"] {
        let issuer = idp().issuer(name).unwrap().clone();

        // Device flow: an ID token without nonce.
        let validator =
            sync_server(IssuerConfig::from_provider_config(&app_config(name, "device-app")).unwrap());
        let tokens = device_login(idp(), &issuer, "alice").await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let error = validator.validate(id_token).await.unwrap_err();
        assert_eq!(
            refused_id_token(error),
            TokenTypeReason::LoginClientAudience,
            "{name}"
        );
        let ok = validator
            .validate(tokens["access_token"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ok.token_kind(), TokenPurpose::Access);
        assert_eq!(ok.subject(), Some("alice"));

        // Code flow: an ID token with its nonce.
        let validator =
            sync_server(IssuerConfig::from_provider_config(&app_config(name, "native-app")).unwrap());
        let tokens = login(idp(), &issuer, "native-app", "alice", true).await;
        let error = validator
            .validate(tokens["id_token"].as_str().unwrap())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("`nonce`"), "{name}: {error}");
        assert_eq!(
            refused_id_token(error),
            TokenTypeReason::IdTokenClaim { claim: "nonce" },
            "{name}"
        );
        let ok = validator
            .validate(tokens["access_token"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ok.token_kind(), TokenPurpose::Access);
    }
}

#[tokio::test]
async fn only_the_id_token_option_makes_a_real_device_id_token_pass() {
    let issuer = idp().issuer("plain").unwrap().clone();
    let tokens = device_login(idp(), &issuer, "bob").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let base = || IssuerConfig::from_provider_config(&app_config("plain", "device-app")).unwrap();
    // Accepting the login client's audience or unmarked tokens is not enough:
    // `auth_time` with that audience is an ID token's.
    let error = sync_server(
        base()
            .accept_login_client_audience(true)
            .accept_unclassified_tokens(true),
    )
    .validate(id_token)
    .await
    .unwrap_err();
    assert_eq!(refused_id_token(error), TokenTypeReason::IdTokenShape);
    let ok = sync_server(base().accept_id_tokens(true))
        .validate(id_token)
        .await
        .unwrap();
    assert_eq!(ok.token_kind(), TokenPurpose::Id);
    assert_eq!(ok.subject(), Some("bob"));
}
