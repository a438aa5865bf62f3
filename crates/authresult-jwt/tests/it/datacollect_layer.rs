//! `BearerAuthLayer` standing in for DataCollect's sync-server middleware:
//! the requests a DataCollect client makes (pull with `configId` in the
//! query, push with it in the JSON body, `Authorization: keycloak|auth0|Bearer`)
//! with the local provider's real tokens and the sync server's own HS256
//! tokens; the fallback to the secret, an authorizer's refusal, and the
//! hostile cases (unknown scheme, unknown app, a key-confusion forgery, a
//! legacy token past its maximum age).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authresult_jwt::{
    AccessDecision, AppAuth, AppId, AppSelector, BearerAuthLayer, IssuerConfig, SyncServerTokens, TokenCheck,
    TokenValidator, ValidatedToken,
};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use url::Url;

use super::provider::{API, client_credentials};
use super::support::*;
use super::sync_server::{SECRET, T0, clock_at, datacollect_token, sync_tokens};

fn provider_validator(name: &str) -> TokenValidator {
    let issuer = idp().issuer(name).unwrap();
    TokenValidator::builder()
        .issuer(IssuerConfig::new(issuer.as_str()).audience(API))
        .build()
        .unwrap()
}

/// DataCollect's apps: `default` (the sync server's login only) and
/// `field` (Keycloak and Auth0 too, each falling back to the secret).
fn apps(own: SyncServerTokens) -> Vec<(String, AppAuth)> {
    let default = AppAuth::new().scheme("Bearer", [TokenCheck::from(own.clone())]);
    let field = AppAuth::new()
        .scheme("Bearer", [own.clone().into()])
        .scheme(
            "keycloak",
            [provider_validator("keycloak").into(), own.clone().into()],
        )
        .scheme("auth0", [provider_validator("auth0").into(), own.into()]);
    vec![("default".to_owned(), default), ("field".to_owned(), field)]
}

async fn who(Extension(app): Extension<AppId>, Extension(token): Extension<ValidatedToken>) -> String {
    format!(
        "{}|{}|{}",
        app.as_str(),
        token.issuer(),
        token.subject().unwrap_or("-")
    )
}

