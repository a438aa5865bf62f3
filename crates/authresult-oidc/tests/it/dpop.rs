//! DPoP (RFC 9449) and pushed authorization requests (RFC 9126) on the
//! client, against the local provider (`dpop-app` must bind its tokens,
//! `par-app` must push; both are asked for nonces) and against wiremock
//! for the answers the real provider never gives (no DPoP advertised, a
//! bearer answer where DPoP is required, a nonce asked for again and again).

use std::sync::Arc;

use authresult_core::{
    AuthManager, AuthResult, DpopBinding, FailureKind, LoginFlow, LoginPrompt, LoginResponse, MemoryStore,
    NonceStore as _, SessionStore as _, TenantId, nonce_origin,
};
use authresult_oidc::jwt::{DpopKey, DpopSigner, JwsAlgorithm};
use authresult_oidc::{DpopNonces, OidcError, OidcOptions, OidcProvider};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{
    MockIdp, authorization_url, fast_options, idp, issuer, key, login_as, provider_from, request,
};

const TENANT: &str = "field-app";

/// Options keeping nonces in `store` (as an app's processes share them).
fn options_with(store: &Arc<MemoryStore>) -> OidcOptions {
    let mut options = fast_options();
    options.dpop_nonces = Some(DpopNonces::new(TENANT, store.clone()));
    options
}

fn dpop_provider(client_id: &str, mode: &str, options: OidcOptions) -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(),
            "client_id": client_id,
            "dpop": mode,
        }}),
        options,
    )
}

/// [`dpop_provider`] configured to push its authorization requests.
fn pushing_provider(client_id: &str, mode: &str, options: OidcOptions) -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(),
            "client_id": client_id,
            "dpop": mode,
            "pushed_authorization_requests": true,
        }}),
        options,
    )
}

/// The thumbprint of the key a result holds.
fn jkt_of(binding: &DpopBinding) -> String {
    DpopKey::from_binding(binding).unwrap().thumbprint().to_owned()
}

