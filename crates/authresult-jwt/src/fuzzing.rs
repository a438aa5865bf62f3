//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by
//! default): the DPoP proof check without a token validation in front of
//! it. Not a public API.

use authresult_core::Timestamp;

use crate::dpop::{DpopConfig, DpopRequest, proof};
use crate::error::ValidationError;

/// Checks `proof` for a `method` request to `uri` with `token` (or, without
/// one, as at a token endpoint) at `now_secs`, with the default
/// [`DpopConfig`] (nothing remembered: the replay cache is the caller's
/// last step); the proof key's RFC 7638 thumbprint when accepted.
pub fn check_dpop_proof(
    proof: &str,
    method: &str,
    uri: &str,
    token: Option<&str>,
    now_secs: u64,
) -> Result<String, ValidationError> {
    let config = DpopConfig::new();
    let request = DpopRequest::new(proof, method, uri);
    let verified = proof::verify(&config, &request, token, Timestamp::from_secs(now_secs))?;
    Ok(String::from_utf8_lossy(&verified.thumbprint).into_owned())
}
