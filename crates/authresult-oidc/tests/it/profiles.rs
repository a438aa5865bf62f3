//! One rule per provider type (issue #22 item 4): for every config shape,
//! the login client (`OidcProvider`, ID tokens of a code login) and the
//! validator (`IssuerConfig::from_provider_config`, access tokens) accept
//! exactly the same tokens. Each token variant changes only what the
//! type's rules decide (the issuer's spelling, the organisation claims) in
//! an otherwise valid ID token and an otherwise valid access token. The
//! sync server's own token gives the same subject to the login, the
//! validator and the stored-token import.

use authresult_core::ProviderConfig;
use authresult_core::{
    AccessToken, AuthProvider as _, Credentials, LoginFlow, LoginResponse, StoredToken, Timestamp,
};
use authresult_oidc::jwt::{IssuerConfig, JwkSet, SyncServerSecret, SyncServerTokens, TokenValidator};
use authresult_oidc::{OidcProvider, SyncServerProvider};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    ClaimsExt as _, KID, authorization_url, fast_options, now, request, sign_id_token, signing_jwk,
    signing_key,
};

/// A config shape: its `{type, fields}` for a provider at `base`, and the
/// issuer the provider spells (its discovery and its tokens).
struct Shape {
    name: &'static str,
    config: fn(&str) -> Value,
    issuer: fn(&str) -> String,
    /// The other spelling of that issuer (a `/` more or less).
    other_spelling: fn(&str) -> String,
    /// Which variants both must accept, in the order of `VARIANTS`.
    accepted: [bool; 5],
}

/// Token variants: the claims added to (or changed in) a valid token.
const VARIANTS: [&str; 5] = [
    "as issued",
    "the issuer's other spelling",
    "org_id org_alpha",
    "org_name `alpha team`",
    "org_id and org_name of another organization",
];

fn variant(index: usize, claims: Value, other_issuer: &str) -> Value {
    match index {
        0 => claims,
        1 => claims.with("iss", other_issuer),
        2 => claims.with("org_id", "org_alpha"),
        3 => claims.with("org_name", "alpha team"),
        _ => claims.with("org_id", "org_other").with("org_name", "Other"),
    }
}

fn shapes() -> Vec<Shape> {
    let keycloak_issuer = |b: &str| format!("{b}/realms/field");
    let auth0_issuer = |b: &str| format!("{b}/");
    vec![
        Shape {
            name: "keycloak authority",
            config: |b| json!({"type": "keycloak", "fields": {"authority": format!("{b}/realms/field"), "client_id": "app"}}),
            issuer: keycloak_issuer,
            other_spelling: |b| format!("{b}/realms/field/"),
            accepted: [true, false, true, true, true],
        },
        Shape {
            name: "keycloak url + realm",
            config: |b| json!({"type": "keycloak", "fields": {"url": b, "realm": "field", "clientId": "app"}}),
            issuer: keycloak_issuer,
            other_spelling: |b| format!("{b}/realms/field/"),
            accepted: [true, false, true, true, true],
        },
        Shape {
            name: "auth0 domain",
            config: |b| json!({"type": "auth0", "fields": {"domain": b, "client_id": "app"}}),
            issuer: auth0_issuer,
            other_spelling: |b| b.to_owned(),
            accepted: [true, false, true, true, true],
        },
        Shape {
            name: "auth0 domain, audience, organization id",
            config: |b| {
                json!({"type": "auth0", "fields": {"domain": b, "client_id": "app",
                "audience": "https://api.example.org", "organization": "org_alpha"}})
            },
            issuer: auth0_issuer,
            other_spelling: |b| b.to_owned(),
            accepted: [false, false, true, false, false],
        },
        Shape {
            name: "auth0 domain, organization name",
            config: |b| {
                json!({"type": "auth0", "fields": {"domain": b, "client_id": "app",
                "organization": "Alpha Team"}})
            },
            issuer: auth0_issuer,
            other_spelling: |b| b.to_owned(),
            accepted: [false, false, false, true, false],
        },
        Shape {
            name: "generic oidc",
            config: |b| json!({"type": "oidc", "fields": {"issuer": b, "client_id": "app"}}),
            issuer: |b| b.to_owned(),
            other_spelling: |b| format!("{b}/"),
            accepted: [true, true, true, true, true],
        },
    ]
}

