//! The one HTTP client of a provider: rustls, redirects never followed,
//! connect and total timeouts, and a cap on every response body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{Clock, Timestamp};

use http::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Endpoint, OidcError};
use crate::options::OidcOptions;

/// A shared `reqwest::Client` with the provider's limits.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
    /// Reads `Retry-After` dates.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The client bound to one endpoint, so its errors name that endpoint. All
/// `openidconnect` requests go through it.
#[derive(Debug, Clone)]
pub(crate) struct At {
    http: HttpClient,
    endpoint: Endpoint,
}

/// A URL fit for an error message: no query, fragment or credentials.
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

fn display_uri(uri: &http::Uri) -> String {
    match Url::parse(&uri.to_string()) {
        Ok(url) => display_url(&url),
        Err(_) => "(invalid url)".to_owned(),
    }
}

impl HttpClient {
    pub(crate) fn new(options: &OidcOptions) -> Result<Self, OidcError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("authresult-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| OidcError::HttpClient { source })?;
        Ok(HttpClient {
            client,
            timeout: options.request_timeout,
            max_body: options.max_response_bytes,
            clock: Arc::clone(&options.clock),
        })
    }

    /// This client, naming `endpoint` in its errors.
    pub(crate) fn at(&self, endpoint: Endpoint) -> At {
        At {
            http: self.clone(),
            endpoint,
        }
    }

    /// Sends `request`; answers with status and the capped body. 5xx, 429 and
    /// 408 become [`OidcError::HttpStatus`], 3xx [`OidcError::Redirect`].
    pub(crate) async fn execute(
        &self,
        endpoint: Endpoint,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let url = display_uri(request.uri());
        let request = reqwest::Request::try_from(request)
            .map_err(|_| OidcError::config(format!("the {endpoint} URL `{url}` is not usable")))?;
        let transport = |source: reqwest::Error, url: &str| {
            if source.is_timeout() {
                OidcError::Timeout {
                    endpoint,
                    url: url.to_owned(),
                    timeout: self.timeout,
                }
            } else {
                OidcError::Connect {
                    endpoint,
                    url: url.to_owned(),
                    source: source.without_url(),
                }
            }
        };
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| transport(e, &url))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(OidcError::Redirect {
                endpoint,
                url,
                status: status.as_u16(),
            });
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(OidcError::HttpStatus {
                endpoint,
                url,
                status: status.as_u16(),
                retry_after: retry_after(response.headers(), self.clock.now()),
            });
        }
        let too_large = || OidcError::ResponseTooLarge {
            endpoint,
            url: url.clone(),
            limit: self.max_body,
        };
        if let Some(length) = response.content_length()
            && length > self.max_body as u64
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, &url))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut builder = http::Response::builder().status(status);
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        builder
            .body(body)
            .map_err(|_| OidcError::malformed(endpoint, "the response could not be assembled"))
    }

    /// `GET url` expecting a JSON document with status 200.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        url: &Url,
        bearer: Option<&str>,
    ) -> Result<T, OidcError> {
        let mut builder = http::Request::builder()
            .method(http::Method::GET)
            .uri(url.as_str())
            .header(ACCEPT, "application/json");
        if let Some(token) = bearer {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder.body(Vec::new()).map_err(|_| {
            OidcError::config(format!("the {endpoint} URL `{}` is not usable", display_url(url)))
        })?;
        let response = self.execute(endpoint, request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(error_from_status(endpoint, url, &response));
        }
        parse_json(endpoint, response.body())
    }

    /// `POST url` with a form body; answers the raw response.
    pub(crate) async fn post_form(
        &self,
        endpoint: Endpoint,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
            .into_bytes();
        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((user, password)) = basic {
            builder = builder.header(http::header::AUTHORIZATION, basic_auth(user, password));
        }
        let request = builder.body(body).map_err(|_| {
            OidcError::config(format!("the {endpoint} URL `{}` is not usable", display_url(url)))
        })?;
        self.execute(endpoint, request).await
    }

    /// `POST url` with a JSON body; answers the raw response.
    pub(crate) async fn post_json(
        &self,
        endpoint: Endpoint,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|_| {
                OidcError::config(format!("the {endpoint} URL `{}` is not usable", display_url(url)))
            })?;
        self.execute(endpoint, request).await
    }
}

/// `Basic` credentials as RFC 6749 §2.3.1 wants them (form-encoded first).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let password: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// An OAuth error document when the body is one, else the bare status.
pub(crate) fn error_from_status(
    endpoint: Endpoint,
    url: &Url,
    response: &http::Response<Vec<u8>>,
) -> OidcError {
    match oauth_error_body(response.body()) {
        Some((error, description)) => OidcError::server_error(endpoint, &error, description.as_deref()),
        // Statuses that ask to wait (5xx, 429, 408) are answered by `execute`
        // with their `Retry-After`; what reaches here carries none worth using.
        None => OidcError::HttpStatus {
            endpoint,
            url: display_url(url),
            status: response.status().as_u16(),
            retry_after: None,
        },
    }
}

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delay
/// seconds, or an HTTP date (IMF-fixdate) measured against `now`; a date in
/// the past is no wait. `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &http::HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than fit are a very long wait; callers cap it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = u64::try_from(date.timestamp_millis()).unwrap_or(0);
    Some(Timestamp::from_millis(at).duration_since(now))
}

/// `error` and `error_description` when `body` is an OAuth error document.
fn oauth_error_body(body: &[u8]) -> Option<(String, Option<String>)> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
        error_description: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| (b.error, b.error_description))
}

/// Parses a JSON body; errors name the field path, never a value.
pub(crate) fn parse_json<T: DeserializeOwned>(endpoint: Endpoint, body: &[u8]) -> Result<T, OidcError> {
    serde_json::from_slice(body).map_err(|e| json_error(endpoint, &e, None))
}

/// Describes a JSON error without quoting the document; `path` is the
/// field path (names only) when known.
pub(crate) fn json_error(endpoint: Endpoint, error: &serde_json::Error, path: Option<&str>) -> OidcError {
    use serde_json::error::Category;
    let message = error.to_string();
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return OidcError::MissingField {
            endpoint,
            field: field.to_owned(),
        };
    }
    let detail = match error.classify() {
        Category::Eof => "the JSON document is truncated".to_owned(),
        Category::Syntax => format!(
            "not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ),
        Category::Data => match path {
            Some(path) if !path.is_empty() && path != "." => {
                format!("the value at `{path}` has the wrong type or form")
            }
            _ => format!(
                "a JSON value has the wrong type or form (line {}, column {})",
                error.line(),
                error.column()
            ),
        },
        Category::Io => "the body could not be read".to_owned(),
    };
    OidcError::malformed(endpoint, detail)
}

impl<'c> openidconnect::AsyncHttpClient<'c> for At {
    type Error = OidcError;
    type Future = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, OidcError>> + Send + 'c>>;

    /// A 4xx answer without an OAuth error document (some providers send
    /// an empty body) becomes [`OidcError::HttpStatus`], so the status is
    /// kept and classified, rather than a parse error of the empty body.
    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let url = display_uri(request.uri());
            let response = self.http.execute(self.endpoint, request).await?;
            let status = response.status();
            if status.is_client_error() && oauth_error_body(response.body()).is_none() {
                return Err(OidcError::HttpStatus {
                    endpoint: self.endpoint,
                    url,
                    status: status.as_u16(),
                    retry_after: retry_after(response.headers(), self.http.clock.now()),
                });
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests;
