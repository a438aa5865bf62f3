//! The authorization-code login through a real browser: Debian's headless
//! Chromium, driven over WebDriver (`authresult_test_support::Chromium`),
//! opens the URL the manager built, the person's steps happen on each
//! provider's real login page (the local provider's HTML forms, glewlwyd's
//! login app), and the manager's loopback listener receives the redirect.
//! The scripted HTTP browser (`Browser`) covers every other test, for speed.
//! These tests fail, never skip, when Chromium is missing (`cargo xtask ci`
//! installs `chromium` and `chromium-driver`).

use std::sync::Arc;
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::{LoginFlow, Session};
use authresult_oidc::OidcProvider;
use authresult_test_support::{Chromium, Glewlwyd};
use base64::Engine as _;
use serde_json::{Value, json};
use url::Url;

use crate::support::{authorization_url, fast_options, listener, manager, plain, provider_from};

/// How long the whole browser login may take before the listener gives up.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The claims of `session`'s ID token (its signature was checked by the library).
fn id_token_claims(session: &Session) -> Value {
    let token = session.auth.id_token.as_ref().expect("an ID token");
    let payload = token.secret().split('.').nth(1).expect("a JWS payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn query(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Begins a code login with the manager over a loopback listener, lets
/// `person` act in Chromium, and completes the login from what the listener
/// received. Answers the session and the authorization URL.
async fn browser_login<F, Fut>(provider: OidcProvider, before: F) -> (Session, Url)
where
    F: FnOnce(Arc<Chromium>, Url, Url) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Url>>,
{
    let chromium = Arc::new(Chromium::start().await.expect("Chromium did not start"));
    let listener = listener().await;
    let redirect = listener.redirect_uri().clone();
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store, provider);
    let pending = manager
        .begin_login_with(
            "p",
            LoginFlow::AuthorizationCode,
            Some(redirect.clone()),
            Default::default(),
        )
        .await
        .unwrap();
    let url = authorization_url(&pending);
    let state = pending.state.clone();
    let waiting = tokio::spawn(async move { listener.wait_for_callback(&state, LOGIN_TIMEOUT).await });
    let landed = before(chromium.clone(), url.clone(), redirect.clone())
        .await
        .expect("the browser login failed");
    let received = waiting.await.unwrap().expect("the listener received no callback");
    // The listener got exactly what the browser was sent to.
    assert_eq!(received.path(), landed.path());
    assert_eq!(query(&received, "state"), pending.state);
    assert!(!query(&received, "code").is_empty());
    let session = manager.handle_callback(&received).await.unwrap();
    (session, url)
}

#[tokio::test]
async fn chromium_logs_in_at_the_local_provider_through_the_loopback_listener() {
    let (session, url) = browser_login(plain("native-app"), |chromium, url, redirect| async move {
        chromium
            .log_in_at_local_idp(&url, &redirect, "alice", "alice-password")
            .await
    })
    .await;
    assert_eq!(session.subject.as_deref(), Some("alice"));
    assert!(session.auth.refresh_token.is_some());
    assert!(session.auth.expires_in > 0);
    let claims = id_token_claims(&session);
    assert_eq!(claims["iss"], json!(crate::support::issuer("plain").as_str()));
    assert_eq!(claims["aud"], json!("native-app"));
    assert_eq!(claims["sub"], json!("alice"));
    assert_eq!(claims["nonce"], json!(query(&url, "nonce")));
    assert_eq!(claims["name"], json!("Alice Field"));
    let profile = session.auth.profile.clone().unwrap_or_default();
    assert_eq!(
        profile.get("email").map(String::as_str),
        Some("alice@example.org")
    );
}

#[tokio::test]
async fn chromium_logs_in_at_glewlwyd_through_its_login_app() {
    let server = Glewlwyd::start().expect("glewlwyd did not start");
    let provider = provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": server.issuer().as_str(), "client_id": Glewlwyd::PUBLIC_CLIENT,
        }}),
        fast_options(),
    );
    let server = Arc::new(server);
    let at = server.clone();
    let (session, url) = browser_login(provider, |chromium, url, redirect| async move {
        // Glewlwyd compares redirect URIs exactly, port included.
        at.allow_redirect_uri(Glewlwyd::PUBLIC_CLIENT, &redirect).await?;
        chromium
            .log_in_at_glewlwyd(&url, &redirect, "alice", "alice-password")
            .await
    })
    .await;
    let subject = session.subject.clone().unwrap();
    assert!(!subject.is_empty());
    assert!(session.auth.refresh_token.is_some());
    let claims = id_token_claims(&session);
    assert_eq!(claims["iss"], json!(server.issuer().as_str()));
    assert_eq!(claims["sub"], json!(subject));
    assert_eq!(claims["nonce"], json!(query(&url, "nonce")));
    assert_eq!(claims["name"], json!("Alice"));
    assert_eq!(claims["email"], json!("alice@example.org"));
}
