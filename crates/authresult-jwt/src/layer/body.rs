//! [`JsonBodyAuthLayer`]: [`BearerAuthLayer`](crate::BearerAuthLayer) for
//! routes whose app is named in the JSON body (DataCollect's
//! `POST /api/sync/push` `{events, configId}`), at a small, bounded cost to
//! an unauthenticated client.
//!
//! In order: the `Authorization` header (none, bad, or a scheme no app
//! accepts: answered at once, no body read); then, when every app that
//! accepts the scheme checks it with the same chain (the sync server's own
//! `Bearer` tokens), the token, before any body is read; only when the
//! chain depends on the app is the body read unauthenticated, under a
//! bound on such requests at once (over it: 503 at once), with a small cap
//! and a short time limit. The body is scanned for its top-level member as
//! it arrives ([`MemberScan`]), no further than the end of the top-level
//! object, and handed on whole (what was read, then the rest).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::{BearerAuthLayer, Choice, LayerConfig, Rejection, header::credentials};
use crate::json_member::{MemberScan, Scan};
use crate::schemes::{AppAuth, AppId};

/// DataCollect's name of the body member naming the app.
const CONFIG_ID: &str = "configId";

/// How [`BearerAuthLayer::json_body_app`] reads the body member that names
/// the app, and what it lets an unauthenticated client cost.
#[derive(Debug, Clone)]
pub struct JsonBodyApp {
    member: String,
    max_bytes: usize,
    timeout: Duration,
    unauthenticated_max_bytes: usize,
    unauthenticated_timeout: Duration,
    max_unauthenticated: usize,
}

impl JsonBodyApp {
    /// DataCollect's `configId`, with the defaults of [`member`](Self::member).
    pub fn config_id() -> Self {
        JsonBodyApp::member(CONFIG_ID)
    }

    /// The top-level string member `name` of the JSON body. Defaults: after
    /// the token is accepted from the header, up to 1 MiB read within
    /// 30 s; before (a scheme whose check depends on the app), up to
    /// 100 KiB (the body limit of DataCollect's server) within 5 s, and at
    /// most 64 such requests at once.
    pub fn member(name: impl Into<String>) -> Self {
        JsonBodyApp {
            member: name.into(),
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(30),
            unauthenticated_max_bytes: 100 * 1024,
            unauthenticated_timeout: Duration::from_secs(5),
            max_unauthenticated: 64,
        }
    }

    /// The most bytes read to find the member once the client is
    /// authenticated (more: 413).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long an authenticated client may take to send the part of the
    /// body the scan needs (longer: 408).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most bytes read before the client is authenticated (more: 413).
    pub fn unauthenticated_max_bytes(mut self, bytes: usize) -> Self {
        self.unauthenticated_max_bytes = bytes;
        self
    }

    /// How long a client not yet authenticated may take to send the part of
    /// the body the scan needs (longer: 408).
    pub fn unauthenticated_timeout(mut self, timeout: Duration) -> Self {
        self.unauthenticated_timeout = timeout;
        self
    }

    /// How many bodies are read at once before their client is
    /// authenticated; a request over the bound gets 503 with
    /// `Retry-After` at once.
    pub fn max_unauthenticated(mut self, requests: usize) -> Self {
        self.max_unauthenticated = requests;
        self
    }
}

/// How a scheme's tokens are checked across the apps.
#[derive(Debug, Clone)]
enum SchemeRoute {
    /// Every app accepting the scheme checks it with the same chain: this
    /// app's (the token is checked before the body is read).
    Header(AppAuth),
    /// The chain depends on the app: the body names it first.
    PerApp,
}

struct BodyConfig {
    auth: Arc<LayerConfig>,
    limits: JsonBodyApp,
    /// By lower-cased scheme; `None` when the layer has one app.
    routes: Option<HashMap<String, SchemeRoute>>,
    /// Every scheme an app accepts, for the challenge of a request without
    /// usable credentials.
    schemes: Vec<String>,
    unauthenticated: Arc<Semaphore>,
}

/// A [`BearerAuthLayer`] that finds the app in the JSON body: made by
/// [`BearerAuthLayer::json_body_app`]. Its service hands the inner service
/// the request with a [`PrefixedBody`] (what was read, then the rest), which
/// an axum route takes as it takes any body.
///
/// Besides the answers of [`BearerAuthLayer`]: 400 for a body that is not
/// JSON, or whose member is not a string, is given twice, or is longer than
/// 256 bytes; 413 past the cap; 408 past the time limit; 503 with
/// `Retry-After: 1` when the bound on unauthenticated reads is reached.
#[derive(Clone)]
pub struct JsonBodyAuthLayer {
    config: Arc<BodyConfig>,
}

