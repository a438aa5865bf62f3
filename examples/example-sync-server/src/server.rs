//! The sync server's routes: DataCollect's apps (`configId`) and their
//! `Authorization` schemes, body buffering for `configId` in JSON, the admin
//! check, and the in-memory event store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authresult_core::ProviderConfig;
use authresult_jwt::{
    AccessDecision, AppAuth, AppId, AppSelector, BearerAuthLayer, IssuerConfig, SyncServerTokens, TokenCheck,
    TokenValidator, ValidatedToken,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

/// DataCollect's app of requests that name none.
pub(crate) const DEFAULT_APP: &str = "default";
/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Events kept per app (the oldest go first).
const MAX_EVENTS: usize = 10_000;

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

type Events = Arc<Mutex<HashMap<String, Vec<Value>>>>;

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
    let events: Events = Arc::default();
    let max_body = settings.max_body;
    Ok(Router::new()
        .route("/api/sync/pull", get(pull))
        .route("/api/sync/push", post(push))
        .layer(sync)
        .route(
            "/api/users/check-token",
            get(check_token).layer(BearerAuthLayer::for_app(own_only)),
        )
        .route("/api/users/me", get(me).layer(admin))
        .route("/health", get(|| async { "ok" }))
        .with_state(events)
        .layer(from_fn(move |request: Request, next: Next| {
            buffer_config_id(request, next, max_body)
        })))
}

/// Buffers the body (size cap, time limit) and hands its JSON `configId`
/// to the authentication layer, as DataCollect reads `req.body.configId`.
async fn buffer_config_id(request: Request, next: Next, max_body: usize) -> Response {
    let (mut parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, max_body)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(_) => return StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    if let Some(id) = AppId::from_json_body(&bytes, "configId") {
        parts.extensions.insert(id);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

async fn pull(State(events): State<Events>, Extension(app): Extension<AppId>) -> Json<Value> {
    let stored = events
        .lock()
        .map(|all| all.get(app.as_str()).cloned().unwrap_or_default())
        .unwrap_or_default();
    Json(json!({"events": stored, "nextCursor": null}))
}

async fn push(
    State(events): State<Events>,
    Extension(app): Extension<AppId>,
    Extension(token): Extension<ValidatedToken>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let pushed = match body.get("events") {
        Some(Value::Array(pushed)) => pushed.clone(),
        _ => return Json(json!({"status": "success"})),
    };
    if let Ok(mut all) = events.lock() {
        let stored = all.entry(app.0).or_default();
        stored.extend(pushed);
        let excess = stored.len().saturating_sub(MAX_EVENTS);
        stored.drain(..excess);
    }
    Json(json!({"status": "success", "by": token.subject()}))
}

async fn check_token() -> Json<Value> {
    Json(json!({"message": "Token is valid"}))
}

async fn me(Extension(token): Extension<ValidatedToken>) -> Json<Value> {
    Json(json!({"id": token.subject(), "email": token.claim("email")}))
}
