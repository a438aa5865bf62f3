//! Authorization code + PKCE + state + nonce + RFC 9207 `iss` against the
//! local provider, with the loopback listener and the manager's pending
//! state surviving a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::{Error, FailureKind, LoginFlow, LoginResponse};
use authresult_oidc::jwt::JwsAlgorithm;
use authresult_oidc::{LoopbackListener, OidcError};
use base64::Engine as _;
use serde_json::json;
use url::Url;

use crate::support::{
    authorization_url, browser_get, fast_options, idp, issuer, listener, login_as, manager, plain,
    provider_from, request,
};

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn code_flow_with_loopback_listener() {
    let provider = plain("native-app");
    let listener = listener().await;
    let redirect = listener.redirect_uri().clone();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect.clone())))
        .await
        .unwrap();
    let url = authorization_url(&pending);
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query(&url, "code_challenge").is_some_and(|c| c.len() == 43));
    assert!(query(&url, "nonce").is_some());
    assert_eq!(query(&url, "state").as_deref(), Some(pending.state.as_str()));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some(redirect.as_str()));
    let scope = query(&url, "scope").unwrap();
    assert!(
        scope.split(' ').any(|s| s == "openid") && scope.contains("offline_access"),
        "{scope}"
    );
    assert_eq!(scope.matches("openid").count(), 1);

    let state = pending.state.clone();
    let waiting =
        tokio::spawn(async move { listener.wait_for_callback(&state, Duration::from_secs(30)).await });
    let callback = idp()
        .login_via_form(&url, "alice", "alice-password")
        .await
        .unwrap();
    assert_eq!(query(&callback, "iss").as_deref(), Some(issuer("plain").as_str()));

    // Strays are answered 404 and ignored: another path, a wrong state, no code.
    let mut stray = redirect.clone();
    stray.set_path("/favicon.ico");
    assert_eq!(browser_get(&stray).await, 404);
    let mut wrong_state = redirect.clone();
    wrong_state.set_query(Some("code=x&state=not-the-state"));
    assert_eq!(browser_get(&wrong_state).await, 404);
    let mut no_code = redirect.clone();
    no_code.set_query(Some(&format!("state={}", pending.state)));
    assert_eq!(browser_get(&no_code).await, 404);
    // The browser arrives.
    assert_eq!(browser_get(&callback).await, 200);
    let received = waiting.await.unwrap().unwrap();
    assert_eq!(received, callback);
    // The listener is closed after success.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", redirect.port().unwrap()))
            .await
            .is_err()
    );

    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(received))
        .await
        .unwrap();
    assert!(auth.id_token.is_some());
    assert!(auth.refresh_token.is_some());
    assert_eq!(auth.expires_in, 300);
    let profile = auth.profile.clone().unwrap();
    assert_eq!(profile["sub"], "alice");
    assert_eq!(profile["email"], "alice@example.org");
    assert_eq!(profile["email_verified"], "true");
    assert!(!profile.contains_key("nonce") && !profile.contains_key("aud"));

    // Userinfo: its `sub` must be the ID token's.
    let claims = provider
        .userinfo(&auth.access_token, Some("alice"))
        .await
        .unwrap();
    assert_eq!(claims["email"], "alice@example.org");
    let mismatch = provider
        .userinfo(&auth.access_token, Some("bob"))
        .await
        .unwrap_err();
    assert!(matches!(mismatch, OidcError::SubjectMismatch), "{mismatch:?}");

    // The code is single use.
    let reused = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert_eq!(reused.oauth_error(), Some("invalid_grant"));
    assert_eq!(reused.kind(), FailureKind::Terminal);
}

#[tokio::test]
async fn loopback_listener_times_out_and_closes() {
    let listener = LoopbackListener::bind("/callback").await.unwrap();
    let port = listener.redirect_uri().port().unwrap();
    assert_eq!(listener.redirect_uri().host_str(), Some("127.0.0.1"));
    let error = listener
        .wait_for_callback("the-state", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::LoopbackTimeout { .. }), "{error:?}");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn pending_login_survives_an_app_restart() {
    let store = Arc::new(MemoryStore::new());
    let config = json!({"type": "keycloak", "fields": {"authority": issuer("keycloak").as_str(), "client_id": "native-app"}});
    let redirect = Url::parse("http://127.0.0.1:53117/callback").unwrap();
    let pending = {
        let first = manager(store.clone(), provider_from(config.clone(), fast_options()));
        first
            .begin_login_with("p", LoginFlow::AuthorizationCode, Some(redirect), BTreeMap::new())
            .await
            .unwrap()
        // The app (manager and provider) goes away here.
    };
    let callback = idp()
        .login_via_form(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();

    let second = manager(store.clone(), provider_from(config, fast_options()));
    let session = second.handle_callback(&callback).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some("alice"));
    assert_eq!(session.username.as_deref(), Some("alice"));
    let profile = session.auth.profile.clone().unwrap();
    assert!(profile["realm_access"].contains("enumerator"), "{profile:?}");
    assert!(second.access_token("p").await.is_ok());
    // The pending state is single use.
    let again = second.handle_callback(&callback).await.unwrap_err();
    assert!(matches!(again, Error::UnknownLoginState), "{again:?}");
}

