//! JWK thumbprints (RFC 7638): SHA-256 over the key's required public
//! members, in lexicographic order, as JSON without whitespace; hashed as
//! it is written, nothing allocated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::super::crypto::digest;
use super::super::error::ValidationError;
use super::super::keys::JwkMembers;
use super::proof::{Jwk, object};

/// The length of a base64url SHA-256 hash.
pub(crate) const HASH_B64_LEN: usize = 43;

/// A SHA-256 thumbprint, base64url (ASCII).
pub(crate) type Thumbprint = [u8; HASH_B64_LEN];

/// SHA-256 of the concatenated `parts`, base64url.
pub(crate) fn hash_b64(parts: &[&[u8]]) -> [u8; HASH_B64_LEN] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; HASH_B64_LEN];
    // 32 bytes encode to exactly 43 characters without padding, so this
    // cannot fail.
    let _ = URL_SAFE_NO_PAD.encode_slice(context.finish().as_ref(), &mut out);
    out
}

/// The RFC 7638 thumbprint of a key whose members made a usable key (so
/// the members its type requires are there and are base64url, with no
/// character JSON would escape).
pub(crate) fn thumbprint(jwk: &JwkMembers<'_>) -> Thumbprint {
    // The required members of each key type, in lexicographic order.
    let members: [(&str, Option<&str>); 4] = match jwk.kty {
        "RSA" => [("e", jwk.e), ("kty", Some(jwk.kty)), ("n", jwk.n), ("", None)],
        "EC" => [
            ("crv", jwk.crv),
            ("kty", Some(jwk.kty)),
            ("x", jwk.x),
            ("y", jwk.y),
        ],
        _ => [("crv", jwk.crv), ("kty", Some(jwk.kty)), ("x", jwk.x), ("", None)],
    };
    let mut context = digest::Context::new(&digest::SHA256);
    let mut separator: &[u8] = b"{";
    for (name, value) in members {
        let Some(value) = value else { continue };
        for piece in [
            separator,
            b"\"",
            name.as_bytes(),
            b"\":\"",
            value.as_bytes(),
            b"\"",
        ] {
            context.update(piece);
        }
        separator = b",";
    }
    context.update(b"}");
    let mut out = [0u8; HASH_B64_LEN];
    let _ = URL_SAFE_NO_PAD.encode_slice(context.finish().as_ref(), &mut out);
    out
}

/// The RFC 7638 SHA-256 thumbprint (base64url) of a JSON Web Key: what a
/// DPoP-bound token's `cnf.jkt` holds for the key of its proofs.
///
/// Takes the JWK as JSON text; the key must be one this crate can verify
/// with (RSA of 2048 to 8192 bits, EC P-256 or P-384, OKP Ed25519). Private
/// members, if any, are ignored (a key pair has its public key's
/// thumbprint). Fails with [`ValidationError::InvalidDpopProof`]
/// ([`DpopProofReason::BadKey`](crate::DpopProofReason::BadKey)) otherwise.
pub fn jwk_thumbprint(jwk_json: &str) -> Result<String, ValidationError> {
    let bad = || ValidationError::dpop(crate::DpopProofReason::BadKey);
    let jwk: Jwk<'_> = object(jwk_json.as_bytes()).map_err(|_| bad())?;
    let (members, _, _) = jwk.public_key().map_err(|_| bad())?;
    let print = thumbprint(&members);
    Ok(String::from_utf8_lossy(&print).into_owned())
}
