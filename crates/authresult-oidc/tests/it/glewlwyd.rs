//! The provider tests against a second, independent OpenID provider:
//! Debian's `glewlwyd` (C, its own JOSE library and HTTP stack), started and
//! configured once for this binary by `authresult_test_support::Glewlwyd`.
//! Discovery, code + PKCE through the loopback listener, the device grant,
//! refresh with one-time rotation, userinfo, local validation of its access
//! tokens and logout, plus how its departures from the specifications
//! (`xtask/idp/README.md`, "glewlwyd") are classified. These tests fail,
//! never skip, when glewlwyd is not installed (`cargo xtask ci` installs it).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::{
    AuthResult, Error, FailureKind, LoginFlow, LoginPrompt, LoginResponse, SessionStore as _,
};
use authresult_oidc::jwt::{IssuerConfig, TokenPurpose, TokenValidator};
use authresult_oidc::{OidcError, OidcProvider};
use authresult_test_support::Glewlwyd;
use serde_json::json;
use url::Url;

use crate::support::{
    authorization_url, browser_get, fast_options, key, listener, manager, provider_from, request,
};

static GLEWLWYD: OnceLock<Glewlwyd> = OnceLock::new();

/// One test at a time talks to the shared server: glewlwyd over SQLite
/// answers HTTP 500 when two requests write at once (no busy timeout).
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The glewlwyd of this test binary.
fn glewlwyd() -> &'static Glewlwyd {
    GLEWLWYD.get_or_init(|| match Glewlwyd::start() {
        Ok(server) => server,
        Err(e) => panic!("glewlwyd did not start: {e:#}"),
    })
}

/// A generic OIDC provider for `client_id` (with `secret`) at `server`.
fn provider_at(server: &Glewlwyd, client_id: &str, secret: Option<&str>) -> OidcProvider {
    let mut fields = json!({
        "issuer": server.issuer().as_str(),
        "client_id": client_id,
    });
    if let Some(secret) = secret {
        fields["client_secret"] = json!(secret);
    }
    provider_from(json!({"type": "oidc", "fields": fields}), fast_options())
}

fn public() -> OidcProvider {
    provider_at(glewlwyd(), Glewlwyd::PUBLIC_CLIENT, None)
}

fn confidential() -> OidcProvider {
    let (id, secret) = Glewlwyd::CONFIDENTIAL_CLIENT;
    provider_at(glewlwyd(), id, Some(secret))
}

/// A whole code + PKCE login of `username` at `server`, redirect URI
/// registered at start.
async fn login_at(server: &Glewlwyd, provider: &OidcProvider, username: &str) -> AuthResult {
    let redirect = Url::parse(Glewlwyd::REDIRECT_URI).unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let callback = server
        .login(
            &authorization_url(&pending),
            username,
            &format!("{username}-password"),
        )
        .await
        .unwrap();
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap()
}

async fn login_as(provider: &OidcProvider, username: &str) -> AuthResult {
    login_at(glewlwyd(), provider, username).await
}

#[tokio::test]
async fn glewlwyd_discovery_yields_every_endpoint_the_flows_need() {
    let _turn = TURN.lock().await;
    let endpoints = public().discover().await.unwrap();
    let issuer = glewlwyd().issuer().as_str();
    assert_eq!(endpoints.issuer, issuer);
    let under_issuer = |url: Option<Url>| url.is_some_and(|u| u.as_str().starts_with(issuer));
    assert!(endpoints.authorization_endpoint.as_str().starts_with(issuer));
    assert!(under_issuer(endpoints.token_endpoint));
    assert!(under_issuer(endpoints.userinfo_endpoint));
    assert!(under_issuer(endpoints.device_authorization_endpoint));
    assert!(under_issuer(endpoints.revocation_endpoint));
    assert!(under_issuer(endpoints.introspection_endpoint));
    assert!(under_issuer(endpoints.end_session_endpoint));
    // It sends no RFC 9207 `iss` and says so: callbacks without it are fine.
    assert!(!endpoints.authorization_response_iss_parameter_supported);
}

#[tokio::test]
async fn glewlwyd_code_flow_with_pkce_through_the_loopback_listener() {
    let _turn = TURN.lock().await;
    let listener = listener().await;
    let redirect = listener.redirect_uri().clone();
    // Glewlwyd compares redirect URIs exactly, port included.
    glewlwyd()
        .allow_redirect_uri(Glewlwyd::PUBLIC_CLIENT, &redirect)
        .await
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), public());
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
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256")
    );
    let state = pending.state.clone();
    let waiting =
        tokio::spawn(async move { listener.wait_for_callback(&state, Duration::from_secs(30)).await });
    let callback = glewlwyd().login(&url, "alice", "alice-password").await.unwrap();
    assert!(callback.as_str().starts_with(redirect.as_str()), "{callback}");
    assert_eq!(browser_get(&callback).await, 200);
    let received = waiting.await.unwrap().unwrap();
    let session = manager.handle_callback(&received).await.unwrap();

    // Glewlwyd's `sub` is a pseudonym, the same in the ID token and userinfo.
    let subject = session.subject.clone().unwrap();
    assert!(!subject.is_empty());
    assert!(session.auth.refresh_token.is_some());
    assert!(session.auth.id_token.is_some());
    assert!(session.auth.expires_in > 0);
    let stored = store.get(&key("p")).await.unwrap().unwrap();
    assert_eq!(
        stored.auth.access_token.secret(),
        session.auth.access_token.secret()
    );
}

