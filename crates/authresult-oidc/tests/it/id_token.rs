//! ID token verification on the code exchange, with tokens signed by a test
//! key and served by wiremock: audiences, `azp`, `nonce`, times and leeway,
//! algorithms (`none`, HMAC), issuer, unknown keys, a missing ID token,
//! the maximum age, short RSA keys and `max_age`/`auth_time`.

use std::time::Duration;

use authresult_core::{FailureKind, LoginResponse};
use authresult_oidc::jwt::{IssuerConfig, TokenValidator};
use authresult_oidc::{OidcError, OidcOptions};
use authresult_test_support::{JwtAlg, JwtSigner, at_hash, b64};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::support::{
    ClaimsExt as _, MockIdp, WEAK_KID, authorization_url, fast_options, now, signing_jwk, signing_key,
    weak_jwk, weak_signing_key,
};

type Edit = Box<dyn FnOnce(Value) -> Value>;

/// Runs a code login at a fresh mock whose token endpoint returns the ID
/// token made by `make` (given the mock and the login's nonce).
async fn exchange(
    options: OidcOptions,
    make: impl FnOnce(&MockIdp, &str) -> Option<String>,
) -> Result<authresult_core::AuthResult, OidcError> {
    let mock = MockIdp::start().await;
    let provider = mock.provider(options);
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    let mut body = json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 60});
    if let Some(id_token) = make(&mock, &nonce) {
        body["id_token"] = json!(id_token);
    }
    mock.token_response(ResponseTemplate::new(200).set_body_json(body))
        .await;
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
}

fn signed(edit: Edit) -> impl FnOnce(&MockIdp, &str) -> Option<String> {
    move |mock, nonce| Some(mock.id_token(|c| edit(c.with("nonce", nonce))))
}

async fn rejected(options: OidcOptions, edit: Edit, word: &str) {
    let error = exchange(options, signed(edit)).await.unwrap_err();
    assert!(
        matches!(error, OidcError::InvalidIdToken { .. }),
        "{word}: {error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Protocol);
    assert!(error.to_string().contains(word), "expected `{word}` in: {error}");
}

#[tokio::test]
async fn a_valid_id_token_passes_and_fills_the_profile() {
    let auth = exchange(fast_options(), signed(Box::new(|c| c))).await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.access_token.secret(), "at-1");
}

