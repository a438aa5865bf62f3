//! The sync server password login (`type: "default"`) against a small HTTP
//! test server (wiremock), as DataCollect's server answers it.

use std::sync::Arc;

use authresult_core::MemoryStore;
use authresult_core::{AuthProvider as _, Credentials, FailureKind, Password, ProviderConfig, Timestamp};
use authresult_oidc::{OidcError, OidcOptions, SyncServerProvider, build_provider};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn jwt(exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(json!({"sub": "u-1", "exp": exp}).to_string());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

async fn server(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/users/login"))
        .and(body_json(json!({"email": "ana@example.org", "password": "pw"})))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

fn provider(server: &MockServer) -> SyncServerProvider {
    let config = ProviderConfig::from_json_str(
        &json!({"type": "default", "fields": {"url": server.uri()}}).to_string(),
    )
    .unwrap();
    let ProviderConfig::SyncServer(config) = config else {
        panic!("not a sync server config")
    };
    SyncServerProvider::from_config(&config, &OidcOptions::default()).unwrap()
}

fn password() -> Credentials {
    Credentials::Password {
        username: "ana@example.org".into(),
        password: Password::new("pw"),
    }
}

#[tokio::test]
async fn password_login_through_the_manager() {
    let exp = Timestamp::now().as_secs() + 3600;
    let server =
        server(ResponseTemplate::new(200).set_body_json(json!({"token": jwt(exp), "userId": "u-1"}))).await;
    let config = ProviderConfig::from_json_str(
        &json!({"type": "default", "fields": {"url": server.uri()}}).to_string(),
    )
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let manager = authresult_core::AuthManager::builder("field-app", store)
        .provider(
            "default",
            build_provider(&config, OidcOptions::default()).unwrap(),
        )
        .build();
    let session = manager.login("default", &password()).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some("u-1"));
    assert_eq!(session.username.as_deref(), Some("ana@example.org"));
    let expires_in = session.auth.expires_in;
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let profile = session.auth.profile.unwrap();
    assert_eq!(profile["email"], "ana@example.org");
}

#[tokio::test]
async fn opaque_tokens_and_numeric_user_ids() {
    let server =
        server(ResponseTemplate::new(200).set_body_json(json!({"token": "opaque", "userId": 42}))).await;
    let auth = provider(&server).login(&password()).await.unwrap();
    assert_eq!(auth.expires_in, 0);
    assert_eq!(auth.subject(), Some("42"));
}

#[tokio::test]
async fn sync_login_failures_are_classified() {
    let cases = [
        (
            ResponseTemplate::new(401).set_body_json(json!({"message": "bad"})),
            FailureKind::Terminal,
            "refused",
        ),
        (ResponseTemplate::new(500), FailureKind::Transient, "http 500"),
        (
            ResponseTemplate::new(200).set_body_raw(b"<html>".to_vec(), "text/html"),
            FailureKind::Protocol,
            "not valid json",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"userId": "u-1"})),
            FailureKind::Protocol,
            "`token`",
        ),
    ];
    for (response, kind, words) in cases {
        let server = server(response).await;
        let error = provider(&server)
            .password_login("ana@example.org", "pw")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{error:?}");
        let text = error.to_string().to_lowercase();
        assert!(text.contains(words), "`{words}` not in `{text}`");
        assert!(text.contains("sync server login endpoint"), "{text}");
    }
}

#[tokio::test]
async fn plain_http_only_to_loopback() {
    let remote = Url::parse("http://sync.example.org").unwrap();
    let error = SyncServerProvider::new(remote.clone(), &OidcOptions::default()).unwrap_err();
    assert!(matches!(error, OidcError::Configuration { .. }), "{error:?}");
    let mut options = OidcOptions::default();
    options.allow_insecure_http = true;
    assert!(SyncServerProvider::new(remote, &options).is_ok());
    assert!(
        SyncServerProvider::new(
            Url::parse("http://127.0.0.1:8080").unwrap(),
            &OidcOptions::default()
        )
        .is_ok()
    );
    assert!(
        SyncServerProvider::new(
            Url::parse("https://sync.example.org").unwrap(),
            &OidcOptions::default()
        )
        .is_ok()
    );
}

/// A token the sync server never issued, naming user `id`: unsigned.
fn forged(id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let exp = Timestamp::now().as_secs() + 3600;
    let payload = URL_SAFE_NO_PAD.encode(json!({"id": id, "exp": exp}).to_string());
    format!("{header}.{payload}.Zm9yZ2Vk")
}

