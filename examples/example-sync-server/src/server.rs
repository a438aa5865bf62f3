//! The sync server's routes: DataCollect's apps (`configId`) and their
//! `Authorization` schemes, `configId` read from push bodies by the layer
//! (`JsonBodyApp`), the admin check, and pull and push over the in-memory
//! event store (`events.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authresult_core::ProviderConfig;
use authresult_jwt::{
    AccessDecision, AppAuth, AppId, AppSelector, BearerAuthLayer, IssuerConfig, JsonBodyApp,
    SyncServerTokens, TokenCheck, TokenValidator, ValidatedToken,
};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{AppEvents, MAX_AT_ONE_INSTANT, Refusal, format_millis, parse_since};

/// DataCollect's app of requests that name none.
pub(crate) const DEFAULT_APP: &str = "default";

/// One DataCollect app config, as far as the server needs it.
#[derive(Debug)]
pub(crate) struct AppConfig {
    /// Its `id`: the `configId` clients send.
    pub(crate) id: String,
    /// Its OpenID providers, by their `type` (the client's header scheme).
    pub(crate) providers: Vec<(String, ProviderConfig)>,
}

impl AppConfig {
    /// Reads `{id, authConfigs: [{type, fields}], ...}`; `default` entries
    /// (the server's own login) add nothing, other members are ignored.
    pub(crate) fn from_json(text: &str) -> Result<AppConfig> {
        let doc: Value = serde_json::from_str(text).context("not JSON")?;
        let id = match doc.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => bail!("`id` must be a non-empty string"),
        };
        let mut providers = Vec::new();
        let entries = match doc.get("authConfigs") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(entries)) => entries,
            Some(_) => bail!("`authConfigs` must be an array"),
        };
        for (i, entry) in entries.iter().enumerate() {
            let config = ProviderConfig::from_json_str(&entry.to_string())
                .with_context(|| format!("authConfigs[{i}]"))?;
            if config.oidc_client().is_none() {
                continue;
            }
            let kind = entry
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            providers.push((kind, config));
        }
        Ok(AppConfig { id, providers })
    }
}

/// Everything the server is configured with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) apps: Vec<AppConfig>,
    /// Audiences every provider's tokens may also carry.
    pub(crate) audiences: Vec<String>,
    /// The server's own HS256 tokens.
    pub(crate) own: SyncServerTokens,
    /// Emails of the admins (DataCollect reads roles from its user table).
    pub(crate) admins: HashSet<String>,
    pub(crate) max_body: usize,
    /// Events stored per app; a push past it is refused (507).
    pub(crate) max_events: usize,
    /// Push bodies read at once before their client is authenticated.
    pub(crate) max_unauthenticated: usize,
    /// How long a push may take to arrive whole (its handler included).
    pub(crate) body_timeout: Duration,
    /// The URL clients use, when DPoP-bound tokens are taken with a proof.
    pub(crate) dpop_origin: Option<url::Url>,
}

/// One app's schemes: `Bearer` for the server's own tokens; each provider
/// type for its providers' tokens, then the server's own (DataCollect's
/// fallback).
fn app_auth(app: &AppConfig, audiences: &[String], own: &SyncServerTokens) -> Result<AppAuth> {
    let mut by_type: BTreeMap<&str, Vec<IssuerConfig>> = BTreeMap::new();
    for (kind, config) in &app.providers {
        let issuer = IssuerConfig::from_provider_config(config)
            .with_context(|| format!("app `{}`: a {kind} provider", app.id))?;
        let issuer = audiences.iter().fold(issuer, |c, a| c.audience(a.as_str()));
        by_type.entry(kind.as_str()).or_default().push(issuer);
    }
    let mut auth = AppAuth::new().scheme("Bearer", [TokenCheck::from(own.clone())]);
    for (kind, issuers) in by_type {
        let validator = issuers
            .into_iter()
            .fold(TokenValidator::builder(), |b, issuer| b.issuer(issuer))
            .build()
            .with_context(|| format!("app `{}`: the {kind} providers", app.id))?;
        auth = auth.scheme(kind, [validator.into(), own.clone().into()]);
    }
    Ok(auth)
}

/// Every app's events.
#[derive(Debug)]
struct Store {
    apps: Mutex<HashMap<String, AppEvents>>,
    max_events: usize,
}

type Events = Arc<Store>;

