//! Issue 22 item 1 (on 1f2d0f5 an artifact that reused a public app id got
//! that app's sessions): two DataCollect artifacts of the same app id over
//! one store, the second (the malicious artifact) naming its own sync server
//! or its own issuer. It gets none of the first one's tokens, sends nothing
//! to its own servers, and cannot end or replace the first one's sessions.

use std::sync::Arc;

use authresult_core::MemoryStore;
use authresult_core::{Error, StoreBackend};
use authresult_oidc::{DataCollectApp, OidcOptions};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::datacollect::{artifact, browser_login, jwt};
use crate::support::{fast_options, issuer};

fn app(value: &Value, store: &Arc<MemoryStore>, options: OidcOptions) -> DataCollectApp {
    let store: Arc<dyn StoreBackend> = store.clone();
    DataCollectApp::from_json_str(&value.to_string(), store, options).unwrap()
}

fn assert_mismatch<T: std::fmt::Debug>(result: Result<T, Error>, provider: &str) {
    match result {
        Err(Error::OriginMismatch { provider: p }) => assert_eq!(p, provider),
        other => panic!("expected OriginMismatch for `{provider}`, got {other:?}"),
    }
}

/// A server that answers every request and records it: the attacker's.
async fn attacker_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    server
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn an_artifact_with_another_sync_server_gets_none_of_the_apps_session() {
    let real_server = MockServer::start().await;
    let token = jwt(&json!({"id": 7, "email": "ana@example.org"}));
    Mock::given(method("POST"))
        .and(path("/api/users/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": token, "userId": 7})))
        .mount(&real_server)
        .await;
    let evil_server = attacker_server().await;
    let store = Arc::new(MemoryStore::new());
    let real = app(&artifact(&real_server.uri()), &store, fast_options());
    let evil = app(&artifact(&evil_server.uri()), &store, fast_options());
    assert_eq!(real.config_id(), evil.config_id(), "the same public app id");

    let password = authresult_core::Credentials::Password {
        username: "ana@example.org".into(),
        password: authresult_core::Password::new("pw"),
    };
    real.manager().login("default", &password).await.unwrap();
    let before = real.manager().session("default").await.unwrap().unwrap();

    assert_mismatch(evil.authorization_header("default").await, "default");
    assert_mismatch(evil.manager().access_token("default").await, "default");
    assert_mismatch(evil.manager().logout("default").await, "default");
    let record =
        json!({"id": "default", "token": jwt(&json!({"id": 666})), "timestamp": "2026-01-01T00:00:00Z"});
    assert_mismatch(evil.import_indexeddb_record(&record.to_string()).await, "default");
    assert_mismatch(evil.manager().login("default", &password).await, "default");
    assert!(evil.manager().logout_all().await.unwrap().is_empty());
    assert_eq!(
        requests(&evil_server).await,
        0,
        "nothing went to the artifact's server"
    );

    let after = real.manager().session("default").await.unwrap().unwrap();
    assert_eq!(
        (after.version(), &after.login_id()),
        (before.version(), &before.login_id())
    );
    let header = real.authorization_header("default").await.unwrap();
    assert_eq!(header.to_str().unwrap(), format!("Bearer {token}"));
}

#[tokio::test]
async fn an_artifact_with_another_issuer_or_client_cannot_use_refresh_or_end_the_apps_session() {
    let keycloak = |authority: &str, client_id: &str| -> Value {
        json!([{"type": "keycloak", "fields": {"authority": authority, "client_id": client_id,
                                                "kc_idp_hint": "local"}}])
    };
    let store = Arc::new(MemoryStore::new());
    let sync = attacker_server().await;
    let mut real_artifact = artifact(&sync.uri());
    real_artifact["authConfigs"] = keycloak(issuer("keycloak").as_str(), "native-app");
    let real = app(&real_artifact, &store, fast_options());
    browser_login(&real, "keycloak", "alice").await;
    let before = real.manager().session("keycloak").await.unwrap().unwrap();
    assert!(before.auth.refresh_token.is_some());

    // Its own issuer (recording everything it is sent), the app's issuer
    // with another client, and another issuer of the same provider.
    let evil_idp = attacker_server().await;
    let mut evil_issuer = issuer("keycloak");
    evil_issuer
        .set_port(Some(url::Url::parse(&evil_idp.uri()).unwrap().port().unwrap()))
        .unwrap();
    for authority in [
        evil_issuer.as_str(),
        issuer("keycloak").as_str(),
        issuer("auth0").as_str(),
    ] {
        let client_id = if authority == issuer("keycloak").as_str() {
            "other-app"
        } else {
            "native-app"
        };
        let mut value = artifact(&sync.uri());
        value["authConfigs"] = keycloak(authority, client_id);
        let evil = app(&value, &store, fast_options());
        assert_mismatch(evil.authorization_header("keycloak").await, "keycloak");
        assert_mismatch(evil.manager().refresh("keycloak").await, "keycloak");
        assert_mismatch(evil.manager().logout("keycloak").await, "keycloak");
        assert_mismatch(
            evil.manager()
                .begin_login("keycloak", authresult_core::LoginFlow::AuthorizationCode)
                .await,
            "keycloak",
        );
    }
    assert_eq!(
        requests(&evil_idp).await,
        0,
        "nothing went to the artifact's issuer"
    );

    let after = real.manager().session("keycloak").await.unwrap().unwrap();
    assert_eq!(
        (after.version(), &after.login_id()),
        (before.version(), &before.login_id())
    );
    // The refresh token was never spent elsewhere: the app still refreshes it.
    let refreshed = real.manager().refresh("keycloak").await.unwrap();
    assert_ne!(
        refreshed.auth.access_token.secret(),
        before.auth.access_token.secret()
    );
    assert_eq!(refreshed.origin, before.origin);
}