/// The thief holding a shared tablet: alice's vault is locked out after
/// failed unlocks ("only an online login lifts it"), the sync server is
/// out of reach. A brought sync-server token is adopted without asking the
/// server, yet its session write counts as the provider's proof of the
/// account (`OfflineVault::prepare_login`): the passcode waiting for the
/// login is tried against alice's record uncounted, past the lock-out, as
/// often as the thief likes, with a token anyone can forge from alice's
/// user id. Such a login must be refused (or at least not open the vault).
#[tokio::test]
async fn a_forged_brought_token_is_no_online_login_for_a_locked_out_vault() {
    use authresult_core::{AccessToken, AuthManager, MemoryStore, TenantId, UserId};
    use authresult_store::{KdfParams, MemoryVaultStore, OfflinePolicy, OfflineVault, VaultedStore};

    let (tenant, alice, passcode) = (TenantId::new("field-app"), UserId::from("alice"), b"482913");
    let exp = Timestamp::now().as_secs() + 3600;
    let real = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(json!({"id": "7", "exp": exp, "real": true}).to_string());
        format!("{header}.{payload}.cmVhbA")
    };
    let server =
        server(ResponseTemplate::new(200).set_body_json(json!({"token": real, "userId": "7"}))).await;
    let mut policy = OfflinePolicy::default();
    policy.kdf = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        lanes: 1,
    };
    policy.base_delay = std::time::Duration::ZERO;
    policy.max_failures = 3;
    let vault = Arc::new(OfflineVault::new(Arc::new(MemoryVaultStore::new()), policy));
    let raw = Arc::new(MemoryStore::new());
    let manager = AuthManager::builder("field-app", VaultedStore::wrap(raw.clone(), vault.clone()))
        .provider("default", Arc::new(provider(&server)))
        .provider("backup", Arc::new(provider(&server)))
        .build()
        .for_user("alice");
    // Alice's online logins, then her passcode.
    vault
        .prepare_login(&tenant, &alice, Some(passcode))
        .await
        .unwrap();
    manager.login("default", &password()).await.unwrap();
    manager.login("backup", &password()).await.unwrap();
    VaultedStore::new(raw.clone(), vault.clone())
        .enroll(&tenant, &alice, passcode)
        .await
        .unwrap();
    // Locked, then locked out by wrong passcodes; the server is gone.
    vault.lock(&tenant, &alice);
    for _ in 0..3 {
        let _ = vault.unlock(&tenant, &alice, b"000000").await;
    }
    assert!(vault.status(&tenant, &alice).await.unwrap().unwrap().locked_out);
    drop(server);

    // The thief: a forged token naming alice's id, and a passcode guess (a
    // wrong guess is answered SecretMismatch, uncounted; here the right one).
    let brought = Credentials::Token {
        token: AccessToken::new(forged("7")),
    };
    vault
        .prepare_login(&tenant, &alice, Some(passcode))
        .await
        .unwrap();
    let answer = manager.login("backup", &brought).await;
    let other = manager.access_token("default").await;
    assert!(
        !other.as_ref().is_ok_and(|t| t.secret() == real),
        "alice's real sync-server token (her other session) was read after a forged login"
    );
    assert!(
        !vault.is_unlocked(&tenant, &alice),
        "alice's locked-out vault was opened offline by a forged token"
    );
    assert!(
        answer.is_err(),
        "a forged token was taken as an online login of alice"
    );
}

/// A token the user brings is logged in only on the server's word
/// (`GET /api/users/check-token` with it as `Bearer`): a token the server
/// refuses is `InvalidCredentials` (terminal), one it cannot be asked about
/// is transient; both log nothing in.
#[tokio::test]
async fn a_brought_token_is_logged_in_only_when_the_server_accepts_it() {
    let exp = Timestamp::now().as_secs() + 3600;
    let token = jwt(exp);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/users/check-token"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {token}"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "Token is valid"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/users/check-token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "Invalid token"})))
        .mount(&server)
        .await;
    let brought = |t: &str| Credentials::Token {
        token: authresult_core::AccessToken::new(t),
    };
    let auth = provider(&server).login(&brought(&token)).await.unwrap();
    assert_eq!(auth.access_token.secret(), token);
    assert!(auth.expires_in > 3000, "the token's own exp: {}", auth.expires_in);

    let forged = jwt(exp).replace("c2lnbmF0dXJl", "Zm9yZ2Vk");
    let refused = provider(&server).login(&brought(&forged)).await.unwrap_err();
    assert_eq!(refused.kind(), FailureKind::Terminal, "{refused:?}");
    let inherent = provider(&server)
        .token_login(&authresult_core::AccessToken::new(forged.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(inherent, OidcError::InvalidCredentials { status: 401, .. }),
        "{inherent:?}"
    );

    // No server at all (wiremock's dropped servers go back to a pool).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ProviderConfig::from_json_str(
        &json!({"type": "default", "fields": {"url": format!("http://127.0.0.1:{port}")}}).to_string(),
    )
    .unwrap();
    let ProviderConfig::SyncServer(config) = config else {
        unreachable!()
    };
    let gone = SyncServerProvider::from_config(&config, &OidcOptions::default()).unwrap();
    let offline = gone.login(&brought(&token)).await.unwrap_err();
    assert_eq!(offline.kind(), FailureKind::Transient, "{offline:?}");
}