/// What introspection says about `token` (as the privileged resource server).
async fn introspect(token: &str) -> Value {
    let endpoints = dpop_provider("dpop-app", "off", fast_options())
        .discover()
        .await
        .unwrap();
    let body = reqwest::Client::new()
        .post(endpoints.introspection_endpoint.unwrap())
        .basic_auth("resource-server", Some("resource-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The `cnf.jkt` the provider bound `token` to.
async fn bound_jkt(token: &str) -> Option<String> {
    let info = introspect(token).await;
    assert_eq!(info["active"], true, "{info}");
    info["cnf"]["jkt"].as_str().map(str::to_owned)
}

async fn issuer_nonce(store: &MemoryStore) -> Option<String> {
    store
        .dpop_nonce(&TenantId::new(TENANT), &nonce_origin(&issuer("plain")))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_code_login_with_dpop_is_bound_to_the_sessions_key_and_keeps_the_providers_nonce() {
    let store = Arc::new(MemoryStore::new());
    let provider = dpop_provider("dpop-app", "required", options_with(&store));
    assert!(issuer_nonce(&store).await.is_none());
    let result = login_as(&provider, "alice").await;
    let binding = result.dpop.clone().expect("a DPoP key");
    assert!(binding.bound, "the provider answered token_type DPoP");
    assert_eq!(binding.alg, "ES256");
    assert_eq!(
        bound_jkt(result.access_token.secret()).await.as_deref(),
        Some(jkt_of(&binding).as_str()),
        "the access token is bound to the session's key"
    );
    // The provider asked for a nonce (`use_dpop_nonce`), and it is kept for
    // every process of the app.
    assert!(
        issuer_nonce(&store).await.is_some(),
        "the nonce is kept in the store"
    );
}

#[tokio::test]
async fn a_refresh_keeps_the_binding_with_the_same_key() {
    let store = Arc::new(MemoryStore::new());
    let provider = dpop_provider("dpop-app", "on", options_with(&store));
    let first = login_as(&provider, "alice").await;
    let key = first.dpop.clone().unwrap();
    let second = provider.refresh(&first).await.unwrap();
    let kept = second.dpop.clone().expect("the key stays");
    assert!(kept.bound && kept.same_key(&key), "the same key, still bound");
    assert_ne!(second.access_token.secret(), first.access_token.secret());
    assert_eq!(
        bound_jkt(second.access_token.secret()).await,
        bound_jkt(first.access_token.secret()).await,
        "cnf.jkt unchanged"
    );
}

#[tokio::test]
async fn a_device_login_with_dpop_is_bound() {
    let store = Arc::new(MemoryStore::new());
    let provider = dpop_provider("dpop-app", "required", options_with(&store));
    let pending = provider
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap();
    let LoginPrompt::DeviceCode {
        user_code,
        verification_uri,
        ..
    } = &pending.prompt
    else {
        panic!("a device prompt");
    };
    let approve = async {
        idp()
            .approve_device(verification_uri, Some(user_code), "bob", "bob-password", true)
            .await
            .unwrap();
    };
    let (result, ()) = tokio::join!(
        provider.complete_login(&pending, &LoginResponse::DevicePoll),
        approve
    );
    let result = result.unwrap();
    let binding = result.dpop.clone().unwrap();
    assert!(binding.bound);
    assert_eq!(
        bound_jkt(result.access_token.secret()).await.as_deref(),
        Some(jkt_of(&binding).as_str())
    );
    assert!(issuer_nonce(&store).await.is_some());
}

#[tokio::test]
async fn a_pushed_authorization_request_leaves_only_client_id_and_request_uri_in_the_browser() {
    for mode in ["off", "on"] {
        let store = Arc::new(MemoryStore::new());
        let provider = pushing_provider("par-app", mode, options_with(&store));
        let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
        let pending = provider
            .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
            .await
            .unwrap();
        let url = authorization_url(&pending);
        let mut names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        names.sort();
        assert_eq!(names, ["client_id", "request_uri"], "{mode}: {url}");
        let callback = idp()
            .login_via_form(&url, "alice", "alice-password")
            .await
            .unwrap();
        let result = provider
            .complete_login(&pending, &LoginResponse::Callback(callback))
            .await
            .unwrap();
        match mode {
            "on" => {
                let binding = result.dpop.clone().unwrap();
                assert!(binding.bound, "{mode}");
                assert_eq!(
                    bound_jkt(result.access_token.secret()).await.as_deref(),
                    Some(jkt_of(&binding).as_str())
                );
            }
            _ => {
                assert!(result.dpop.is_none(), "{mode}: bearer");
                assert_eq!(bound_jkt(result.access_token.secret()).await, None);
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_must_push_is_refused_without_par() {
    // Control for the test above: par-app's unpushed request is refused by
    // the provider, so the pushing is what made the login work.
    let provider = dpop_provider("par-app", "off", fast_options());
    let endpoints = provider.discover().await.unwrap();
    let mut url = endpoints.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", "par-app")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", "http://127.0.0.1:9/callback")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256");
    let refused = idp().login_via_form(&url, "alice", "alice-password").await;
    match refused {
        Err(_) => {}
        Ok(callback) => assert!(
            callback.query_pairs().any(|(k, _)| k == "error"),
            "an unpushed request must not log in: {callback}"
        ),
    }
}

#[tokio::test]
async fn a_provider_that_requires_par_in_discovery_gets_pushed_requests() {
    let mock = MockIdp::start_custom(
        |base| {
            json!({
                "require_pushed_authorization_requests": true,
                "pushed_authorization_request_endpoint": format!("{base}/par"),
            })
        },
        &[crate::support::signing_jwk()],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/par"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                json!({"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 60}),
            ),
        )
        .mount(&mock.server)
        .await;
    // Not configured to push: discovery alone makes it.
    let provider = dpop_mock_provider(&mock, "off");
    let (pending, _) = mock.code_callback(&provider).await;
    let url = authorization_url(&pending);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("client_id".to_owned(), "app".to_owned()),
            (
                "request_uri".to_owned(),
                "urn:ietf:params:oauth:request_uri:abc".to_owned()
            )
        ]
    );
    let requests = mock.server.received_requests().await.unwrap();
    let pushed = requests.iter().find(|r| r.url.path() == "/par").unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&pushed.body).into_owned().collect();
    let state = form.iter().find(|(k, _)| k == "state").map(|(_, v)| v.as_str());
    assert_eq!(
        state,
        Some(pending.state.as_str()),
        "the parameters went to the back channel"
    );
    assert!(form.iter().any(|(k, _)| k == "code_challenge"));
}

#[tokio::test]
async fn a_stolen_refresh_token_is_refused_without_the_key() {
    let provider = dpop_provider("dpop-app", "on", fast_options());
    let stolen = login_as(&provider, "alice").await;

    // The thief's copy: tokens only (what a file or a log gives away).
    let mut plain_copy = AuthResult::new(stolen.access_token.clone(), stolen.expires_in);
    plain_copy.refresh_token = stolen.refresh_token.clone();
    plain_copy.id_token = stolen.id_token.clone();
    let without_dpop = dpop_provider("dpop-app", "off", fast_options());
    let refused = without_dpop.refresh(&plain_copy).await.unwrap_err();
    assert!(
        refused.oauth_error().is_some(),
        "the provider refused it: {refused}"
    );
    assert_eq!(refused.kind(), FailureKind::Terminal, "{refused}");

    // With a key of the thief's own.
    let mut other_key = plain_copy.clone();
    other_key.dpop = Some(DpopKey::generate(JwsAlgorithm::Es256).unwrap().to_binding(true));
    let refused = provider.refresh(&other_key).await.unwrap_err();
    assert!(
        refused.oauth_error().is_some(),
        "the provider refused it: {refused}"
    );

    // The access token alone at a resource server (userinfo) as bearer.
    let endpoints = provider.discover().await.unwrap();
    let status = reqwest::Client::new()
        .get(endpoints.userinfo_endpoint.unwrap())
        .bearer_auth(stolen.access_token.secret())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "a bound token as bearer is refused");

    // Control: the owner, with the key, still refreshes (the refusals above
    // are the missing key's, not a spent token's).
    let owner = provider.refresh(&stolen).await.unwrap();
    assert!(owner.dpop.unwrap().bound);
}

