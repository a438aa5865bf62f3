//! JSON Web Keys, parsed once into ready-to-use verification keys, the key
//! set of an issuer, key selection and signature verification (on the
//! backend of [`crate::crypto`]: `ring`, or `aws-lc-rs`).

use std::fmt;

use crate::crypto::hmac;
use crate::crypto::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::{UpstreamEndpoint, ValidationError, sanitize};
use super::jose::{JwsAlgorithm, KeyFamily, UnverifiedJwt};
use authresult_core::parse_strict_object;

/// RSA keys with a shorter modulus are refused.
const MIN_RSA_BITS: usize = 2048;
/// `ring` verifies RSA moduli up to this size.
const MAX_RSA_BITS: usize = 8192;
/// Key sets with more keys are refused as a whole.
const MAX_KEYS: usize = 100;

/// A public key ready for `ring`.
#[derive(Clone)]
pub(crate) enum PublicKey {
    Rsa(RsaPublicKeyComponents<Box<[u8]>>),
    /// Uncompressed SEC1 point `04 || x || y`.
    EcP256(Box<[u8]>),
    /// Uncompressed SEC1 point `04 || x || y`.
    EcP384(Box<[u8]>),
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// True when `sig` is a valid `alg` signature of `message` under this key.
    pub(crate) fn verify(&self, alg: JwsAlgorithm, message: &[u8], sig: &[u8]) -> bool {
        let ok = match (self, alg) {
            (PublicKey::Rsa(key), JwsAlgorithm::Rs256) => {
                key.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
            }
            (PublicKey::Rsa(key), JwsAlgorithm::Rs384) => {
                key.verify(&signature::RSA_PKCS1_2048_8192_SHA384, message, sig)
            }
            (PublicKey::Rsa(key), JwsAlgorithm::Rs512) => {
                key.verify(&signature::RSA_PKCS1_2048_8192_SHA512, message, sig)
            }
            (PublicKey::Rsa(key), JwsAlgorithm::Ps256) => {
                key.verify(&signature::RSA_PSS_2048_8192_SHA256, message, sig)
            }
            (PublicKey::Rsa(key), JwsAlgorithm::Ps384) => {
                key.verify(&signature::RSA_PSS_2048_8192_SHA384, message, sig)
            }
            (PublicKey::Rsa(key), JwsAlgorithm::Ps512) => {
                key.verify(&signature::RSA_PSS_2048_8192_SHA512, message, sig)
            }
            (PublicKey::EcP256(point), JwsAlgorithm::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, sig)
            }
            (PublicKey::EcP384(point), JwsAlgorithm::Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point).verify(message, sig)
            }
            (PublicKey::Ed25519(key), JwsAlgorithm::EdDsa) => {
                UnparsedPublicKey::new(&signature::ED25519, key).verify(message, sig)
            }
            _ => return false,
        };
        ok.is_ok()
    }
}

/// One entry of a key set.
#[derive(Clone)]
struct Jwk {
    kid: Option<Box<str>>,
    /// `alg` of the JWK, when present; an unknown name makes the key unusable.
    alg: Option<Result<JwsAlgorithm, ()>>,
    /// `use` / `key_ops` allow verification.
    for_verify: bool,
    key: Result<PublicKey, &'static str>,
    /// The key type as declared, so refused keys still match by family.
    family: KeyFamily,
}

impl Jwk {
    fn fits(&self, alg: JwsAlgorithm) -> bool {
        self.for_verify && self.alg.is_none_or(|a| a == Ok(alg)) && self.family == alg.family()
    }
}

/// A parsed JSON Web Key Set (RFC 7517): the public keys of one issuer.
///
/// Each key is decoded once, when the set is parsed. Keys this crate cannot
/// use (unknown `kty`/`crv`, symmetric keys, malformed members) are skipped,
/// as RFC 7517 asks, and so are keys for another use (`use: enc`, `key_ops`
/// without `verify`) or another algorithm than their `alg`. RSA keys under
/// 2048 bits or with the ROCA weakness, and keys published with their
/// private members (`d`, `p`, ...: anyone could sign with them), are kept
/// only to report [`ValidationError::KeyRejected`] for tokens that name
/// them. Two keys that fit a token (the same `kid`, or none and several
/// candidates) are [`ValidationError::AmbiguousKey`].
#[derive(Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self
            .keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("(none)"))
            .collect();
        f.debug_struct("JwkSet").field("kids", &kids).finish()
    }
}