#[tokio::test]
async fn audiences_and_azp_are_checked() {
    rejected(
        fast_options(),
        Box::new(|c| c.with("aud", json!(["app", "evil"]))),
        "evil",
    )
    .await;
    rejected(
        fast_options(),
        Box::new(|c| c.with("aud", json!(["other"]))),
        "audience",
    )
    .await;
    let mut trusting = fast_options();
    trusting.trusted_audiences = vec!["api".into()];
    // Several audiences: `azp` must be present and name this client.
    rejected(
        trusting.clone(),
        Box::new(|c| c.with("aud", json!(["app", "api"]))),
        "azp",
    )
    .await;
    rejected(
        trusting.clone(),
        Box::new(|c| c.with("aud", json!(["app", "api"])).with("azp", "other")),
        "azp",
    )
    .await;
    let ok = exchange(
        trusting,
        signed(Box::new(|c| {
            c.with("aud", json!(["app", "api"])).with("azp", "app")
        })),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn nonce_is_required_on_login() {
    let missing = exchange(fast_options(), |mock, _| Some(mock.id_token(|c| c)))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("nonce"), "{missing}");
    let wrong = exchange(fast_options(), |mock, _| {
        Some(mock.id_token(|c| c.with("nonce", "not-the-nonce")))
    })
    .await
    .unwrap_err();
    assert!(wrong.to_string().contains("nonce"), "{wrong}");
}

#[tokio::test]
async fn expiry_and_issue_time_use_the_leeway() {
    let now = now();
    let expired_30s: Edit = Box::new(move |c| c.with("exp", now - 30));
    assert!(
        exchange(fast_options(), signed(expired_30s)).await.is_ok(),
        "within the 60 s leeway"
    );
    let mut strict = fast_options();
    strict.clock_leeway = Duration::ZERO;
    rejected(strict, Box::new(move |c| c.with("exp", now - 30)), "expired").await;
    rejected(
        fast_options(),
        Box::new(move |c| c.with("exp", now - 120)),
        "expired",
    )
    .await;
    rejected(
        fast_options(),
        Box::new(move |c| c.with("iat", now + 600)),
        "future",
    )
    .await;
}

#[tokio::test]
async fn another_issuer_is_rejected() {
    rejected(
        fast_options(),
        Box::new(|c| c.with("iss", "http://evil.example")),
        "issuer",
    )
    .await;
}

fn unsigned_token(claims: &Value, alg: &str) -> String {
    let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = b64(claims.to_string());
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn alg_none_and_hmac_are_never_accepted() {
    let none = exchange(fast_options(), |mock, nonce| {
        let mut raw = None;
        mock.id_token(|c| {
            let c = c.with("nonce", nonce);
            raw = Some(unsigned_token(&c, "none"));
            c
        });
        raw
    })
    .await
    .unwrap_err();
    assert!(matches!(none, OidcError::InvalidIdToken { .. }), "{none:?}");

    // HS256 keyed with the provider's public key material (the classic confusion attack).
    let hmac = exchange(fast_options(), |mock, nonce| {
        let mut raw = None;
        mock.id_token(|c| {
            let c = c.with("nonce", nonce);
            let public = signing_key().public_key_bytes().unwrap().unwrap();
            let key = JwtSigner::hmac(JwtAlg::Hs256, &public).unwrap();
            raw = Some(key.sign_jwt(&json!({"alg": "HS256", "typ": "JWT"}), &c).unwrap());
            c
        });
        raw
    })
    .await
    .unwrap_err();
    assert!(matches!(hmac, OidcError::InvalidIdToken { .. }), "{hmac:?}");
    assert!(hmac.to_string().contains("hs256"), "{hmac}");
}

#[tokio::test]
async fn an_unknown_key_refetches_the_key_set_once() {
    let mock = MockIdp::start().await;
    let provider = mock.provider(fast_options());
    // A first login loads the key set.
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    wiremock::Mock::given(wiremock::matchers::path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-0", "token_type": "Bearer",
            "id_token": mock.id_token(|c| c.with("nonce", nonce)),
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock.server)
        .await;
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    // Signed with the right key but naming a kid the key set does not have.
    let id_token = mock.id_token_signed_with(signing_key(), "rotated-away", |c| c.with("nonce", nonce));
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-1", "token_type": "Bearer", "id_token": id_token,
    })))
    .await;
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}");
    let jwks_fetches = mock
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/jwks")
        .count();
    assert_eq!(
        jwks_fetches, 2,
        "fetched for the first login and once more for the unknown kid"
    );
}

#[tokio::test]
async fn the_login_clients_key_set_outlives_rediscovery() {
    // Discovery is fetched again for every login (TTL 0); the keys are the
    // key-set cache's and are not fetched again with the document.
    let mut options = fast_options();
    options.discovery_ttl = Duration::ZERO;
    let mock = MockIdp::start().await;
    let provider = mock.provider(options);
    for round in 0..3 {
        let (pending, callback) = mock.code_callback(&provider).await;
        let nonce = MockIdp::nonce_of(&pending);
        wiremock::Mock::given(wiremock::matchers::path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("at-{round}"), "token_type": "Bearer",
                "id_token": mock.id_token(|c| c.with("nonce", nonce)),
            })))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&mock.server)
            .await;
        provider
            .complete_login(&pending, &LoginResponse::Callback(callback))
            .await
            .unwrap();
    }
    let requests = mock.server.received_requests().await.unwrap();
    let count = |suffix: &str| requests.iter().filter(|r| r.url.path().ends_with(suffix)).count();
    assert!(
        count("/.well-known/openid-configuration") >= 3,
        "discovery is refetched"
    );
    assert_eq!(count("/jwks"), 1, "one fetch of the keys serves every login");
}

#[tokio::test]
async fn a_login_without_id_token_is_refused() {
    let error = exchange(fast_options(), |_, _| None).await.unwrap_err();
    assert!(matches!(error, OidcError::IdTokenMissing { .. }), "{error:?}");
    assert!(error.to_string().contains("id_token"));
}

