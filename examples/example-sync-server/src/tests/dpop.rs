//! DPoP-bound provider tokens (RFC 9449) at the sync server started with
//! `--dpop-origin`: a code login as `dpop-app` at the local provider
//! (`xtask/idp`; its access tokens for `urn:authresult:api` are JWTs
//! carrying `cnf.jkt`), then pull with DataCollect's `oidc <token>` scheme
//! and a `DPoP` proof of the session's key: accepted; the same token
//! without a proof, or with a proof of another key, is refused.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use authresult_core::{
    LoginFlow, LoginPrompt, LoginRequest, LoginResponse, ProviderConfig, SessionKey, Timestamp,
};
use authresult_jwt::{DpopKey, JwsAlgorithm, SyncServerSecret, SyncServerTokens};
use authresult_oidc::{OidcOptions, OidcProvider};
use authresult_test_support::{Idp, IdpOptions};
use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;
use url::Url;

use super::SECRET;
use crate::server::{AppConfig, Settings, router};

const API: &str = "urn:authresult:api";
const ORIGIN: &str = "https://sync.example.org";

/// `GET uri` with `headers`: the status and `WWW-Authenticate`.
async fn get(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = http::Request::builder().method(Method::GET).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), challenge)
}

#[tokio::test]
async fn a_bound_provider_token_is_accepted_with_its_proof_only() {
    let idp = Idp::start(IdpOptions::default()).unwrap();
    let issuer = idp.issuer("plain").unwrap().clone();
    let fields =
        json!({"issuer": issuer.as_str(), "client_id": "dpop-app", "dpop": "required", "resource": API});
    let app_config = json!({"id": "dpop", "authConfigs": [{"type": "oidc", "fields": fields}]});
    let config =
        ProviderConfig::from_json_str(&json!({"type": "oidc", "fields": fields}).to_string()).unwrap();
    let mut options = OidcOptions::default();
    options.request_timeout = Duration::from_secs(10);
    let provider = OidcProvider::from_config(&config, options).unwrap();
    let pending = provider
        .begin_login(&LoginRequest {
            key: SessionKey::new("field-app", "p"),
            flow: LoginFlow::AuthorizationCode,
            now: Timestamp::now(),
            redirect_uri: Some(Url::parse("http://127.0.0.1:9/callback").unwrap()),
            extra_params: BTreeMap::new(),
        })
        .await
        .unwrap();
    let LoginPrompt::Redirect { authorization_url } = &pending.prompt else {
        panic!("a redirect prompt");
    };
    let callback = idp
        .login_via_form(authorization_url, "alice", "alice-password")
        .await
        .unwrap();
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    let key = DpopKey::from_binding(auth.dpop.as_ref().unwrap()).unwrap();
    let token = auth.access_token.secret();

    let own = SyncServerTokens::builder(SyncServerSecret::new(SECRET))
        .build()
        .unwrap();
    let app = router(Settings {
        apps: vec![AppConfig::from_json(&app_config.to_string()).unwrap()],
        audiences: vec![API.to_owned()],
        own,
        admins: HashSet::new(),
        max_body: 64 * 1024,
        max_events: 100,
        max_unauthenticated: 4,
        body_timeout: Duration::from_secs(1),
        dpop_origin: Some(Url::parse(ORIGIN).unwrap()),
    })
    .unwrap();
    let uri = "/api/sync/pull?configId=dpop";
    let htu = Url::parse(&format!("{ORIGIN}/api/sync/pull")).unwrap();
    let scheme = format!("oidc {token}");

    let proof = key.proof("GET", &htu, None, Some(token)).unwrap();
    let (status, challenge) = get(&app, uri, &[(AUTHORIZATION.as_str(), &scheme), ("dpop", &proof)]).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");

    let (status, _) = get(&app, uri, &[(AUTHORIZATION.as_str(), &scheme)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no proof");

    let other = DpopKey::generate(JwsAlgorithm::Es256).unwrap();
    let proof = other.proof("GET", &htu, None, Some(token)).unwrap();
    let (status, challenge) = get(&app, uri, &[(AUTHORIZATION.as_str(), &scheme), ("dpop", &proof)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
}