/// The outcome of looking for a token's key.
pub(crate) enum Selected<'a> {
    Key(&'a PublicKey),
    /// No key with this `kid` (or, without `kid`, none that fits): a refetch may help.
    Missing,
    Err(ValidationError),
}

impl JwkSet {
    /// Parses `{"keys": [...]}`.
    ///
    /// Fails only when the document is not such an object or holds more than
    /// 100 keys; unusable keys are skipped.
    pub fn from_json(json: &[u8]) -> Result<Self, ValidationError> {
        let bad = |reason: &str| ValidationError::ProviderError {
            endpoint: UpstreamEndpoint::Jwks,
            reason: format!("key set {reason}"),
        };
        let text = std::str::from_utf8(json).map_err(|_| bad("is not UTF-8"))?;
        let mut doc = parse_strict_object(text).map_err(bad)?;
        let keys = match doc.remove("keys") {
            Some(Value::Array(keys)) => keys,
            _ => return Err(bad("has no `keys` array")),
        };
        if keys.len() > MAX_KEYS {
            return Err(bad("has too many keys"));
        }
        let keys = keys
            .iter()
            .filter_map(|k| match k {
                Value::Object(map) => parse_jwk(map),
                _ => None,
            })
            .collect();
        Ok(JwkSet { keys })
    }

    /// The number of keys kept (usable or refused).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key was kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the keys kept, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid.as_deref())
    }

    /// Verifies the signature of `jwt` with the key it names (by `kid`, or
    /// else the single key that fits its `alg`), for an asymmetric algorithm
    /// in `allowed`. This is the one signature check of the workspace: the
    /// validator's access tokens and `authresult-oidc`'s ID tokens.
    ///
    /// Fails with [`ValidationError::AlgorithmNotAllowed`] (`none`, HMAC,
    /// unknown or not allowed), [`ValidationError::UnknownKey`] when no key
    /// fits (a refetch of the key set may help),
    /// [`ValidationError::AmbiguousKey`], [`ValidationError::KeyRejected`]
    /// (e.g. RSA under 2048 bits) or [`ValidationError::InvalidSignature`].
    pub fn verify(&self, jwt: &UnverifiedJwt<'_>, allowed: &[JwsAlgorithm]) -> Result<(), ValidationError> {
        self.verify_signature(
            jwt.alg()?,
            jwt.key_id(),
            jwt.signing_input(),
            jwt.signature(),
            allowed,
        )
    }

    /// [`JwkSet::verify`] on a JWS's parts, whatever its payload (the JOSE
    /// test vectors sign text, not claims).
    pub(crate) fn verify_signature(
        &self,
        alg: JwsAlgorithm,
        kid: Option<&str>,
        signing_input: &[u8],
        signature: &[u8],
        allowed: &[JwsAlgorithm],
    ) -> Result<(), ValidationError> {
        if alg.is_symmetric() || !allowed.contains(&alg) {
            return Err(ValidationError::AlgorithmNotAllowed {
                alg: alg.name().to_owned(),
            });
        }
        match self.select(kid, alg) {
            Selected::Key(key) if key.verify(alg, signing_input, signature) => Ok(()),
            Selected::Key(_) => Err(ValidationError::InvalidSignature),
            Selected::Err(e) => Err(e),
            Selected::Missing => Err(ValidationError::UnknownKey {
                kid: kid.map(|k| sanitize(k, 64)),
            }),
        }
    }

    /// Picks the key for a token: by `kid` when it has one, else the single
    /// key that fits `alg` (several are an error).
    pub(crate) fn select(&self, kid: Option<&str>, alg: JwsAlgorithm) -> Selected<'_> {
        let mut found: Option<&PublicKey> = None;
        let mut refused: Option<&Jwk> = None;
        let mut kid_seen = false;
        for jwk in &self.keys {
            if let Some(kid) = kid {
                if jwk.kid.as_deref() != Some(kid) {
                    continue;
                }
                kid_seen = true;
            }
            if !jwk.fits(alg) {
                continue;
            }
            match &jwk.key {
                Err(_) => {
                    refused.get_or_insert(jwk);
                }
                Ok(_) if found.is_some() => return Selected::Err(ValidationError::AmbiguousKey),
                Ok(key) => found = Some(key),
            }
        }
        match (found, refused) {
            (Some(key), _) => Selected::Key(key),
            (None, Some(jwk)) => Selected::Err(ValidationError::KeyRejected {
                kid: jwk.kid.as_deref().map(|k| sanitize(k, 64)),
                reason: jwk.key.as_ref().err().copied().unwrap_or("unusable key"),
            }),
            // The kid exists, but not for this algorithm: a refetch will not help.
            (None, None) if kid_seen => Selected::Err(ValidationError::UnknownKey {
                kid: kid.map(|k| sanitize(k, 64)),
            }),
            (None, None) => Selected::Missing,
        }
    }
}

