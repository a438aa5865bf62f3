//! `BearerAuthLayer::dpop`: `Authorization: DPoP` with one `DPoP` proof,
//! the request URI from the configured public origin, RFC 9449 challenges.

use std::time::Duration;

use authresult_jwt::{AppAuth, BearerAuthLayer, DpopConfig, DpopNonces, TokenValidator, ValidatedToken};
use axum::body::Body;
use axum::routing::post;
use axum::{Extension, Router};
use http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;
use url::Url;

use super::dpop::{bound_token, client, proof, proof_claims, proof_header, signed};
use super::support::*;

const ORIGIN: &str = "https://api.test";
const URL: &str = "https://api.test/sync/push";

async fn whoami(Extension(token): Extension<ValidatedToken>) -> String {
    token.subject().unwrap_or("-").to_owned()
}

fn app_with(layer: BearerAuthLayer) -> Router {
    Router::new().route("/sync/push", post(whoami).layer(layer))
}

fn app(validator: TokenValidator) -> Router {
    app_with(BearerAuthLayer::new(validator).dpop(Url::parse(ORIGIN).unwrap()))
}

fn dpop_validator(config: DpopConfig) -> TokenValidator {
    builder(issuer_config(&jwks())).dpop(config).build().unwrap()
}

struct Answer {
    status: StatusCode,
    challenge: String,
    nonce: Option<String>,
    body: String,
}

async fn call(app: &Router, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method("POST").uri("/sync/push?configId=field");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let challenge = header(WWW_AUTHENTICATE.as_str()).unwrap_or_default();
    let nonce = header("dpop-nonce");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer {
        status,
        challenge,
        nonce,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_and_as_bearer_is_refused() {
    let app = app(validator());
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    for _ in 0..2 {
        let p = proof(client(), "POST", URL, &token);
        let ok = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p)]).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.challenge);
        assert_eq!(ok.body, "alice");
    }
    let bearer = format!("Bearer {token}");
    let refused = call(&app, &[(AUTHORIZATION.as_str(), &bearer)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.challenge.starts_with("Bearer error=\"invalid_token\""),
        "{}",
        refused.challenge
    );
    // A proof sent along does not make a Bearer request a DPoP one.
    let p = proof(client(), "POST", URL, &token);
    let refused = call(&app, &[(AUTHORIZATION.as_str(), &bearer), ("DPoP", &p)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.challenge.contains("invalid_token"),
        "{}",
        refused.challenge
    );
}

#[tokio::test]
async fn missing_or_doubled_proofs_get_the_dpop_challenge() {
    let app = app(validator());
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    let missing = call(&app, &[(AUTHORIZATION.as_str(), &auth)]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.challenge,
        "DPoP error=\"invalid_dpop_proof\", algs=\"ES256 ES384 EdDSA PS256 RS256\""
    );
    let p1 = proof(client(), "POST", URL, &token);
    let p2 = proof(client(), "POST", URL, &token);
    let doubled = call(
        &app,
        &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p1), ("DPoP", &p2)],
    )
    .await;
    assert_eq!(doubled.status, StatusCode::UNAUTHORIZED);
    assert!(
        doubled.challenge.contains("invalid_dpop_proof"),
        "{}",
        doubled.challenge
    );
    let wrong_method = proof(client(), "GET", URL, &token);
    let refused = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &wrong_method)]).await;
    assert!(
        refused.challenge.contains("invalid_dpop_proof"),
        "{}",
        refused.challenge
    );
    // No credentials: the DPoP scheme is offered with its algorithms.
    let none = call(&app, &[]).await;
    assert_eq!(
        none.challenge,
        "Bearer, DPoP algs=\"ES256 ES384 EdDSA PS256 RS256\""
    );
}

