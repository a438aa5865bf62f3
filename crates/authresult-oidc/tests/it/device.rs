//! Device authorization grant (RFC 8628): approve and deny against the local
//! provider; interval, `slow_down`, `Retry-After`, expiry and cancellation
//! against wiremock with a recording sleeper (no real waits).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authresult_core::MemoryStore;
use authresult_core::{FailureKind, LoginFlow, LoginPrompt, LoginResponse};
use authresult_oidc::{DevicePollStatus, DeviceProgress, OidcError};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::{
    MockIdp, RecordingSleeper, fast_options, idp, issuer, manager, plain, provider_from, request,
};

fn device_prompt(prompt: &LoginPrompt) -> (String, url::Url, Option<url::Url>, u64) {
    match prompt {
        LoginPrompt::DeviceCode {
            user_code,
            verification_uri,
            verification_uri_complete,
            interval_secs,
        } => (
            user_code.clone(),
            verification_uri.clone(),
            verification_uri_complete.clone(),
            *interval_secs,
        ),
        other => panic!("expected a device prompt, got {other:?}"),
    }
}

#[tokio::test]
async fn device_flow_approved_through_the_manager() {
    let store = Arc::new(MemoryStore::new());
    let manager = manager(store, plain("device-app"));
    let pending = manager.begin_login("p", LoginFlow::DeviceCode).await.unwrap();
    let (user_code, verification_uri, complete, interval) = device_prompt(&pending.prompt);
    assert_eq!(interval, 5, "the provider names no interval: the default is 5 s");
    assert!(verification_uri.as_str().ends_with("/plain/device"));
    assert!(complete.unwrap().as_str().contains(&user_code));

    let approve = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        idp()
            .approve_device(&verification_uri, Some(&user_code), "bob", "bob-password", true)
            .await
            .unwrap();
    };
    let (session, ()) = tokio::join!(
        manager.complete_login(&pending, LoginResponse::DevicePoll),
        approve
    );
    let session = session.unwrap();
    assert_eq!(session.subject.as_deref(), Some("bob"));
    assert!(session.auth.refresh_token.is_some());
    assert!(session.auth.id_token.is_some());
}

#[tokio::test]
async fn device_flow_denied_is_terminal() {
    let provider = plain("device-app");
    let pending = provider
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap();
    let (user_code, verification_uri, _, _) = device_prompt(&pending.prompt);
    let progress = Mutex::new(Vec::new());
    let deny = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        idp()
            .approve_device(&verification_uri, Some(&user_code), "bob", "bob-password", false)
            .await
            .unwrap();
    };
    let (result, ()) = tokio::join!(
        provider.poll_device(&pending, |p: DeviceProgress| progress.lock().unwrap().push(p)),
        deny
    );
    let error = result.unwrap_err();
    assert!(matches!(error, OidcError::DeviceAccessDenied), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Terminal);
    let progress = progress.into_inner().unwrap();
    assert_eq!(progress[0].status, DevicePollStatus::Started);
    assert!(
        progress
            .iter()
            .skip(1)
            .all(|p| p.status == DevicePollStatus::Pending)
    );
    assert!(progress.iter().all(|p| p.expires_in > Duration::from_secs(500)));
}

/// Answers the given responses in order, then repeats the last.
struct Sequence {
    next: AtomicUsize,
    responses: Vec<ResponseTemplate>,
}

impl wiremock::Respond for Sequence {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let i = self
            .next
            .fetch_add(1, Ordering::SeqCst)
            .min(self.responses.len() - 1);
        self.responses[i].clone()
    }
}

fn oauth_error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({ "error": code }))
}

