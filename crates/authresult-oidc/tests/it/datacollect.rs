//! A DataCollect app on the client: its app-config artifact served as
//! DataCollect's server serves it (`/artifacts/{artifactId}.json`, the URL
//! its QR code holds), loaded into a manager; the import of the tokens
//! DataCollect's client stored; the header DataCollect's server expects.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::ProviderConfig;
use authresult_core::{
    AppSecurity, ArtifactWarning, Error, FailureKind, LoginFlow, MAX_ARTIFACT_BYTES, ManualClock,
    StoreBackend, Timestamp,
};
use authresult_oidc::{DataCollectApp, OidcError, OidcOptions};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "published-client-secret-value";
const ARTIFACT_PATH: &str = "/artifacts/9f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5.json";
const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

/// The artifact DataCollect's server writes (`generatePublicArtifacts`):
/// the app config with `syncServerUrl` set to the server's public URL.
pub(crate) fn artifact(sync_server_url: &str) -> Value {
    json!({
        "id": "household-survey",
        "artifactId": "9f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5",
        "name": "Household survey",
        "description": "Registration of households",
        "version": "1.2.0",
        "entityForms": [{"name": "household", "title": "Household", "formio": {"components": [
            {"type": "textfield", "key": "headName", "label": "Head of household"}]}}],
        "entityData": [],
        "externalSync": {"type": "openspp", "url": "https://openspp.example.org", "extraFields": []},
        "authConfigs": [
            {"type": "keycloak", "fields": {
                "authority": "https://kc.example.org/realms/field",
                "client_id": "collect-app",
                "redirect_uri": "https://app.example.org/callback",
                "scope": "openid profile email offline_access",
                "kc_idp_hint": "google"}},
            {"type": "auth0", "fields": {
                "authority": "https://tenant.eu.auth0.com",
                "client_id": "auth0-client",
                "clientSecret": SECRET,
                "audience": "https://sync-api",
                "organization": "org_abc"}},
            {"type": "", "fields": {}}
        ],
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-02-01T00:00:00.000Z",
        "syncServerUrl": sync_server_url
    })
}

fn options(clock: &Arc<ManualClock>) -> OidcOptions {
    let mut options = OidcOptions::default();
    options.clock = clock.clone();
    options.request_timeout = Duration::from_secs(10);
    options
}

fn store() -> Arc<dyn StoreBackend> {
    Arc::new(MemoryStore::new())
}

async fn serve(body: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ARTIFACT_PATH))
        .respond_with(body)
        .mount(&server)
        .await;
    server
}

pub(crate) fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

