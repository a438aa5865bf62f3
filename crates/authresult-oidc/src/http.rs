//! The provider's requests: through the workspace's one HTTP client
//! (`authresult_http::HttpClient`: rustls, redirects never followed, connect
//! and total timeouts, a cap on every response body) with its errors mapped
//! once into `OidcError`, client assertions added, and the
//! `openidconnect::AsyncHttpClient` adapter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use authresult_http::{HttpClient, HttpError, HttpLimits};
pub(crate) use authresult_http::{basic_auth, display_uri, display_url};
use http::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client_auth::ClientAssertion;
use crate::dpop::{Proofs, copy_request};
use crate::error::{Endpoint, OidcError};
use crate::options::OidcOptions;

/// The provider's requests through the workspace's one HTTP client
/// ([`authresult_http::HttpClient`]) with the provider's limits; its errors
/// become [`OidcError`]s naming the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    inner: HttpClient,
    /// `private_key_jwt` client assertions (`client_auth.rs`), when set.
    assertion: Option<Arc<ClientAssertion>>,
    /// A client certificate is configured (discovery then uses the
    /// provider's `mtls_endpoint_aliases`).
    client_certificate: bool,
}

/// The client bound to one endpoint, so its errors name that endpoint. All
/// `openidconnect` requests go through it.
#[derive(Debug, Clone)]
pub(crate) struct At {
    http: Requests,
    endpoint: Endpoint,
    /// The session's DPoP key, when its requests carry proofs.
    proofs: Option<Proofs>,
}

/// The one mapping of HTTP failures into [`OidcError`].
pub(crate) fn http_error(endpoint: Endpoint, error: HttpError) -> OidcError {
    match error {
        HttpError::Build(source) => OidcError::HttpClient { source },
        HttpError::Connect { url, source } => OidcError::Connect {
            endpoint,
            url,
            source,
        },
        HttpError::Tls { url, reason, source } => OidcError::Tls {
            endpoint,
            url,
            reason,
            source,
        },
        HttpError::Timeout { url, timeout } => OidcError::Timeout {
            endpoint,
            url,
            timeout,
        },
        HttpError::Redirect { url, status } => OidcError::Redirect {
            endpoint,
            url,
            status,
        },
        HttpError::Unavailable {
            url,
            status,
            retry_after,
        } => OidcError::HttpStatus {
            endpoint,
            url,
            status,
            retry_after,
        },
        HttpError::TooLarge { url, limit } => OidcError::ResponseTooLarge { endpoint, url, limit },
        HttpError::Status { url, status } => OidcError::HttpStatus {
            endpoint,
            url,
            status,
            retry_after: None,
        },
        HttpError::Malformed { reason, .. } => OidcError::malformed(endpoint, reason),
        HttpError::MissingMember { member, .. } => OidcError::MissingField {
            endpoint,
            field: member,
        },
        HttpError::IssuerMismatch { expected, found } => OidcError::IssuerMismatch { expected, found },
        HttpError::BadRequest { url } => {
            OidcError::config(format!("the {endpoint} URL `{url}` is not usable"))
        }
        other @ (HttpError::InvalidPem { .. }
        | HttpError::InvalidProxy
        | HttpError::InvalidCredential { .. }
        | HttpError::InsecureEndpoint { .. }) => OidcError::config(other.to_string()),
        other => OidcError::config(format!("the {endpoint} request failed: {other}")),
    }
}

impl Requests {
    pub(crate) fn new(options: &OidcOptions) -> Result<Self, OidcError> {
        let limits = HttpLimits {
            connect_timeout: options.connect_timeout,
            timeout: options.request_timeout,
            max_body: options.max_response_bytes,
        };
        let inner = HttpClient::new(limits, &options.network, Arc::clone(&options.clock))
            .map_err(|e| http_error(Endpoint::Discovery, e))?;
        Ok(Requests {
            inner,
            assertion: None,
            client_certificate: options.network.client_identity.is_some(),
        })
    }

    /// The `private_key_jwt` signer, when the client authenticates so.
    pub(crate) fn assertion(&self) -> Option<&Arc<ClientAssertion>> {
        self.assertion.as_ref()
    }

    /// True when the client presents a certificate (mutual TLS).
    pub(crate) fn presents_client_certificate(&self) -> bool {
        self.client_certificate
    }

    /// This client authenticating as `client_id` of `issuer` with
    /// `OidcOptions::client_assertion_key` (`private_key_jwt`), when one is
    /// set: see [`ClientAssertion`].
    pub(crate) fn authenticating(
        mut self,
        options: &OidcOptions,
        client_id: &str,
        issuer: &Url,
        has_secret: bool,
    ) -> Result<Self, OidcError> {
        self.assertion = ClientAssertion::from_options(options, client_id, issuer, has_secret)?.map(Arc::new);
        Ok(self)
    }