/// Parses one JWK; `None` for keys that can never be used here.
fn parse_jwk(map: &Map<String, Value>) -> Option<Jwk> {
    let text = |name: &str| -> Result<Option<&str>, ()> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(()),
        }
    };
    let kid = text("kid").ok()?.map(Box::<str>::from);
    let for_use = match text("use").ok()? {
        None => true,
        Some(u) => u == "sig",
    };
    let for_ops = match map.get("key_ops") {
        None | Some(Value::Null) => true,
        Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
        Some(_) => false,
    };
    let alg = text("alg").ok()?.map(|a| JwsAlgorithm::from_name(a).ok_or(()));
    let (family, key) = match text("kty").ok()?? {
        "RSA" => (KeyFamily::Rsa, rsa_key(map)),
        "EC" => match text("crv").ok()?? {
            "P-256" => (KeyFamily::EcP256, ec_key(map, 32).map(PublicKey::EcP256)),
            "P-384" => (KeyFamily::EcP384, ec_key(map, 48).map(PublicKey::EcP384)),
            _ => return None,
        },
        "OKP" => match text("crv").ok()?? {
            "Ed25519" => (KeyFamily::Ed25519, ed25519_key(map)),
            _ => return None,
        },
        // Symmetric keys are never taken from a published key set.
        _ => return None,
    };
    // Private key material in a published set: whoever fetched the set can
    // sign with this key, so nothing it signed is trusted.
    let key = match PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)) {
        true => Err(PRIVATE_KEY_PUBLISHED),
        false => key,
    };
    // A key whose members cannot be decoded is skipped, unless it is a
    // recognisable refusal worth reporting (a short or ROCA-weak RSA
    // modulus, published private material).
    if let Err(reason) = &key
        && !REPORTED_REFUSALS.contains(reason)
    {
        return None;
    }
    Some(Jwk {
        kid,
        alg,
        for_verify: for_use && for_ops,
        key,
        family,
    })
}

const WEAK_RSA: &str = "rsa modulus under 2048 bits";
const ROCA_RSA: &str = "rsa modulus with the roca weakness (cve-2017-15361)";
const PRIVATE_KEY_PUBLISHED: &str = "the key set publishes its private key material";
/// Refusals kept in the set, so a token naming the key learns why.
const REPORTED_REFUSALS: [&str; 3] = [WEAK_RSA, ROCA_RSA, PRIVATE_KEY_PUBLISHED];
/// The JWK members of private keys (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The small primes of the ROCA fingerprint (Nemec et al., CCS 2017).
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103,
    107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// True when the modulus `n` (big-endian) has the structure of the keys
/// Infineon's RSALib generated (ROCA): modulo each of [`ROCA_PRIMES`], `n`
/// lies in the subgroup generated by 65537. A random modulus does so with
/// a probability near 2^-154.
fn roca_fingerprint(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0u32, |r, &b| (r * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut power = 1;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

fn member(map: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    match map.get(name) {
        Some(Value::String(s)) => decode_member(s),
        _ => Err("member missing"),
    }
}

fn decode_member(text: &str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| "member is not base64url")
}

fn rsa_key(map: &Map<String, Value>) -> Result<PublicKey, &'static str> {
    rsa_from(&member(map, "n")?, &member(map, "e")?)
}

/// An RSA public key from its decoded modulus and exponent.
fn rsa_from(n: &[u8], e: &[u8]) -> Result<PublicKey, &'static str> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = match n.first() {
        None => return Err("empty modulus"),
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
    };
    if bits < MIN_RSA_BITS {
        return Err(WEAK_RSA);
    }
    if bits > MAX_RSA_BITS {
        return Err("rsa modulus over 8192 bits");
    }
    if roca_fingerprint(n) {
        return Err(ROCA_RSA);
    }
    // ring accepts odd exponents from 3 to 2^33 - 1.
    let e_ok = !e.is_empty() && e.len() <= 5 && e.last().is_some_and(|b| b & 1 == 1) && e != [1];
    if !e_ok {
        return Err("unsupported rsa exponent");
    }
    Ok(PublicKey::Rsa(RsaPublicKeyComponents {
        n: Box::from(n),
        e: Box::from(e),
    }))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn ec_key(map: &Map<String, Value>, len: usize) -> Result<Box<[u8]>, &'static str> {
    ec_from(&member(map, "x")?, &member(map, "y")?, len)
}

