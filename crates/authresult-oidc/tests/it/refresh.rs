//! Refresh with rotation against the local provider; the identity checks and
//! responses without a refresh or ID token, `azp`/`auth_time` and old ID
//! tokens against wiremock.

use std::sync::Arc;

use authresult_core::MemoryStore;
use authresult_core::{AuthResult, FailureKind, Session, SessionKey, SessionStore as _};
use authresult_oidc::OidcError;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::support::{ClaimsExt as _, MockIdp, fast_options, key, login_as, manager, now, plain};

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let provider = plain("native-app");
    let first = login_as(&provider, "alice").await;
    let old = first.refresh_token.clone().unwrap();
    let second = provider.refresh(&first).await.unwrap();
    let new = second.refresh_token.clone().unwrap();
    assert_ne!(new.secret(), old.secret(), "the refresh token rotates");
    assert_ne!(second.access_token.secret(), first.access_token.secret());
    assert!(second.id_token.is_some());
    // The answer's profile is there only when its ID token is new; the
    // session keeps the old one otherwise.
    let now = authresult_core::Timestamp::from_secs(1_700_000_000);
    let session = Session::new(SessionKey::new("t", "p"), first.clone(), now).refreshed(second.clone(), now);
    assert_eq!(session.auth.subject(), Some("alice"));

    let reused = provider.refresh(&first).await.unwrap_err();
    assert_eq!(reused.oauth_error(), Some("invalid_grant"));
    assert_eq!(reused.kind(), FailureKind::Terminal);
    assert!(reused.to_string().contains("token endpoint"), "{reused}");
    assert!(!reused.to_string().contains(old.secret()));
}

#[tokio::test]
async fn manager_refresh_stores_the_rotated_token() {
    let provider = plain("native-app");
    let auth = login_as(&provider, "alice").await;
    let old = auth.refresh_token.clone().unwrap();
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), provider);
    manager.import("p", auth).await.unwrap();
    let session = manager.refresh("p").await.unwrap();
    let stored = store.get(&key("p")).await.unwrap().unwrap();
    let stored_refresh = stored.auth.refresh_token.unwrap();
    assert_ne!(stored_refresh.secret(), old.secret());
    assert_eq!(
        stored_refresh.secret(),
        session.auth.refresh_token.unwrap().secret()
    );
}

#[tokio::test]
async fn a_refreshed_id_token_for_another_user_is_rejected_and_nothing_is_stored() {
    let provider = plain("native-app");
    let alice = login_as(&provider, "alice").await;
    let bob = login_as(&provider, "bob").await;
    // Alice's session holding (by mistake or attack) Bob's refresh token.
    let mut mixed = alice.clone();
    mixed.refresh_token = bob.refresh_token.clone();
    let error = provider.refresh(&mixed).await.unwrap_err();
    assert!(
        matches!(error, OidcError::IdentityChanged { claim: "sub" }),
        "{error:?}"
    );

    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), plain("native-app"));
    let mut mixed = alice.clone();
    let bob2 = login_as(&provider, "bob").await;
    mixed.refresh_token = bob2.refresh_token.clone();
    manager.import("p", mixed).await.unwrap();
    let before = store.get(&key("p")).await.unwrap().unwrap();
    // The manager keeps the session through a protocol failure; nothing new is written.
    let _ = manager.refresh("p").await;
    let after = store.get(&key("p")).await.unwrap().unwrap();
    assert_eq!(after.version(), before.version(), "nothing was stored");
    assert_eq!(after.auth.access_token.secret(), alice.access_token.secret());
}

/// A previous result issued by `mock` for `alice` with `nonce`.
fn previous(mock: &MockIdp, nonce: Option<&str>) -> AuthResult {
    let id_token = mock.id_token(|c| match nonce {
        Some(n) => c.with("nonce", n),
        None => c,
    });
    AuthResult::from_json_value(json!({
        "access_token": "old-at", "refresh_token": "old-rt", "id_token": id_token, "expires_in": 60,
        "profile": {"sub": "alice", "name": "Alice"},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_refresh_answer_without_new_tokens_is_answered_as_is_and_the_session_keeps_the_old_ones() {
    let mock = MockIdp::start().await;
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "token_type": "Bearer", "expires_in": 120,
    })))
    .await;
    let provider = mock.provider(fast_options());
    let before = previous(&mock, Some("n1"));
    let after = provider.refresh(&before).await.unwrap();
    // The provider answers exactly what the token endpoint said...
    assert_eq!(after.access_token.secret(), "new-at");
    assert!(after.refresh_token.is_none());
    assert!(after.id_token.is_none());
    assert!(after.profile.is_none());
    assert_eq!(after.expires_in, 120);
    // ...and the one merge rule, `Session::refreshed`, keeps the old fields.
    let now = authresult_core::Timestamp::from_secs(1_700_000_000);
    let session = Session::new(SessionKey::new("t", "p"), before.clone(), now).refreshed(after, now);
    assert_eq!(session.auth.access_token.secret(), "new-at");
    assert_eq!(session.auth.refresh_token.unwrap().secret(), "old-rt");
    assert_eq!(
        session.auth.id_token.unwrap().secret(),
        before.id_token.unwrap().secret()
    );
    assert_eq!(session.auth.profile, before.profile);
}

