//! The validator's `tracing` events (see the README's event table): refusal
//! reasons, configured issuer names and key-set fetch outcomes only, never
//! a token, a claim value from an unverified token or key material.

use serde_json::Value;

use super::Shared;
use crate::claim_source::ClaimSource;
use crate::error::ValidationError;
use crate::jose::UnverifiedJwt;

/// A `validation.refused` event (debug; warn when the refusal is transient,
/// e.g. a key set that cannot be fetched). `issuer` is the configured issuer
/// the token names, "unknown" when it names none (an untrusted issuer's
/// name is not logged: it is the sender's text).
pub(super) fn refused(shared: &Shared, token: &str, error: &ValidationError) {
    let kind = error.kind();
    let transient = kind.is_transient();
    if !(tracing::enabled!(tracing::Level::DEBUG) || transient && tracing::enabled!(tracing::Level::WARN)) {
        return;
    }
    let issuer = configured_issuer(shared, token);
    let reason = kind.as_str();
    if transient {
        tracing::warn!(
            event = "validation.refused",
            reason,
            issuer,
            transient,
            "token refused"
        );
    } else {
        tracing::debug!(
            event = "validation.refused",
            reason,
            issuer,
            transient,
            "token refused"
        );
    }
}

/// A `validation.accepted` event (trace): a token passed.
pub(super) fn accepted(issuer: &str) {
    tracing::trace!(event = "validation.accepted", issuer, "token accepted");
}

/// The configured issuer a token's `iss` names, never the sender's text.
fn configured_issuer<'s>(shared: &'s Shared, token: &str) -> &'s str {
    if !token.contains('.') {
        return "opaque";
    }
    let Ok(jwt) = UnverifiedJwt::parse_limited(token, shared.max_token_len) else {
        return "unknown";
    };
    match jwt.known().claim("iss") {
        Some(Value::String(iss)) => shared.issuers.get(iss.as_str()).map_or("unknown", |i| &i.issuer),
        _ => "unknown",
    }
}

/// A `keys.fetch` event: one fetch of an issuer's key set finished.
/// `reason`: initial (none yet), unknown_kid (a refetch for a key not in
/// the set), stale (older than its maximum age).
pub(super) fn key_fetch(issuer: &str, reason: &'static str, failure: Option<&ValidationError>) {
    match failure {
        None => tracing::info!(
            event = "keys.fetch",
            issuer,
            reason,
            outcome = "ok",
            "key set fetched"
        ),
        Some(e) => tracing::warn!(
            event = "keys.fetch",
            issuer,
            reason,
            outcome = e.kind().as_str(),
            error = %e,
            "key set fetch failed"
        ),
    }
}