#[tokio::test]
async fn glewlwyd_replayed_code_is_refused_with_its_own_error_code() {
    let _turn = TURN.lock().await;
    let provider = public();
    let redirect = Url::parse(Glewlwyd::REDIRECT_URI).unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let callback = glewlwyd()
        .login(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    let callback = LoginResponse::Callback(callback);
    provider.complete_login(&pending, &callback).await.unwrap();
    // RFC 6749 wants 400 `invalid_grant`; glewlwyd answers 403 `invalid_code`.
    let replay = provider.complete_login(&pending, &callback).await.unwrap_err();
    assert_eq!(replay.oauth_error(), Some("invalid_code"), "{replay:?}");
    assert!(
        replay
            .to_string()
            .contains("token endpoint answered error `invalid_code`"),
        "{replay}"
    );
    assert_ne!(replay.kind(), FailureKind::Transient);
}

#[tokio::test]
async fn glewlwyd_device_grant_through_the_manager() {
    let _turn = TURN.lock().await;
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store, public());
    let pending = manager.begin_login("p", LoginFlow::DeviceCode).await.unwrap();
    let LoginPrompt::DeviceCode {
        user_code,
        verification_uri,
        verification_uri_complete,
        interval_secs,
    } = pending.prompt.clone()
    else {
        panic!("expected a device prompt, got {:?}", pending.prompt);
    };
    assert_eq!(interval_secs, 5);
    assert!(
        verification_uri
            .as_str()
            .starts_with(glewlwyd().issuer().as_str())
    );
    assert!(verification_uri_complete.is_some_and(|u| u.as_str().contains(&user_code)));
    // The manager polls while the user approves (glewlwyd answers
    // `authorization_pending` until then).
    let approve = async {
        glewlwyd()
            .approve_device(
                &verification_uri,
                &user_code,
                Glewlwyd::PUBLIC_CLIENT,
                "bob",
                "bob-password",
            )
            .await
            .unwrap();
    };
    let (session, ()) = tokio::join!(
        manager.complete_login(&pending, LoginResponse::DevicePoll),
        approve
    );
    let session = session.unwrap();
    assert!(session.subject.is_some());
    assert_eq!(session.username.as_deref(), Some("bob@example.org"));
    assert!(session.auth.refresh_token.is_some());
    assert!(session.auth.id_token.is_some());
}

#[tokio::test]
async fn glewlwyd_refresh_rotates_and_a_reused_token_is_terminal() {
    let _turn = TURN.lock().await;
    let provider = public();
    let first = login_as(&provider, "alice").await;
    let old = first.refresh_token.clone().unwrap();
    let second = provider.refresh(&first).await.unwrap();
    let new = second.refresh_token.clone().unwrap();
    assert_ne!(new.secret(), old.secret(), "the refresh token rotates");
    assert_ne!(second.access_token.secret(), first.access_token.secret());
    // No ID token on refresh: the answer has none, the session keeps the old one.
    assert!(second.id_token.is_none());
    let now = authresult_core::Timestamp::from_secs(1_700_000_000);
    let session =
        authresult_core::Session::new(authresult_core::SessionKey::new("t", "p"), first.clone(), now)
            .refreshed(second.clone(), now);
    assert_eq!(session.auth.subject(), first.subject());
    assert!(session.auth.id_token.is_some());

    // Glewlwyd refuses the spent token with HTTP 400 and an empty body.
    let reused = provider.refresh(&first).await.unwrap_err();
    assert!(
        matches!(reused, OidcError::HttpStatus { status: 400, .. }),
        "{reused:?}"
    );
    assert_eq!(reused.kind(), FailureKind::Terminal);
    let message = reused.to_string();
    assert!(
        message.contains("token endpoint") && message.contains("HTTP 400"),
        "{message}"
    );
    assert!(!message.contains(old.secret()));
}

#[tokio::test]
async fn glewlwyd_refused_refresh_ends_the_session_in_the_manager() {
    let _turn = TURN.lock().await;
    let provider = public();
    let auth = login_as(&provider, "alice").await;
    // Spend the refresh token elsewhere, then let the manager try it.
    provider.refresh(&auth).await.unwrap();
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), public());
    manager.import("p", auth).await.unwrap();
    let error = manager.refresh("p").await.unwrap_err();
    assert!(
        matches!(error, Error::ReauthenticationRequired { .. }),
        "{error:?}"
    );
    assert!(store.get(&key("p")).await.unwrap().is_none(), "the session ended");
}