#[tokio::test]
async fn refreshed_id_token_without_nonce_is_accepted_but_other_changes_are_not() {
    // Keycloak 25+ drops `nonce` on refresh (openidconnect-rs #186).
    let mock = MockIdp::start().await;
    let fresh = mock.id_token(|c| c);
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "refresh_token": "new-rt", "token_type": "Bearer", "expires_in": 60,
        "id_token": fresh,
    })))
    .await;
    let provider = mock.provider(fast_options());
    let after = provider.refresh(&previous(&mock, Some("n1"))).await.unwrap();
    assert_eq!(after.refresh_token.unwrap().secret(), "new-rt");

    for (what, edit) in [
        (
            "aud",
            Box::new(|c: Value| c.with("aud", json!(["app", "other"])).with("azp", "app"))
                as Box<dyn Fn(Value) -> Value>,
        ),
        ("nonce", Box::new(|c: Value| c.with("nonce", "n2"))),
    ] {
        let mock = MockIdp::start().await;
        let fresh = mock.id_token(edit);
        mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "new-at", "token_type": "Bearer", "id_token": fresh,
        })))
        .await;
        let mut options = fast_options();
        options.trusted_audiences = vec!["other".into()];
        let provider = mock.provider(options);
        let error = provider.refresh(&previous(&mock, Some("n1"))).await.unwrap_err();
        match what {
            "aud" => assert!(
                matches!(error, OidcError::IdentityChanged { claim: "aud" }),
                "{error:?}"
            ),
            _ => assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}"),
        }
        assert!(error.to_string().contains(what), "{what}: {error}");
        assert_eq!(error.kind(), FailureKind::Protocol);
    }
}

/// A previous result whose ID token `edit` shaped.
fn previous_with(mock: &MockIdp, edit: impl FnOnce(Value) -> Value) -> AuthResult {
    AuthResult::from_json_value(json!({
        "access_token": "old-at", "refresh_token": "old-rt", "id_token": mock.id_token(edit),
        "expires_in": 60, "profile": {"sub": "alice"},
    }))
    .unwrap()
}

/// Refreshes at a fresh mock answering the ID token `fresh` shaped, after a
/// login whose ID token `original` shaped.
async fn refresh_with(
    original: impl FnOnce(Value) -> Value,
    fresh: impl FnOnce(Value) -> Value,
) -> Result<AuthResult, OidcError> {
    let mock = MockIdp::start().await;
    let before = previous_with(&mock, original);
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "token_type": "Bearer", "expires_in": 60, "id_token": mock.id_token(fresh),
    })))
    .await;
    mock.provider(fast_options()).refresh(&before).await
}

#[tokio::test]
async fn a_refreshed_id_token_with_another_azp_or_auth_time_is_refused() {
    let login_time = now() - 2 * 3600;
    // `azp` appears where the original had none (OpenID Connect Core §12.2).
    let error = refresh_with(|c| c, |c| c.with("azp", "app")).await.unwrap_err();
    assert!(
        matches!(error, OidcError::IdentityChanged { claim: "azp" }),
        "{error:?}"
    );
    // `azp` disappears.
    let error = refresh_with(|c| c.with("azp", "app"), |c| c).await.unwrap_err();
    assert!(
        matches!(error, OidcError::IdentityChanged { claim: "azp" }),
        "{error:?}"
    );
    // `auth_time` must stay the time of the original authentication.
    let error = refresh_with(
        |c| c.with("auth_time", login_time),
        |c| c.with("auth_time", now()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, OidcError::IdentityChanged { claim: "auth_time" }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Protocol);
    // Unchanged `azp` and `auth_time` pass, however old the authentication.
    let same = refresh_with(
        |c| c.with("azp", "app").with("auth_time", login_time),
        |c| c.with("azp", "app").with("auth_time", login_time),
    )
    .await;
    assert!(same.is_ok(), "{same:?}");
}

#[tokio::test]
async fn a_refreshed_id_token_issued_a_week_ago_is_refused_but_the_stored_one_repeated_is_kept() {
    let week_ago = now() - 7 * 24 * 3600;
    let error = refresh_with(|c| c, |c| c.with("iat", week_ago))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}");
    assert!(error.to_string().contains("too long ago"), "{error}");

    // A provider that repeats the stored ID token (as issued at login) is
    // not handing out a new one: it is kept, not checked again.
    let mock = MockIdp::start().await;
    let before = previous_with(&mock, |c| c.with("iat", week_ago));
    let stored = before.id_token.clone().unwrap();
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "token_type": "Bearer", "id_token": stored.secret(),
    })))
    .await;
    let after = mock.provider(fast_options()).refresh(&before).await.unwrap();
    assert_eq!(after.id_token.unwrap().secret(), stored.secret());
    assert_eq!(after.access_token.secret(), "new-at");
}
