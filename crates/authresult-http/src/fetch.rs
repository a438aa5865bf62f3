//! The requests both the validator and the login client make through the
//! one [`HttpClient`]: a JSON `GET`, RFC 7662 introspection and userinfo.

use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};
use url::Url;

use crate::client::HttpClient;
use crate::error::HttpError;
use crate::text::{basic_auth, display_url};
use authresult_core::parse_strict_object;

/// `GET url` with `accept`, expecting status 200; answers the capped body.
/// Any other status is [`HttpError::Status`] (or what
/// [`HttpClient::execute`] answers).
pub async fn get(client: &HttpClient, url: &Url, accept: &str) -> Result<Vec<u8>, HttpError> {
    let response = send(
        client,
        url,
        http::Request::get(url.as_str()).header(ACCEPT, accept),
        Vec::new(),
    )
    .await?;
    if response.status() != StatusCode::OK {
        return Err(status(url, response.status()));
    }
    Ok(response.into_body())
}

/// RFC 7662 introspection of `token` at `url` with `client_secret_basic`:
/// the workspace's one introspection client (the validator's opaque tokens
/// and `authresult-oidc`'s `introspect`). `Ok(None)` when the token is not
/// active; an answer other than `200` with a JSON object whose `active` is a
/// boolean is an error.
pub async fn introspect(
    client: &HttpClient,
    url: &Url,
    client_id: &str,
    client_secret: &str,
    token: &str,
) -> Result<Option<Map<String, Value>>, HttpError> {
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("token_type_hint", "access_token")
        .finish();
    let request = http::Request::post(url.as_str())
        .header(AUTHORIZATION, basic_auth(client_id, client_secret))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json");
    let response = send(client, url, request, form.into_bytes()).await?;
    if response.status() != StatusCode::OK {
        return Err(status(url, response.status()));
    }
    let doc = object(url, response.body())?;
    match doc.get("active") {
        Some(Value::Bool(true)) => Ok(Some(doc)),
        Some(Value::Bool(false)) => Ok(None),
        _ => Err(malformed(url, "`active` is not a boolean")),
    }
}

/// The userinfo claims for `token` at `url`: the workspace's one userinfo
/// client (the validator's opaque tokens and `authresult-oidc`'s
/// `userinfo`). `Ok(None)` when the provider refuses the token (401/403);
/// the answer must be a JSON object with a string `sub`.
pub async fn userinfo(
    client: &HttpClient,
    url: &Url,
    token: &str,
) -> Result<Option<Map<String, Value>>, HttpError> {
    let request = http::Request::get(url.as_str())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(ACCEPT, "application/json");
    let response = send(client, url, request, Vec::new()).await?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Ok(None),
        other => return Err(status(url, other)),
    }
    let doc = object(url, response.body())?;
    match doc.get("sub") {
        Some(Value::String(_)) => Ok(Some(doc)),
        _ => Err(malformed(url, "`sub` is missing")),
    }
}

async fn send(
    client: &HttpClient,
    url: &Url,
    request: http::request::Builder,
    body: Vec<u8>,
) -> Result<http::Response<Vec<u8>>, HttpError> {
    let request = request.body(body).map_err(|_| HttpError::BadRequest {
        url: display_url(url),
    })?;
    client.execute(request).await
}

fn status(url: &Url, status: StatusCode) -> HttpError {
    HttpError::Status {
        url: display_url(url),
        status: status.as_u16(),
    }
}

fn malformed(url: &Url, reason: &str) -> HttpError {
    HttpError::Malformed {
        url: display_url(url),
        reason: reason.to_owned(),
    }
}

fn object(url: &Url, body: &[u8]) -> Result<Map<String, Value>, HttpError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed(url, "the response is not UTF-8"))?;
    parse_strict_object(text).map_err(|e| malformed(url, &format!("the response {e}")))
}