fn providers(app: &DataCollectApp) -> Vec<String> {
    let mut names: Vec<_> = app
        .manager()
        .providers()
        .iter()
        .map(ToString::to_string)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn qr_payload_loads_the_served_artifact_into_a_manager_with_every_login() {
    let server = MockServer::start().await;
    let body = artifact(&server.uri()).to_string();
    Mock::given(method("GET"))
        .and(path(ARTIFACT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    // The QR code's text is `{PUBLIC_BASE_URL}/artifacts/{artifactId}.json`;
    // a scanner may hand it over with a line break.
    let payload = format!("{}{ARTIFACT_PATH}\n", server.uri());
    let clock = Arc::new(ManualClock::new(NOW));
    let app = DataCollectApp::from_url(&payload, store(), options(&clock))
        .await
        .unwrap();

    assert_eq!(app.config_id(), "household-survey");
    assert_eq!(app.manager().tenant().as_str(), "household-survey");
    assert_eq!(providers(&app), ["auth0", "default", "keycloak"]);
    assert_eq!(
        app.artifact().sync_server_url.as_ref().unwrap().as_str(),
        format!("{}/", server.uri())
    );
    assert_eq!(
        app.warnings(),
        [
            ArtifactWarning::ClientSecretPublished {
                provider_type: "auth0".into(),
                field: "clientSecret"
            },
            ArtifactWarning::UnsupportedType {
                index: 2,
                provider_type: String::new()
            },
        ]
    );
    assert!(!format!("{app:?}").contains(SECRET));
}

#[tokio::test]
async fn artifact_file_loads_like_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("household-survey.json");
    std::fs::write(&file, artifact("https://sync.example.org").to_string()).unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let app = DataCollectApp::from_file(&file, store(), options(&clock)).unwrap();
    assert_eq!(providers(&app), ["auth0", "default", "keycloak"]);

    let err =
        DataCollectApp::from_file(&dir.path().join("missing.json"), store(), options(&clock)).unwrap_err();
    assert_eq!(err.kind(), FailureKind::Configuration);
    assert!(err.to_string().contains("configuration"), "{err}");

    std::fs::write(&file, [0xff, 0xfe, b'{']).unwrap();
    let err = DataCollectApp::from_file(&file, store(), options(&clock)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "(document)"),
        "{err:?}"
    );
}

/// The OidcError inside a provider failure.
fn oidc_error(err: &Error) -> &OidcError {
    match err {
        Error::Provider { source, .. } => source.downcast_ref::<OidcError>().unwrap(),
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[tokio::test]
async fn artifact_url_hostile_answers_are_typed_errors() {
    let clock = Arc::new(ManualClock::new(NOW));

    let server = serve(ResponseTemplate::new(404).set_body_string("Config not found")).await;
    let err = DataCollectApp::from_url(
        &format!("{}{ARTIFACT_PATH}", server.uri()),
        store(),
        options(&clock),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(oidc_error(&err), OidcError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );

    let huge = format!("{{\"id\":\"a\",\"pad\":\"{}\"}}", "x".repeat(MAX_ARTIFACT_BYTES));
    let server = serve(ResponseTemplate::new(200).set_body_raw(huge, "application/json")).await;
    let err = DataCollectApp::from_url(
        &format!("{}{ARTIFACT_PATH}", server.uri()),
        store(),
        options(&clock),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(oidc_error(&err), OidcError::ResponseTooLarge { .. }),
        "{err:?}"
    );

    let server =
        serve(ResponseTemplate::new(302).insert_header("location", "https://evil.example.org/a.json")).await;
    let err = DataCollectApp::from_url(
        &format!("{}{ARTIFACT_PATH}", server.uri()),
        store(),
        options(&clock),
    )
    .await
    .unwrap_err();
    assert!(matches!(oidc_error(&err), OidcError::Redirect { .. }), "{err:?}");

    let server = serve(ResponseTemplate::new(200).set_body_string("<html>not json</html>")).await;
    let err = DataCollectApp::from_url(
        &format!("{}{ARTIFACT_PATH}", server.uri()),
        store(),
        options(&clock),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "(document)"),
        "{err:?}"
    );

    for payload in [
        "not a url",
        "http://sync.example.org/artifacts/a.json",
        "file:///etc/passwd",
        "",
    ] {
        let err = DataCollectApp::from_url(payload, store(), options(&clock))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { field, .. } if field == "url"),
            "{payload}: {err:?}"
        );
    }
}

/// Records every `tracing` event as text.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn client_secret_in_an_artifact_is_logged_as_a_warning_without_the_secret() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let clock = Arc::new(ManualClock::new(NOW));
    let json = artifact("https://sync.example.org").to_string();
    let app = tracing::subscriber::with_default(Capture(events.clone()), || {
        DataCollectApp::from_json_str(&json, store(), options(&clock)).unwrap()
    });
    assert!(matches!(
        app.warnings()[0],
        ArtifactWarning::ClientSecretPublished { .. }
    ));
    let events = events.lock().unwrap();
    let secret_events: Vec<_> = events.iter().filter(|e| e.contains("client secret")).collect();
    assert_eq!(secret_events.len(), 1, "{events:?}");
    assert!(secret_events[0].starts_with("WARN "), "{events:?}");
    assert!(secret_events[0].contains("household-survey"), "{events:?}");
    assert!(events.iter().all(|e| !e.contains(SECRET)), "{events:?}");
}

