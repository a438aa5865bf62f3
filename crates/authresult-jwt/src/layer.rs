//! [`BearerAuthLayer`]: a `tower::Layer` that validates `Authorization`
//! tokens (`Bearer` or the app's configured schemes), picks the app, runs the
//! application's authorizer and answers RFC 6750 challenges.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use super::claims::ValidatedToken;
use super::dpop::DpopRequest;
use super::error::{ValidationError, ValidationErrorKind};
use super::schemes::{AppAuth, AppId, TokenCheck};
use super::validator::TokenValidator;
use dpop::{DPOP_SCHEME, DpopLayer};

mod body;
mod dpop;
mod future;
mod header;
mod select;

pub use body::{JsonBodyApp, JsonBodyAuth, JsonBodyAuthLayer, PrefixedBody};
pub use future::BearerAuthFuture;
use header::{credentials, raw_credentials};
pub use select::{AccessDecision, AppSelector};
use select::{Authorizer, Selection};

type Selector = dyn Fn(&Parts) -> Option<TokenValidator> + Send + Sync;

/// Protects a tower (or axum) service with a [`TokenValidator`], or with
/// each app's [`AppAuth`] (its `Authorization` schemes and their fallback
/// chains, as DataCollect's sync server accepts them).
///
/// For every request it reads `Authorization: <scheme> <token>` (`Bearer`
/// unless the app configures other schemes, matched case-insensitively),
/// picks the app ([`BearerAuthLayer::for_apps`]), validates the token,
/// checks the required scopes and roles, asks the application's
/// [authorizer](BearerAuthLayer::authorize), and puts the [`ValidatedToken`]
/// (and the [`AppId`](crate::AppId), when apps are configured) in the request extensions
/// (read it in axum with `Extension<ValidatedToken>`). Otherwise it answers
/// itself, with an empty body:
///
/// | situation                                   | status | `WWW-Authenticate`                          |
/// |---------------------------------------------|--------|---------------------------------------------|
/// | no `Authorization` header, or a scheme the app does not accept | 401 | one challenge per accepted scheme, e.g. `Bearer, keycloak` |
/// | several `Authorization` headers, bad syntax | 400    | `Bearer error="invalid_request"`            |
/// | credentials, but the request names no configured app | 400 | none                               |
/// | the token is refused                        | 401    | `<scheme> error="invalid_token"`            |
/// | a required scope or role is missing         | 403    | `<scheme> error="insufficient_scope"`       |
/// | the authorizer refuses ([`AccessDecision::Deny`]) | 403 | none                                   |
/// | the provider (or the authorizer) is unreachable | 503 | none (`Retry-After: 5`)                   |
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
    authorizer: Option<Authorizer>,
    dpop: Option<DpopLayer>,
}

#[derive(Clone)]
enum Choice {
    /// One app (a validator is the app accepting `Bearer` only).
    Fixed(AppAuth),
    PerRequest(Arc<Selector>),
    Apps {
        apps: Arc<HashMap<String, AppAuth>>,
        select: AppSelector,
    },
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
            Choice::Apps { apps, .. } => apps,
        };
        f.debug_struct("BearerAuthLayer")
            .field("validator", validator)
            .field("requirements", &self.config.requirements)
            .field("realm", &self.config.realm)
            .field("authorizer", &self.config.authorizer.is_some())
            .finish()
    }
}

/// The scheme of [`BearerAuthLayer::new`] and [`BearerAuthLayer::per_request`].
const BEARER: &str = "Bearer";

impl BearerAuthLayer {
    /// Validates every request's `Bearer` token with `validator` (which
    /// picks the issuer by the token's `iss`).
    pub fn new(validator: TokenValidator) -> Self {
        Self::with_choice(Choice::Fixed(
            AppAuth::new().scheme(BEARER, [TokenCheck::Issuers(validator)]),
        ))
    }

    /// Validates every request with one app's schemes and fallback chains.
    pub fn for_app(app: AppAuth) -> Self {
        Self::with_choice(Choice::Fixed(app))
    }