/// A provider at a fresh mock: discovery (under the issuer's path) naming
/// `issuer`, and a token endpoint answering `id_token`.
async fn mock_provider(issuer_of: fn(&str) -> String) -> (MockServer, String) {
    let server = MockServer::start().await;
    let base = server.uri();
    let issuer = issuer_of(&base);
    let prefix = Url::parse(&issuer)
        .unwrap()
        .path()
        .trim_end_matches('/')
        .to_owned();
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/.well-known/openid-configuration")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/auth"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [signing_jwk()]})))
        .mount(&server)
        .await;
    (server, issuer)
}

/// Does the login client accept an ID token with `edit`ed claims?
async fn login_accepts(shape: &Shape, index: usize) -> bool {
    let (server, issuer) = mock_provider(shape.issuer).await;
    let base = server.uri();
    let config = ProviderConfig::from_json_str(&(shape.config)(&base).to_string()).unwrap();
    let provider = OidcProvider::from_config(&config, fast_options()).unwrap();
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect.clone())))
        .await
        .unwrap();
    let nonce = authorization_url(&pending)
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let now = now();
    let claims =
        json!({"iss": issuer, "sub": "alice", "aud": "app", "exp": now + 300, "iat": now, "nonce": nonce});
    let claims = variant(index, claims, &(shape.other_spelling)(&base));
    let id_token = sign_id_token(signing_key(), Some(KID), &claims);
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 60, "id_token": id_token}),
        ))
        .mount(&server)
        .await;
    let mut callback = redirect;
    callback
        .query_pairs_mut()
        .append_pair("code", "c")
        .append_pair("state", &pending.state);
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .is_ok()
}

/// Does the validator of the same config accept an access token with the
/// same claims changed?
async fn validator_accepts(shape: &Shape, index: usize) -> bool {
    let base = "http://127.0.0.1:9";
    let config = ProviderConfig::from_json_str(&(shape.config)(base).to_string()).unwrap();
    let keys = JwkSet::from_json(json!({"keys": [signing_jwk()]}).to_string().as_bytes()).unwrap();
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::from_provider_config(&config).unwrap().jwks(keys))
        .build()
        .unwrap();
    let audience = match config.clone() {
        ProviderConfig::Auth0(auth0) => auth0.audience.unwrap_or_else(|| "app".into()),
        _ => "app".into(),
    };
    let now = now();
    let claims = json!({"iss": (shape.issuer)(base), "sub": "alice", "aud": [audience, "urn:other"],
        "azp": "app", "scope": "openid sync", "exp": now + 300, "iat": now});
    let claims = variant(index, claims, &(shape.other_spelling)(base));
    let token = sign_id_token(signing_key(), Some(KID), &claims);
    validator.validate(&token).await.is_ok()
}