/// Issue #22 item 2: what an artifact says can never weaken the app. Its
/// `allow_insecure_http` opens nothing, a config read permissively still
/// meets the app's own options, and the parameters that protect a login
/// (`request_uri`, `response_mode`, PKCE, `nonce`) never reach the provider.
#[tokio::test]
async fn an_artifact_cannot_weaken_the_app() {
    let clock = Arc::new(ManualClock::new(NOW));
    let insecure = json!({"id": "weak", "authConfigs": [{"type": "oidc", "fields": {
        "issuer": "http://sso.example.org", "client_id": "app", "allow_insecure_http": true}}]})
    .to_string();
    let error = DataCollectApp::from_json_str(&insecure, store(), options(&clock)).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig { field, .. } if field == "authConfigs[0].issuer"),
        "{error:?}"
    );
    // The app's own option is what allows it.
    let mut lan = options(&clock);
    lan.allow_insecure_http = true;
    DataCollectApp::from_json_str(&insecure, store(), lan).unwrap();
    // A config read under a permissive setting still meets the options it is built with.
    let permissive = ProviderConfig::from_json_str_with(
        r#"{"type":"oidc","fields":{"issuer":"http://sso.example.org","client_id":"app"}}"#,
        AppSecurity::insecure_http(true),
    )
    .unwrap();
    assert!(authresult_oidc::build_provider(&permissive, options(&clock)).is_err());
    let sync = ProviderConfig::from_json_str_with(
        r#"{"type":"default","fields":{"url":"http://sync.example.org"}}"#,
        AppSecurity::insecure_http(true),
    )
    .unwrap();
    assert!(authresult_oidc::build_provider(&sync, options(&clock)).is_err());

    // Over a loopback provider the artifact loads; what only the app may set is ignored.
    let mock = crate::support::MockIdp::start().await;
    let artifact = json!({"id": "weak", "authConfigs": [{"type": "oidc", "fields": {
        "issuer": mock.issuer(), "client_id": "app", "allow_insecure_http": true,
        "request_uri": "https://evil.example/request.jwt", "response_mode": "fragment",
        "ui_locales": "fr",
        "extraQueryParams": r#"{"code_challenge_method":"plain","nonce":"fixed","request":"eyJhbGciOiJub25lIn0.e30."}"#}}]})
    .to_string();
    let app = DataCollectApp::from_json_str(&artifact, store(), options(&clock)).unwrap();
    let ignored = app
        .warnings()
        .iter()
        .filter(|w| matches!(w, ArtifactWarning::AppSettingIgnored { .. }))
        .count();
    assert_eq!(ignored, 6, "{:?}", app.warnings());
    let redirect = url::Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = app
        .manager()
        .begin_login_with(
            "oidc",
            LoginFlow::AuthorizationCode,
            Some(redirect),
            Default::default(),
        )
        .await
        .unwrap();
    let url = crate::support::authorization_url(&pending);
    let query: std::collections::BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(query.get("ui_locales").map(String::as_str), Some("fr"));
    assert_ne!(query.get("nonce").map(String::as_str), Some("fixed"));
    for absent in ["request_uri", "request", "response_mode", "allow_insecure_http"] {
        assert!(!query.contains_key(absent), "{absent}: {url}");
    }
}

fn app_at(clock: &Arc<ManualClock>) -> DataCollectApp {
    let json = artifact("https://sync.example.org").to_string();
    DataCollectApp::from_json_str(&json, store(), options(clock)).unwrap()
}

#[tokio::test]
async fn indexeddb_record_of_the_sync_server_token_imports_and_is_sent_as_bearer() {
    let clock = Arc::new(ManualClock::new(NOW));
    let app = app_at(&clock);
    // DataCollect's own token (`userRoutes.ts`): `{id, email, iat}`, HS256, no `exp`.
    let token = jwt(&json!({"id": 7, "email": "ana@example.org", "iat": NOW.as_secs() - 3600}));
    let record = json!({"id": "default", "token": token, "timestamp": "2026-12-03T12:00:00.000Z"});
    let session = app.import_indexeddb_record(&record.to_string()).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some("7"));
    assert_eq!(session.expires_at, None);

    let header = app.authorization_header("default").await.unwrap();
    assert_eq!(header.to_str().unwrap(), format!("Bearer {token}"));
}

#[tokio::test]
async fn oidc_user_imports_with_expiry_from_the_injected_clock_and_is_sent_as_keycloak() {
    let clock = Arc::new(ManualClock::new(NOW));
    let app = app_at(&clock);
    let access = jwt(&json!({"sub": "alice", "exp": NOW.as_secs() + 900}));
    let user = json!({
        "id_token": jwt(&json!({"sub": "alice"})),
        "session_state": "3f2a",
        "access_token": access,
        "refresh_token": "opaque-refresh",
        "token_type": "Bearer",
        "scope": "openid profile email offline_access",
        "profile": {"sub": "alice", "email_verified": true, "name": "Alice"},
        "expires_at": NOW.as_secs() + 600
    });
    let session = app.import_oidc_user("keycloak", &user.to_string()).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some("alice"));
    assert_eq!(
        session.expires_at,
        Some(Timestamp::from_secs(NOW.as_secs() + 600))
    );
    assert_eq!(session.auth.profile.as_ref().unwrap()["email_verified"], "true");

    // Fresh: the header needs no request to the provider.
    let header = app.authorization_header("keycloak").await.unwrap();
    assert_eq!(header.to_str().unwrap(), format!("keycloak {access}"));
    assert!(!format!("{header:?}").contains(&access));
}

#[tokio::test]
async fn local_storage_entry_of_the_app_imports_and_is_sent_as_auth0() {
    let clock = Arc::new(ManualClock::new(NOW));
    let app = app_at(&clock);
    let token = jwt(&json!({"sub": "auth0|bob", "exp": NOW.as_secs() + 300}));
    app.import_local_storage("auth_token_app_household-survey_auth0", &token)
        .await
        .unwrap();
    let header = app.authorization_header("auth0").await.unwrap();
    assert_eq!(header.to_str().unwrap(), format!("auth0 {token}"));

    let err = app
        .import_local_storage("auth_token_app_other-app_auth0", &token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidStoredToken { .. }), "{err:?}");
}

#[tokio::test]
async fn imports_that_cannot_make_a_session_store_nothing() {
    let clock = Arc::new(ManualClock::new(NOW));
    let app = app_at(&clock);

    let expired = json!({"access_token": "opaque-access", "expires_at": NOW.as_secs() - 1});
    let err = app
        .import_oidc_user("keycloak", &expired.to_string())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StoredTokenExpired { .. }), "{err:?}");
    assert!(app.manager().session("keycloak").await.unwrap().is_none());

    let unknown = json!({"id": "google", "token": "opaque-token"});
    let err = app
        .import_indexeddb_record(&unknown.to_string())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownProvider { .. }), "{err:?}");

    let err = app.authorization_header("google").await.unwrap_err();
    assert!(matches!(err, Error::UnknownProvider { .. }), "{err:?}");
    let err = app.authorization_header("auth0").await.unwrap_err();
    assert!(matches!(err, Error::NotAuthenticated { .. }), "{err:?}");
    assert!(app.manager().sessions().await.unwrap().is_empty());
}

