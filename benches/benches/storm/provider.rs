//! The storm's provider: a counting token endpoint over HTTP, served by the
//! bench process, that rotates refresh tokens one-time (a reused one is
//! answered `invalid_grant`) and counts every refresh; and the sessions as
//! seeded, generation 0 of its tokens (`at-<tenant>-<n>`, `rt-<tenant>-<n>`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use authresult_core::{AccessToken, AuthProvider, AuthResult, ProviderConfig, RefreshToken};
use authresult_oidc::{OidcOptions, OidcProvider};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

/// The counting token endpoint: the current refresh and access token of
/// each session, and what it was asked.
#[derive(Default)]
pub(crate) struct Tokens {
    pub(crate) current: Mutex<HashMap<String, (String, String)>>,
    pub(crate) refreshes: AtomicU64,
    pub(crate) reused: AtomicU64,
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    refresh_token: Option<String>,
}

async fn token(
    State(tokens): State<Arc<Tokens>>,
    Form(request): Form<TokenRequest>,
) -> (StatusCode, Json<Value>) {
    let refused = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error})));
    if request.grant_type != "refresh_token" {
        return refused("unsupported_grant_type");
    }
    let Some(presented) = request.refresh_token else {
        return refused("invalid_request");
    };
    // "rt-<tenant>-<generation>"
    let Some((session, generation)) = presented
        .strip_prefix("rt-")
        .and_then(|rest| rest.rsplit_once('-'))
        .and_then(|(s, g)| Some((s.to_owned(), g.parse::<u64>().ok()?)))
    else {
        return refused("invalid_grant");
    };
    let Ok(mut current) = tokens.current.lock() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "server_error"})),
        );
    };
    match current.get(&session) {
        Some((refresh, _)) if *refresh == presented => {}
        _ => {
            tokens.reused.fetch_add(1, Ordering::Relaxed);
            return refused("invalid_grant");
        }
    }
    let next = generation + 1;
    let access = format!("at-{session}-{next}");
    let refresh = format!("rt-{session}-{next}");
    current.insert(session, (refresh.clone(), access.clone()));
    tokens.refreshes.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::OK,
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
        })),
    )
}

/// Serves discovery, an empty key set and the token endpoint; returns the issuer.
pub(crate) fn serve_provider(
    runtime: &tokio::runtime::Runtime,
    tokens: Arc<Tokens>,
) -> anyhow::Result<String> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
        .route("/token", post(token))
        .with_state(tokens);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(issuer)
}

pub(crate) fn provider(issuer: &str) -> anyhow::Result<Arc<dyn AuthProvider>> {
    let config = ProviderConfig::from_json_str(
        &json!({"type": "oidc", "fields": {"issuer": issuer, "client_id": "storm"}}).to_string(),
    )?;
    Ok(Arc::new(OidcProvider::from_config(
        &config,
        OidcOptions::default(),
    )?))
}

/// The session of tenant `i` as seeded: generation 0 of its tokens.
pub(crate) fn seeded_auth(tenant: &str, lifetime: u64) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(format!("at-{tenant}-0")), lifetime);
    auth.refresh_token = Some(RefreshToken::new(format!("rt-{tenant}-0")));
    auth
}
