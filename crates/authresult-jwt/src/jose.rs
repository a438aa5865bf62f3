//! Compact JWS parsing: segments, base64url, the JOSE header and the claims
//! object, all checked before any cryptography runs.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claim_source::{ClaimSource, KnownClaims};
use super::error::{TokenPart, ValidationError, sanitize};
use authresult_core::parse_strict_object;

/// The default cap on a token's length in bytes (16 KiB), applied before any
/// parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest signature of a supported algorithm: RSA with an 8192-bit modulus.
const MAX_SIGNATURE_LEN: usize = 1024;

/// A JWS signature algorithm this crate can verify (RFC 7518 names).
///
/// `none` is not one of them and is always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// `PS256`: RSASSA-PSS with SHA-256.
    Ps256,
    /// `PS384`: RSASSA-PSS with SHA-384.
    Ps384,
    /// `PS512`: RSASSA-PSS with SHA-512.
    Ps512,
    /// `ES256`: ECDSA on P-256 with SHA-256.
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384.
    Es384,
    /// `EdDSA` with Ed25519.
    EdDsa,
    /// `HS256`: HMAC with SHA-256; only with a configured shared secret.
    Hs256,
    /// `HS384`: HMAC with SHA-384; only with a configured shared secret.
    Hs384,
    /// `HS512`: HMAC with SHA-512; only with a configured shared secret.
    Hs512,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

impl JwsAlgorithm {
    /// Every algorithm this crate implements, in a fixed order (the
    /// validator's allow-list bit set indexes it).
    pub(crate) const ALL: [JwsAlgorithm; 12] = [
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Rs384,
        JwsAlgorithm::Rs512,
        JwsAlgorithm::Ps256,
        JwsAlgorithm::Ps384,
        JwsAlgorithm::Ps512,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Es384,
        JwsAlgorithm::EdDsa,
        JwsAlgorithm::Hs256,
        JwsAlgorithm::Hs384,
        JwsAlgorithm::Hs512,
    ];

    /// The algorithms allowed when an issuer names none: `RS256`, `PS256`,
    /// `ES256` and `EdDSA`.
    pub const DEFAULT: &'static [JwsAlgorithm] = &[
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Ps256,
        JwsAlgorithm::Es256,
        JwsAlgorithm::EdDsa,
    ];

    /// The RFC 7518 name, e.g. `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256 => "RS256",
            JwsAlgorithm::Rs384 => "RS384",
            JwsAlgorithm::Rs512 => "RS512",
            JwsAlgorithm::Ps256 => "PS256",
            JwsAlgorithm::Ps384 => "PS384",
            JwsAlgorithm::Ps512 => "PS512",
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::EdDsa => "EdDSA",
            JwsAlgorithm::Hs256 => "HS256",
            JwsAlgorithm::Hs384 => "HS384",
            JwsAlgorithm::Hs512 => "HS512",
        }
    }

    /// The algorithm with this exact (case-sensitive) RFC 7518 name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => JwsAlgorithm::Rs256,
            "RS384" => JwsAlgorithm::Rs384,
            "RS512" => JwsAlgorithm::Rs512,
            "PS256" => JwsAlgorithm::Ps256,
            "PS384" => JwsAlgorithm::Ps384,
            "PS512" => JwsAlgorithm::Ps512,
            "ES256" => JwsAlgorithm::Es256,
            "ES384" => JwsAlgorithm::Es384,
            "EdDSA" => JwsAlgorithm::EdDsa,
            "HS256" => JwsAlgorithm::Hs256,
            "HS384" => JwsAlgorithm::Hs384,
            "HS512" => JwsAlgorithm::Hs512,
            _ => return None,
        })
    }

    /// True for the HMAC algorithms, which need a shared secret.
    pub fn is_symmetric(self) -> bool {
        self.family() == KeyFamily::Hmac
    }

    /// The OpenID Connect token hash of `token` for a JWS signed with this
    /// algorithm (`at_hash`, `c_hash`): the left half of its SHA-2 digest
    /// (the algorithm's size; SHA-512 for EdDSA), base64url.
    pub fn token_hash(self, token: &str) -> String {
        use crate::crypto::digest;
        let digest_alg = match self {
            JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256 | JwsAlgorithm::Es256 | JwsAlgorithm::Hs256 => {
                &digest::SHA256
            }
            JwsAlgorithm::Rs384 | JwsAlgorithm::Ps384 | JwsAlgorithm::Es384 | JwsAlgorithm::Hs384 => {
                &digest::SHA384
            }
            _ => &digest::SHA512,
        };
        let hash = digest::digest(digest_alg, token.as_bytes());
        let bytes = hash.as_ref();
        URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
    }

    pub(crate) fn family(self) -> KeyFamily {
        match self {
            JwsAlgorithm::Rs256
            | JwsAlgorithm::Rs384
            | JwsAlgorithm::Rs512
            | JwsAlgorithm::Ps256
            | JwsAlgorithm::Ps384
            | JwsAlgorithm::Ps512 => KeyFamily::Rsa,
            JwsAlgorithm::Es256 => KeyFamily::EcP256,
            JwsAlgorithm::Es384 => KeyFamily::EcP384,
            JwsAlgorithm::EdDsa => KeyFamily::Ed25519,
            JwsAlgorithm::Hs256 | JwsAlgorithm::Hs384 | JwsAlgorithm::Hs512 => KeyFamily::Hmac,
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The token's `typ` header, as far as validation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypHeader {
    /// Absent, `JWT` or `application/jwt`.
    Plain,
    /// `at+jwt` or `application/at+jwt` (RFC 9068).
    AccessToken,
    /// `logout+jwt` or `application/logout+jwt` (OpenID Connect Back-Channel
    /// Logout 1.0, section 2.4).
    Logout,
    /// Any other declared type.
    Other,
}

/// A compact JWS split, decoded and parsed, with its signature **not** checked.
///
/// This is what [`TokenValidator`](crate::TokenValidator) runs first; it is
/// public so benchmarks can verify the same bytes directly with `ring`, and
/// for fuzzing. Never trust its claims.
pub struct UnverifiedJwt<'a> {
    signing_input: &'a str,
    alg: Result<JwsAlgorithm, String>,
    kid: Option<String>,
    typ: TypHeader,
    /// The decoded payload, JSON text.
    payload: String,
    known: KnownClaims,
    signature: Signature,
}

