//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by
//! default): the crate's private parsers of provider and browser input,
//! called exactly as the crate calls them. Not a public API.

use std::collections::BTreeMap;

use url::Url;

use authresult_http::{DiscoveryDocument, issuer_matches};

use crate::discovery::Metadata;
use crate::error::{Endpoint, OidcError};
use crate::http::{http_error, parse_json};
use crate::token_response::RawTokenResponse;

/// Reads a discovery document as the discovery of `issuer` does: the
/// workspace's one reader (`DiscoveryDocument`: parsed, the issuer compared,
/// every endpoint's transport checked), then typed as `openidconnect`
/// metadata for request building.
pub fn discovery_document(issuer: &Url, body: &[u8]) -> Result<(), OidcError> {
    let document =
        DiscoveryDocument::from_json(issuer, body).map_err(|e| http_error(Endpoint::Discovery, e))?;
    let _ = issuer_matches(issuer, document.issuer());
    document
        .check(issuer, false)
        .map_err(|e| http_error(Endpoint::Discovery, e))?;
    let _: Metadata = serde_json::from_value(serde_json::Value::Object(document.into_json()))
        .map_err(|e| crate::http::json_error(Endpoint::Discovery, &e, None))?;
    Ok(())
}

/// Reads a token endpoint answer (the OIDC token response and the sync
/// server's login answer) as the providers do, and the unverified claims
/// of its ID token; answers the profile read from them.
pub fn token_response(body: &[u8]) -> Result<BTreeMap<String, String>, OidcError> {
    let _ = parse_json::<crate::sync_server::LoginAnswer>(Endpoint::SyncLogin, body);
    let response: RawTokenResponse = parse_json(Endpoint::Token, body)?;
    let claims = response
        .raw_id_token()
        .and_then(authresult_core::peek_claims)
        .unwrap_or_default();
    let _ = crate::id_token::audiences(&claims);
    Ok(crate::id_token::profile_of(&claims))
}

/// Checks a callback URL against the login's redirect URI as
/// `finish_login` does; answers its parameters.
pub fn callback(callback: &Url, redirect: &Url) -> Result<BTreeMap<String, String>, OidcError> {
    crate::provider::callback_params(callback, redirect)
}

/// The callback a browser's request head to the loopback listener carries,
/// when valid for `redirect_uri` and `expected_state`.
pub fn loopback_request(redirect_uri: &Url, head: &str, expected_state: &str) -> Option<Url> {
    crate::loopback::callback_of_request(redirect_uri, head, expected_state)
}
