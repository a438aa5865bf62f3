//! `BearerAuthLayer::json_body_app` as an unauthenticated client meets it:
//! no usable credentials, or a token refused from the header, cost no body
//! read; where the scheme's check depends on the app the body is read under
//! a small cap, a short time limit and a bound on such reads at once (503
//! over it, at once); `configId` is the top-level member only, given once,
//! and the inner service gets the whole body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use authresult_jwt::{
    AppAuth, AppId, AppSelector, BearerAuthLayer, JsonBodyApp, PrefixedBody, SyncServerSecret,
    SyncServerTokens, TokenCheck, ValidatedToken,
};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use serde_json::json;
use tower::{Layer as _, Service as _, ServiceExt as _};

use super::sync_server::{SECRET, T0, clock_at, datacollect_token, sync_tokens};

/// A client's body: its chunks, each after `delay`, then the end or
/// (`hang`) nothing more ever; counts what the server took from it.
struct ClientBody {
    chunks: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    hang: bool,
    taken: Arc<AtomicUsize>,
}

impl ClientBody {
    fn new(chunks: Vec<Vec<u8>>, delay: Duration, hang: bool) -> (Self, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let body = ClientBody {
            chunks: chunks.into_iter().map(Bytes::from).collect(),
            delay,
            sleep: None,
            hang,
            taken: taken.clone(),
        };
        (body, taken)
    }

    fn json(value: serde_json::Value) -> (Self, Arc<AtomicUsize>) {
        ClientBody::new(vec![value.to_string().into_bytes()], Duration::ZERO, false)
    }