/// A decoded signature, held inline: every supported one fits.
struct Signature {
    bytes: [u8; SIGNATURE_BUF_LEN],
    len: usize,
}

/// [`MAX_SIGNATURE_LEN`] plus the slack of base64's length estimate.
const SIGNATURE_BUF_LEN: usize = MAX_SIGNATURE_LEN + 3;

/// Headers up to this many decoded bytes are decoded on the stack.
const HEADER_BUF_LEN: usize = 512;

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cty: Option<Cow<'a, str>>,
    #[serde(default)]
    enc: Option<Value>,
    #[serde(borrow, default)]
    crit: Option<Vec<Cow<'a, str>>>,
}

/// The longest `kid` accepted; longer ones are malformed (and never cause a fetch).
const MAX_KID_LEN: usize = 1024;

impl fmt::Debug for UnverifiedJwt<'_> {
    /// Shows the header fields only: the claims and signature stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedJwt")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

impl<'a> UnverifiedJwt<'a> {
    /// Parses a compact JWS of at most [`DEFAULT_MAX_TOKEN_LEN`] bytes.
    ///
    /// Fails with [`ValidationError::TooLarge`], [`ValidationError::Malformed`]
    /// (segments, base64url, UTF-8, JSON, a non-object payload, duplicate
    /// members, a non-string `kid`), [`ValidationError::Unsupported`] (JWE,
    /// nested tokens) or [`ValidationError::UnknownCritical`]. `jku`, `x5u`,
    /// `jwk` and `x5c` are ignored.
    pub fn parse(token: &'a str) -> Result<Self, ValidationError> {
        Self::parse_limited(token, DEFAULT_MAX_TOKEN_LEN)
    }

    pub(crate) fn parse_limited(token: &'a str, max_len: usize) -> Result<Self, ValidationError> {
        if token.len() > max_len {
            return Err(ValidationError::TooLarge { max: max_len });
        }
        // Split at the first and last dot (memchr-fast); more dots can only be
        // in the middle. Five segments are a JWE.
        let segments = || ValidationError::malformed(TokenPart::Token, "does not have three segments");
        let (header_b64, rest) = token.split_once('.').ok_or_else(segments)?;
        let (payload_b64, signature_b64) = rest.rsplit_once('.').ok_or_else(segments)?;
        if payload_b64.contains('.') {
            return Err(if payload_b64.bytes().filter(|b| *b == b'.').count() == 2 {
                ValidationError::Unsupported { feature: "encrypted" }
            } else {
                segments()
            });
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        // The usual small header is decoded on the stack.
        let mut header_buf = [0u8; HEADER_BUF_LEN];
        let header_vec;
        let header_bytes: &[u8] = if header_b64.len() <= (HEADER_BUF_LEN - 3) / 3 * 4 {
            let len = decode_into(header_b64, &mut header_buf, TokenPart::Header)?;
            &header_buf[..len]
        } else {
            header_vec = decode_segment(header_b64, TokenPart::Header)?;
            &header_vec
        };
        let payload_bytes = decode_segment(payload_b64, TokenPart::Payload)?;
        if signature_b64.len() > MAX_SIGNATURE_LEN.div_ceil(3) * 4 {
            return Err(ValidationError::malformed(TokenPart::Signature, "is too long"));
        }
        let mut signature = Signature {
            bytes: [0; SIGNATURE_BUF_LEN],
            len: 0,
        };
        signature.len = decode_into(signature_b64, &mut signature.bytes, TokenPart::Signature)?;

        let header_text = std::str::from_utf8(header_bytes)
            .map_err(|_| ValidationError::malformed(TokenPart::Header, "is not UTF-8"))?;
        // serde would also read a struct from a JSON array, by position.
        if !header_text.trim_start().starts_with('{') {
            return Err(ValidationError::malformed(
                TokenPart::Header,
                "is not a JSON object",
            ));
        }
        let header: RawHeader<'_> = serde_json::from_str(header_text).map_err(|e| {
            ValidationError::malformed(
                TokenPart::Header,
                match e.classify() {
                    serde_json::error::Category::Data => {
                        "has a member of the wrong type or a duplicate member"
                    }
                    _ => "is not a JSON object",
                },
            )
        })?;
        let payload = String::from_utf8(payload_bytes)
            .map_err(|_| ValidationError::malformed(TokenPart::Payload, "is not UTF-8"))?;
        let known = KnownClaims::parse(&payload)
            .map_err(|reason| ValidationError::malformed(TokenPart::Payload, reason))?;