impl fmt::Debug for JsonBodyAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonBodyAuthLayer")
            .field("limits", &self.config.limits)
            .field("schemes", &self.config.schemes)
            .finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// Finds the request's app in the JSON body's top-level member (see
    /// [`JsonBodyApp`]) before the app selector's own sources, reading the
    /// body only as far as needed and, where the scheme allows, only once
    /// the token is accepted. Apply it to the routes that carry the app in
    /// their body, and this layer as is to the others.
    pub fn json_body_app(self, limits: JsonBodyApp) -> JsonBodyAuthLayer {
        let (routes, schemes) = match &self.config.validator {
            Choice::Apps { apps, .. } => {
                let (routes, schemes) = scheme_routes(apps.values());
                (Some(routes), schemes)
            }
            Choice::Fixed(app) => (None, app.schemes().map(str::to_owned).collect()),
            Choice::PerRequest(_) => (None, vec![super::BEARER.to_owned()]),
        };
        let unauthenticated = Arc::new(Semaphore::new(limits.max_unauthenticated));
        JsonBodyAuthLayer {
            config: Arc::new(BodyConfig {
                auth: self.config,
                limits,
                routes,
                schemes,
                unauthenticated,
            }),
        }
    }
}

/// Each scheme's route, and every scheme (sorted, case-insensitively
/// distinct).
fn scheme_routes<'a>(
    apps: impl Iterator<Item = &'a AppAuth> + Clone,
) -> (HashMap<String, SchemeRoute>, Vec<String>) {
    let mut routes: HashMap<String, SchemeRoute> = HashMap::new();
    let mut schemes: Vec<String> = Vec::new();
    for app in apps {
        for scheme in app.schemes() {
            let key = scheme.to_ascii_lowercase();
            match routes.get(&key) {
                None => {
                    schemes.push(scheme.to_owned());
                    routes.insert(key, SchemeRoute::Header(app.clone()));
                }
                Some(SchemeRoute::Header(first)) if !first.same_chain(app, scheme) => {
                    routes.insert(key, SchemeRoute::PerApp);
                }
                Some(_) => {}
            }
        }
    }
    schemes.sort_by_key(|s| s.to_ascii_lowercase());
    (routes, schemes)
}

impl<S> Layer<S> for JsonBodyAuthLayer {
    type Service = JsonBodyAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JsonBodyAuth {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`JsonBodyAuthLayer`].
#[derive(Clone)]
pub struct JsonBodyAuth<S> {
    inner: S,
    config: Arc<BodyConfig>,
}

impl<S: fmt::Debug> fmt::Debug for JsonBodyAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonBodyAuth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for JsonBodyAuth<S>
where
    S: Service<Request<PrefixedBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let config = self.config.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match config.admit(&mut parts, body).await {
                Ok((token, body)) => {
                    parts.extensions.insert(token);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(config.auth.respond(rejection)),
            }
        })
    }
}

/// How far a body read for its member went.
enum Read {
    Found(Option<AppId>),
    Refused(Rejection),
}