#[tokio::test]
async fn the_login_client_and_the_validator_accept_the_same_tokens_for_every_shape() {
    let mut disagreements = Vec::new();
    let mut unexpected = Vec::new();
    for shape in shapes() {
        for (index, name) in VARIANTS.iter().enumerate() {
            let login = login_accepts(&shape, index).await;
            let validator = validator_accepts(&shape, index).await;
            if login != validator {
                disagreements.push(format!(
                    "{} / {name}: login {login}, validator {validator}",
                    shape.name
                ));
            }
            if (login, validator) != (shape.accepted[index], shape.accepted[index]) {
                unexpected.push(format!(
                    "{} / {name}: expected {}, login {login}, validator {validator}",
                    shape.name, shape.accepted[index]
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}

/// The sync server's token (`{id, email, iat}`, HS256): its subject is `id`
/// for the login (`Credentials::Token`), the validator and the import.
#[tokio::test]
async fn the_sync_server_token_has_one_subject_everywhere() {
    let secret = "a long random JWT_SECRET of the sync server!!";
    let now = now();
    let key =
        authresult_test_support::JwtSigner::hmac(authresult_test_support::JwtAlg::Hs256, secret.as_bytes())
            .unwrap();
    for (id, subject) in [(json!(42), "42"), (json!("user-7"), "user-7")] {
        let claims = json!({"id": id, "email": "ana@example.org", "iat": now, "sub": "not-the-subject"});
        let token = key
            .sign_jwt(&json!({"alg": "HS256", "typ": "JWT"}), &claims)
            .unwrap();
        let validated = SyncServerTokens::builder(SyncServerSecret::new(secret))
            .build()
            .unwrap()
            .validate(&token)
            .unwrap();
        assert_eq!(validated.subject(), Some(subject));
        // The server accepts the token it issued (check-token).
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/users/check-token"))
            .and(header("authorization", format!("Bearer {token}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "Token is valid"})))
            .mount(&server)
            .await;
        let config = ProviderConfig::from_json_str(
            &json!({"type": "default", "fields": {"url": server.uri()}}).to_string(),
        )
        .unwrap();
        let ProviderConfig::SyncServer(config) = config else {
            unreachable!()
        };
        let login = SyncServerProvider::from_config(&config, &fast_options())
            .unwrap()
            .login(&Credentials::Token {
                token: AccessToken::new(token.clone()),
            })
            .await
            .unwrap();
        assert_eq!(login.subject(), Some(subject));
        let record = json!({"id": "default", "token": token}).to_string();
        let stored = StoredToken::from_indexeddb_record(&record, Timestamp::from_secs(now)).unwrap();
        assert_eq!(stored.auth.subject(), Some(subject));
        // The user of the token is read by one rule for the login and the import.
        assert_eq!(login.profile, stored.auth.profile);
        assert_eq!(
            login
                .profile
                .as_ref()
                .and_then(|p| p.get("email"))
                .map(String::as_str),
            Some("ana@example.org")
        );
    }
}

/// A login with a token the user brings (`Credentials::Token`) follows the
/// Auth0 organisation rule too: a live token of the same tenant but of
/// another organisation, which the validator refuses
/// (`WrongOrganization`), is not logged in on the device. The rule reads
/// the organisation claims of userinfo, or of the token itself (a JWT the
/// provider has just accepted).
#[tokio::test]
async fn a_brought_token_of_another_organization_is_not_logged_in() {
    let cases = [
        // (userinfo claims, token claims, accepted)
        (
            json!({"sub": "alice", "org_id": "org_other"}),
            json!({"org_id": "org_other"}),
            false,
        ),
        (json!({"sub": "alice"}), json!({"org_id": "org_other"}), false),
        (json!({"sub": "alice"}), json!({}), false),
        (json!({"sub": "alice", "org_id": "org_alpha"}), json!({}), true),
        (json!({"sub": "alice"}), json!({"org_id": "org_alpha"}), true),
    ];
    for (userinfo, token_claims, accepted) in cases {
        let (server, _) = mock_provider(|b| format!("{b}/")).await;
        let base = server.uri();
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(userinfo.clone()))
            .mount(&server)
            .await;
        // Discovery with a userinfo endpoint (mounted later, matched first).
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": format!("{base}/"),
                "authorization_endpoint": format!("{base}/auth"),
                "token_endpoint": format!("{base}/token"),
                "userinfo_endpoint": format!("{base}/userinfo"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })))
            .with_priority(1)
            .mount(&server)
            .await;
        let config = ProviderConfig::from_json_str(
            &json!({"type": "auth0", "fields": {"domain": base, "client_id": "app", "organization": "org_alpha"}})
                .to_string(),
        )
        .unwrap();
        let provider = OidcProvider::from_config(&config, fast_options()).unwrap();
        let now = now();
        let mut claims = json!({"iss": format!("{base}/"), "sub": "alice", "aud": "https://api.example.org",
            "azp": "app", "scope": "openid", "exp": now + 300, "iat": now});
        for (k, v) in token_claims.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let token = sign_id_token(signing_key(), Some(KID), &claims);
        let login = provider
            .login(&Credentials::Token {
                token: AccessToken::new(token),
            })
            .await;
        assert_eq!(
            login.is_ok(),
            accepted,
            "userinfo {userinfo}, token {token_claims}: {login:?}"
        );
    }
}
