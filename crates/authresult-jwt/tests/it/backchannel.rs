//! The back-channel logout receiver: a good logout token is recorded and
//! answered 200 (no-store); forged, replayed and malformed ones are 400
//! with a JSON error and record nothing; the HTTP rules (method, content
//! type, size, one `logout_token`).

use std::sync::Arc;

use authresult_core::MemoryStore;
use authresult_jwt::{BACKCHANNEL_LOGOUT_EVENT, BackchannelLogout, RevocationList, ValidationErrorKind as K};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::revocation::{list_over, validator_with};
use super::support::*;

const CLIENT: &str = "field-app";

fn logout_claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now(),
        "exp": now() + 120,
        "jti": format!("{:x}", rand_u64()),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sub": "alice",
        "sid": "session-1",
    })
}

fn logout_token(claims: &Value) -> String {
    sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a", "typ": "logout+jwt"}),
        claims.clone(),
    )
}

async fn receiver() -> (BackchannelLogout, RevocationList) {
    let store = Arc::new(MemoryStore::new());
    let list = list_over(&store).await;
    let validator = validator_with(&list);
    let keys = validator.key_set(ISSUER).unwrap();
    (
        BackchannelLogout::builder(keys, CLIENT, list.clone()).build(),
        list,
    )
}

fn form(body: impl Into<String>) -> Request<String> {
    Request::post("/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into())
        .unwrap()
}

fn form_of(token: &str) -> Request<String> {
    form(format!("logout_token={token}"))
}

async fn send(
    receiver: &BackchannelLogout,
    request: Request<String>,
) -> (StatusCode, String, Option<String>) {
    let response = receiver.clone().oneshot(request).await.unwrap();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), response.into_body(), cache)
}