/// Reads the JSON body's `configId` for the layer, as an application that
/// buffers its bodies does.
async fn buffer_config_id(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return response;
    };
    if let Some(id) = AppId::from_json_body(&bytes, "configId") {
        parts.extensions.insert(id);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The sync routes, and `/api/users` for admins only (decided by the
/// application's own user records).
fn server(own: SyncServerTokens, admins: Arc<Mutex<Option<HashSet<String>>>>) -> Router {
    let sync = BearerAuthLayer::for_apps(apps(own.clone()), AppSelector::config_id());
    let admin = BearerAuthLayer::for_apps(apps(own), AppSelector::config_id()).authorize(
        move |token: &ValidatedToken, _parts| {
            let email = token.claim("email").and_then(Value::as_str).map(str::to_owned);
            let admins = admins.clone();
            async move {
                // `None`: the user database is down.
                match (&*admins.lock().unwrap(), email) {
                    (None, _) => AccessDecision::Unavailable,
                    (Some(admins), Some(email)) if admins.contains(&email) => AccessDecision::Allow,
                    (Some(_), _) => AccessDecision::Deny,
                }
            }
        },
    );
    Router::new()
        .route("/api/sync/pull", get(who))
        .route("/api/sync/push", post(who))
        .layer(sync)
        .route("/api/users", get(who).layer(admin))
        .layer(from_fn(buffer_config_id))
}

fn default_server() -> Router {
    server(
        sync_tokens(clock_at(now())),
        Arc::new(Mutex::new(Some(HashSet::from(["admin@example.org".to_owned()])))),
    )
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn pull(app: &Router, query: &str, authorization: &str) -> Answer {
    let uri = format!("/api/sync/pull?since=2025-01-01T00:00:00.000Z{query}");
    call(app, Method::GET, &uri, Some(authorization), None).await
}

async fn push(app: &Router, body: Value, authorization: &str) -> Answer {
    call(
        app,
        Method::POST,
        "/api/sync/push",
        Some(authorization),
        Some(body),
    )
    .await
}

fn own_token(email: &str) -> String {
    datacollect_token(SECRET, json!(3), email, now())
}

#[tokio::test]
async fn every_header_scheme_of_a_datacollect_client_is_accepted() {
    let app = default_server();
    let keycloak_issuer = idp().issuer("keycloak").unwrap().clone();
    let auth0_issuer = idp().issuer("auth0").unwrap().clone();
    let keycloak = client_credentials(&keycloak_issuer).await;
    let auth0 = client_credentials(&auth0_issuer).await;
    let own = own_token("ana@example.org");
    for (header, issuer) in [
        (format!("keycloak {keycloak}"), keycloak_issuer.as_str()),
        (format!("KeyCloak {keycloak}"), keycloak_issuer.as_str()),
        (format!("auth0 {auth0}"), auth0_issuer.as_str()),
        (format!("AUTH0 {auth0}"), auth0_issuer.as_str()),
        (format!("Bearer {own}"), "default"),
        (format!("bearer {own}"), "default"),
    ] {
        let answer = pull(&app, "&configId=field", &header).await;
        assert_eq!(answer.status, StatusCode::OK, "{header:.12}");
        let subject = if issuer == "default" {
            "3"
        } else {
            "confidential-app"
        };
        assert_eq!(answer.body, format!("field|{issuer}|{subject}"));
    }
    // The sync server's own token is accepted under a provider's scheme
    // too, after the provider refused it (DataCollect's fallback).
    let answer = pull(&app, "&configId=field", &format!("keycloak {own}")).await;
    assert_eq!(answer.body, "field|default|3");
    // `Bearer` is the sync server's own scheme: a provider token sent with
    // it is checked with the secret alone, and refused.
    let answer = pull(&app, "&configId=field", &format!("Bearer {keycloak}")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn config_id_is_read_from_the_body_then_the_query_then_default() {
    let app = default_server();
    let keycloak = client_credentials(idp().issuer("keycloak").unwrap()).await;
    let header = format!("keycloak {keycloak}");
    // Push: the JSON body names the app (and wins over the query).
    let answer = push(&app, json!({"events": [], "configId": "field"}), &header).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.starts_with("field|"), "{}", answer.body);
    let uri = "/api/sync/push?configId=default";
    let body = json!({"events": [], "configId": "field"});
    let answer = call(&app, Method::POST, uri, Some(&header), Some(body)).await;
    assert!(answer.body.starts_with("field|"), "{}", answer.body);
    // Pull: the query names it.
    assert_eq!(
        pull(&app, "&configId=field", &header).await.status,
        StatusCode::OK
    );
    // Named nowhere: the `default` app, which has no Keycloak.
    let answer = pull(&app, "", &header).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"));
    let answer = push(
        &app,
        json!({"events": []}),
        &format!("Bearer {}", own_token("a@b")),
    )
    .await;
    assert_eq!(answer.body, "default|default|3");
}

#[tokio::test]
async fn a_config_id_that_names_no_app_is_a_bad_request() {
    let app = default_server();
    let own = format!("Bearer {}", own_token("ana@example.org"));
    let query = pull(&app, "&configId=nowhere", &own).await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST);
    assert_eq!(query.challenge, None);
    let body = push(&app, json!({"events": [], "configId": "nowhere"}), &own).await;
    assert_eq!(body.status, StatusCode::BAD_REQUEST);
    let twice = pull(&app, "&configId=field&configId=default", &own).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    // Without credentials it is 401 first, as DataCollect answers.
    let anonymous = call(&app, Method::GET, "/api/sync/pull?configId=nowhere", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.challenge.as_deref(), Some("Bearer"));
    // The same token reaches a named app.
    assert_eq!(pull(&app, "&configId=field", &own).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_scheme_that_names_no_configured_provider_is_challenged() {
    let app = default_server();
    let auth0 = client_credentials(idp().issuer("auth0").unwrap()).await;
    // `default` has no Auth0.
    let answer = pull(&app, "", &format!("auth0 {auth0}")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"));
    // `field` has no provider of type `oidc`; its challenges list what it takes.
    let answer = pull(&app, "&configId=field", &format!("oidc {auth0}")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer, keycloak, auth0"));
    let own = own_token("ana@example.org");
    let answer = pull(&app, "&configId=field", &format!("Basic {own}")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let missing = call(&app, Method::GET, "/api/sync/pull?configId=field", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge.as_deref(), Some("Bearer, keycloak, auth0"));
}

#[tokio::test]
async fn the_authorizer_refuses_non_admins_with_403() {
    let admins = Arc::new(Mutex::new(Some(HashSet::from(["admin@example.org".to_owned()]))));
    let app = server(sync_tokens(clock_at(now())), admins.clone());
    let admin = format!("Bearer {}", own_token("admin@example.org"));
    let user = format!("Bearer {}", own_token("ana@example.org"));
    let answer = call(&app, Method::GET, "/api/users", Some(&admin), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "default|default|3");
    let refused = call(&app, Method::GET, "/api/users", Some(&user), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.challenge, None);
    // An authentication failure stays a 401 with its challenge.
    let forged = format!(
        "Bearer {}",
        datacollect_token(
            b"not-the-servers-secret-at-all-!!!",
            json!(1),
            "admin@example.org",
            now()
        )
    );
    let bad = call(&app, Method::GET, "/api/users", Some(&forged), None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    // The user database is down: retry later, not "log in again".
    *admins.lock().unwrap() = None;
    let down = call(&app, Method::GET, "/api/users", Some(&admin), None).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    // The sync routes have no authorizer.
    assert_eq!(pull(&app, "", &user).await.status, StatusCode::OK);
}

/// The provider's published keys, as texts and bytes an attacker could use
/// as an HMAC secret.
async fn published_key_material(issuer: &Url) -> Vec<Vec<u8>> {
    let discovery = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let discovery: Value = serde_json::from_slice(&discovery).unwrap();
    let text = reqwest::get(discovery["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks: Value = serde_json::from_str(&text).unwrap();
    let mut material = vec![text.into_bytes()];
    for key in jwks["keys"].as_array().unwrap() {
        material.push(key.to_string().into_bytes());
        if let Some(n) = key["n"].as_str() {
            material.push(n.as_bytes().to_vec());
            material
                .push(base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, n).unwrap());
        }
    }
    material
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_providers_public_key_is_refused() {
    let app = default_server();
    let issuer = idp().issuer("keycloak").unwrap().clone();
    let material = published_key_material(&issuer).await;
    assert!(material.len() >= 3);
    for secret in material {
        let claims = json!({
            "iss": issuer.as_str(), "aud": API, "sub": "mallory", "scope": "api:read",
            "id": 1, "email": "admin@example.org", "iat": now(), "exp": now() + 300,
        });
        let forged = sign_hmac(&secret, json!({"alg": "HS256", "typ": "JWT"}), claims);
        for scheme in ["keycloak", "Bearer"] {
            let answer = pull(&app, "&configId=field", &format!("{scheme} {forged}")).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{scheme}");
        }
        let admin = call(
            &app,
            Method::GET,
            "/api/users",
            Some(&format!("Bearer {forged}")),
            None,
        )
        .await;
        assert_eq!(admin.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_legacy_token_past_its_maximum_age_is_refused() {
    let clock = clock_at(T0);
    let app = server(
        sync_tokens(clock.clone()),
        Arc::new(Mutex::new(Some(HashSet::new()))),
    );
    let token = format!(
        "Bearer {}",
        datacollect_token(SECRET, json!(3), "ana@example.org", T0)
    );
    assert_eq!(pull(&app, "", &token).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    let answer = pull(&app, "", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
}