/// Mounts device authorization (with `extra` fields) and a token sequence.
async fn mount_device(mock: &MockIdp, extra: Value, token_responses: Vec<ResponseTemplate>) {
    let mut body = json!({
        "device_code": "dc-secret",
        "user_code": "ABCD-EFGH",
        "verification_uri": format!("{}/device", mock.issuer()),
        "expires_in": 600,
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    Mock::given(method("POST"))
        .and(path("/device/auth"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&mock.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(Sequence {
            next: AtomicUsize::new(0),
            responses: token_responses,
        })
        .mount(&mock.server)
        .await;
}

fn token_ok(id_token: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-device", "token_type": "Bearer", "expires_in": 60, "id_token": id_token,
    }))
}

/// Starts a device login at `mock` with a recording sleeper.
async fn start(
    mock: &MockIdp,
) -> (
    authresult_oidc::OidcProvider,
    authresult_core::PendingAuthorization,
    RecordingSleeper,
) {
    start_with(mock, RecordingSleeper::new()).await
}

/// [`start`] with a given sleeper.
async fn start_with(
    mock: &MockIdp,
    sleeper: RecordingSleeper,
) -> (
    authresult_oidc::OidcProvider,
    authresult_core::PendingAuthorization,
    RecordingSleeper,
) {
    let provider = mock.provider(sleeper.options());
    let mut req = request(LoginFlow::DeviceCode, None);
    req.now = sleeper.now();
    let pending = provider.begin_login(&req).await.unwrap();
    (provider, pending, sleeper)
}

#[tokio::test]
async fn device_interval_defaults_to_5s_and_slow_down_adds_5s_for_good() {
    let mock = MockIdp::start().await;
    let responses = vec![
        oauth_error("authorization_pending"),
        oauth_error("slow_down"),
        oauth_error("authorization_pending"),
        token_ok(mock.id_token(|c| c)),
    ];
    mount_device(&mock, json!({}), responses).await;
    let (provider, pending, sleeper) = start(&mock).await;
    let statuses = Mutex::new(Vec::new());
    let auth = provider
        .poll_device(&pending, |p| statuses.lock().unwrap().push(p.status))
        .await
        .unwrap();
    assert_eq!(auth.access_token.secret(), "at-device");
    let s = Duration::from_secs;
    assert_eq!(sleeper.waits(), vec![s(5), s(5), s(10), s(10)]);
    assert_eq!(
        statuses.into_inner().unwrap(),
        vec![
            DevicePollStatus::Started,
            DevicePollStatus::Pending,
            DevicePollStatus::SlowDown,
            DevicePollStatus::Pending
        ]
    );
}

#[tokio::test]
async fn device_interval_from_the_provider_and_transient_backoff() {
    let mock = MockIdp::start().await;
    let responses = vec![
        oauth_error("authorization_pending"),
        ResponseTemplate::new(503),
        token_ok(mock.id_token(|c| c)),
    ];
    mount_device(&mock, json!({"interval": 2}), responses).await;
    let (provider, pending, sleeper) = start(&mock).await;
    let statuses = Mutex::new(Vec::new());
    provider
        .poll_device(&pending, |p| statuses.lock().unwrap().push(p.status))
        .await
        .unwrap();
    let s = Duration::from_secs;
    assert_eq!(sleeper.waits(), vec![s(2), s(2), s(4)]);
    assert_eq!(statuses.into_inner().unwrap()[2], DevicePollStatus::Retrying);
}

#[tokio::test]
async fn device_expired_token_and_expiry_are_terminal() {
    let mock = MockIdp::start().await;
    mount_device(
        &mock,
        json!({}),
        vec![oauth_error("authorization_pending"), oauth_error("expired_token")],
    )
    .await;
    let (provider, pending, _) = start(&mock).await;
    let error = provider.poll_device(&pending, |_| {}).await.unwrap_err();
    assert!(matches!(error, OidcError::DeviceCodeExpired), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Terminal);

    // The provider keeps saying "pending": polling stops when `expires_in` runs out.
    let mock = MockIdp::start().await;
    mount_device(
        &mock,
        json!({"expires_in": 12}),
        vec![oauth_error("authorization_pending")],
    )
    .await;
    let (provider, pending, sleeper) = start(&mock).await;
    let error = provider.poll_device(&pending, |_| {}).await.unwrap_err();
    assert!(matches!(error, OidcError::DeviceCodeExpired), "{error:?}");
    let s = Duration::from_secs;
    assert_eq!(sleeper.waits(), vec![s(5), s(5), s(2)]);
    let polls = mock
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count();
    assert_eq!(polls, 2, "no poll after the code expired");
}

#[tokio::test]
async fn device_polling_stops_when_the_future_is_dropped() {
    let mock = MockIdp::start().await;
    mount_device(&mock, json!({}), vec![oauth_error("authorization_pending")]).await;
    let mut options = fast_options();
    options.device_interval_override = Some(Duration::from_millis(20));
    let provider = mock.provider(options);
    let pending = provider
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), provider.poll_device(&pending, |_| {})).await;
    assert!(cancelled.is_err(), "still polling when cancelled");
    let count = || async {
        mock.server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/token")
            .count()
    };
    // Let a request that was already on the wire land before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_cancel = count().await;
    assert!(after_cancel >= 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count().await, after_cancel, "nothing polls after cancellation");
}

/// The payload of a compact JWS, unverified (the test only reads its claims).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT has a payload segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