        let alg = match header.alg.as_deref() {
            None => return Err(ValidationError::malformed(TokenPart::Header, "has no alg")),
            Some(name) => JwsAlgorithm::from_name(name).ok_or_else(|| sanitize(name, 32)),
        };
        let kid = match header.kid {
            Some(kid) if kid.len() > MAX_KID_LEN => {
                return Err(ValidationError::malformed(
                    TokenPart::Header,
                    "has an overlong kid",
                ));
            }
            other => other.map(Cow::into_owned),
        };
        if header.enc.is_some() {
            return Err(ValidationError::Unsupported { feature: "encrypted" });
        }
        if header
            .cty
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("jwt"))
        {
            return Err(ValidationError::Unsupported { feature: "nested" });
        }
        match header.crit {
            None => {}
            Some(list) if list.is_empty() => {
                return Err(ValidationError::malformed(TokenPart::Header, "has an empty crit"));
            }
            // No JWS extension is implemented, so every critical one is unknown.
            Some(_) => return Err(ValidationError::UnknownCritical),
        }
        let typ = match header.typ.as_deref() {
            None => TypHeader::Plain,
            Some(t) => {
                // Media types are case-insensitive, `application/` included.
                let t = match t.get(..12) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
                    _ => t,
                };
                if t.eq_ignore_ascii_case("jwt") {
                    TypHeader::Plain
                } else if t.eq_ignore_ascii_case("at+jwt") {
                    TypHeader::AccessToken
                } else if t.eq_ignore_ascii_case("logout+jwt") {
                    TypHeader::Logout
                } else {
                    TypHeader::Other
                }
            }
        };
        Ok(UnverifiedJwt {
            signing_input,
            alg,
            kid,
            typ,
            payload,
            known,
            signature,
        })
    }

    /// The header's `alg`, when it names a supported algorithm.
    pub fn algorithm(&self) -> Option<JwsAlgorithm> {
        self.alg.as_ref().ok().copied()
    }

    /// The header's `kid`.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The unverified `iss` claim, when it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.known.claim("iss").and_then(Value::as_str)
    }

    /// The unverified payload: JSON text of an object without duplicate members.
    pub fn payload_json(&self) -> &str {
        &self.payload
    }

    /// The unverified claims, parsed from [`payload_json`](Self::payload_json)
    /// on each call.
    pub fn claims(&self) -> Map<String, Value> {
        parse_strict_object(&self.payload).unwrap_or_default()
    }

    /// The signed bytes: `base64url(header) "." base64url(payload)`.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature.bytes[..self.signature.len]
    }

    /// True when the `typ` header declares a JWT access token (`at+jwt`,
    /// RFC 9068), which is never an ID token.
    pub fn declares_access_token(&self) -> bool {
        self.typ == TypHeader::AccessToken
    }

    pub(crate) fn alg(&self) -> Result<JwsAlgorithm, ValidationError> {
        self.alg
            .clone()
            .map_err(|alg| ValidationError::AlgorithmNotAllowed { alg })
    }

    pub(crate) fn typ(&self) -> TypHeader {
        self.typ
    }

    pub(crate) fn known(&self) -> &KnownClaims {
        &self.known
    }

    pub(crate) fn into_parts(self) -> (KnownClaims, String) {
        (self.known, self.payload)
    }
}

/// Decodes `segment` into `buf` (large enough for it); the decoded length.
fn decode_into(segment: &str, buf: &mut [u8], part: TokenPart) -> Result<usize, ValidationError> {
    URL_SAFE_NO_PAD
        .decode_slice(segment, buf)
        .map_err(|_| ValidationError::malformed(part, "is not base64url"))
}

fn decode_segment(segment: &str, part: TokenPart) -> Result<Vec<u8>, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ValidationError::malformed(part, "is not base64url"))
}