/// An uncompressed SEC1 point from decoded coordinates of `len` bytes.
fn ec_from(x: &[u8], y: &[u8], len: usize) -> Result<Box<[u8]>, &'static str> {
    if x.len() != len || y.len() != len {
        return Err("ec coordinate of the wrong length");
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point.into_boxed_slice())
}

fn ed25519_key(map: &Map<String, Value>) -> Result<PublicKey, &'static str> {
    ed25519_from(&member(map, "x")?)
}

fn ed25519_from(x: &[u8]) -> Result<PublicKey, &'static str> {
    let key: [u8; 32] = x.try_into().map_err(|_| "ed25519 key of the wrong length")?;
    Ok(PublicKey::Ed25519(key))
}

/// The public members of one JWK as text (base64url where RFC 7518 says
/// so): what a key embedded in a JWS header (a DPoP proof's `jwk`) is
/// read from.
pub(crate) struct JwkMembers<'a> {
    pub(crate) kty: &'a str,
    pub(crate) crv: Option<&'a str>,
    pub(crate) x: Option<&'a str>,
    pub(crate) y: Option<&'a str>,
    pub(crate) n: Option<&'a str>,
    pub(crate) e: Option<&'a str>,
}

impl PublicKey {
    /// The key these members describe, and its family; the error says why
    /// there is none (unknown type or curve, a missing or malformed member,
    /// RSA under 2048 bits). The same rules as a key set's keys.
    pub(crate) fn from_members(jwk: &JwkMembers<'_>) -> Result<(KeyFamily, PublicKey), &'static str> {
        let need = |value: Option<&str>| value.ok_or("member missing").and_then(decode_member);
        match (jwk.kty, jwk.crv) {
            ("RSA", _) => Ok((KeyFamily::Rsa, rsa_from(&need(jwk.n)?, &need(jwk.e)?)?)),
            ("EC", Some("P-256")) => Ok((
                KeyFamily::EcP256,
                PublicKey::EcP256(ec_from(&need(jwk.x)?, &need(jwk.y)?, 32)?),
            )),
            ("EC", Some("P-384")) => Ok((
                KeyFamily::EcP384,
                PublicKey::EcP384(ec_from(&need(jwk.x)?, &need(jwk.y)?, 48)?),
            )),
            ("OKP", Some("Ed25519")) => Ok((KeyFamily::Ed25519, ed25519_from(&need(jwk.x)?)?)),
            ("EC" | "OKP", _) => Err("unsupported curve"),
            _ => Err("unsupported key type"),
        }
    }
}

/// The HMAC keys derived from an issuer's shared secret.
#[derive(Clone)]
pub(crate) struct HmacKeys {
    sha256: hmac::Key,
    sha384: hmac::Key,
    sha512: hmac::Key,
    len: usize,
}

impl HmacKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        HmacKeys {
            sha256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            sha384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            sha512: hmac::Key::new(hmac::HMAC_SHA512, secret),
            len: secret.len(),
        }
    }

    /// The secret must be at least as long as the hash output (RFC 7518 §3.2).
    pub(crate) fn long_enough_for(&self, alg: JwsAlgorithm) -> bool {
        match alg {
            JwsAlgorithm::Hs256 => self.len >= 32,
            JwsAlgorithm::Hs384 => self.len >= 48,
            JwsAlgorithm::Hs512 => self.len >= 64,
            _ => false,
        }
    }

    pub(crate) fn verify(&self, alg: JwsAlgorithm, message: &[u8], sig: &[u8]) -> bool {
        let key = match alg {
            JwsAlgorithm::Hs256 => &self.sha256,
            JwsAlgorithm::Hs384 => &self.sha384,
            JwsAlgorithm::Hs512 => &self.sha512,
            _ => return false,
        };
        hmac::verify(key, message, sig).is_ok()
    }
}

impl fmt::Debug for HmacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKeys([redacted])")
    }
}

#[cfg(test)]
mod tests;
