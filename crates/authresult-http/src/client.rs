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

use crate::error::HttpError;
use crate::network::{NetworkOptions, Route};
use crate::text::{display_uri, retry_after};

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
        // Without `ring`, reqwest takes rustls's process-wide provider:
        // aws-lc-rs's, unless the application installed one (then `Err`, kept).
        #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

    /// The time by this client's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
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
