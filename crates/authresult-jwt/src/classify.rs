//! What kind a JWT is (access token, ID token, other), from its `typ`
//! header and its claims.

use serde_json::Value;

use super::claim_source::ClaimSource;
use super::error::{TokenPurpose, TokenTypeReason};
use super::jose::TypHeader;

/// What a JWT is, from its `typ` header and its claims, and for a token that
/// is not an access token, why. `login_clients` are the client ids whose
/// ID tokens name them as their only audience (empty when such an audience
/// is accepted).
///
/// In order: a declared type (`typ` header other than `at+jwt`, Keycloak's
/// `typ` claim); the hash claims only ID tokens carry; `nonce`, unless the
/// token declares itself an access token (Keycloak before 25 copies `nonce`
/// into its `typ: "Bearer"` access tokens); an audience that is only login
/// clients; the declared access types; a login client audience without an
/// access-token claim, or with `auth_time`; then the claims only access
/// tokens carry (`scope`, `scp`, RFC 9068 `client_id`, Auth0's grant type
/// `gty`).
pub(crate) fn classify(
    typ: TypHeader,
    claims: &impl ClaimSource,
    login_clients: &[String],
    accept_login_client_audience: bool,
) -> (TokenPurpose, Option<TokenTypeReason>) {
    let id = |reason| (TokenPurpose::Id, Some(reason));
    if matches!(typ, TypHeader::Other | TypHeader::Logout) {
        return (TokenPurpose::Other, Some(TokenTypeReason::DeclaredType));
    }
    // Keycloak marks its tokens with a `typ` claim.
    let mut bearer = false;
    match claims.claim("typ").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("bearer") => bearer = true,
        Some(t) if t.eq_ignore_ascii_case("id") => {
            return id(TokenTypeReason::IdTokenClaim { claim: "typ" });
        }
        Some(t)
            if ["refresh", "offline", "logout"]
                .iter()
                .any(|other| t.eq_ignore_ascii_case(other)) =>
        {
            return (TokenPurpose::Other, Some(TokenTypeReason::DeclaredType));
        }
        _ => {}
    }
    if let Some(claim) = ["at_hash", "c_hash", "s_hash"]
        .into_iter()
        .find(|c| claims.claim(c).is_some())
    {
        return id(TokenTypeReason::IdTokenClaim { claim });
    }
    let declared_access = bearer || typ == TypHeader::AccessToken;
    if !declared_access && claims.claim("nonce").is_some() {
        return id(TokenTypeReason::IdTokenClaim { claim: "nonce" });
    }
    let login_audience = only_login_clients(claims.claim("aud"), login_clients);
    if login_audience && !accept_login_client_audience {
        return id(TokenTypeReason::LoginClientAudience);
    }
    if declared_access {
        return (TokenPurpose::Access, None);
    }
    let access_claim = ["scope", "scp", "client_id", "gty"]
        .into_iter()
        .any(|c| claims.claim(c).is_some_and(|v| !v.is_null()));
    if login_audience && (!access_claim || claims.claim("auth_time").is_some()) {
        return id(TokenTypeReason::IdTokenShape);
    }
    if access_claim {
        (TokenPurpose::Access, None)
    } else {
        (TokenPurpose::Unknown, Some(TokenTypeReason::Unclassified))
    }
}

/// True when `aud` names at least one audience and all are login clients.
fn only_login_clients(aud: Option<&Value>, login_clients: &[String]) -> bool {
    let known = |a: &Value| a.as_str().is_some_and(|a| login_clients.iter().any(|c| c == a));
    match aud {
        Some(one @ Value::String(_)) => known(one),
        Some(Value::Array(items)) => !items.is_empty() && items.iter().all(known),
        _ => false,
    }
}