#[tokio::test]
async fn the_uri_is_the_configured_origin_not_the_host_header() {
    let app = app(validator());
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    // A proof for the host the request claims is refused...
    let lying = proof(client(), "POST", "https://evil.test/sync/push", &token);
    let refused = call(
        &app,
        &[
            (AUTHORIZATION.as_str(), &auth),
            ("DPoP", &lying),
            (HOST.as_str(), "evil.test"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // ...the one for the public origin passes whatever the Host says.
    let honest = proof(client(), "POST", URL, &token);
    let ok = call(
        &app,
        &[
            (AUTHORIZATION.as_str(), &auth),
            ("DPoP", &honest),
            (HOST.as_str(), "internal:8080"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.challenge);
}

#[tokio::test]
async fn a_missing_nonce_gets_use_dpop_nonce_and_a_fresh_nonce() {
    let nonces = DpopNonces::new(&[3u8; 32], Duration::from_secs(300)).unwrap();
    let app = app(dpop_validator(DpopConfig::new().nonces(nonces)));
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    let p = proof(client(), "POST", URL, &token);
    let first = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p)]).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    assert!(
        first.challenge.starts_with("DPoP error=\"use_dpop_nonce\""),
        "{}",
        first.challenge
    );
    let nonce = first.nonce.expect("a DPoP-Nonce header");
    let mut c = proof_claims("POST", URL, &token);
    c["nonce"] = json!(nonce);
    let p = signed(client(), &proof_header(client()), &c);
    let ok = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.challenge);
}

#[tokio::test]
async fn datacollect_provider_schemes_carry_dpop() {
    let keycloak = AppAuth::new().scheme("keycloak", [validator().into()]);
    let app = app_with(BearerAuthLayer::for_app(keycloak).dpop(Url::parse(ORIGIN).unwrap()));
    let token = bound_token(client());
    let auth = format!("keycloak {token}");
    let p = proof(client(), "POST", URL, &token);
    let ok = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.challenge);
    let without = call(&app, &[(AUTHORIZATION.as_str(), &auth)]).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert!(
        without.challenge.starts_with("keycloak error=\"invalid_token\""),
        "{}",
        without.challenge
    );
    // An unbound provider token still works without a proof.
    let plain = format!("keycloak {}", good_token());
    assert_eq!(
        call(&app, &[(AUTHORIZATION.as_str(), &plain)]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_layer_without_dpop_refuses_the_scheme() {
    let app = app_with(BearerAuthLayer::new(validator()));
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    let p = proof(client(), "POST", URL, &token);
    let refused = call(&app, &[(AUTHORIZATION.as_str(), &auth), ("DPoP", &p)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.challenge, "Bearer");
}

/// Two DataCollect apps (configs) trusting the same issuer, each with its
/// own validator built with the defaults: a proof captured on its way to
/// one app is refused when replayed to the other. The URI (`htu`) is the
/// same, as it ignores the query that picks the app.
#[tokio::test]
async fn a_proof_replayed_to_another_app_of_the_same_server_is_refused() {
    use authresult_jwt::AppSelector;
    let apps = vec![
        (
            "a".to_owned(),
            AppAuth::new().scheme("Bearer", [validator().into()]),
        ),
        (
            "b".to_owned(),
            AppAuth::new().scheme("Bearer", [validator().into()]),
        ),
    ];
    let layer = BearerAuthLayer::for_apps(apps, AppSelector::config_id()).dpop(Url::parse(ORIGIN).unwrap());
    let app = app_with(layer);
    let token = bound_token(client());
    let auth = format!("DPoP {token}");
    let p = proof(client(), "POST", URL, &token);
    let send = |config: &'static str| {
        let request = Request::builder()
            .method("POST")
            .uri(format!("/sync/push?configId={config}"))
            .header(AUTHORIZATION, auth.as_str())
            .header("DPoP", p.as_str())
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request)
    };
    assert_eq!(send("a").await.unwrap().status(), StatusCode::OK);
    let replayed = send("b").await.unwrap();
    assert_eq!(
        replayed.status(),
        StatusCode::UNAUTHORIZED,
        "the replay was accepted"
    );
}