#[tokio::test]
async fn a_configured_resource_is_sent_to_the_token_endpoint_for_jwt_access_tokens() {
    // RFC 8707: the resource goes in the authorization request and again in
    // every token request (poll and refresh); without the second, the
    // provider hands out opaque tokens.
    let provider = crate::support::provider_from(
        json!({"type": "oidc", "fields": {"issuer": crate::support::issuer("plain").as_str(),
            "client_id": "device-app", "resource": "urn:authresult:api"}}),
        fast_options(),
    );
    let manager = manager(Arc::new(MemoryStore::new()), provider);
    let pending = manager.begin_login("p", LoginFlow::DeviceCode).await.unwrap();
    let (user_code, verification_uri, _, _) = device_prompt(&pending.prompt);
    let approve = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        idp()
            .approve_device(
                &verification_uri,
                Some(&user_code),
                "alice",
                "alice-password",
                true,
            )
            .await
            .unwrap();
    };
    let (session, ()) = tokio::join!(
        manager.complete_login(&pending, LoginResponse::DevicePoll),
        approve
    );
    let session = session.unwrap();
    let claims = jwt_claims(session.auth.access_token.secret());
    assert_eq!(claims["aud"], "urn:authresult:api");
    assert_eq!(claims["sub"], "alice");

    let refreshed = manager.refresh("p").await.unwrap();
    let claims = jwt_claims(refreshed.auth.access_token.secret());
    assert_eq!(
        claims["aud"], "urn:authresult:api",
        "refresh must ask for the resource too"
    );
}

/// `secs` since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

#[tokio::test]
async fn device_polling_honours_retry_after_in_seconds_and_as_an_http_date() {
    let mock = MockIdp::start().await;
    let sleeper = RecordingSleeper::new();
    let t0 = sleeper.now().as_secs();
    let responses = vec![
        ResponseTemplate::new(429).insert_header("Retry-After", "30"),
        // Asked at t0 + 5 + 30: come back at t0 + 125, i.e. in 90 s.
        ResponseTemplate::new(503).insert_header("Retry-After", http_date(t0 + 125).as_str()),
        token_ok(mock.id_token(|c| c)),
    ];
    mount_device(&mock, json!({}), responses).await;
    let (provider, pending, sleeper) = start_with(&mock, sleeper).await;
    let statuses = Mutex::new(Vec::new());
    provider
        .poll_device(&pending, |p| statuses.lock().unwrap().push(p.status))
        .await
        .unwrap();
    let s = Duration::from_secs;
    assert_eq!(sleeper.waits(), vec![s(5), s(30), s(90)]);
    assert_eq!(
        statuses.into_inner().unwrap(),
        vec![
            DevicePollStatus::Started,
            DevicePollStatus::Retrying,
            DevicePollStatus::Retrying
        ]
    );
}

#[tokio::test]
async fn device_retry_after_is_capped_at_5_minutes_and_at_the_code_lifetime() {
    let mock = MockIdp::start().await;
    mount_device(
        &mock,
        json!({"expires_in": 600}),
        vec![ResponseTemplate::new(429).insert_header("Retry-After", "100000")],
    )
    .await;
    let (provider, pending, sleeper) = start(&mock).await;
    let error = provider.poll_device(&pending, |_| {}).await.unwrap_err();
    assert!(matches!(error, OidcError::DeviceCodeExpired), "{error:?}");
    let s = Duration::from_secs;
    // 5 s interval, then 300 s (the cap), then the 295 s left of the code.
    assert_eq!(sleeper.waits(), vec![s(5), s(300), s(295)]);
    let polls = mock
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count();
    assert_eq!(polls, 2, "no poll after the code expired");
}

#[tokio::test]
async fn device_flow_with_max_auth_age_gets_a_checked_auth_time() {
    // The provider is asked for `max_age`: its ID token carries a fresh
    // `auth_time`, which is required and checked.
    let mut options = fast_options();
    options.max_auth_age = Some(Duration::from_secs(300));
    let provider = provider_from(
        json!({"type": "oidc", "fields": {"issuer": issuer("plain").as_str(), "client_id": "device-app"}}),
        options,
    );
    let pending = provider
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap();
    let (user_code, verification_uri, _, _) = device_prompt(&pending.prompt);
    let approve = async {
        idp()
            .approve_device(&verification_uri, Some(&user_code), "bob", "bob-password", true)
            .await
            .unwrap();
    };
    let (auth, ()) = tokio::join!(provider.poll_device(&pending, |_| {}), approve);
    let auth = auth.unwrap();
    assert!(auth.id_token.is_some());
}
