//! Parsing and verifying one DPoP proof: a compact JWS whose header carries
//! its public key. Read in one pass per segment into borrowed members (no
//! JSON tree), checked from the cheapest rule to the signature.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use authresult_core::Timestamp;

use super::super::error::{DpopProofReason, ValidationError};
use super::super::jose::{JwsAlgorithm, KeyFamily};
use super::super::keys::{JwkMembers, PublicKey};
use super::thumbprint::{HASH_B64_LEN, Thumbprint, hash_b64, thumbprint};
use super::{DpopConfig, DpopRequest, htu};

/// The default cap on a proof's length (8 KiB: an RSA key of 4096 bits and
/// its signature fit well).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;

/// Headers and payloads up to this many decoded bytes are decoded on the stack.
const STACK_LEN: usize = 768;
/// The longest signature of an accepted algorithm (RSA, 8192 bits), plus
/// base64's slack.
const SIGNATURE_LEN: usize = 1024 + 3;
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// What a verified proof tells the validator.
pub(crate) struct VerifiedProof {
    /// The RFC 7638 thumbprint of its key, base64url.
    pub(crate) thumbprint: Thumbprint,
    /// Its `iat`.
    pub(crate) iat: Timestamp,
    /// base64url(SHA-256(thumbprint, NUL, jti)): what the replay cache keeps.
    replay_key: [u8; HASH_B64_LEN],
}

impl VerifiedProof {
    pub(crate) fn replay_key(&self) -> &str {
        // Written by the base64url encoder: ASCII.
        std::str::from_utf8(&self.replay_key).unwrap_or_default()
    }
}

fn refuse(reason: DpopProofReason) -> ValidationError {
    ValidationError::dpop(reason)
}

fn malformed() -> ValidationError {
    refuse(DpopProofReason::Malformed)
}

/// A header or claim member of any JSON type, strings borrowed where they
/// have no escapes; nested values are skipped, not built.
enum Member<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor(std::marker::PhantomData))
    }
}

struct MemberVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MemberVisitor<'a> {
    type Value = Member<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Member::Num(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Member::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Member::Num(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Member::Other)
    }
}

impl<'a> Member<'a> {
    fn text(&self) -> Option<&str> {
        match self {
            Member::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// True for any value, `null` included: a member that must not be there at all.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The proof's header. A member named twice is a parse error.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    typ: Option<Member<'a>>,
    #[serde(borrow, default)]
    alg: Option<Member<'a>>,
    #[serde(borrow, default, deserialize_with = "jwk_object")]
    jwk: Option<Jwk<'a>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// The `jwk` header as a JSON object only: a derived struct would also read
/// an array by position, which is no JSON Web Key.
fn jwk_object<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Jwk<'a>>, D::Error> {
    struct ObjectOnly<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for ObjectOnly<'a> {
        type Value = Jwk<'a>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a json web key object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Jwk::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer
        .deserialize_map(ObjectOnly(std::marker::PhantomData))
        .map(Some)
}

/// The `jwk` header: the public members read, the private ones only noticed.
#[derive(Deserialize)]
pub(super) struct Jwk<'a> {
    #[serde(borrow, default)]
    kty: Option<Member<'a>>,
    #[serde(borrow, default)]
    crv: Option<Member<'a>>,
    #[serde(borrow, default)]
    x: Option<Member<'a>>,
    #[serde(borrow, default)]
    y: Option<Member<'a>>,
    #[serde(borrow, default)]
    n: Option<Member<'a>>,
    #[serde(borrow, default)]
    e: Option<Member<'a>>,
    #[serde(default, deserialize_with = "present")]
    d: bool,
    #[serde(default, deserialize_with = "present")]
    p: bool,
    #[serde(default, deserialize_with = "present")]
    q: bool,
    #[serde(default, deserialize_with = "present")]
    dp: bool,
    #[serde(default, deserialize_with = "present")]
    dq: bool,
    #[serde(default, deserialize_with = "present")]
    qi: bool,
    #[serde(default, deserialize_with = "present")]
    oth: bool,
    #[serde(default, deserialize_with = "present")]
    k: bool,
}

impl<'a> Jwk<'a> {
    fn has_private_members(&self) -> bool {
        self.d || self.p || self.q || self.dp || self.dq || self.qi || self.oth || self.k
    }

    /// The public members as text, and the key they make (the rules of a
    /// key set's keys); the error says why there is none.
    pub(super) fn public_key(&self) -> Result<(JwkMembers<'_>, KeyFamily, PublicKey), &'static str> {
        fn text<'m>(member: &'m Option<Member<'_>>) -> Result<Option<&'m str>, &'static str> {
            match member {
                None => Ok(None),
                Some(m) => m.text().map(Some).ok_or("member is not a string"),
            }
        }
        let members = JwkMembers {
            kty: text(&self.kty)?.ok_or("no kty")?,
            crv: text(&self.crv)?,
            x: text(&self.x)?,
            y: text(&self.y)?,
            n: text(&self.n)?,
            e: text(&self.e)?,
        };
        let (family, key) = PublicKey::from_members(&members)?;
        Ok((members, family, key))
    }
}

/// The proof's claims. A member named twice is a parse error.
#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(borrow, default)]
    jti: Option<Member<'a>>,
    #[serde(borrow, default)]
    htm: Option<Member<'a>>,
    #[serde(borrow, default)]
    htu: Option<Member<'a>>,
    #[serde(borrow, default)]
    iat: Option<Member<'a>>,
    #[serde(borrow, default)]
    ath: Option<Member<'a>>,
    #[serde(borrow, default)]
    nonce: Option<Member<'a>>,
}

