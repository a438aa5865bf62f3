//! The OpenID Foundation's Basic RP plan (`oidcc-client-basic-certification-test-plan`,
//! response type `code`, `client_secret_basic`): the happy path against the
//! real provider, every other test against the hostile provider.

use authresult_core::LoginResponse;
use authresult_oidc::OidcError;
use serde_json::json;

use super::flow::{Rp, id_token_refused, refused};
use super::op::{CLIENT_ID, CLIENT_SECRET, HostileOp, KeySet, SUBJECT, Signing, Twist};
use crate::support::{ClaimsExt as _, authorization_url, fast_options, idp, issuer, provider_from, request};

/// `oidcc-client-test`: the code flow with the real provider, then userinfo.
#[tokio::test]
async fn oidcc_client_test() {
    let mut options = fast_options();
    options.fetch_userinfo = true;
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer("plain").as_str(), "client_id": "native-app"}}),
        options,
    );
    let redirect = url::Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(
            authresult_core::LoginFlow::AuthorizationCode,
            Some(redirect),
        ))
        .await
        .unwrap();
    let callback = idp()
        .login_via_form(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert!(auth.id_token.is_some());
    let claims = provider
        .userinfo(&auth.access_token, Some("alice"))
        .await
        .unwrap();
    assert_eq!(claims["email"], "alice@example.org");
}

/// `oidcc-client-test-invalid-iss`: the ID token names another issuer.
#[tokio::test]
async fn oidcc_client_test_invalid_iss() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.with("iss", "https://op.attacker.example")),
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "`iss` claim names another issuer").await;
}

/// `oidcc-client-test-missing-sub`: the ID token has no `sub`.
#[tokio::test]
async fn oidcc_client_test_missing_sub() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.without("sub")),
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "`sub` claim is missing").await;
}

/// `oidcc-client-test-invalid-aud`: the ID token is for another client.
#[tokio::test]
async fn oidcc_client_test_invalid_aud() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.with("aud", "another-client")),
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "does not name this client").await;
}

/// `oidcc-client-test-missing-iat`: the ID token has no `iat`.
#[tokio::test]
async fn oidcc_client_test_missing_iat() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.without("iat")),
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "`iat` claim is missing").await;
}

/// `oidcc-client-test-kid-absent-single-jwks`: no `kid`, one key in the set:
/// that key verifies the token and the login succeeds.
#[tokio::test]
async fn oidcc_client_test_kid_absent_single_jwks() {
    let op = HostileOp::start(Twist {
        signing: Signing::KidAbsent,
        keys: KeySet::OneWithoutKid,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let session = rp.code_login().await.unwrap();
    assert_eq!(session.subject.as_deref(), Some(SUBJECT));
}

/// `oidcc-client-test-kid-absent-multiple-jwks`: no `kid`, two RSA keys in
/// the set. The plan accepts either outcome; this client refuses (it never
/// tries keys in turn).
#[tokio::test]
async fn oidcc_client_test_kid_absent_multiple_jwks() {
    let op = HostileOp::start(Twist {
        signing: Signing::KidAbsent,
        keys: KeySet::TwoWithoutKid,
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "several keys of the issuer match").await;
}

/// `oidcc-client-test-idtoken-sig-rs256`: an RS256 ID token is accepted.
#[tokio::test]
async fn oidcc_client_test_idtoken_sig_rs256() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    let session = rp.code_login().await.unwrap();
    assert_eq!(session.subject.as_deref(), Some(SUBJECT));
    assert_eq!(rp.session().await.unwrap().subject.as_deref(), Some(SUBJECT));
    // The client sent PKCE S256 and a nonce; the provider checked the verifier.
    let sent = op.seen(|s| s.authorizations[0].clone());
    let query: Vec<(String, String)> = sent.query_pairs().into_owned().collect();
    assert!(query.contains(&("code_challenge_method".into(), "S256".into())));
    assert!(query.iter().any(|(k, _)| k == "nonce"));
}

/// `oidcc-client-test-idtoken-sig-none`: an unsigned ID token. The plan
/// accepts either outcome; this client refuses it (and sends no userinfo
/// request).
#[tokio::test]
async fn oidcc_client_test_idtoken_sig_none() {
    let op = HostileOp::start(Twist {
        signing: Signing::AlgNone,
        ..Twist::default()
    })
    .await;
    let mut options = fast_options();
    options.fetch_userinfo = true;
    id_token_refused(&Rp::with_options(&op, options), "`none` is not allowed").await;
    assert_eq!(op.seen(|s| s.userinfo_requests.len()), 0);
}

/// `oidcc-client-test-invalid-sig-rs256`: the RS256 signature is invalid.
#[tokio::test]
async fn oidcc_client_test_invalid_sig_rs256() {
    let op = HostileOp::start(Twist {
        signing: Signing::TamperedRs256,
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "invalid token signature").await;
}

/// `oidcc-client-test-userinfo-invalid-sub`: userinfo answers another `sub`.
#[tokio::test]
async fn oidcc_client_test_userinfo_invalid_sub() {
    let op = HostileOp::start(Twist {
        userinfo_sub: Some("mallory"),
        ..Twist::default()
    })
    .await;
    let mut options = fast_options();
    options.fetch_userinfo = true;
    let rp = Rp::with_options(&op, options);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::SubjectMismatch),
        authresult_core::FailureKind::Protocol,
        "userinfo `sub`",
    );
    assert!(rp.session().await.is_none(), "no session is kept");
    assert_eq!(op.seen(|s| s.userinfo_requests.len()), 1);
}

/// `oidcc-client-test-nonce-invalid`: the ID token carries another nonce.
#[tokio::test]
async fn oidcc_client_test_nonce_invalid() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.with("nonce", "not-the-nonce-sent")),
        ..Twist::default()
    })
    .await;
    id_token_refused(&Rp::of(&op), "`nonce` claim does not match").await;
}

/// `oidcc-client-test-scope-userinfo-claims`: the client asks for claims
/// with scope values and receives them from userinfo.
#[tokio::test]
async fn oidcc_client_test_scope_userinfo_claims() {
    let op = HostileOp::start(Twist::default()).await;
    let mut options = fast_options();
    options.fetch_userinfo = true;
    let rp = Rp::with_options(&op, options);
    let session = rp.code_login().await.unwrap();
    let sent = op.seen(|s| s.authorizations[0].clone());
    let scope = sent
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let scopes: Vec<&str> = scope.split(' ').collect();
    assert!(scopes.contains(&"openid"), "{scope}");
    assert!(
        scopes.contains(&"profile") && scopes.contains(&"email"),
        "{scope}"
    );
    let profile = session.auth.profile.unwrap();
    assert_eq!(profile.get("name").map(String::as_str), Some("Alice Field"));
    // Userinfo was asked with the bearer header, never in the query.
    let (header, query) = op.seen(|s| s.userinfo_requests[0].clone());
    assert!(header.unwrap().starts_with("Bearer at-"));
    assert!(query.is_none());
}

/// `oidcc-client-test-client-secret-basic`: the token request authenticates
/// the client with HTTP Basic (the provider refuses anything else).
#[tokio::test]
async fn oidcc_client_test_client_secret_basic() {
    let op = HostileOp::start(Twist::default()).await;
    Rp::of(&op).code_login().await.unwrap();
    let (header, form) = op.seen(|s| s.token_requests[0].clone());
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(header.as_deref(), Some(format!("Basic {expected}").as_str()));
    assert!(
        !form.contains_key("client_secret"),
        "the secret is not in the body"
    );
    assert!(form.contains_key("code_verifier"), "PKCE verifier sent");
}
