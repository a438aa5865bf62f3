//! Revocation at logout (RFC 7009), the RP-initiated logout URL, token
//! introspection (or userinfo) and client credentials against
//! the local provider.

use std::sync::Arc;

use authresult_core::MemoryStore;
use authresult_core::{AccessToken, ClientSecret, FailureKind};
use authresult_oidc::OidcError;
use base64::Engine as _;
use serde_json::json;

use crate::support::{confidential, fast_options, issuer, login_as, manager, provider_from};

fn native_with_introspection() -> authresult_oidc::OidcProvider {
    let mut options = fast_options();
    options.introspection_client = Some(("resource-server".into(), ClientSecret::new("resource-secret")));
    provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(), "client_id": "native-app",
            "post_logout_redirect_uri": "http://127.0.0.1:53999/logged-out",
        }}),
        options,
    )
}

#[tokio::test]
async fn logout_revokes_and_offers_the_end_session_url() {
    let provider = native_with_introspection();
    let auth = login_as(&provider, "alice").await;
    let info = provider.introspect(&auth.access_token).await.unwrap();
    assert_eq!(info.subject.as_deref(), Some("alice"));
    assert!(info.scopes.iter().any(|s| s == "openid"), "{:?}", info.scopes);

    let store = Arc::new(MemoryStore::new());
    let manager = manager(store, provider.clone());
    manager.import("p", auth.clone()).await.unwrap();
    let report = manager.logout("p").await.unwrap();
    assert!(report.removed);
    report.revocation.unwrap();
    let url = report.end_session_url.unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/session/end", issuer("plain").as_str()))
    );
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.iter().any(|(k, _)| k == "id_token_hint"));
    assert!(query.contains(&("client_id".into(), "native-app".into())));
    assert!(query.contains(&(
        "post_logout_redirect_uri".into(),
        "http://127.0.0.1:53999/logged-out".into()
    )));
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(
        page.status().as_u16(),
        200,
        "the provider accepts the logout request"
    );

    // Both tokens are dead at the provider.
    let refreshed = provider.refresh(&auth).await.unwrap_err();
    assert_eq!(refreshed.oauth_error(), Some("invalid_grant"));
    let inactive = provider.introspect(&auth.access_token).await.unwrap_err();
    assert!(matches!(inactive, OidcError::TokenInactive), "{inactive:?}");
    assert_eq!(inactive.kind(), FailureKind::Terminal);
}

#[tokio::test]
async fn introspect_falls_back_to_userinfo() {
    let provider = crate::support::plain("native-app");
    let auth = login_as(&provider, "bob").await;
    let info = provider.introspect(&auth.access_token).await.unwrap();
    assert_eq!(info.subject.as_deref(), Some("bob"));
    assert_eq!(info.claims["email"], "bob@example.org");
    let bogus = provider
        .introspect(&AccessToken::new("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(bogus.kind(), FailureKind::Terminal, "{bogus:?}");
}

#[tokio::test]
async fn client_credentials_for_a_service_account() {
    let provider = confidential();
    let auth = provider
        .client_credentials(&["api:read", "api:write"])
        .await
        .unwrap();
    assert_eq!(auth.expires_in, 300);
    assert!(auth.refresh_token.is_none() && auth.id_token.is_none());
    let payload = auth.access_token.secret().split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "confidential-app");
    assert_eq!(claims["scope"], "api:read api:write");

    let public = crate::support::plain("native-app");
    let error = public.client_credentials(&["api:read"]).await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Configuration);
}

#[tokio::test]
async fn tokens_an_offline_logout_left_pending_are_revoked_at_the_provider_on_retry() {
    use authresult_core::{
        PendingRevocation, RevocableToken, RevocationQueueExt as _, SessionKey, Timestamp,
    };

    let provider = native_with_introspection();
    let auth = login_as(&provider, "alice").await;
    // What a logout while the provider was unreachable leaves in the store.
    let store = Arc::new(MemoryStore::new());
    let now = Timestamp::now();
    let tokens = [
        RevocableToken::Refresh(auth.refresh_token.clone().unwrap()),
        RevocableToken::Access(auth.access_token.clone()),
    ];
    for (n, token) in tokens.into_iter().enumerate() {
        let revocation = PendingRevocation {
            key: SessionKey::new("field-app", "p"),
            id: format!("left-{n}"),
            token,
            created_at: now,
            expires_at: now.saturating_add_secs(3600),
            origin: Some(authresult_core::Origin::oidc(
                provider.issuer(),
                provider.client_id(),
            )),
        };
        store.put_pending_revocation(&revocation).await.unwrap();
    }
    let manager = manager(store.clone(), provider.clone());
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.revoked.len(), 2, "{report:?}");
    assert!(report.pending.is_empty() && report.dropped.is_empty());
    assert!(
        store
            .pending_revocations(&"field-app".into(), now)
            .await
            .unwrap()
            .is_empty()
    );
    let refreshed = provider.refresh(&auth).await.unwrap_err();
    assert_eq!(refreshed.oauth_error(), Some("invalid_grant"));
    let inactive = provider.introspect(&auth.access_token).await.unwrap_err();
    assert!(matches!(inactive, OidcError::TokenInactive), "{inactive:?}");
}
