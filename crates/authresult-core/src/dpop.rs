//! DPoP (RFC 9449) as the core sees it: the per-provider mode, a session's
//! key ([`DpopBinding`], kept sealed with its tokens), the signing port
//! ([`ProofSigner`], implemented by `authresult-jwt`'s `DpopSigner`: the core
//! has no crypto) and the headers of a resource request
//! ([`ResourceHeaders`]). Nonces live in the [`NonceStore`](crate::NonceStore) port.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::Error;
use crate::secret::DpopPrivateKey;
use crate::time::Timestamp;

/// Whether a provider's tokens are bound to a DPoP key (RFC 9449): the
/// `dpop` field of a `{type, fields}` config (`"off"`, `"on"`,
/// `"required"`; `true` is `"on"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DpopMode {
    /// Plain bearer tokens (the default).
    #[default]
    Off,
    /// DPoP when the provider advertises `dpop_signing_alg_values_supported`;
    /// bearer otherwise.
    On,
    /// DPoP or no login: a provider that does not advertise it, or answers
    /// a token of another `token_type` than `DPoP`, fails the login.
    Required,
}

impl DpopMode {
    /// The mode of a config field's text.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "off" | "false" | "no" => Some(DpopMode::Off),
            "on" | "true" | "yes" => Some(DpopMode::On),
            "required" | "require" => Some(DpopMode::Required),
            _ => None,
        }
    }

    /// True unless [`DpopMode::Off`].
    pub fn is_enabled(self) -> bool {
        self != DpopMode::Off
    }
}

/// A session's DPoP key: made at login, used for every proof of the session
/// (token requests and resource requests), kept with the session's tokens
/// and sealed with them by the stores, replaced by a new login and removed
/// with the session. `Debug` shows the algorithm and whether the tokens are
/// bound, never the key.
#[derive(Clone)]
pub struct DpopBinding {
    /// The JWS algorithm of the key (`ES256`, `EdDSA`).
    pub alg: String,
    /// The private key (PKCS#8, base64url).
    pub key: DpopPrivateKey,
    /// True when the provider answered `token_type: DPoP`: the access token
    /// is bound to this key and goes out as `Authorization: DPoP`.
    pub bound: bool,
}

impl fmt::Debug for DpopBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBinding")
            .field("alg", &self.alg)
            .field("key", &self.key)
            .field("bound", &self.bound)
            .finish()
    }
}

impl DpopBinding {
    /// True when `other` holds the same key (compared in constant time: the
    /// text is a private key).
    pub fn same_key(&self, other: &DpopBinding) -> bool {
        let (a, b) = (self.key.secret().as_bytes(), other.key.secret().as_bytes());
        self.alg == other.alg
            && a.len() == b.len()
            && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The stored form: `{"alg", "key", "bound"}`, the key in clear (a
    /// store seals it with the tokens).
    pub(crate) fn to_json_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("alg".into(), Value::from(self.alg.as_str()));
        object.insert("key".into(), Value::from(self.key.secret()));
        object.insert("bound".into(), Value::from(self.bound));
        Value::Object(object)
    }

    /// Reads the stored form; the reason names what is wrong, never the key.
    pub(crate) fn from_json_value(value: Value) -> Result<Self, &'static str> {
        let Value::Object(mut object) = value else {
            return Err("is not an object");
        };
        let alg = match object.remove("alg") {
            Some(Value::String(alg)) if !alg.is_empty() => alg,
            _ => return Err("has no `alg` string"),
        };
        let key = match object.remove("key") {
            Some(Value::String(key)) if !key.is_empty() => DpopPrivateKey::new(key),
            _ => return Err("has no `key` string"),
        };
        let bound = match object.remove("bound") {
            None => false,
            Some(Value::Bool(bound)) => bound,
            Some(_) => return Err("has a `bound` that is not a boolean"),
        };
        Ok(DpopBinding { alg, key, bound })
    }
}

/// What a DPoP proof is for: one HTTP request. `Debug` shows whether an
/// access token is there, never the token.
#[derive(Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// The target URL (`htu`: the signer drops query and fragment).
    pub url: &'a Url,
    /// The server's last `DPoP-Nonce` for this origin.
    pub nonce: Option<&'a str>,
    /// The access token the request carries (its hash goes into `ath`).
    pub access_token: Option<&'a str>,
    /// The time of the proof (`iat`), from the manager's clock.
    pub now: Timestamp,
}

impl fmt::Debug for ProofRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("nonce", &self.nonce)
            .field("access_token", &self.access_token.map(|_| "[redacted]"))
            .field("now", &self.now)
            .finish()
    }
}

/// Signs DPoP proofs with a session's key: the port the core uses for
/// resource requests (the core has no crypto). `authresult-jwt`'s
/// `DpopSigner` implements it.
pub trait ProofSigner: Send + Sync + fmt::Debug {
    /// A compact `dpop+jwt` proof of `request` signed with `key`. An
    /// unreadable key is [`Error::DpopKeyUnusable`].
    fn sign_proof(&self, key: &DpopBinding, request: &ProofRequest<'_>) -> Result<String, Error>;
}

/// The headers of a request to a resource server with a session's token
/// ([`AuthManager::resource_headers`](crate::AuthManager::resource_headers)):
/// `Authorization: DPoP <token>` and `DPoP: <proof>` when the session is
/// bound, `Authorization: Bearer <token>` otherwise. `Debug` shows neither.
#[derive(Clone)]
pub struct ResourceHeaders {
    /// The `Authorization` header's value.
    pub authorization: String,
    /// The `DPoP` header's value, for a bound session.
    pub dpop: Option<String>,
}

impl fmt::Debug for ResourceHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.authorization.split(' ').next().unwrap_or("");
        f.debug_struct("ResourceHeaders")
            .field("scheme", &scheme)
            .field("dpop", &self.dpop.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl ResourceHeaders {
    /// True when the token goes out bound (`Authorization: DPoP`).
    pub fn is_bound(&self) -> bool {
        self.dpop.is_some()
    }
}

/// The origin a nonce belongs to (RFC 9449 §8: per server): the URL's
/// scheme, host and port, as `scheme://host[:port]`.
pub fn nonce_origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests;
