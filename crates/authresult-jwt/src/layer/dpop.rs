//! The layer's DPoP part (RFC 9449): the `DPoP` header, the request's URI
//! as the client addressed it (the configured public origin and the path,
//! never the `Host` or `X-Forwarded-*` headers), and the `algs` of the
//! challenges.

use http::HeaderMap;
use http::request::Parts;
use url::Url;

use super::super::dpop::DEFAULT_DPOP_ALGORITHMS;
use super::super::error::{DpopProofReason, ValidationError};
use super::super::jose::JwsAlgorithm;

/// The `DPoP` request header.
pub(super) const DPOP: &str = "dpop";
/// The `DPoP` authorization scheme.
pub(super) const DPOP_SCHEME: &str = "DPoP";

/// How the layer takes DPoP requests.
#[derive(Debug, Clone)]
pub(super) struct DpopLayer {
    /// The public origin (and path prefix), without a trailing `/`.
    origin: String,
    /// The `algs` of the challenges: `algs="ES256 EdDSA ..."`.
    pub(super) algs: String,
}

impl DpopLayer {
    pub(super) fn new(public_origin: &Url, algorithms: &[JwsAlgorithm]) -> Self {
        let mut origin = public_origin.clone();
        origin.set_query(None);
        origin.set_fragment(None);
        let origin = origin.as_str().trim_end_matches('/').to_owned();
        let algorithms = if algorithms.is_empty() {
            DEFAULT_DPOP_ALGORITHMS
        } else {
            algorithms
        };
        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
        DpopLayer {
            origin,
            algs: format!("algs=\"{}\"", names.join(" ")),
        }
    }

    /// The URI the client addressed: the public origin and the request's path.
    pub(super) fn uri(&self, parts: &Parts) -> String {
        let path = parts.uri.path();
        let mut uri = String::with_capacity(self.origin.len() + path.len());
        uri.push_str(&self.origin);
        if !path.starts_with('/') {
            uri.push('/');
        }
        uri.push_str(path);
        uri
    }
}

/// The one `DPoP` header's proof; `None` without one; a refusal for
/// several, or one that is not visible ASCII.
pub(super) fn proof(headers: &HeaderMap) -> Result<Option<&str>, ValidationError> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ValidationError::dpop(DpopProofReason::Multiple));
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| ValidationError::dpop(DpopProofReason::Malformed))
}