#[tokio::test]
async fn the_manager_gives_a_resource_server_dpop_headers_it_accepts() {
    let store = Arc::new(MemoryStore::new());
    let provider = dpop_provider("dpop-app", "required", options_with(&store));
    let auth = login_as(&provider, "alice").await;
    let endpoints = provider.discover().await.unwrap();
    let manager = AuthManager::builder(TENANT, store.clone())
        .provider("p", Arc::new(provider))
        .proof_signer(Arc::new(DpopSigner::new()))
        .build();
    manager.import("p", auth).await.unwrap();
    let userinfo = endpoints.userinfo_endpoint.unwrap();
    let client = reqwest::Client::new();
    let mut answered = None;
    for _attempt in 0..2 {
        let headers = manager.resource_headers("p", "GET", &userinfo).await.unwrap();
        assert!(headers.authorization.starts_with("DPoP "));
        let response = client
            .get(userinfo.clone())
            .header("authorization", &headers.authorization)
            .header("dpop", headers.dpop.clone().unwrap())
            .send()
            .await
            .unwrap();
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.status() == 401
            && let Some(nonce) = nonce
        {
            // `use_dpop_nonce`: record it, retry once.
            manager.record_dpop_nonce(&userinfo, &nonce).await.unwrap();
            continue;
        }
        answered = Some(response.status());
        break;
    }
    assert_eq!(answered, Some(reqwest::StatusCode::OK));
    // Debug of the stored session shows no key.
    let session = store.get(&key("p")).await.unwrap().unwrap();
    let binding = session.auth.dpop.clone().unwrap();
    let debug = format!("{session:?}");
    assert!(!debug.contains(binding.key.secret()), "{debug}");
    // The manager's refresh keeps the key and the binding in the store.
    let refreshed = manager.refresh("p").await.unwrap();
    assert_ne!(
        refreshed.auth.access_token.secret(),
        session.auth.access_token.secret()
    );
    let stored = store.get(&key("p")).await.unwrap().unwrap();
    let kept = stored.auth.dpop.unwrap();
    assert!(kept.bound && kept.same_key(&binding));
    assert_eq!(
        bound_jkt(stored.auth.access_token.secret()).await.as_deref(),
        Some(jkt_of(&binding).as_str())
    );
    // A new login replaces the key.
    let provider = dpop_provider("dpop-app", "required", options_with(&store));
    let again = login_as(&provider, "alice").await;
    manager.import("p", again).await.unwrap();
    let replaced = store.get(&key("p")).await.unwrap().unwrap().auth.dpop.unwrap();
    assert!(!replaced.same_key(&binding), "a new login, a new key");
    // Logging out removes it with the session.
    manager.logout("p").await.unwrap();
    assert!(store.get(&key("p")).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------
// Against wiremock: answers the real provider never gives.
// ---------------------------------------------------------------------------

fn dpop_mock_provider(mock: &MockIdp, mode: &str) -> OidcProvider {
    provider_from(
        json!({"type": "oidc", "fields": {"issuer": mock.issuer(), "client_id": "app", "dpop": mode}}),
        fast_options(),
    )
}

#[tokio::test]
async fn required_dpop_fails_the_login_when_the_provider_does_not_advertise_it() {
    let mock = MockIdp::start().await;
    let provider = dpop_mock_provider(&mock, "required");
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let error = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::DpopUnsupported { .. }), "{error}");
    // `on` falls back to bearer and sends no proof.
    let provider = dpop_mock_provider(&mock, "on");
    let (pending, _) = mock.code_callback(&provider).await;
    assert!(
        !authorization_url(&pending)
            .query_pairs()
            .any(|(k, _)| k == "dpop_jkt")
    );
}

