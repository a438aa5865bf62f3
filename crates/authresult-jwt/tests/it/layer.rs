//! `BearerAuthLayer` protecting an axum app: claims in the request
//! extensions, RFC 6750 challenges, per-route requirements and per-request
//! validator choice.

use authresult_jwt::{BearerAuthLayer, IssuerConfig, TokenValidator, ValidatedToken};
use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

use super::support::*;

async fn whoami(Extension(token): Extension<ValidatedToken>) -> String {
    format!("{}:{}", token.subject().unwrap_or("-"), token.scopes().join(","))
}

fn app(validator: TokenValidator) -> Router {
    let read = BearerAuthLayer::new(validator.clone()).realm("sync");
    let write = BearerAuthLayer::new(validator.clone())
        .require_scope("api:write")
        .require_scope("admin");
    let supervisors = BearerAuthLayer::new(validator)
        .require_realm_role("supervisor")
        .require_client_role("native-app", "review");
    Router::new()
        .route("/me", get(whoami).layer(read))
        .route("/admin", get(whoami).layer(write))
        .route("/review", get(whoami).layer(supervisors))
        .route("/public", get(|| async { "open" }))
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn call(app: &Router, uri: &str, authorization: &[&str]) -> Answer {
    let mut request = Request::builder().uri(uri);
    for value in authorization {
        request = request.header(AUTHORIZATION, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
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

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let app = app(validator());
    let answer = call(&app, "/me", &[&bearer(&good_token())]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "alice:api:read,api:write");
    // The scheme is case-insensitive.
    let answer = call(&app, "/me", &[&format!("bearer {}", good_token())]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(call(&app, "/public", &[]).await.body, "open");
}

#[tokio::test]
async fn missing_or_bad_credentials_get_rfc6750_challenges() {
    let app = app(validator());
    let missing = call(&app, "/me", &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge.as_deref(), Some("Bearer realm=\"sync\""));

    let basic = call(&app, "/me", &["Basic YWxpY2U6c2VjcmV0"]).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(basic.challenge.as_deref(), Some("Bearer realm=\"sync\""));

    let forged = sign(rsa_b(), header("RS256", "rsa-a"), claims());
    let invalid = call(&app, "/me", &[&bearer(&forged)]).await;
    assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        invalid.challenge.as_deref(),
        Some("Bearer realm=\"sync\", error=\"invalid_token\"")
    );
    assert!(invalid.body.is_empty());

    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let expired = call(
        &app,
        "/me",
        &[&bearer(&sign(rsa_a(), header("RS256", "rsa-a"), c))],
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let challenge = expired.challenge.unwrap();
    assert!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains("expired"),
        "{challenge}"
    );

    for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer tök"] {
        let answer = call(&app, "/me", &[bad]).await;
        assert!(
            answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::UNAUTHORIZED,
            "{bad}: {}",
            answer.status
        );
    }
    let twice = call(&app, "/me", &[&bearer(&good_token()), &bearer(&good_token())]).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.challenge.unwrap().contains("invalid_request"));
}

#[tokio::test]
async fn missing_scopes_and_roles_are_forbidden() {
    let app = app(validator());
    let answer = call(&app, "/admin", &[&bearer(&good_token())]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer error=\"insufficient_scope\", scope=\"admin\"")
    );

    let mut c = claims();
    c["scope"] = json!("api:write admin");
    let answer = call(
        &app,
        "/admin",
        &[&bearer(&sign(rsa_a(), header("RS256", "rsa-a"), c))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);

    let answer = call(&app, "/review", &[&bearer(&good_token())]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer error=\"insufficient_scope\"")
    );
    let mut c = claims();
    c["realm_access"] = json!({"roles": ["supervisor"]});
    c["resource_access"] = json!({"native-app": {"roles": ["review"]}});
    let answer = call(
        &app,
        "/review",
        &[&bearer(&sign(rsa_a(), header("RS256", "rsa-a"), c))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn the_validator_can_be_chosen_per_request() {
    let tenant_a = validator();
    let tenant_b = builder(
        IssuerConfig::new("https://b.test/")
            .audience("urn:b")
            .jwks(key_set(&json!({"keys": [rsa_b().jwk("b")]}))),
    )
    .build()
    .unwrap();
    let layer = BearerAuthLayer::per_request(move |parts| match parts.uri.path() {
        p if p.starts_with("/a/") => Some(tenant_a.clone()),
        p if p.starts_with("/b/") => Some(tenant_b.clone()),
        _ => None,
    });
    let app = Router::new()
        .route("/a/me", get(whoami))
        .route("/b/me", get(whoami))
        .route("/c/me", get(whoami))
        .layer(layer);
    let mut c = claims();
    c["iss"] = json!("https://b.test/");
    c["aud"] = json!("urn:b");
    let token_b = sign(rsa_b(), header("RS256", "b"), c);
    assert_eq!(
        call(&app, "/a/me", &[&bearer(&good_token())]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/b/me", &[&bearer(&token_b)]).await.status,
        StatusCode::OK
    );
    // Tenant A's token at tenant B, and any token where no tenant matches.
    assert_eq!(
        call(&app, "/b/me", &[&bearer(&good_token())]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/c/me", &[&bearer(&good_token())]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unreachable_provider_answers_503() {
    let issuer = "http://127.0.0.1:9/realms/down";
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(issuer).audience(AUDIENCE))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(whoami))
        .layer(BearerAuthLayer::new(v));
    let mut c = claims();
    c["iss"] = json!(issuer);
    let answer = call(&app, "/me", &[&bearer(&sign(rsa_a(), header("RS256", "k"), c))]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.challenge.is_none());
}

/// A token seen before is let through without waiting (from the validated
/// token cache); these are the rules that path must still apply.
#[tokio::test]
async fn a_token_answered_from_the_cache_gets_the_answers_of_a_fresh_one() {
    let clock = super::sync_server::clock_at(now());
    let validator = builder(issuer_config(&jwks()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(validator.clone());
    let token = good_token();
    for round in 0..2 {
        let answer = call(&app, "/me", &[&bearer(&token)]).await;
        assert_eq!(answer.status, StatusCode::OK, "round {round}");
        assert_eq!(answer.body, "alice:api:read,api:write");
        assert!(
            validator.validate_cached(&token).is_some(),
            "round {round}: not cached"
        );
        // Cached or not, a route's requirements are checked.
        let admin = call(&app, "/admin", &[&bearer(&token)]).await;
        assert_eq!(admin.status, StatusCode::FORBIDDEN, "round {round}");
        assert_eq!(
            admin.challenge.as_deref(),
            Some("Bearer error=\"insufficient_scope\", scope=\"admin\"")
        );
    }
    // Several Authorization headers are refused even for a cached token.
    let twice = call(&app, "/me", &[&bearer(&token), &bearer(&token)]).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    // Past `exp` (and the leeway) the cached token gets the expiry challenge.
    clock.advance(std::time::Duration::from_secs(3600));
    let expired = call(&app, "/me", &[&bearer(&token)]).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let challenge = expired.challenge.unwrap();
    assert!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains("expired"),
        "{challenge}"
    );
}

/// The authorizer is asked on every request, cached token or not.
#[tokio::test]
async fn the_authorizer_decides_for_cached_tokens_too() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use authresult_jwt::AccessDecision;

    let allow = Arc::new(AtomicBool::new(true));
    let asked = Arc::new(AtomicUsize::new(0));
    let (allow_in, asked_in) = (allow.clone(), asked.clone());
    let layer = BearerAuthLayer::new(validator()).authorize(move |_, _| {
        asked_in.fetch_add(1, Ordering::SeqCst);
        let decision = if allow_in.load(Ordering::SeqCst) {
            AccessDecision::Allow
        } else {
            AccessDecision::Deny
        };
        async move { decision }
    });
    let app = Router::new().route("/me", get(whoami).layer(layer));
    let token = good_token();
    assert_eq!(call(&app, "/me", &[&bearer(&token)]).await.status, StatusCode::OK);
    assert_eq!(call(&app, "/me", &[&bearer(&token)]).await.status, StatusCode::OK);
    allow.store(false, Ordering::SeqCst);
    assert_eq!(
        call(&app, "/me", &[&bearer(&token)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(asked.load(Ordering::SeqCst), 3);
}
