//! How [`BearerAuthLayer`](crate::BearerAuthLayer) picks a request's app
//! ([`AppSelector`]) and asks the application's authorizer
//! ([`AccessDecision`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;

use crate::claims::ValidatedToken;
use crate::schemes::AppId;

/// DataCollect's name of the app parameter.
const CONFIG_ID: &str = "configId";
/// DataCollect's app when a request names none.
const DEFAULT_APP: &str = "default";

/// How the layer finds the app a request is for.
///
/// In order: an [`AppId`] the application put in the request extensions
/// (read from a body it buffered, with [`AppId::from_json_body`]); then the
/// selector's own source (a query parameter, or a function of the request);
/// then the [default app](Self::default_app), if any. A query parameter
/// given twice is refused (400) rather than guessed.
#[derive(Clone)]
pub struct AppSelector {
    source: Source,
    default: Option<String>,
}

type Pick = dyn Fn(&Parts) -> Option<String> + Send + Sync;

#[derive(Clone)]
enum Source {
    Query(String),
    Custom(Arc<Pick>),
}

impl fmt::Debug for AppSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source: &dyn fmt::Debug = match &self.source {
            Source::Query(name) => name,
            Source::Custom(_) => &"(custom)",
        };
        f.debug_struct("AppSelector")
            .field("source", source)
            .field("default", &self.default)
            .finish()
    }
}

/// What the selector found.
pub(super) enum Selection {
    App(AppId),
    /// The parameter is given more than once.
    Ambiguous,
    None,
}

impl AppSelector {
    /// DataCollect's choice: the body's `configId` (an [`AppId`] in the
    /// extensions), else the query's `configId`, else the app `default`.
    pub fn config_id() -> Self {
        AppSelector::query(CONFIG_ID).default_app(Some(DEFAULT_APP))
    }

    /// The query parameter `name` (percent-decoded); no default app.
    pub fn query(name: impl Into<String>) -> Self {
        AppSelector {
            source: Source::Query(name.into()),
            default: None,
        }
    }

    /// The app `select` names for the request (e.g. by host or path); no
    /// default app.
    pub fn custom(select: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        AppSelector {
            source: Source::Custom(Arc::new(select)),
            default: None,
        }
    }

    /// The app of requests that name none (`None`: such requests get 400).
    pub fn default_app(mut self, app: Option<impl Into<String>>) -> Self {
        self.default = app.map(Into::into);
        self
    }

    pub(super) fn select(&self, parts: &Parts) -> Selection {
        if let Some(id) = parts.extensions.get::<AppId>() {
            return Selection::App(id.clone());
        }
        let found = match &self.source {
            Source::Query(name) => {
                let mut values = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .filter(|(key, _)| key == name.as_str())
                    .map(|(_, value)| value.into_owned());
                let first = values.next();
                if values.next().is_some() {
                    return Selection::Ambiguous;
                }
                first.filter(|value| !value.is_empty())
            }
            Source::Custom(select) => select(parts),
        };
        match found.or_else(|| self.default.clone()) {
            Some(id) => Selection::App(AppId(id)),
            None => Selection::None,
        }
    }
}

/// The application's answer to [`BearerAuthLayer::authorize`](crate::BearerAuthLayer::authorize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessDecision {
    /// The request goes on to the service.
    Allow,
    /// 403: the user is known but may not do this (e.g. not an admin).
    Deny,
    /// 503 with `Retry-After`: the decision could not be made now (its
    /// database is down); the client keeps its session and retries.
    Unavailable,
}

type Decide =
    dyn Fn(&ValidatedToken, &Parts) -> Pin<Box<dyn Future<Output = AccessDecision> + Send>> + Send + Sync;

/// The boxed authorizer hook.
#[derive(Clone)]
pub(super) struct Authorizer(Arc<Decide>);

impl Authorizer {
    pub(super) fn new<F, Fut>(authorize: F) -> Self
    where
        F: Fn(&ValidatedToken, &Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AccessDecision> + Send + 'static,
    {
        Authorizer(Arc::new(move |token, parts| Box::pin(authorize(token, parts))))
    }

    pub(super) async fn decide(&self, token: &ValidatedToken, parts: &Parts) -> AccessDecision {
        (self.0)(token, parts).await
    }
}
