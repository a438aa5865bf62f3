//! The server answering a DataCollect client's requests: pull and push with
//! `configId` in the query and in the body, the server's own HS256 tokens
//! (made as DataCollect makes them), the schemes an app config declares,
//! unknown apps, admins, and a legacy token past its maximum age; pull and
//! push as DataCollect's client meets them (`client.rs`) and the front door
//! as an unauthenticated client meets it over TCP (`front_door.rs`), and
//! connections as `main` serves them (`connections.rs`).

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ManualClock, Timestamp};
use authresult_jwt::{SyncServerSecret, SyncServerTokens};
use authresult_test_support::{JwtAlg, JwtSigner};
use axum::Router;
use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::server::{AppConfig, Settings, router};

mod client;
mod connections;
mod dpop;
mod front_door;

const SECRET: &[u8] = b"the-sync-servers-jwt-secret-0123456789";
const T0: u64 = 1_780_000_000;

/// An app config artifact as DataCollect publishes it: every provider
/// type, extra fields and members the server does not use.
const FIELD_APP: &str = r#"{
  "id": "field", "name": "Field survey", "version": "3",
  "syncServerUrl": "https://sync.example.org",
  "entityForms": [],
  "authConfigs": [
    {"type": "default", "fields": {"url": "https://sync.example.org"}},
    {"type": "keycloak", "fields": {"url": "https://kc.example.org", "realm": "field",
      "client_id": "collect-app", "scope": "openid profile"}},
    {"type": "auth0", "fields": {"domain": "tenant.eu.auth0.com", "client_id": "abc",
      "audience": "urn:datacollect:sync"}}
  ]
}"#;

/// A token exactly as DataCollect's `POST /api/users/login` makes it.
fn datacollect_token(secret: &[u8], id: u64, email: &str, iat: u64) -> String {
    let claims = json!({"id": id, "email": email, "iat": iat}).to_string();
    JwtSigner::hmac(JwtAlg::Hs256, secret)
        .unwrap()
        .sign_compact(JwtAlg::Hs256, r#"{"alg":"HS256","typ":"JWT"}"#, &claims)
        .unwrap()
}

pub(crate) fn server(clock: Arc<ManualClock>) -> Router {
    let own = SyncServerTokens::builder(SyncServerSecret::new(SECRET))
        .max_age(Duration::from_secs(7 * 24 * 3600))
        .clock(clock)
        .build()
        .unwrap();
    router(Settings {
        apps: vec![AppConfig::from_json(FIELD_APP).unwrap()],
        audiences: Vec::new(),
        own,
        admins: HashSet::from(["admin@example.org".to_owned()]),
        max_body: 64 * 1024,
        max_events: 100,
        max_unauthenticated: 4,
        body_timeout: Duration::from_secs(1),
        dpop_origin: None,
    })
    .unwrap()
}

pub(crate) fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_secs(T0 + 60)))
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) challenge: Option<String>,
    pub(crate) json: Value,
}

pub(crate) async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    authorization: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header(AUTHORIZATION, authorization);
    let body = match body {
        Some(json) => {
            request = request.header(CONTENT_TYPE, "application/json");
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
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer {
        status,
        challenge,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub(crate) fn bearer(email: &str) -> String {
    format!("Bearer {}", datacollect_token(SECRET, 3, email, T0))
}

#[tokio::test]
async fn a_datacollect_client_pushes_and_pulls_with_config_id_in_body_and_query() {
    let app = server(clock());
    let events = json!([{"guid": "e1", "timestamp": "2026-01-01T00:00:00.000Z"}]);
    let pushed = call(
        &app,
        Method::POST,
        "/api/sync/push",
        &bearer("ana@example.org"),
        Some(json!({"events": events, "configId": "field"})),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::OK);
    assert_eq!(pushed.json["status"], "success");
    assert_eq!(pushed.json["by"], "3");
    let uri = "/api/sync/pull?since=2025-01-01T00:00:00.000Z&configId=field";
    let pulled = call(&app, Method::GET, uri, &bearer("ana@example.org"), None).await;
    assert_eq!(pulled.status, StatusCode::OK);
    assert_eq!(pulled.json["events"][0]["guid"], "e1");
    assert_eq!(pulled.json["events"].as_array().unwrap().len(), 1);
    // The `default` app is another app.
    let other = call(
        &app,
        Method::GET,
        "/api/sync/pull?since=",
        &bearer("ana@example.org"),
        None,
    )
    .await;
    assert_eq!(other.json["events"], json!([]));
}

#[tokio::test]
async fn an_app_config_declares_the_provider_schemes_it_accepts() {
    let app = server(clock());
    let uri = "/api/sync/pull?configId=field";
    // A provider token the keycloak provider refuses (it is not one of its
    // tokens) is still taken by the server's own secret: DataCollect's
    // fallback.
    let own = datacollect_token(SECRET, 3, "ana@example.org", T0);
    let fallback = call(&app, Method::GET, uri, &format!("keycloak {own}"), None).await;
    assert_eq!(fallback.status, StatusCode::OK);
    let unknown = call(&app, Method::GET, uri, &format!("oidc {own}"), None).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.challenge.as_deref(), Some("Bearer, auth0, keycloak"));
    // The `default` app has no provider.
    let default = call(
        &app,
        Method::GET,
        "/api/sync/pull",
        &format!("keycloak {own}"),
        None,
    )
    .await;
    assert_eq!(default.status, StatusCode::UNAUTHORIZED);
    assert_eq!(default.challenge.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn a_config_id_that_names_no_app_is_refused() {
    let app = server(clock());
    let query = call(
        &app,
        Method::GET,
        "/api/sync/pull?configId=nope",
        &bearer("a@b"),
        None,
    )
    .await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST);
    let body = Some(json!({"events": [], "configId": "nope"}));
    let pushed = call(&app, Method::POST, "/api/sync/push", &bearer("a@b"), body).await;
    assert_eq!(pushed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_admins_read_their_profile_and_forgeries_are_unauthorized() {
    let app = server(clock());
    let admin = call(
        &app,
        Method::GET,
        "/api/users/me",
        &bearer("admin@example.org"),
        None,
    )
    .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(admin.json["email"], "admin@example.org");
    let user = call(
        &app,
        Method::GET,
        "/api/users/me",
        &bearer("ana@example.org"),
        None,
    )
    .await;
    assert_eq!(user.status, StatusCode::FORBIDDEN);
    let check = call(
        &app,
        Method::GET,
        "/api/users/check-token",
        &bearer("ana@example.org"),
        None,
    )
    .await;
    assert_eq!(check.status, StatusCode::OK);
    let forged = format!(
        "Bearer {}",
        datacollect_token(b"another-servers-secret-0123456789", 3, "admin@example.org", T0)
    );
    let refused = call(&app, Method::GET, "/api/users/me", &forged, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.challenge.as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn a_legacy_token_past_its_maximum_age_is_refused() {
    let clock = clock();
    let app = server(clock.clone());
    let uri = "/api/sync/pull?configId=field";
    assert_eq!(
        call(&app, Method::GET, uri, &bearer("a@b"), None).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 1));
    let old = call(&app, Method::GET, uri, &bearer("a@b"), None).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_app_configs_are_refused_with_the_entry_named() {
    assert!(AppConfig::from_json(r#"{"authConfigs": []}"#).is_err());
    let error = AppConfig::from_json(r#"{"id": "x", "authConfigs": [{"type": "keycloak", "fields": {}}]}"#)
        .unwrap_err();
    assert!(format!("{error:#}").contains("authConfigs[0]"), "{error:#}");
}
