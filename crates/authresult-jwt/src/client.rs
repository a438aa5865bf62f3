//! The one HTTP client of the workspace: rustls, redirects never followed,
//! connect and total timeouts, a cap on every response body, and
//! `Retry-After` read on statuses that ask to wait, and the trust anchors,
//! proxy and client certificate of [`NetworkOptions`]. The validator and
//! every request of `authresult-oidc` go through it; each crate maps an
//! [`HttpError`] into its own error once.
//!
//! A plain-`http` loopback URL ([`authresult_core::is_loopback`]) never goes
//! through a proxy, configured or from the environment: plain `http` is
//! allowed to loopback only because it never leaves the host, and a proxy
//! would carry it off the host in clear. Such requests use a second client
//! without any proxy, whose `localhost` resolves to the loopback addresses
//! only (never DNS). An `https` URL follows the proxy settings wherever it
//! points: TLS protects it on the way.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{Clock, Timestamp};
use url::Url;

use super::network::{NetworkOptions, Route};

/// Limits of an [`HttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time allowed to connect (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included.
    pub timeout: Duration,
    /// The largest response body read, in bytes.
    pub max_body: usize,
}

/// A shared `reqwest::Client` with rustls, no redirects and [`HttpLimits`].
/// Cloning is cheap (the connection pool is shared). Plain-`http` requests
/// to a loopback host go direct, never through a proxy (see the module's
/// documentation).
#[derive(Clone)]
pub struct HttpClient {
    /// Every request but plain `http` to loopback, through the proxy.
    client: reqwest::Client,
    /// Plain `http` to a loopback host: no proxy, `localhost` pinned to loopback.
    direct: reqwest::Client,
    limits: HttpLimits,
    /// Reads `Retry-After` dates.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Why the HTTP client could not be built or a request failed. URLs are
/// shown without query, fragment or credentials ([`display_url`]).
///
/// This is the transport half of the crate's errors: [`HttpClient`] serves
/// the validator and `authresult-oidc`, and each maps an `HttpError` once
/// into its own error ([`ValidationError`](crate::ValidationError),
/// `OidcError`) naming the endpoint (see ARCHITECTURE.md).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The client could not be built (TLS backend, root certificates).
    #[error("could not build the http client")]
    Build(#[source] reqwest::Error),
    /// A PEM text of [`NetworkOptions`](crate::NetworkOptions) is unusable.
    #[error("invalid {what}: {reason}")]
    InvalidPem {
        /// `ca certificate`, `client certificate`, `client key`...
        what: &'static str,
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// The proxy URL is not usable.
    #[error("the proxy url is not usable")]
    InvalidProxy,
    /// A client credential (a client assertion key) is unusable.
    #[error("invalid client credential: {reason}")]
    InvalidCredential {
        /// What is wrong (never the key).
        reason: &'static str,
    },
    /// The request could not be formed from its URL.
    #[error("the url `{url}` is not usable")]
    BadRequest {
        /// The URL, shown safely.
        url: String,
    },
    /// Connecting or reading failed (transient).
    #[error("could not reach `{url}`")]
    Connect {
        /// The URL, shown safely.
        url: String,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (unknown issuer, expired, wrong name), or the server refused this
    /// client's certificate, or none was presented where one is required.
    #[error("tls handshake with `{url}` failed: {reason}")]
    Tls {
        /// The URL, shown safely.
        url: String,
        /// What TLS reported, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The request timed out (transient).
    #[error("`{url}` timed out after {timeout:?}")]
    Timeout {
        /// The URL, shown safely.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// A 3xx answer: redirects are never followed.
    #[error("`{url}` answered a redirect ({status}), which is never followed")]
    Redirect {
        /// The URL, shown safely.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A status that asks to wait: 5xx, 429 or 408 (transient).
    #[error("`{url}` answered http status {status}")]
    Unavailable {
        /// The URL, shown safely.
        url: String,
        /// The status code.
        status: u16,
        /// The wait its `Retry-After` asked for.
        retry_after: Option<Duration>,
    },
    /// The body is larger than [`HttpLimits::max_body`].
    #[error("the answer of `{url}` is larger than {limit} bytes")]
    TooLarge {
        /// The URL, shown safely.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
}

/// The TLS error in `error`'s chain, as text, if there is one.
fn tls_reason(error: &reqwest::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // `io::Error::source` skips the error it wraps: step into it.
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

impl HttpClient {
    /// A client with `limits` and `network` (trust anchors, proxy, client
    /// certificate), reading `Retry-After` dates against `clock`.
    pub fn new(
        limits: HttpLimits,
        network: &NetworkOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpError> {
        let builder = || {
            reqwest::Client::builder()
                .use_rustls_tls()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(limits.connect_timeout)
                .timeout(limits.timeout)
                .user_agent(concat!("authresult/", env!("CARGO_PKG_VERSION")))
        };
        let client = network
            .apply(builder(), Route::Proxied)?
            .build()
            .map_err(HttpError::Build)?;
        let direct = network
            .apply(builder(), Route::Loopback)?
            .build()
            .map_err(HttpError::Build)?;
        Ok(HttpClient {
            client,
            direct,
            limits,
            clock,
        })
    }

    /// The client's limits.
    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    /// The wait `headers`' `Retry-After` asks for, against this client's clock.
    pub fn retry_after(&self, headers: &http::HeaderMap) -> Option<Duration> {
        retry_after(headers, self.clock.now())
    }

    /// Sends `request`; answers with status, headers and the capped body.
    /// 5xx, 429 and 408 become [`HttpError::Unavailable`], 3xx
    /// [`HttpError::Redirect`]; other statuses are the caller's to read.
    pub async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let url = display_uri(request.uri());
        let request =
            reqwest::Request::try_from(request).map_err(|_| HttpError::BadRequest { url: url.clone() })?;
        let transport = |source: reqwest::Error, url: &str| {
            if source.is_timeout() {
                HttpError::Timeout {
                    url: url.to_owned(),
                    timeout: self.limits.timeout,
                }
            } else if let Some(reason) = tls_reason(&source) {
                HttpError::Tls {
                    url: url.to_owned(),
                    reason,
                    source: source.without_url(),
                }
            } else {
                HttpError::Connect {
                    url: url.to_owned(),
                    source: source.without_url(),
                }
            }
        };
        let client = if bypasses_proxy(request.url()) {
            &self.direct
        } else {
            &self.client
        };
        let mut response = client.execute(request).await.map_err(|e| transport(e, &url))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(HttpError::Redirect {
                url,
                status: status.as_u16(),
            });
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(HttpError::Unavailable {
                url,
                status: status.as_u16(),
                retry_after: self.retry_after(response.headers()),
            });
        }
        let max_body = self.limits.max_body;
        let too_large = |url: &str| HttpError::TooLarge {
            url: url.to_owned(),
            limit: max_body,
        };
        if let Some(length) = response.content_length()
            && length > max_body as u64
        {
            return Err(too_large(&url));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, &url))? {
            if body.len() + chunk.len() > max_body {
                return Err(too_large(&url));
            }
            body.extend_from_slice(&chunk);
        }
        let mut builder = http::Response::builder().status(status);
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        builder.body(body).map_err(|_| HttpError::BadRequest { url })
    }
}

/// True for a plain-`http` URL to a loopback host: sent directly, never
/// through a proxy.
fn bypasses_proxy(url: &Url) -> bool {
    url.scheme() == "http" && authresult_core::is_loopback(url)
}

/// A URL fit for an error message: no query, fragment or credentials.
pub fn display_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// [`display_url`] of a request URI.
pub fn display_uri(uri: &http::Uri) -> String {
    match Url::parse(&uri.to_string()) {
        Ok(url) => display_url(&url),
        Err(_) => "(invalid url)".to_owned(),
    }
}

/// `Basic` credentials as RFC 6749 §2.3.1 wants them (form-encoded first).
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let password: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delay
/// seconds, or an HTTP date measured against `now`; a date in the past is
/// no wait. `None` when absent or unreadable.
pub fn retry_after(headers: &http::HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than fit are a very long wait; callers cap it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let at = date
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Some(Timestamp::from_millis(at).duration_since(now))
}

#[cfg(test)]
mod tests;