    /// Picks the app of each request with `select` (DataCollect's
    /// `configId`: [`AppSelector::config_id`]) among `apps`, by name, and
    /// validates with that app's schemes. A request that names no
    /// configured app gets 400.
    pub fn for_apps(apps: impl IntoIterator<Item = (String, AppAuth)>, select: AppSelector) -> Self {
        Self::with_choice(Choice::Apps {
            apps: Arc::new(apps.into_iter().collect()),
            select,
        })
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
                authorizer: None,
                dpop: None,
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

    /// After the token is valid and the requirements are met, asks
    /// `authorize` (e.g. for the user's role in the application's own
    /// database, as DataCollect decides its admins): [`AccessDecision::Deny`]
    /// answers 403, [`AccessDecision::Unavailable`] 503. The request's
    /// [`AppId`](crate::AppId), when apps are configured, is in `parts.extensions`. The
    /// function reads what it needs from its arguments and returns a future
    /// that owns its data.
    pub fn authorize<F, Fut>(mut self, authorize: F) -> Self
    where
        F: Fn(&ValidatedToken, &Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AccessDecision> + Send + 'static,
    {
        Arc::make_mut(&mut self.config).authorizer = Some(Authorizer::new(authorize));
        self
    }

    /// Accepts DPoP (RFC 9449) requests too: `Authorization: DPoP <token>`
    /// with one `DPoP` proof header (scheme `DPoP` uses the app's `DPoP`
    /// chain, else its `Bearer` chain), and DataCollect's provider schemes
    /// (`keycloak <token>`, `auth0 <token>`) with a `DPoP` header. Each
    /// proof is checked by the validator's [`DpopConfig`](crate::DpopConfig)
    /// ([`TokenValidator::validate_dpop`]) against the request's method and
    /// `public_origin` + its path: the URL clients use (scheme, host, port,
    /// and a path prefix a proxy strips). The `Host` and `X-Forwarded-*`
    /// headers are not trusted.
    ///
    /// Refusals: 401 `WWW-Authenticate: DPoP error="invalid_dpop_proof",
    /// algs="..."`; without the server's current nonce, 401
    /// `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header; a bound
    /// token sent as `Bearer` is `invalid_token`. Requests with neither
    /// keep the fast path of bearer tokens.
    pub fn dpop(mut self, public_origin: url::Url) -> Self {
        let mut algorithms = Vec::new();
        for check in self.config.checks() {
            if let TokenCheck::Issuers(validator) = check {
                for alg in validator.dpop_config().accepted_algorithms() {
                    if !algorithms.contains(alg) {
                        algorithms.push(*alg);
                    }
                }
            }
        }
        Arc::make_mut(&mut self.config).dpop = Some(DpopLayer::new(&public_origin, &algorithms));
        self
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
    type Future = BearerAuthFuture<S::Future, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // One app: no need to take the request apart for its selection.
        if let Choice::Fixed(app) = &self.config.validator
            && let Some(token) = self.config.accept_now(app, request.headers())
        {
            request.extensions_mut().insert(token);
            return BearerAuthFuture::inner(self.inner.call(request));
        }
        let (mut parts, body) = request.into_parts();
        // A token answered at once goes straight on, without a boxed future:
        // the inner service, polled ready, is called now, so it needs no
        // clone.
        if let Some(token) = self.config.authorize_now(&mut parts) {
            parts.extensions.insert(token);
            return BearerAuthFuture::inner(self.inner.call(Request::from_parts(parts, body)));
        }
        // The service that was polled ready handles this request later; a
        // fresh clone stays behind for the next one.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let config = self.config.clone();
        BearerAuthFuture::waiting(async move {
            match config.authorize(&mut parts).await {
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
    /// No credentials in a scheme the app accepts.
    Missing(Vec<String>),
    /// The `Authorization` header is unusable.
    BadRequest,
    /// The request names no configured app.
    UnknownApp,
    /// The token was refused.
    Invalid(String, Option<ValidationErrorKind>),
    /// The DPoP proof lacks the server's current nonce (given here).
    DpopNonce(String),
    /// The provider (or the authorizer's store) could not be asked.
    Unavailable,
    /// Valid token, missing scopes or roles.
    Insufficient(String, Vec<String>),
    /// The authorizer refused.
    Denied,
    /// Too many requests are being read before authentication.
    Busy,
    /// The body cannot be read for its app (bad JSON, too large, too slow).
    Body(StatusCode),
}

impl LayerConfig {
    /// Every check of the configured apps (none for a per-request choice).
    fn checks(&self) -> Vec<&TokenCheck> {
        match &self.validator {
            Choice::Fixed(app) => app.checks().collect(),
            Choice::Apps { apps, .. } => apps.values().flat_map(AppAuth::checks).collect(),
            Choice::PerRequest(_) => Vec::new(),
        }
    }

    /// The request's app (and the id to put in the extensions), or why
    /// there is none.
    /// A configured app is borrowed, not cloned: no shared counter is
    /// touched per request.
    fn pick_app(
        &self,
        parts: &Parts,
        has_credentials: bool,
    ) -> Result<(Cow<'_, AppAuth>, Option<AppId>), Rejection> {
        match &self.validator {
            Choice::Fixed(app) => Ok((Cow::Borrowed(app), None)),
            Choice::PerRequest(select) => match select(parts) {
                Some(validator) => Ok((
                    Cow::Owned(AppAuth::new().scheme(BEARER, [TokenCheck::Issuers(validator)])),
                    None,
                )),
                None => Err(Rejection::Invalid(BEARER.to_owned(), None)),
            },
            Choice::Apps { apps, select } => {
                let found = match select.select(parts) {
                    Selection::App(id) => apps.get(id.as_str()).map(|app| (Cow::Borrowed(app), Some(id))),
                    Selection::Ambiguous => return Err(Rejection::BadRequest),
                    Selection::None => None,
                };
                // Without credentials the answer is 401 whatever the app,
                // as DataCollect's.
                found.ok_or_else(|| {
                    if has_credentials {
                        Rejection::UnknownApp
                    } else {
                        Rejection::Missing(vec![BEARER.to_owned()])
                    }
                })
            }
        }
    }

    /// The token, when the request can be let through without waiting: no
    /// authorizer, and the app's chain accepts the token at once
    /// ([`AppAuth::validate_now`]) with every requirement met. `None` sends
    /// the request down [`authorize`](Self::authorize), which gives the same
    /// answer for every request this accepts, and the full answer otherwise.
    fn authorize_now(&self, parts: &mut Parts) -> Option<ValidatedToken> {
        let (app, id) = self.pick_app(parts, true).ok()?;
        let token = self.accept_now(&app, &parts.headers)?;
        if let Some(id) = id {
            parts.extensions.insert(id);
        }
        Some(token)
    }

    /// [`authorize_now`](Self::authorize_now) once the app is known.
    fn accept_now(&self, app: &AppAuth, headers: &HeaderMap) -> Option<ValidatedToken> {
        if self.authorizer.is_some() {
            return None;
        }
        // The token's characters are not checked here: only a cache hit
        // (which holds checked text) or a sync-server token (checked by
        // `validate_now`) is let through.
        let credentials = raw_credentials(headers)?;
        // A DPoP request always checks its proof: never from the cache alone.
        if self.dpop.is_some()
            && (credentials.scheme.eq_ignore_ascii_case(DPOP_SCHEME) || headers.contains_key(dpop::DPOP))
        {
            return None;
        }
        let token = app.validate_now(credentials.scheme, credentials.token)?;
        self.requirements
            .iter()
            .all(|r| r.met_by(&token))
            .then_some(token)
    }

    async fn authorize(&self, parts: &mut Parts) -> Result<ValidatedToken, Rejection> {
        let credentials = credentials(&parts.headers)?;
        let (app, id) = self.pick_app(parts, credentials.is_some())?;
        if let Some(id) = id {
            parts.extensions.insert(id);
        }
        let accepted = || app.schemes().map(str::to_owned).collect::<Vec<_>>();
        let Some(credentials) = credentials else {
            return Err(Rejection::Missing(accepted()));
        };
        let dpop_scheme = self.dpop.is_some() && credentials.scheme.eq_ignore_ascii_case(DPOP_SCHEME);
        // The chain of `DPoP`: the app's own, else its `Bearer` chain.
        let chain = match app.find_scheme(credentials.scheme) {
            Some(found) => Some(found),
            None if dpop_scheme => app.find_scheme(BEARER),
            None => None,
        };
        let Some(scheme) = chain.map(str::to_owned) else {
            return Err(Rejection::Missing(accepted()));
        };
        let reject = |error: ValidationError| match error {
            e if e.is_transient() => Rejection::Unavailable,
            ValidationError::UseDpopNonce { nonce } => Rejection::DpopNonce(nonce),
            e => Rejection::Invalid(
                if dpop_scheme {
                    DPOP_SCHEME.to_owned()
                } else {
                    scheme.clone()
                },
                Some(e.kind()),
            ),
        };
        let validated = match &self.dpop {
            Some(layer) if dpop_scheme || !scheme.eq_ignore_ascii_case(BEARER) => {
                let proof = dpop::proof(&parts.headers).map_err(reject)?;
                match proof {
                    Some(proof) => {
                        let uri = layer.uri(parts);
                        let request = DpopRequest::new(proof, parts.method.as_str(), &uri);
                        app.validate_dpop(&scheme, credentials.token, &request).await
                    }
                    None if dpop_scheme => Err(ValidationError::dpop(super::error::DpopProofReason::Missing)),
                    None => app.validate(&scheme, credentials.token).await,
                }
            }
            _ => app.validate(&scheme, credentials.token).await,
        }
        .map_err(reject)?;
        let unmet: Vec<&Requirement> = self
            .requirements
            .iter()
            .filter(|r| !r.met_by(&validated))
            .collect();
        if !unmet.is_empty() {
            let scopes = unmet
                .iter()
                .filter_map(|r| match r {
                    Requirement::Scope(scope) => Some(scope.clone()),
                    _ => None,
                })
                .collect();
            return Err(Rejection::Insufficient(scheme, scopes));
        }
        if let Some(authorizer) = &self.authorizer {
            match authorizer.decide(&validated, parts).await {
                AccessDecision::Allow => {}
                AccessDecision::Deny => return Err(Rejection::Denied),
                AccessDecision::Unavailable => return Err(Rejection::Unavailable),
            }
        }
        Ok(validated)
    }

    fn respond<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let mut params: Vec<String> = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(format!("realm=\"{}\"", quoted(realm)));
        }
        let (status, schemes) = match &rejection {
            Rejection::Missing(schemes) => {
                let mut schemes = schemes.clone();
                if self.dpop.is_some() {
                    schemes.push(DPOP_SCHEME.to_owned());
                }
                (StatusCode::UNAUTHORIZED, schemes)
            }
            Rejection::Invalid(
                _,
                Some(ValidationErrorKind::InvalidDpopProof | ValidationErrorKind::NotDpopBound),
            ) if self.dpop.is_some() => {
                params.push("error=\"invalid_dpop_proof\"".into());
                (StatusCode::UNAUTHORIZED, vec![DPOP_SCHEME.to_owned()])
            }
            Rejection::DpopNonce(_) => {
                params.push("error=\"use_dpop_nonce\"".into());
                (StatusCode::UNAUTHORIZED, vec![DPOP_SCHEME.to_owned()])
            }
            Rejection::BadRequest => {
                params.push("error=\"invalid_request\"".into());
                (StatusCode::BAD_REQUEST, vec![BEARER.to_owned()])
            }
            Rejection::Invalid(scheme, kind) => {
                params.push("error=\"invalid_token\"".into());
                if *kind == Some(ValidationErrorKind::Expired) {
                    params.push("error_description=\"the access token expired\"".into());
                }
                (StatusCode::UNAUTHORIZED, vec![scheme.clone()])
            }
            Rejection::Insufficient(scheme, scopes) => {
                params.push("error=\"insufficient_scope\"".into());
                if !scopes.is_empty() {
                    params.push(format!("scope=\"{}\"", quoted(&scopes.join(" "))));
                }
                (StatusCode::FORBIDDEN, vec![scheme.clone()])
            }
            Rejection::UnknownApp => (StatusCode::BAD_REQUEST, Vec::new()),
            Rejection::Denied => (StatusCode::FORBIDDEN, Vec::new()),
            Rejection::Unavailable | Rejection::Busy => (StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
            Rejection::Body(status) => (*status, Vec::new()),
        };
        let challenges: Vec<String> = schemes
            .iter()
            .map(|scheme| {
                let mut params = params.clone();
                if let Some(layer) = &self.dpop
                    && scheme == DPOP_SCHEME
                {
                    params.push(layer.algs.clone());
                }
                if params.is_empty() {
                    scheme.clone()
                } else {
                    format!("{scheme} {}", params.join(", "))
                }
            })
            .collect();
        let mut response = Response::new(B::default());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if matches!(rejection, Rejection::Unavailable) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        } else if matches!(rejection, Rejection::Busy) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        } else if !challenges.is_empty() {
            let value = HeaderValue::from_str(&challenges.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if let Rejection::DpopNonce(nonce) = &rejection
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert("dpop-nonce", value);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// `text` made safe inside a quoted-string: printable ASCII without `"` and `\`.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
        .collect()
}
