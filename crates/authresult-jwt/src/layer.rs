//! [`BearerAuthLayer`]: a `tower::Layer` that validates `Authorization:
//! Bearer` tokens and answers RFC 6750 challenges.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use super::claims::ValidatedToken;
use super::error::ValidationErrorKind;
use super::validator::TokenValidator;

type Selector = dyn Fn(&Parts) -> Option<TokenValidator> + Send + Sync;

/// Protects a tower (or axum) service with a [`TokenValidator`].
///
/// For every request it reads `Authorization: Bearer <token>`, validates the
/// token, checks the required scopes and roles, and puts the
/// [`ValidatedToken`] in the request extensions (read it in axum with
/// `Extension<ValidatedToken>`). Otherwise it answers itself, with an empty
/// body:
///
/// | situation                                   | status | `WWW-Authenticate`                          |
/// |---------------------------------------------|--------|---------------------------------------------|
/// | no `Authorization: Bearer` header           | 401    | `Bearer`                                    |
/// | several `Authorization` headers, bad syntax | 400    | `Bearer error="invalid_request"`            |
/// | the token is refused                        | 401    | `Bearer error="invalid_token"`              |
/// | a required scope or role is missing         | 403    | `Bearer error="insufficient_scope"`         |
/// | the provider is unreachable (opaque tokens, key fetch) | 503 | none (`Retry-After: 5`)          |
///
/// Requirements are all-of. Apply differently configured layers to
/// different routes for per-route rules, or pick the validator per request
/// with [`BearerAuthLayer::per_request`].
#[derive(Clone)]
pub struct BearerAuthLayer {
    config: Arc<LayerConfig>,
}

#[derive(Clone)]
struct LayerConfig {
    validator: Choice,
    requirements: Vec<Requirement>,
    realm: Option<String>,
}

#[derive(Clone)]
enum Choice {
    Fixed(TokenValidator),
    PerRequest(Arc<Selector>),
}

#[derive(Debug, Clone)]
enum Requirement {
    Scope(String),
    RealmRole(String),
    ClientRole { client: String, role: String },
    Permission(String),
}

impl Requirement {
    fn met_by(&self, token: &ValidatedToken) -> bool {
        match self {
            Requirement::Scope(scope) => token.has_scope(scope),
            Requirement::RealmRole(role) => token.has_realm_role(role),
            Requirement::ClientRole { client, role } => token.has_client_role(client, role),
            Requirement::Permission(permission) => token.has_permission(permission),
        }
    }
}

impl fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validator: &dyn fmt::Debug = match &self.config.validator {
            Choice::Fixed(v) => v,
            Choice::PerRequest(_) => &"(chosen per request)",
        };
        f.debug_struct("BearerAuthLayer")
            .field("validator", validator)
            .field("requirements", &self.config.requirements)
            .field("realm", &self.config.realm)
            .finish()
    }
}

impl BearerAuthLayer {
    /// Validates every request's token with `validator` (which picks the
    /// issuer by the token's `iss`).
    pub fn new(validator: TokenValidator) -> Self {
        Self::with_choice(Choice::Fixed(validator))
    }

    /// Picks the validator per request, e.g. by tenant in the path or host;
    /// `None` refuses the request as `invalid_token`.
    pub fn per_request(select: impl Fn(&Parts) -> Option<TokenValidator> + Send + Sync + 'static) -> Self {
        Self::with_choice(Choice::PerRequest(Arc::new(select)))
    }

    fn with_choice(validator: Choice) -> Self {
        BearerAuthLayer {
            config: Arc::new(LayerConfig {
                validator,
                requirements: Vec::new(),
                realm: None,
            }),
        }
    }

    fn require(mut self, requirement: Requirement) -> Self {
        Arc::make_mut(&mut self.config).requirements.push(requirement);
        self
    }

    /// Requires this scope (`scope` / `scp`).
    pub fn require_scope(self, scope: impl Into<String>) -> Self {
        self.require(Requirement::Scope(scope.into()))
    }

    /// Requires this Keycloak realm role (`realm_access.roles`).
    pub fn require_realm_role(self, role: impl Into<String>) -> Self {
        self.require(Requirement::RealmRole(role.into()))
    }

