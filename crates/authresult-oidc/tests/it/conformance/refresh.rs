//! The OpenID Foundation's refresh-token RP plan (`oidcc-client-refreshtoken-test-plan`):
//! a refresh and userinfo with the new token, and refreshed ID tokens that
//! name another issuer or subject, refused with the session kept as it was.

use authresult_core::{AuthEvent, FailureKind};
use authresult_oidc::OidcError;

use super::flow::Rp;
use super::op::{HostileOp, SUBJECT, Twist};
use crate::support::ClaimsExt as _;

/// `oidcc-client-test-refresh-token`: login, refresh, then userinfo with
/// the new access token.
#[tokio::test]
async fn oidcc_client_test_refresh_token() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    let login = rp.code_login().await.unwrap();
    assert_eq!(login.auth.access_token.secret(), "at-1");
    let refreshed = rp.manager.refresh("p").await.unwrap();
    assert_eq!(refreshed.auth.access_token.secret(), "at-2");
    let (_, form) = op.seen(|s| s.token_requests[1].clone());
    assert_eq!(form.get("grant_type").map(String::as_str), Some("refresh_token"));
    let claims = rp
        .provider
        .userinfo(&refreshed.auth.access_token, Some(SUBJECT))
        .await
        .unwrap();
    assert_eq!(claims["sub"], SUBJECT);
    let (header, _) = op.seen(|s| s.userinfo_requests[0].clone());
    assert_eq!(header.as_deref(), Some("Bearer at-2"));
}

/// A login, then a refresh whose ID token `edit` spoils. The provider
/// adapter refuses the answer with an error naming `word`; the manager
/// keeps the login's session and nothing of the answer, and reports the
/// refusal as a `RefreshFailed` event of class protocol (an unexpired
/// session is still answered, the offline-first rule for failures that are
/// not terminal).
async fn refresh_refused(edit: fn(serde_json::Value) -> serde_json::Value, word: &str) {
    let op = HostileOp::start(Twist {
        refresh_claims: Some(edit),
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let login = rp.code_login().await.unwrap();

    let error = rp.provider.refresh(&login.auth).await.unwrap_err();
    assert!(
        matches!(
            error,
            OidcError::InvalidIdToken { .. } | OidcError::IdentityChanged { .. }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Protocol, "{error:?}");
    assert!(error.to_string().contains(word), "`{word}` not in: {error}");

    let mut events = rp.manager.subscribe();
    let answered = rp.manager.refresh("p").await.unwrap();
    assert_eq!(answered.auth.access_token.secret(), "at-1");
    let kept = rp.session().await.expect("the login's session is kept");
    assert_eq!(
        kept.auth.access_token.secret(),
        "at-1",
        "nothing of the refresh is kept"
    );
    assert_eq!(kept.version(), login.version());
    let mut failed = false;
    while let Some(event) = events.try_next_event() {
        failed |= matches!(
            event,
            AuthEvent::RefreshFailed {
                kind: FailureKind::Protocol,
                ..
            }
        );
    }
    assert!(failed, "the refusal is reported");
    assert_eq!(
        op.seen(|s| s.token_requests.len()),
        3,
        "both refreshes reached the provider"
    );
}

/// `oidcc-client-test-refresh-token-invalid-issuer`: the refreshed ID token
/// names another issuer.
#[tokio::test]
async fn oidcc_client_test_refresh_token_invalid_issuer() {
    refresh_refused(|c| c.with("iss", "https://op.attacker.example"), "`iss`").await;
}

/// `oidcc-client-test-refresh-token-invalid-sub`: the refreshed ID token
/// names another subject.
#[tokio::test]
async fn oidcc_client_test_refresh_token_invalid_sub() {
    refresh_refused(|c| c.with("sub", "mallory"), "`sub`").await;
}