    /// A body that never sends a byte.
    fn silent() -> (Self, Arc<AtomicUsize>) {
        ClientBody::new(Vec::new(), Duration::ZERO, true)
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.chunks.is_empty() {
            return if this.hang {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        if !this.delay.is_zero() {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(this.delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let chunk = this.chunks.pop_front().unwrap();
        this.taken.fetch_add(chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

use std::future::Future as _;

const OTHER_SECRET: &[u8] = b"another-apps-provider-secret-0123456789";

fn tokens(secret: &[u8]) -> SyncServerTokens {
    SyncServerTokens::builder(SyncServerSecret::new(secret))
        .max_age(Duration::from_secs(7 * 24 * 3600))
        .clock(clock_at(T0 + 60))
        .build()
        .unwrap()
}

/// `default` and `a`, `b`: every app takes the server's own `Bearer` tokens
/// (one chain: checked from the header); `a` and `b` each take `keycloak`
/// tokens of their own provider (stood for by a secret of their own: the
/// chain depends on the app, so the body names the app first); `kc-only`
/// takes no `Bearer`.
fn layer(limits: JsonBodyApp) -> authresult_jwt::JsonBodyAuthLayer {
    let own = sync_tokens(clock_at(T0 + 60));
    let a = AppAuth::new()
        .scheme("Bearer", [own.clone().into()])
        .scheme("keycloak", [TokenCheck::from(tokens(OTHER_SECRET))]);
    let b = AppAuth::new().scheme("Bearer", [own.clone().into()]).scheme(
        "keycloak",
        [TokenCheck::from(tokens(
            b"app-b-provider-secret-0123456789abcdef",
        ))],
    );
    let kc_only = AppAuth::new().scheme("keycloak", [TokenCheck::from(tokens(OTHER_SECRET))]);
    let apps = [
        (
            "default".to_owned(),
            AppAuth::new().scheme("Bearer", [own.into()]),
        ),
        ("a".to_owned(), a),
        ("b".to_owned(), b),
        ("kc-only".to_owned(), kc_only),
    ];
    BearerAuthLayer::for_apps(apps, AppSelector::config_id()).json_body_app(limits)
}

/// Reads the whole body the inner service got.
async fn whole(mut body: PrefixedBody<ClientBody>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.unwrap().into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// The inner service: `app|subject|body`.
fn service(
    layer: authresult_jwt::JsonBodyAuthLayer,
) -> impl tower::Service<Request<ClientBody>, Response = Response<String>, Error = Infallible, Future: Send> + Clone
{
    layer.layer(tower::service_fn(
        |request: Request<PrefixedBody<ClientBody>>| async move {
            let (parts, body) = request.into_parts();
            let app = parts.extensions.get::<AppId>().map(|a| a.as_str().to_owned());
            let token = parts.extensions.get::<ValidatedToken>().unwrap();
            let body = String::from_utf8(whole(body).await).unwrap();
            let answer = format!(
                "{}|{}|{body}",
                app.unwrap_or_default(),
                token.subject().unwrap_or("-")
            );
            Ok::<_, Infallible>(Response::new(answer))
        },
    ))
}

fn request(authorization: Option<&str>, body: ClientBody) -> Request<ClientBody> {
    let mut builder = Request::post("/api/sync/push");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(body).unwrap()
}

fn own_bearer() -> String {
    format!(
        "Bearer {}",
        datacollect_token(SECRET, json!(3), "ana@example.org", T0)
    )
}

fn keycloak_of_a() -> String {
    format!(
        "keycloak {}",
        datacollect_token(OTHER_SECRET, json!(7), "kc@example.org", T0)
    )
}

/// The answer, which must come within a second.
async fn answer(
    service: impl tower::Service<Request<ClientBody>, Response = Response<String>, Error = Infallible>,
    request: Request<ClientBody>,
) -> Response<String> {
    tokio::time::timeout(Duration::from_secs(1), service.oneshot(request))
        .await
        .expect("answered within a second")
        .unwrap()
}

#[tokio::test]
async fn a_request_without_usable_credentials_is_answered_before_its_body_is_read() {
    let service = service(layer(JsonBodyApp::config_id()));
    let forged = format!(
        "Bearer {}",
        datacollect_token(b"not-the-servers-secret-0123456789", json!(3), "x@y", T0)
    );
    for (authorization, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer not a token"), StatusCode::BAD_REQUEST),
        (Some("oidc abc.def.ghi"), StatusCode::UNAUTHORIZED),
        (Some(forged.as_str()), StatusCode::UNAUTHORIZED),
        (Some("Bearer abc.def.ghi"), StatusCode::UNAUTHORIZED),
    ] {
        // The body never comes: an answer at all shows it was not awaited.
        let (body, taken) = ClientBody::silent();
        let response = answer(service.clone(), request(authorization, body)).await;
        assert_eq!(response.status(), status, "{authorization:?}");
        assert_eq!(taken.load(Ordering::SeqCst), 0);
    }
    let (body, _) = ClientBody::silent();
    let response = answer(service.clone(), request(None, body)).await;
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "Bearer, keycloak",
        "every scheme an app accepts"
    );
}

#[tokio::test]
async fn a_bearer_token_is_checked_from_the_header_then_the_body_names_the_app() {
    let service = service(layer(JsonBodyApp::config_id()));
    // DataCollect's push: `configId` after the events, in small chunks, and
    // the part after the top-level object still reaches the handler.
    let text = r#"{"events":[{"guid":"e1","data":{"configId":"a"}}],"configId":"b"}"#;
    let chunks = text.as_bytes().chunks(7).map(<[u8]>::to_vec).collect();
    let (body, _) = ClientBody::new(chunks, Duration::ZERO, false);
    let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.into_body(), format!("b|3|{text}"));
    // No `configId` in the body: the query's, else `default`.
    let (body, _) = ClientBody::json(json!({"events": []}));
    let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
    assert_eq!(response.into_body(), "default|3|{\"events\":[]}");
    // An app that does not take `Bearer` refuses the token it was named for.
    let (body, _) = ClientBody::json(json!({"configId": "kc-only"}));
    let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "keycloak");
    // An app no one configured.
    let (body, _) = ClientBody::json(json!({"configId": "nope"}));
    let response = answer(service, request(Some(&own_bearer()), body)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn config_id_is_the_top_level_member_given_once() {
    let service = service(layer(JsonBodyApp::config_id()));
    for (text, status) in [
        (r#"{"configId":"a","configId":"b"}"#, StatusCode::BAD_REQUEST),
        (r#"{"configId":"a","config\u0049d":"a"}"#, StatusCode::BAD_REQUEST),
        (r#"{"configId":5}"#, StatusCode::BAD_REQUEST),
        (r#"{"configId":"a""#, StatusCode::BAD_REQUEST),
        ("not json", StatusCode::OK),
    ] {
        let (body, _) = ClientBody::new(vec![text.as_bytes().to_vec()], Duration::ZERO, false);
        let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
        assert_eq!(response.status(), status, "{text}");
    }
    // Nested or inside a string, it names nothing: the app is `default`.
    for text in [
        r#"{"data":{"configId":"a"}}"#,
        r#"{"note":"\"configId\":\"a\""}"#,
        r#"[{"configId":"a"}]"#,
    ] {
        let (body, _) = ClientBody::new(vec![text.as_bytes().to_vec()], Duration::ZERO, false);
        let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
        assert!(
            response.body().starts_with("default|"),
            "{text}: {}",
            response.body()
        );
    }
    // Deeper than 128 levels: refused, however deep.
    let deep = format!("{{\"a\":{}", "[".repeat(100_000));
    let (body, _) = ClientBody::new(vec![deep.into_bytes()], Duration::ZERO, false);
    let response = answer(service, request(Some(&own_bearer()), body)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_scheme_checked_per_app_reads_the_body_with_a_small_cap_and_a_short_time_limit() {
    let limits = JsonBodyApp::config_id()
        .unauthenticated_max_bytes(1024)
        .unauthenticated_timeout(Duration::from_millis(200));
    let service = service(layer(limits));
    // The app's own provider token, named in the body.
    let (body, _) = ClientBody::json(json!({"events": [], "configId": "a"}));
    let response = answer(service.clone(), request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.body().starts_with("a|7|"));
    // The same token named for another app is refused.
    let (body, _) = ClientBody::json(json!({"events": [], "configId": "b"}));
    let response = answer(service.clone(), request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A body past the cap: refused after at most the cap and one chunk.
    let chunks = vec![vec![b' '; 600]; 100];
    let (body, taken) = ClientBody::new(chunks, Duration::ZERO, false);
    let response = answer(service.clone(), request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(taken.load(Ordering::SeqCst) <= 1024 + 600);
    // A declared length past the cap: refused without reading.
    let (body, taken) = ClientBody::silent();
    let mut large = request(Some(&keycloak_of_a()), body);
    large
        .headers_mut()
        .insert(CONTENT_LENGTH, "1048576".parse().unwrap());
    let response = answer(service.clone(), large).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(taken.load(Ordering::SeqCst), 0);
    // A slow body: one byte every 50 ms, refused at the time limit.
    let slow = vec![vec![b' ']; 1000];
    let (body, taken) = ClientBody::new(slow, Duration::from_millis(50), false);
    let response = answer(service, request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(taken.load(Ordering::SeqCst) < 10);
}

#[tokio::test]
async fn unauthenticated_reads_over_the_bound_are_answered_503_at_once() {
    let limits = JsonBodyApp::config_id()
        .max_unauthenticated(2)
        .unauthenticated_timeout(Duration::from_millis(500));
    let service = service(layer(limits));
    let mut held = Vec::new();
    for _ in 0..2 {
        let (body, _) = ClientBody::silent();
        let mut service = service.clone();
        held.push(tokio::spawn(async move {
            let service = service.ready().await.unwrap();
            service
                .call(request(Some(&keycloak_of_a()), body))
                .await
                .unwrap()
                .status()
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (body, taken) = ClientBody::silent();
    let started = tokio::time::Instant::now();
    let response = answer(service.clone(), request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(400), "answered at once");
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(taken.load(Ordering::SeqCst), 0);
    // A client authenticated from the header is not held back by them.
    let (body, _) = ClientBody::json(json!({"configId": "a"}));
    let response = answer(service.clone(), request(Some(&own_bearer()), body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Once the held reads time out, their room is free again.
    for task in held {
        assert_eq!(task.await.unwrap(), StatusCode::REQUEST_TIMEOUT);
    }
    let (body, _) = ClientBody::json(json!({"configId": "a"}));
    let response = answer(service, request(Some(&keycloak_of_a()), body)).await;
    assert_eq!(response.status(), StatusCode::OK);
}