#[tokio::test]
async fn glewlwyd_server_errors_keep_the_session() {
    // A server of its own: its access-token table is dropped behind its back,
    // so it fails the way a broken deployment does (HTTP 500, empty body).
    let server = Glewlwyd::start().unwrap();
    let provider = provider_at(&server, Glewlwyd::PUBLIC_CLIENT, None);
    let direct = login_at(&server, &provider, "alice").await;
    let managed = login_at(&server, &provider, "alice").await;
    server
        .execute_sql("DROP TABLE gpo_access_token_scope; DROP TABLE gpo_access_token;")
        .unwrap();
    let error = provider.refresh(&direct).await.unwrap_err();
    assert!(
        matches!(error, OidcError::HttpStatus { status: 500, .. }),
        "{error:?}\n{}",
        server.log()
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(error.to_string().contains("HTTP 500"), "{error}");

    // (Glewlwyd spent that refresh token before failing, so each attempt
    // here uses a token of its own.)
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), provider);
    manager.import("p", managed.clone()).await.unwrap();
    let _ = manager.refresh("p").await;
    let kept = store.get(&key("p")).await.unwrap().unwrap();
    assert_eq!(
        kept.auth.refresh_token.map(|t| t.secret().to_owned()),
        managed.refresh_token.map(|t| t.secret().to_owned()),
        "the session is kept"
    );
}

#[tokio::test]
async fn glewlwyd_userinfo_answers_the_same_subject_and_the_profile() {
    let _turn = TURN.lock().await;
    let provider = public();
    let auth = login_as(&provider, "bob").await;
    let subject = auth.subject().unwrap().to_owned();
    let info = provider
        .userinfo(&auth.access_token, Some(&subject))
        .await
        .unwrap();
    assert_eq!(info["sub"], json!(subject));
    assert_eq!(info["name"], json!("Bob"));
    assert_eq!(info["email"], json!("bob@example.org"));
    // Another user's subject is refused.
    let other = provider
        .userinfo(&auth.access_token, Some("someone-else"))
        .await
        .unwrap_err();
    assert!(matches!(other, OidcError::SubjectMismatch), "{other:?}");
}

#[tokio::test]
async fn glewlwyd_access_tokens_validate_with_the_token_validator() {
    let _turn = TURN.lock().await;
    let auth = login_as(&public(), "alice").await;
    // Glewlwyd's access token `aud` is one string: the granted scopes, space
    // separated, unless a resource indicator was sent.
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(glewlwyd().issuer().as_str()).audience(Glewlwyd::SCOPES))
        .build()
        .unwrap();
    let token = validator.validate(auth.access_token.secret()).await.unwrap();
    assert_eq!(token.issuer(), glewlwyd().issuer().as_str());
    assert_eq!(token.subject(), auth.subject());
    assert_eq!(token.token_kind(), TokenPurpose::Access);
    assert_eq!(token.client_id(), Some(Glewlwyd::PUBLIC_CLIENT));
    assert!(token.has_scope("openid") && token.has_scope("offline_access"));

    // Its ID token is not an access token; a forged signature is refused.
    let id_token = auth.id_token.as_ref().unwrap();
    assert!(validator.validate(id_token.secret()).await.is_err());
    let mut forged = auth.access_token.secret().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(validator.validate(&forged).await.is_err());
    // A validator for another audience refuses it.
    let elsewhere = TokenValidator::builder()
        .issuer(IssuerConfig::new(glewlwyd().issuer().as_str()).audience("urn:elsewhere"))
        .build()
        .unwrap();
    assert!(elsewhere.validate(auth.access_token.secret()).await.is_err());
}

#[tokio::test]
async fn glewlwyd_logout_revokes_for_the_confidential_client() {
    let _turn = TURN.lock().await;
    let provider = confidential();
    let auth = login_as(&provider, "alice").await;
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), provider.clone());
    manager.import("p", auth.clone()).await.unwrap();
    let report = manager.logout("p").await.unwrap();
    assert!(report.removed);
    report.revocation.unwrap();
    let url = report.end_session_url.unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/end_session", glewlwyd().issuer()))
    );
    assert!(url.query_pairs().any(|(k, _)| k == "id_token_hint"));
    // The revoked refresh token is refused, terminally.
    let error = provider.refresh(&auth).await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Terminal, "{error:?}");
}

#[tokio::test]
async fn glewlwyd_refuses_revocation_by_a_public_client_and_the_report_says_so() {
    let _turn = TURN.lock().await;
    let provider = public();
    let auth = login_as(&provider, "bob").await;
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store.clone(), provider.clone());
    manager.import("p", auth.clone()).await.unwrap();
    let report = manager.logout("p").await.unwrap();
    // The local session ends regardless; the report carries the refusal.
    assert!(report.removed);
    assert!(store.get(&key("p")).await.unwrap().is_none());
    let refusal = report.revocation.unwrap_err();
    let message = format!("{}", refusal);
    let source = std::error::Error::source(&refusal)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        format!("{message} {source}").contains("HTTP 401"),
        "{message} / {source}"
    );
    assert!(report.end_session_url.is_some());
}