    /// The workspace's client itself, for the requests `authresult-http`
    /// makes (discovery, introspection, userinfo).
    pub(crate) fn shared(&self) -> &HttpClient {
        &self.inner
    }

    /// This client, naming `endpoint` in its errors.
    pub(crate) fn at(&self, endpoint: Endpoint) -> At {
        self.at_with(endpoint, None)
    }

    /// This client, naming `endpoint`, with a DPoP proof on each request
    /// when `proofs` is given ([`execute_with`](Self::execute_with)).
    pub(crate) fn at_with(&self, endpoint: Endpoint, proofs: Option<Proofs>) -> At {
        At {
            http: self.clone(),
            endpoint,
            proofs,
        }
    }

    /// [`execute`](Self::execute) with a DPoP proof of the request when
    /// `proofs` is given, signed with the last nonce of its origin. An
    /// answer's `DPoP-Nonce` is kept; a `400 use_dpop_nonce` with a new
    /// nonce is retried once with it (RFC 9449 §8), and whatever the retry
    /// answers is the answer.
    pub(crate) async fn execute_with(
        &self,
        endpoint: Endpoint,
        request: http::Request<Vec<u8>>,
        proofs: Option<&Proofs>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let Some(proofs) = proofs else {
            return self.execute(endpoint, request).await;
        };
        let url = Url::parse(&request.uri().to_string()).map_err(|_| {
            OidcError::config(format!(
                "the {endpoint} URL `{}` is not usable",
                display_uri(request.uri())
            ))
        })?;
        let sent = proofs.nonce(&url).await;
        let mut first = copy_request(&request);
        proofs.sign(endpoint, &mut first, &url, sent.as_deref())?;
        let response = self.execute(endpoint, first).await?;
        let fresh = proofs.remember(&url, response.headers()).await;
        let asks_for_nonce = response.status() == http::StatusCode::BAD_REQUEST
            && oauth_error_body(response.body()).is_some_and(|(error, _)| error == "use_dpop_nonce");
        match fresh {
            Some(nonce) if asks_for_nonce && sent.as_deref() != Some(nonce.as_str()) => {
                tracing::debug!(event = "dpop.nonce_retry", endpoint = %endpoint, "retrying with the server's dpop nonce");
                let mut retry = request;
                proofs.sign(endpoint, &mut retry, &url, Some(&nonce))?;
                let response = self.execute(endpoint, retry).await?;
                proofs.remember(&url, response.headers()).await;
                Ok(response)
            }
            _ => Ok(response),
        }
    }

    /// Sends `request`; answers with status and the capped body. 5xx, 429 and
    /// 408 become [`OidcError::HttpStatus`], 3xx [`OidcError::Redirect`].
    pub(crate) async fn execute(
        &self,
        endpoint: Endpoint,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let mut request = request;
        if let Some(assertion) = &self.assertion {
            assertion.authenticate(endpoint, &mut request)?;
        }
        self.inner
            .execute(request)
            .await
            .map_err(|e| http_error(endpoint, e))
    }

    /// `GET url` expecting status 200; answers the capped body.
    pub(crate) async fn get_body(
        &self,
        endpoint: Endpoint,
        url: &Url,
        bearer: Option<&str>,
    ) -> Result<Vec<u8>, OidcError> {
        let response = self.get(endpoint, url, bearer).await?;
        if response.status() != http::StatusCode::OK {
            return Err(error_from_status(endpoint, url, &response));
        }
        Ok(response.into_body())
    }

    /// `GET url`, with `bearer` as a `Bearer` token; answers the raw response.
    pub(crate) async fn get(
        &self,
        endpoint: Endpoint,
        url: &Url,
        bearer: Option<&str>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
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
        self.execute(endpoint, request).await
    }

    /// `POST url` with a form body; answers the raw response.
    pub(crate) async fn post_form(
        &self,
        endpoint: Endpoint,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        self.post_form_with(endpoint, url, form, basic, None).await
    }

    /// [`post_form`](Self::post_form) with DPoP proofs when `proofs` is given.
    pub(crate) async fn post_form_with(
        &self,
        endpoint: Endpoint,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        proofs: Option<&Proofs>,
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
        self.execute_with(endpoint, request, proofs).await
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
            let response = self
                .http
                .execute_with(self.endpoint, request, self.proofs.as_ref())
                .await?;
            let status = response.status();
            if status.is_client_error() && oauth_error_body(response.body()).is_none() {
                return Err(OidcError::HttpStatus {
                    endpoint: self.endpoint,
                    url,
                    status: status.as_u16(),
                    retry_after: self.http.inner.retry_after(response.headers()),
                });
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests;