/// The 400 answer's JSON error code and description.
fn json_error(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap();
    (
        v["error"].as_str().unwrap().to_owned(),
        v["error_description"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_good_logout_token_is_recorded_and_the_users_tokens_are_refused() {
    let (receiver, list) = receiver().await;
    let validator = validator_with(&list);
    let mut access = claims();
    access["iat"] = json!(now() - 5);
    let access = sign(rsa_a(), header("RS256", "rsa-a"), access);
    validator.validate(&access).await.unwrap();
    let (status, body, cache) = send(&receiver, form_of(&logout_token(&logout_claims()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(list.len(), 2, "the session and the user");
    assert_rejected(validator.validate(&access).await, K::LoggedOut, &access);
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused() {
    let (receiver, _list) = receiver().await;
    let token = logout_token(&logout_claims());
    assert_eq!(send(&receiver, form_of(&token)).await.0, StatusCode::OK);
    let (status, body, _) = send(&receiver, form_of(&token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (code, description) = json_error(&body);
    assert_eq!(code, "invalid_request");
    assert!(description.contains("received before"), "{description}");
    assert_eq!(receiver.receive(&token).await.unwrap_err().kind(), K::Replayed);
}

#[tokio::test]
async fn forged_and_malformed_logout_tokens_are_refused_and_record_nothing() {
    let (receiver, list) = receiver().await;
    let good = logout_claims();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = logout_claims();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, String, K)> = vec![
        (
            "signed by another key",
            sign(
                rsa_b(),
                json!({"alg": "RS256", "kid": "rsa-a", "typ": "logout+jwt"}),
                good.clone(),
            ),
            K::InvalidSignature,
        ),
        (
            "HMAC with the public key",
            sign_hmac(
                &rsa_a().public_bytes(),
                json!({"alg": "HS256", "kid": "rsa-a", "typ": "logout+jwt"}),
                good.clone(),
            ),
            K::AlgorithmNotAllowed,
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "typ": "logout+jwt"}).to_string()),
                b64(good.to_string())
            ),
            K::AlgorithmNotAllowed,
        ),
        (
            "an access token's type",
            sign(
                rsa_a(),
                json!({"alg": "RS256", "kid": "rsa-a", "typ": "at+jwt"}),
                good.clone(),
            ),
            K::WrongTokenType,
        ),
        (
            "another audience",
            logout_token(&with(&|c| c["aud"] = json!("other"))),
            K::AudienceMismatch,
        ),
        (
            "another issuer",
            logout_token(&with(&|c| c["iss"] = json!("https://evil.test"))),
            K::UntrustedIssuer,
        ),
        (
            "too old",
            logout_token(&with(&|c| c["iat"] = json!(now() - 600))),
            K::TooOld,
        ),
        (
            "from the future",
            logout_token(&with(&|c| c["iat"] = json!(now() + 600))),
            K::IssuedInFuture,
        ),
        (
            "expired",
            logout_token(&with(&|c| c["exp"] = json!(now() - 60))),
            K::Expired,
        ),
        (
            "with a nonce",
            logout_token(&with(&|c| c["nonce"] = json!("n"))),
            K::InvalidClaim,
        ),
        (
            "no event",
            logout_token(&with(&|c| {
                c.as_object_mut().unwrap().remove("events");
            })),
            K::MissingClaim,
        ),
        (
            "the event not an object",
            logout_token(&with(&|c| c["events"] = json!({BACKCHANNEL_LOGOUT_EVENT: "yes"}))),
            K::InvalidClaim,
        ),
        (
            "another event",
            logout_token(&with(&|c| c["events"] = json!({"urn:other": {}}))),
            K::InvalidClaim,
        ),
        (
            "neither sid nor sub",
            logout_token(&with(&|c| {
                let o = c.as_object_mut().unwrap();
                o.remove("sid");
                o.remove("sub");
            })),
            K::MissingClaim,
        ),
        (
            "no jti",
            logout_token(&with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            })),
            K::MissingClaim,
        ),
        (
            "a huge sid",
            logout_token(&with(&|c| c["sid"] = json!("s".repeat(300)))),
            K::InvalidClaim,
        ),
        ("not a JWT", "not-a-jwt".to_owned(), K::Malformed),
    ];
    for (name, token, kind) in cases {
        assert_eq!(receiver.receive(&token).await.unwrap_err().kind(), kind, "{name}");
        let (status, body, cache) = send(&receiver, form_of(&token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(cache.as_deref(), Some("no-store"), "{name}");
        let (code, description) = json_error(&body);
        assert_eq!(code, "invalid_request", "{name}");
        for part in token.split('.').filter(|p| p.len() >= 16) {
            assert!(!description.contains(part), "{name}: the answer shows the token");
        }
    }
    assert!(list.is_empty(), "nothing recorded");
}

#[tokio::test]
async fn the_http_rules_of_the_endpoint() {
    let (receiver, list) = receiver().await;
    let token = logout_token(&logout_claims());
    let get = Request::get("/backchannel-logout").body(String::new()).unwrap();
    let response = receiver.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let json = Request::post("/")
        .header("content-type", "application/json")
        .body(json!({"logout_token": token}).to_string())
        .unwrap();
    assert_eq!(send(&receiver, json).await.0, StatusCode::BAD_REQUEST);
    let (status, body, _) = send(&receiver, form("other=1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json_error(&body).1.contains("no logout_token"));
    let twice = form(format!("logout_token={token}&logout_token={token}"));
    assert_eq!(send(&receiver, twice).await.0, StatusCode::BAD_REQUEST);
    let huge = form(format!("logout_token={token}&pad={}", "x".repeat(40 * 1024)));
    assert_eq!(send(&receiver, huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(list.is_empty());
    // With charset, the same token is accepted.
    let with_charset = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8")
        .body(format!("logout_token={token}"))
        .unwrap();
    assert_eq!(send(&receiver, with_charset).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_logout_token_without_typ_or_with_sub_only_is_accepted() {
    let (receiver, list) = receiver().await;
    let mut claims = logout_claims();
    claims.as_object_mut().unwrap().remove("sid");
    let token = sign(rsa_a(), json!({"alg": "RS256", "kid": "rsa-a"}), claims);
    let received = receiver.receive(&token).await.unwrap();
    assert_eq!(received.sub.as_deref(), Some("alice"));
    assert_eq!(received.sid, None);
    assert_eq!(list.len(), 1);
}