/// The server's routes.
pub(crate) fn router(settings: Settings) -> Result<Router> {
    let mut apps = vec![(
        DEFAULT_APP.to_owned(),
        AppAuth::new().scheme("Bearer", [TokenCheck::from(settings.own.clone())]),
    )];
    for app in &settings.apps {
        let auth = app_auth(app, &settings.audiences, &settings.own)?;
        apps.retain(|(id, _)| *id != app.id);
        apps.push((app.id.clone(), auth));
    }
    let sync = BearerAuthLayer::for_apps(apps, AppSelector::config_id());
    let sync = match settings.dpop_origin.clone() {
        Some(origin) => sync.dpop(origin),
        None => sync,
    };
    // Only push names its app in the body: only push reads it, and only as
    // far as `configId` (after the header's token where the scheme allows).
    let push_auth = sync.clone().json_body_app(
        JsonBodyApp::config_id()
            .max_bytes(settings.max_body)
            .timeout(settings.body_timeout)
            .max_unauthenticated(settings.max_unauthenticated),
    );
    // DataCollect's `authenticateJWT`: `Bearer` and the secret only.
    let own_only = AppAuth::new().scheme("Bearer", [TokenCheck::from(settings.own.clone())]);
    let admins = Arc::new(settings.admins);
    let admin = BearerAuthLayer::for_app(own_only.clone()).authorize(move |token: &ValidatedToken, _| {
        let email = token.claim("email").and_then(Value::as_str).map(str::to_owned);
        let allowed = email.is_some_and(|email| admins.contains(&email));
        // A real server asks its user table here, and answers
        // `Unavailable` when the database is down.
        async move {
            if allowed {
                AccessDecision::Allow
            } else {
                AccessDecision::Deny
            }
        }
    });
    let body_timeout = settings.body_timeout;
    let events: Events = Arc::new(Store {
        apps: Mutex::default(),
        max_events: settings.max_events,
    });
    Ok(Router::new()
        .route("/api/sync/pull", get(pull).layer(sync))
        .route(
            "/api/sync/push",
            post(push)
                .layer(DefaultBodyLimit::max(settings.max_body))
                .layer(from_fn(move |request: Request, next: Next| {
                    within(body_timeout, request, next)
                }))
                .route_layer(push_auth),
        )
        .route(
            "/api/users/check-token",
            get(check_token).layer(BearerAuthLayer::for_app(own_only)),
        )
        .route("/api/users/me", get(me).layer(admin))
        .route("/health", get(|| async { "ok" }))
        .with_state(events))
}

/// The rest of the request (the body past `configId`, read by the
/// handler's extractor) within `limit`, else 408: an authenticated client
/// cannot hold the connection by sending the rest slowly.
async fn within(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// A refusal as JSON (`{"error": ...}`, as DataCollect's server answers).
fn refused(refusal: Refusal) -> Response {
    let (status, message) = match refusal {
        Refusal::Bad(message) => (StatusCode::BAD_REQUEST, message),
        Refusal::Full { stored, limit } => (
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "the app's event store is full ({stored} of {limit} events); nothing of this push was stored"
            ),
        ),
        Refusal::Crowded { at } => (
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "more than {MAX_AT_ONE_INSTANT} events of the app would share the timestamp {}; nothing of this push was stored",
                format_millis(at)
            ),
        ),
    };
    (status, Json(json!({"error": message}))).into_response()
}

#[derive(Debug, Deserialize)]
struct PullQuery {
    since: Option<String>,
}

async fn pull(
    State(events): State<Events>,
    Extension(app): Extension<AppId>,
    Query(query): Query<PullQuery>,
) -> Response {
    let since = match parse_since(query.since.as_deref()) {
        Ok(since) => since,
        Err(refusal) => return refused(refusal),
    };
    let Ok(apps) = events.apps.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let page = apps
        .get(app.as_str())
        .map_or_else(|| AppEvents::default().pull(since), |stored| stored.pull(since));
    Json(page).into_response()
}

async fn push(
    State(events): State<Events>,
    Extension(app): Extension<AppId>,
    Extension(token): Extension<ValidatedToken>,
    Json(body): Json<Value>,
) -> Response {
    // DataCollect answers success to a push without an `events` array.
    let Some(Value::Array(pushed)) = body.get("events") else {
        return Json(json!({"status": "success"})).into_response();
    };
    let Ok(mut apps) = events.apps.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match apps.entry(app.0).or_default().push(pushed, events.max_events) {
        Ok(_) => Json(json!({"status": "success", "by": token.subject()})).into_response(),
        Err(refusal) => refused(refusal),
    }
}

async fn check_token() -> Json<Value> {
    Json(json!({"message": "Token is valid"}))
}

async fn me(Extension(token): Extension<ValidatedToken>) -> Json<Value> {
    Json(json!({"id": token.subject(), "email": token.claim("email")}))
}