/// Decodes a base64url segment into `buf` when it fits, else onto the heap.
fn decode<'b>(segment: &str, buf: &'b mut [u8], heap: &'b mut Vec<u8>) -> Result<&'b [u8], ValidationError> {
    if segment.len() <= buf.len() / 3 * 4 {
        let len = URL_SAFE_NO_PAD
            .decode_slice(segment, buf)
            .map_err(|_| malformed())?;
        Ok(&buf[..len])
    } else {
        *heap = URL_SAFE_NO_PAD.decode(segment).map_err(|_| malformed())?;
        Ok(heap)
    }
}

/// Parses a JSON object (not an array read by position) into `T`.
pub(super) fn object<'b, T: Deserialize<'b>>(bytes: &'b [u8]) -> Result<T, ValidationError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    if !text.trim_start().starts_with('{') {
        return Err(malformed());
    }
    serde_json::from_str(text).map_err(|_| malformed())
}

/// A required string claim.
fn required<'m>(member: &'m Option<Member<'_>>, claim: &'static str) -> Result<&'m str, ValidationError> {
    match member {
        None => Err(refuse(DpopProofReason::MissingClaim { claim })),
        Some(m) => m
            .text()
            .ok_or_else(|| refuse(DpopProofReason::InvalidClaim { claim })),
    }
}

/// Verifies `request`'s proof at `now`, for the access token `token` when
/// one is presented (then `ath` is required: a resource request; none at a
/// token endpoint). The replay cache is the caller's last step.
pub(crate) fn verify(
    config: &DpopConfig,
    request: &DpopRequest<'_>,
    token: Option<&str>,
    now: Timestamp,
) -> Result<VerifiedProof, ValidationError> {
    let proof = request.proof;
    if proof.len() > config.max_proof_len {
        return Err(malformed());
    }
    let (header_b64, rest) = proof.split_once('.').ok_or_else(malformed)?;
    let (payload_b64, signature_b64) = rest.split_once('.').ok_or_else(malformed)?;
    if signature_b64.contains('.') {
        return Err(malformed());
    }
    let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];

    let (mut header_buf, mut header_heap) = ([0u8; STACK_LEN], Vec::new());
    let header: Header<'_> = object(decode(header_b64, &mut header_buf, &mut header_heap)?)?;
    if header.typ.as_ref().and_then(Member::text) != Some("dpop+jwt") {
        return Err(refuse(DpopProofReason::WrongType));
    }
    if header.crit {
        // No JWS extension is implemented, so any critical one is unknown.
        return Err(malformed());
    }
    let alg = header
        .alg
        .as_ref()
        .and_then(Member::text)
        .and_then(JwsAlgorithm::from_name)
        .filter(|alg| !alg.is_symmetric() && config.algorithms.contains(alg))
        .ok_or_else(|| refuse(DpopProofReason::AlgorithmNotAllowed))?;
    let jwk = header
        .jwk
        .as_ref()
        .ok_or_else(|| refuse(DpopProofReason::BadKey))?;
    if jwk.has_private_members() {
        return Err(refuse(DpopProofReason::PrivateKey));
    }
    let (members, family, key) = jwk.public_key().map_err(|_| refuse(DpopProofReason::BadKey))?;
    if family != alg.family() {
        return Err(refuse(DpopProofReason::BadKey));
    }

    let (mut payload_buf, mut payload_heap) = ([0u8; STACK_LEN], Vec::new());
    let claims: Claims<'_> = object(decode(payload_b64, &mut payload_buf, &mut payload_heap)?)?;
    let htm = required(&claims.htm, "htm")?;
    if htm != request.method {
        return Err(refuse(DpopProofReason::MethodMismatch));
    }
    let htu = required(&claims.htu, "htu")?;
    if !htu::same_resource(htu, request.uri) {
        return Err(refuse(DpopProofReason::UriMismatch));
    }
    let iat = match &claims.iat {
        None => return Err(refuse(DpopProofReason::MissingClaim { claim: "iat" })),
        Some(Member::Num(secs)) if secs.is_finite() && *secs >= 0.0 && *secs < 253_402_300_800.0 => {
            Timestamp::from_millis((secs * 1000.0) as u64)
        }
        Some(_) => return Err(refuse(DpopProofReason::InvalidClaim { claim: "iat" })),
    };
    if now.saturating_add(config.future_skew) < iat {
        return Err(refuse(DpopProofReason::IssuedInFuture));
    }
    if now > iat.saturating_add(config.max_age) {
        return Err(refuse(DpopProofReason::Stale));
    }
    let jti = required(&claims.jti, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(refuse(DpopProofReason::InvalidClaim { claim: "jti" }));
    }
    if let Some(token) = token {
        let ath = required(&claims.ath, "ath")?;
        if ath.as_bytes() != hash_b64(&[token.as_bytes()]).as_slice() {
            return Err(refuse(DpopProofReason::AccessTokenHashMismatch));
        }
    }

    let mut signature = [0u8; SIGNATURE_LEN];
    if signature_b64.len() > (SIGNATURE_LEN - 3).div_ceil(3) * 4 {
        return Err(malformed());
    }
    let len = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .map_err(|_| malformed())?;
    if !key.verify(alg, signing_input, &signature[..len]) {
        return Err(refuse(DpopProofReason::InvalidSignature));
    }

    if let Some(nonces) = &config.nonces {
        let fresh = claims
            .nonce
            .as_ref()
            .and_then(Member::text)
            .is_some_and(|nonce| nonces.accepts(nonce, now));
        if !fresh {
            return Err(ValidationError::UseDpopNonce {
                nonce: nonces.current(now),
            });
        }
    }

    let thumbprint = thumbprint(&members);
    let replay_key = hash_b64(&[thumbprint.as_slice(), &[0], jti.as_bytes()]);
    Ok(VerifiedProof {
        thumbprint,
        iat,
        replay_key,
    })
}