#[tokio::test]
async fn callbacks_with_bad_state_iss_or_path_are_refused() {
    let provider = plain("native-app");
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect.clone())))
        .await
        .unwrap();
    let iss = issuer("plain");
    let with = |pairs: &[(&str, &str)], path: &str| {
        let mut url = redirect.clone();
        url.set_path(path);
        url.query_pairs_mut().extend_pairs(pairs);
        url
    };
    let state = pending.state.as_str();
    let cases = [
        (
            with(
                &[("code", "c"), ("state", "other"), ("iss", iss.as_str())],
                "/callback",
            ),
            "state",
        ),
        (with(&[("code", "c"), ("state", state)], "/callback"), "iss"),
        (
            with(
                &[("code", "c"), ("state", state), ("iss", "http://evil.example")],
                "/callback",
            ),
            "iss",
        ),
        (
            with(
                &[("code", "c"), ("state", state), ("iss", iss.as_str())],
                "/other",
            ),
            "redirect",
        ),
        (
            with(
                &[
                    ("code", "c"),
                    ("code", "d"),
                    ("state", state),
                    ("iss", iss.as_str()),
                ],
                "/callback",
            ),
            "repeated",
        ),
        (
            with(&[("state", state), ("iss", iss.as_str())], "/callback"),
            "code",
        ),
    ];
    for (url, word) in cases {
        let error = provider
            .complete_login(&pending, &LoginResponse::Callback(url))
            .await
            .unwrap_err();
        assert!(matches!(error, OidcError::InvalidCallback { .. }), "{error:?}");
        assert!(error.to_string().contains(word), "{error} should mention {word}");
        assert_eq!(error.kind(), FailureKind::Protocol);
    }
    // The user cancelled at the provider.
    let denied = with(
        &[
            ("error", "access_denied"),
            ("error_description", "End-User aborted interaction"),
            ("state", state),
            ("iss", iss.as_str()),
        ],
        "/callback",
    );
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(denied))
        .await
        .unwrap_err();
    assert!(
        matches!(error, OidcError::AuthorizationDenied { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Terminal);
    assert!(error.to_string().contains("access_denied"));
    // A device poll does not fit an authorization-code login.
    let error = provider
        .complete_login(&pending, &LoginResponse::DevicePoll)
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::InvalidPending { .. }), "{error:?}");
}

#[tokio::test]
async fn es256_id_tokens_verify_and_the_allow_list_applies() {
    let provider = plain("native-app-es256");
    let auth = login_as(&provider, "alice").await;
    let raw = auth.id_token.unwrap();
    let header = raw.secret().split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    assert!(String::from_utf8(header).unwrap().contains("ES256"));

    let mut options = fast_options();
    options.allowed_algorithms = vec![JwsAlgorithm::Rs256];
    let strict = provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer("plain").as_str(), "client_id": "native-app-es256"}}),
        options,
    );
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = strict
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let callback = idp()
        .login_via_form(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    let error = strict
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::InvalidIdToken { .. }), "{error:?}");
    assert!(error.to_string().contains("es256"), "{error}");
}

#[tokio::test]
async fn userinfo_merge_and_token_adoption() {
    let mut options = fast_options();
    options.fetch_userinfo = true;
    let provider = provider_from(
        json!({"type": "keycloak", "fields": {"authority": issuer("keycloak").as_str(), "client_id": "native-app"}}),
        options,
    );
    let auth = login_as(&provider, "alice").await;
    let profile = auth.profile.clone().unwrap();
    assert_eq!(profile["sub"], "alice");
    assert!(profile["realm_access"].contains("enumerator"));

    // An access token obtained elsewhere is checked at userinfo and adopted.
    let adopted = authresult_core::AuthProvider::login(
        &provider,
        &authresult_core::Credentials::Token {
            token: auth.access_token.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(adopted.subject(), Some("alice"));
    let refused = authresult_core::AuthProvider::login(
        &provider,
        &authresult_core::Credentials::Password {
            username: "alice".into(),
            password: authresult_core::Password::new("alice-password"),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(refused.kind(), FailureKind::Configuration);
    assert!(
        matches!(&refused, authresult_core::Error::Unsupported { provider, .. } if provider == "keycloak"),
        "{refused:?}"
    );
    // The inherent method is the same operation, with this crate's error.
    let inherent = provider
        .login(&authresult_core::Credentials::Token {
            token: auth.access_token.clone(),
        })
        .await
        .unwrap();
    assert_eq!(inherent.subject(), Some("alice"));
}

#[tokio::test]
async fn max_auth_age_is_sent_to_the_provider_and_its_auth_time_checked() {
    let mut options = fast_options();
    options.max_auth_age = Some(Duration::from_secs(300));
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer("plain").as_str(), "client_id": "native-app"}}),
        options,
    );
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let url = authorization_url(&pending);
    assert_eq!(query(&url, "max_age").as_deref(), Some("300"));
    let callback = idp()
        .login_via_form(&url, "alice", "alice-password")
        .await
        .unwrap();
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    let payload = auth
        .id_token
        .unwrap()
        .secret()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let auth_time = claims["auth_time"].as_u64().unwrap();
    assert!(auth_time + 300 >= crate::support::now());
}
