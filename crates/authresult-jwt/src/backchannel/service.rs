//! The back-channel logout endpoint as a `tower::Service`: the method, the
//! content type and the body size are checked before the form is read, the
//! form must hold exactly one `logout_token`, and every answer is the one
//! section 2.8 of the specification asks for.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tower::Service;

use super::BackchannelLogout;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<B> Service<Request<B>> for BackchannelLogout
where
    B: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let receiver = self.clone();
        Box::pin(async move { Ok(receiver.answer(request).await) })
    }
}

impl BackchannelLogout {
    async fn answer<B: Body<Data = Bytes>>(&self, request: Request<B>) -> Response<String> {
        if request.method() != Method::POST {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "the logout endpoint takes POST",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            );
        }
        let cap = self.inner.max_body;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > cap as u64) {
            return too_large();
        }
        let body = match tokio::time::timeout(self.inner.read_timeout, read_capped(request.into_body(), cap))
            .await
        {
            Err(_) => {
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    "invalid_request",
                    "the body was not sent in time",
                );
            }
            Ok(Err(Read::TooLarge)) => return too_large(),
            Ok(Err(Read::Broken)) => {
                return error(StatusCode::BAD_REQUEST, "invalid_request", "the body broke off");
            }
            Ok(Ok(body)) => body,
        };
        let mut tokens = url::form_urlencoded::parse(&body).filter(|(name, _)| name == "logout_token");
        let token = match (tokens.next(), tokens.next()) {
            (Some((_, token)), None) => token,
            (None, _) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the form has no logout_token",
                );
            }
            (Some(_), Some(_)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the form has more than one logout_token",
                );
            }
        };
        match self.receive(&token).await {
            Ok(_) => {
                let mut response = Response::new(String::new());
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(e) if e.is_transient() => {
                error(StatusCode::BAD_REQUEST, "temporarily_unavailable", &e.to_string())
            }
            Err(e) => error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
        }
    }
}

enum Read {
    TooLarge,
    Broken,
}

/// The whole body, refused once it passes `cap` bytes.
async fn read_capped<B: Body<Data = Bytes>>(body: B, cap: usize) -> Result<Vec<u8>, Read> {
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| Read::Broken)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > cap {
                return Err(Read::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

fn too_large() -> Response<String> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "the body is larger than the receiver reads",
    )
}

/// A JSON error answer, `Cache-Control: no-store` like every answer.
fn error(status: StatusCode, code: &str, description: &str) -> Response<String> {
    let body = serde_json::json!({"error": code, "error_description": description}).to_string();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
