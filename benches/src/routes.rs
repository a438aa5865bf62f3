//! The route of the load and instructions benches: `GET /api/sync` answering
//! what `example-resource-server` answers, with or without
//! [`BearerAuthLayer`] in front of it.

use authresult_jwt::{BearerAuthLayer, TokenValidator};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::tokens::ISSUER;

/// The path of the route.
pub const PATH: &str = "/api/sync";

/// The route's answer, without reading the token: the same work behind the
/// layer or without it.
pub async fn sync_answer() -> Json<Value> {
    Json(json!({
        "subject": "f3b9c2a0-5d1e-4c7a-9e42-000000000000",
        "issuer": ISSUER,
        "scopes": ["openid", "profile", "email", "sync:read", "sync:write"],
        "message": "sync accepted",
    }))
}

/// [`sync_answer`] without authentication: the ceiling.
pub fn open_router() -> Router {
    Router::new().route(PATH, get(sync_answer))
}

/// [`sync_answer`] behind `BearerAuthLayer::new(validator)`.
pub fn protected_router(validator: TokenValidator) -> Router {
    Router::new().route(PATH, get(sync_answer).layer(BearerAuthLayer::new(validator)))
}