    /// Requires this Keycloak client role (`resource_access.<client>.roles`).
    pub fn require_client_role(self, client: impl Into<String>, role: impl Into<String>) -> Self {
        self.require(Requirement::ClientRole {
            client: client.into(),
            role: role.into(),
        })
    }

    /// Requires this Auth0 RBAC permission (`permissions`).
    pub fn require_permission(self, permission: impl Into<String>) -> Self {
        self.require(Requirement::Permission(permission.into()))
    }

    /// The `realm` named in challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.config).realm = Some(realm.into());
        self
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`BearerAuthLayer`].
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    config: Arc<LayerConfig>,
}

impl<S: fmt::Debug> fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready handles this request; a fresh
        // clone stays behind for the next one.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let config = self.config.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match config.authorize(&parts).await {
                Ok(token) => {
                    parts.extensions.insert(token);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(config.respond(rejection)),
            }
        })
    }
}

enum Rejection {
    /// No bearer credentials at all.
    Missing,
    /// The `Authorization` header is unusable.
    BadRequest,
    /// The token was refused.
    Invalid(Option<ValidationErrorKind>),
    /// The provider could not be asked.
    Unavailable,
    /// Valid token, missing scopes or roles.
    Insufficient(Vec<String>),
}

impl LayerConfig {
    async fn authorize(&self, parts: &Parts) -> Result<ValidatedToken, Rejection> {
        let token = bearer_token(&parts.headers)?;
        let validator = match &self.validator {
            Choice::Fixed(validator) => validator.clone(),
            Choice::PerRequest(select) => select(parts).ok_or(Rejection::Invalid(None))?,
        };
        let validated = validator.validate(token).await.map_err(|error| {
            if error.is_transient() {
                Rejection::Unavailable
            } else {
                Rejection::Invalid(Some(error.kind()))
            }
        })?;
        let unmet: Vec<&Requirement> = self
            .requirements
            .iter()
            .filter(|r| !r.met_by(&validated))
            .collect();
        if unmet.is_empty() {
            Ok(validated)
        } else {
            let scopes = unmet
                .iter()
                .filter_map(|r| match r {
                    Requirement::Scope(scope) => Some(scope.clone()),
                    _ => None,
                })
                .collect();
            Err(Rejection::Insufficient(scopes))
        }
    }

    fn respond<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let mut challenge = String::from("Bearer");
        let mut params: Vec<String> = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(format!("realm=\"{}\"", quoted(realm)));
        }
        let status = match &rejection {
            Rejection::Missing => StatusCode::UNAUTHORIZED,
            Rejection::BadRequest => {
                params.push("error=\"invalid_request\"".into());
                StatusCode::BAD_REQUEST
            }
            Rejection::Invalid(kind) => {
                params.push("error=\"invalid_token\"".into());
                if *kind == Some(ValidationErrorKind::Expired) {
                    params.push("error_description=\"the access token expired\"".into());
                }
                StatusCode::UNAUTHORIZED
            }
            Rejection::Insufficient(scopes) => {
                params.push("error=\"insufficient_scope\"".into());
                if !scopes.is_empty() {
                    params.push(format!("scope=\"{}\"", quoted(&scopes.join(" "))));
                }
                StatusCode::FORBIDDEN
            }
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        if !params.is_empty() {
            challenge.push(' ');
            challenge.push_str(&params.join(", "));
        }
        let mut response = Response::new(B::default());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if matches!(rejection, Rejection::Unavailable) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        } else {
            let value =
                HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(WWW_AUTHENTICATE, value);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The token of the one `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Rejection::Missing)?;
    if values.next().is_some() {
        return Err(Rejection::BadRequest);
    }
    let value = value.to_str().map_err(|_| Rejection::BadRequest)?;
    let (scheme, rest) = value.split_once(' ').ok_or(Rejection::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Missing);
    }
    let token = rest.trim_start_matches(' ').trim_end();
    // RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let b64token = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'));
    if b64token {
        Ok(token)
    } else {
        Err(Rejection::BadRequest)
    }
}

/// `text` made safe inside a quoted-string: printable ASCII without `"` and `\`.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
        .collect()
}