#[tokio::test]
async fn an_id_token_issued_a_week_ago_is_refused() {
    let now = now();
    rejected(
        fast_options(),
        Box::new(move |c| c.with("iat", now - 7 * 24 * 3600)),
        "too long ago",
    )
    .await;
    // Within the maximum age (5 min by default, plus the leeway) it passes.
    let recent: Edit = Box::new(move |c| c.with("iat", now - 200));
    assert!(exchange(fast_options(), signed(recent)).await.is_ok());
    let mut strict = fast_options();
    strict.max_id_token_age = Duration::from_secs(60);
    rejected(
        strict,
        Box::new(move |c| c.with("iat", now - 200)),
        "too long ago",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_signed_with_a_1024_bit_rsa_key_is_refused() {
    let mock = MockIdp::start_custom(|_| json!({}), &[signing_jwk(), weak_jwk()]).await;
    let provider = mock.provider(fast_options());
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    let id_token = mock.id_token_signed_with(weak_signing_key(), WEAK_KID, |c| c.with("nonce", nonce));
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-1", "token_type": "Bearer", "id_token": id_token,
    })))
    .await;
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}");
    assert!(error.to_string().contains("under 2048 bits"), "{error}");
    assert_eq!(error.kind(), FailureKind::Protocol);
    // A weak key is refused for good: the key set is not refetched for it.
    let received = mock.server.received_requests().await.unwrap();
    assert_eq!(received.iter().filter(|r| r.url.path() == "/jwks").count(), 1);
}

#[tokio::test]
async fn max_auth_age_is_sent_and_requires_a_recent_auth_time() {
    let mut options = fast_options();
    options.max_auth_age = Some(Duration::from_secs(300));
    let mock = MockIdp::start().await;
    let (pending, _) = mock.code_callback(&mock.provider(options.clone())).await;
    let sent = authorization_url(&pending)
        .query_pairs()
        .find(|(k, _)| k == "max_age")
        .map(|(_, v)| v.into_owned());
    assert_eq!(sent.as_deref(), Some("300"));

    let now = now();
    rejected(options.clone(), Box::new(|c| c), "auth_time").await;
    rejected(
        options.clone(),
        Box::new(move |c| c.with("auth_time", now - 3600)),
        "max_age",
    )
    .await;
    let recent: Edit = Box::new(move |c| c.with("auth_time", now - 10));
    assert!(exchange(options, signed(recent)).await.is_ok());
    // Without the option, `auth_time` is not required.
    assert!(exchange(fast_options(), signed(Box::new(|c| c))).await.is_ok());
}

#[tokio::test]
async fn a_validators_key_set_serves_id_tokens_with_one_fetch_of_the_keys() {
    let mock = MockIdp::start().await;
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(mock.issuer()).audience("urn:api"))
        .build()
        .unwrap();
    validator.prefetch().await.unwrap();
    let mut options = fast_options();
    options.shared_key_set = validator.key_set(&mock.issuer());
    assert!(options.shared_key_set.is_some());
    let provider = mock.provider(options);

    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 60,
        "id_token": mock.id_token(|c| c.with("nonce", nonce)),
    })))
    .await;
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    let jwks_fetches =
        |requests: Vec<wiremock::Request>| requests.iter().filter(|r| r.url.path() == "/jwks").count();
    assert_eq!(
        jwks_fetches(mock.server.received_requests().await.unwrap()),
        1,
        "the validator's fetch served the ID token too"
    );

    // A key the shared set does not hold is refused after one refetch (by
    // the validator's cache).
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    let weak = mock.id_token_signed_with(weak_signing_key(), WEAK_KID, |c| c.with("nonce", nonce));
    // Answered before the first login's token response.
    wiremock::Mock::given(wiremock::matchers::path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-2", "token_type": "Bearer", "id_token": weak,
        })))
        .with_priority(1)
        .mount(&mock.server)
        .await;
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no key"), "{error}");
    assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Protocol);
    assert_eq!(
        jwks_fetches(mock.server.received_requests().await.unwrap()),
        2,
        "one refetch for the unknown key"
    );
}

#[tokio::test]
async fn at_hash_when_present_must_match_the_access_token() {
    // `exchange` answers the access token `at-1`.
    let right = at_hash("at-1");
    let ok = exchange(
        fast_options(),
        signed(Box::new(move |c| c.with("at_hash", right))),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    let wrong = at_hash("another-token");
    rejected(
        fast_options(),
        Box::new(move |c| c.with("at_hash", wrong)),
        "at_hash",
    )
    .await;
}