/// Logs in to `provider` of `app` as `username` through the local
/// provider's login form; answers the access token's header.
pub(crate) async fn browser_login(app: &DataCollectApp, provider: &str, username: &str) -> String {
    let redirect = url::Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = app
        .manager()
        .begin_login_with(
            provider,
            authresult_core::LoginFlow::AuthorizationCode,
            Some(redirect),
            Default::default(),
        )
        .await
        .unwrap();
    let authresult_core::LoginPrompt::Redirect { authorization_url } = &pending.prompt else {
        panic!("expected a redirect prompt, got {:?}", pending.prompt)
    };
    let callback = crate::support::idp()
        .login_via_form(authorization_url, username, &format!("{username}-password"))
        .await
        .unwrap();
    let session = app.manager().handle_callback(&callback).await.unwrap();
    assert_eq!(session.subject.as_deref(), Some(username));
    let token = app.manager().access_token(provider).await.unwrap();
    let header = app.authorization_header(provider).await.unwrap();
    let header = header.to_str().unwrap().to_owned();
    assert!(header.ends_with(&format!(" {}", token.secret())));
    header
}

#[tokio::test]
async fn artifact_providers_log_in_at_the_local_provider_and_send_datacollects_schemes() {
    use crate::support::issuer;
    let server = MockServer::start().await;
    let mut value = artifact(&server.uri());
    value["authConfigs"] = json!([
        {"type": "keycloak", "fields": {"authority": issuer("keycloak").as_str(), "client_id": "native-app",
                                        "kc_idp_hint": "local"}},
        {"type": "auth0", "fields": {"authority": issuer("auth0").as_str(), "client_id": "native-app"}}
    ]);
    Mock::given(method("GET"))
        .and(path(ARTIFACT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(value.to_string(), "application/json"))
        .mount(&server)
        .await;
    let app = DataCollectApp::from_url(
        &format!("{}{ARTIFACT_PATH}", server.uri()),
        store(),
        crate::support::fast_options(),
    )
    .await
    .unwrap();
    assert!(app.warnings().is_empty(), "{:?}", app.warnings());

    let header = browser_login(&app, "keycloak", "alice").await;
    assert!(header.starts_with("keycloak "), "not the keycloak scheme");
    let header = browser_login(&app, "auth0", "bob").await;
    assert!(header.starts_with("auth0 "), "not the auth0 scheme");
}