impl BodyConfig {
    /// Authenticates the request, reading its body as far as the app needs.
    async fn admit<B: Body<Data = Bytes> + Send + 'static>(
        &self,
        parts: &mut http::request::Parts,
        body: B,
    ) -> Result<(crate::ValidatedToken, PrefixedBody<B>), Rejection> {
        let mut body = PrefixedBody::new(body);
        if let Some(routes) = &self.routes {
            let (scheme, token) = match credentials(&parts.headers)? {
                Some(c) => (c.scheme.to_owned(), c.token.to_owned()),
                None => return Err(Rejection::Missing(self.schemes.clone())),
            };
            // A DPoP proof is checked once, by `authorize` below (its `jti`
            // is then used): the body is read as for an unauthenticated
            // request first.
            let dpop = self.auth.dpop.is_some()
                && (scheme.eq_ignore_ascii_case(super::dpop::DPOP_SCHEME)
                    || parts.headers.contains_key(super::dpop::DPOP));
            let route = if dpop {
                Some(&SchemeRoute::PerApp)
            } else {
                routes.get(&scheme.to_ascii_lowercase())
            };
            let read = match route {
                None => return Err(Rejection::Missing(self.schemes.clone())),
                Some(SchemeRoute::Header(app)) => {
                    app.validate(&scheme, &token).await.map_err(|error| {
                        if error.is_transient() {
                            Rejection::Unavailable
                        } else {
                            let scheme = app.find_scheme(&scheme).unwrap_or(&scheme).to_owned();
                            Rejection::Invalid(scheme, Some(error.kind()))
                        }
                    })?;
                    let limits = (self.limits.max_bytes, self.limits.timeout);
                    self.read(parts, &mut body, limits).await
                }
                Some(SchemeRoute::PerApp) => {
                    let Ok(_permit) = self.unauthenticated.clone().try_acquire_owned() else {
                        return Err(Rejection::Busy);
                    };
                    let limits = (
                        self.limits.unauthenticated_max_bytes,
                        self.limits.unauthenticated_timeout,
                    );
                    self.read(parts, &mut body, limits).await
                }
            };
            match read {
                Read::Found(Some(id)) => {
                    parts.extensions.insert(id);
                }
                Read::Found(None) => {}
                Read::Refused(rejection) => return Err(rejection),
            }
        }
        let token = self.auth.authorize(parts).await?;
        Ok((token, body))
    }

    /// Reads `body` until the scan for the member decides, within
    /// `(cap, time limit)`.
    async fn read<B: Body<Data = Bytes>>(
        &self,
        parts: &http::request::Parts,
        body: &mut PrefixedBody<B>,
        (cap, limit): (usize, Duration),
    ) -> Read {
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > cap as u64) {
            return Read::Refused(Rejection::Body(StatusCode::PAYLOAD_TOO_LARGE));
        }
        let mut scan = MemberScan::new(&self.limits.member);
        match tokio::time::timeout(limit, body.read_prefix(&mut scan, cap)).await {
            Err(_) => Read::Refused(Rejection::Body(StatusCode::REQUEST_TIMEOUT)),
            Ok(Err(status)) => Read::Refused(Rejection::Body(status)),
            Ok(Ok(Ok(found))) => Read::Found(found.map(AppId)),
            Ok(Ok(Err(_))) => Read::Refused(Rejection::Body(StatusCode::BAD_REQUEST)),
        }
    }
}

/// The request body handed on by [`JsonBodyAuth`]: the frames read to find
/// the app, then the rest of the client's body.
pub struct PrefixedBody<B> {
    read: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Pin<Box<B>>>,
}

impl<B> fmt::Debug for PrefixedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixedBody")
            .field("read", &self.read.iter().map(Bytes::len).sum::<usize>())
            .field("ended", &self.rest.is_none())
            .finish()
    }
}

impl<B: Body<Data = Bytes>> PrefixedBody<B> {
    fn new(body: B) -> Self {
        PrefixedBody {
            read: VecDeque::new(),
            trailers: None,
            rest: Some(Box::pin(body)),
        }
    }

    /// Reads frames into the prefix, feeding `scan`, until it decides or the
    /// body ends; `Err` with the status to answer when the body is longer
    /// than `cap` before the scan decides, or breaks off.
    async fn read_prefix(
        &mut self,
        scan: &mut MemberScan,
        cap: usize,
    ) -> Result<Result<Option<String>, crate::json_member::ScanError>, StatusCode> {
        let mut seen = 0usize;
        loop {
            let Some(rest) = self.rest.as_mut() else {
                return Ok(scan.finish());
            };
            let frame = poll_fn(|cx| rest.as_mut().poll_frame(cx)).await;
            let frame = match frame {
                None => {
                    self.rest = None;
                    return Ok(scan.finish());
                }
                Some(Err(_)) => return Err(StatusCode::BAD_REQUEST),
                Some(Ok(frame)) => frame,
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    // Trailers end the body.
                    self.trailers = frame.into_trailers().ok();
                    self.rest = None;
                    return Ok(scan.finish());
                }
            };
            let room = cap.saturating_sub(seen);
            let used = data.len().min(room);
            let (_, progress) = scan.feed(&data[..used]);
            seen += used;
            let over = used < data.len();
            self.read.push_back(data);
            match progress {
                Scan::Done(answer) => return Ok(answer),
                // Past the cap before the scan decided.
                Scan::More if over => return Err(StatusCode::PAYLOAD_TOO_LARGE),
                Scan::More => {}
            }
        }
    }
}

impl<B: Body<Data = Bytes>> Body for PrefixedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(data) = this.read.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match this.rest.as_mut() {
            Some(rest) => rest.as_mut().poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self.read.iter().map(|b| b.len() as u64).sum();
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |r| r.size_hint());
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(read));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint
    }
}