fn advertising() -> impl FnOnce(&str) -> Value {
    |_| json!({"dpop_signing_alg_values_supported": ["ES256", "EdDSA"]})
}

#[tokio::test]
async fn a_bearer_answer_where_dpop_is_required_is_refused() {
    let mock = MockIdp::start_custom(advertising(), &[crate::support::signing_jwk()]).await;
    let provider = dpop_mock_provider(&mock, "required");
    let (pending, callback) = mock.code_callback(&provider).await;
    let url = authorization_url(&pending);
    assert!(
        url.query_pairs().any(|(k, _)| k == "dpop_jkt"),
        "the code is bound: {url}"
    );
    let nonce = MockIdp::nonce_of(&pending);
    let id_token = mock.id_token(|c| crate::support::ClaimsExt::with(c, "nonce", nonce.as_str()));
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    })))
    .await;
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::DpopNotBound { .. }), "{error}");
    let requests = mock.server.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert!(token_request.headers.contains_key("dpop"), "a proof was sent");
}

#[tokio::test]
async fn a_nonce_asked_for_again_and_again_is_retried_once_only() {
    let mock = MockIdp::start_custom(advertising(), &[crate::support::signing_jwk()]).await;
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = counter.clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |_: &wiremock::Request| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ResponseTemplate::new(400)
                .insert_header("DPoP-Nonce", format!("nonce-{n}").as_str())
                .set_body_json(json!({"error": "use_dpop_nonce", "error_description": "use a nonce"}))
        })
        .mount(&mock.server)
        .await;
    let provider = dpop_mock_provider(&mock, "on");
    let (pending, callback) = mock.code_callback(&provider).await;
    let error = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert_eq!(error.oauth_error(), Some("use_dpop_nonce"), "{error}");
    assert_eq!(
        counter.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one retry, no more"
    );
    let requests = mock.server.received_requests().await.unwrap();
    let proofs: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/token")
        .map(|r| {
            let proof = r.headers.get("dpop").unwrap().to_str().unwrap().to_owned();
            let claims = proof.split('.').nth(1).unwrap().to_owned();
            use base64::Engine as _;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(claims)
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert!(proofs[0].get("nonce").is_none());
    assert_eq!(
        proofs[1]["nonce"], "nonce-0",
        "the retry carries the server's nonce"
    );
    assert_ne!(proofs[0]["jti"], proofs[1]["jti"], "a fresh proof");
}
