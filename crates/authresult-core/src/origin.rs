//! `Origin`: where a session's tokens come from and may be sent back to.
//!
//! A session is keyed by tenant, user and provider name, and names are not
//! proof: an artifact that reuses a public app id registers its own
//! `default` or `keycloak` over the same store. The origin is the proof the
//! manager checks: a stored session is used (its token answered, its refresh
//! token sent, its tokens revoked) only through a provider of the origin it
//! was logged in at.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::jwt;

/// Who issued a session's tokens: the one party its tokens may go back to.
///
/// URLs are compared as parsed (scheme and host lower-case, no default
/// port), without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// An OpenID provider (Keycloak, Auth0, generic) and the client the
    /// tokens were issued to.
    Oidc {
        /// The issuer.
        issuer: String,
        /// The client id.
        client_id: String,
    },
    /// A sync server's own login (`type: "default"`), by its base URL.
    SyncServer {
        /// The server's base URL.
        url: String,
    },
}

impl Origin {
    /// The origin of tokens `issuer` issued to `client_id`.
    pub fn oidc(issuer: &Url, client_id: impl Into<String>) -> Self {
        Origin::Oidc {
            issuer: without_trailing_slash(issuer),
            client_id: client_id.into(),
        }
    }

    /// The origin of the tokens of the sync server at `url`.
    pub fn sync_server(url: &Url) -> Self {
        Origin::SyncServer {
            url: without_trailing_slash(url),
        }
    }

    /// True when nothing `tokens` say contradicts this origin: an ID token
    /// or a JWT access token whose (unverified) `iss` is another issuer, or
    /// whose `azp` (the client it was issued to) is another client, does.
    /// Used for what was stored before origins were recorded; a sync
    /// server's tokens carry no issuer, so nothing contradicts it.
    pub(crate) fn admits_tokens<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) -> bool {
        let Origin::Oidc { issuer, client_id } = self else {
            return true;
        };
        tokens.into_iter().filter_map(jwt::peek_claims).all(|mut claims| {
            let iss_ok = claims.remove("iss").is_none_or(|iss| match iss {
                Value::String(iss) => iss.trim_end_matches('/') == issuer,
                _ => false,
            });
            let azp_ok = claims.remove("azp").is_none_or(|azp| match azp {
                Value::String(azp) => azp == *client_id,
                _ => false,
            });
            iss_ok && azp_ok
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Oidc { issuer, client_id } => write!(f, "issuer `{issuer}`, client `{client_id}`"),
            Origin::SyncServer { url } => write!(f, "sync server `{url}`"),
        }
    }
}

/// The one origin rule: may a provider of origin `own` use what was stored
/// from `recorded` (a session, a pending revocation), whose tokens are
/// `tokens`? The same origin may; an origin-less provider only what
/// records none; a provider with an origin may take over what records
/// none (stored before origins were recorded) unless its tokens name
/// another issuer.
pub(crate) fn allows<'a>(
    recorded: Option<&Origin>,
    own: Option<&Origin>,
    tokens: impl IntoIterator<Item = &'a str>,
) -> bool {
    match (recorded, own) {
        (Some(recorded), Some(own)) => recorded == own,
        (None, None) => true,
        (None, Some(own)) => own.admits_tokens(tokens),
        (Some(_), None) => false,
    }
}

fn without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests;
