//! The proof that matters (issue 24): a DPoP login at the local provider
//! (`dpop-app`, nonces required, access tokens for `urn:authresult:api`
//! as JWTs carrying `cnf.jkt`), a resource server built as
//! `example-resource-server` builds it with `--dpop-origin` (the tower
//! layer with `.dpop(origin)`, axum on a loopback port) accepting the
//! manager's `resource_headers`; then the access and refresh token copied
//! out of the store through a second store handle, as another process
//! would, and used without the session's key: the resource server refuses
//! the access token (as `Bearer`, and as `DPoP` with a proof of the thief's
//! own key) and the provider refuses the refresh. In one process: the
//! thief holds only the copied token strings.

use std::sync::Arc;

use authresult_core::{AccessToken, AuthManager, AuthResult, FailureKind, SessionStore as _};
use authresult_oidc::jwt::{
    BearerAuthLayer, DpopKey, DpopSigner, IssuerConfig, JwsAlgorithm, TokenValidator, ValidatedToken,
};
use authresult_oidc::{DpopNonces, OidcProvider};
use authresult_store::SqliteStore;
use axum::routing::get;
use axum::{Extension, Router};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::support::{fast_options, issuer, key, login_as, provider_from};

const TENANT: &str = "field-app";
const API: &str = "urn:authresult:api";

fn dpop_app(mode: &str, store: Option<Arc<SqliteStore>>) -> OidcProvider {
    let mut options = fast_options();
    options.dpop_nonces = store.map(|s| DpopNonces::new(TENANT, s));
    provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer("plain").as_str(),
            "client_id": "dpop-app",
            "dpop": mode,
            "resource": API,
        }}),
        options,
    )
}

/// `GET /api/sync` behind the layer, as the example serves it with
/// `--issuer <plain> --audience urn:authresult:api --dpop-origin <its URL>`.
async fn resource_server() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::new(issuer("plain").as_str()).audience(API))
        .build()
        .unwrap();
    let layer = BearerAuthLayer::new(validator).dpop(origin.clone());
    let app = Router::new().route(
        "/api/sync",
        get(|Extension(token): Extension<ValidatedToken>| async move {
            json!({"subject": token.subject()}).to_string()
        })
        .layer(layer),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin.join("/api/sync").unwrap()
}

/// The status, `WWW-Authenticate` and body of `GET url` with `headers`.
async fn call(url: &Url, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    let mut request = reqwest::Client::new().get(url.clone());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}

/// A resource request with the manager's headers.
async fn call_as_owner(manager: &AuthManager, url: &Url) -> (StatusCode, String, String) {
    let headers = manager.resource_headers("p", "GET", url).await.unwrap();
    assert!(headers.authorization.starts_with("DPoP "), "a bound session");
    let proof = headers.dpop.clone().expect("a proof");
    call(
        url,
        &[("authorization", &headers.authorization), ("dpop", &proof)],
    )
    .await
}

#[tokio::test]
async fn tokens_copied_out_of_the_store_are_refused_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let provider = dpop_app("required", Some(store.clone()));
    let auth = login_as(&provider, "alice").await;
    assert!(auth.dpop.as_ref().is_some_and(|b| b.bound), "a bound login");
    let manager = AuthManager::builder(TENANT, store.clone())
        .provider("p", Arc::new(provider))
        .proof_signer(Arc::new(DpopSigner::new()))
        .build();
    manager.import("p", auth).await.unwrap();
    let api = resource_server().await;

    // The owner, with the key: accepted.
    let (status, _, body) = call_as_owner(&manager, &api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["subject"], "alice");

    // The thief: a second handle on the store file, as another process
    // opens it; only the two token strings leave with them.
    let (access, refresh) = {
        let other = SqliteStore::open(&path).await.unwrap();
        let session = other.get(&key("p")).await.unwrap().unwrap();
        (
            session.auth.access_token.secret().to_owned(),
            session.auth.refresh_token.clone().expect("a refresh token"),
        )
    };

    // As a bearer token: the binding (`cnf.jkt`) is in the token itself.
    let (status, challenge, _) = call(&api, &[("authorization", &format!("Bearer {access}"))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // As a DPoP token with a proof signed by the thief's own key.
    let thief_key = DpopKey::generate(JwsAlgorithm::Es256).unwrap();
    let proof = thief_key.proof("GET", &api, None, Some(&access)).unwrap();
    let (status, challenge, _) = call(
        &api,
        &[("authorization", &format!("DPoP {access}")), ("dpop", &proof)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");

    // The refresh token at the provider: without a proof, then with a
    // proof of the thief's key.
    let mut copy = AuthResult::new(AccessToken::new(access.clone()), 60);
    copy.refresh_token = Some(refresh);
    let refused = dpop_app("off", None).refresh(&copy).await.unwrap_err();
    assert!(
        refused.oauth_error().is_some(),
        "the provider refused it: {refused}"
    );
    assert_eq!(refused.kind(), FailureKind::Terminal, "{refused}");
    copy.dpop = Some(thief_key.to_binding(true));
    let refused = dpop_app("on", None).refresh(&copy).await.unwrap_err();
    assert!(
        refused.oauth_error().is_some(),
        "the provider refused it: {refused}"
    );

    // Controls: the same requests with the key still work (the refusals
    // above are the missing key's, not a spent or expired token's).
    let (status, _, body) = call_as_owner(&manager, &api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refreshed = manager.refresh("p").await.unwrap();
    assert_ne!(refreshed.auth.access_token.secret(), access);
    let (status, _, body) = call_as_owner(&manager, &api).await;
    assert_eq!(status, StatusCode::OK, "the refreshed token, still bound: {body}");
}
