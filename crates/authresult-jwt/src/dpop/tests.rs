//! Unit tests of DPoP: the RFC 9449 and RFC 7638 vectors, URI comparison, nonces.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::time::Duration;

use authresult_core::Timestamp;

use super::proof::verify;
use super::*;
use crate::DpopProofReason as R;

/// RFC 9449 §4.1 (Figure 2): the proof of a token request.
const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik\
VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR\
nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE\
QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj\
oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia\
WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4\
PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
/// Its `iat`.
const RFC_IAT: u64 = 1_562_262_616;
/// RFC 9449 §6.1: the thumbprint of that proof's key (the `cnf.jkt` of the
/// example token).
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const RFC_JWK: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;

/// RFC 7638 §3.1: an RSA key and its thumbprint.
const RFC7638_JWK: &str = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

#[test]
fn rfc_7638_rsa_thumbprint() {
    assert_eq!(jwk_thumbprint(RFC7638_JWK).unwrap(), RFC7638_THUMBPRINT);
}

#[test]
fn rfc_9449_key_thumbprint() {
    assert_eq!(jwk_thumbprint(RFC_JWK).unwrap(), RFC_JKT);
    // Member order and extra members do not change it.
    let reordered = r#"{"crv":"P-256","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","use":"sig","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"}"#;
    assert_eq!(jwk_thumbprint(reordered).unwrap(), RFC_JKT);
}

#[test]
fn unusable_keys_have_no_thumbprint() {
    for jwk in [
        r#"{"kty":"oct","k":"c2VjcmV0"}"#,
        r#"{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"}"#,
        r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#,
        r#"[1,2]"#,
        r#"{"kty":"EC","kty":"EC"}"#,
    ] {
        let error = jwk_thumbprint(jwk).unwrap_err();
        assert!(
            matches!(error, ValidationError::InvalidDpopProof { reason: R::BadKey }),
            "{jwk}: {error}"
        );
    }
}

fn rfc_request() -> DpopRequest<'static> {
    DpopRequest::new(RFC_PROOF, "POST", "https://server.example.com/token")
}

#[test]
fn rfc_9449_proof_verifies() {
    let proof = verify(&DpopConfig::new(), &rfc_request(), None, at(RFC_IAT + 1)).unwrap();
    assert_eq!(proof.thumbprint.as_slice(), RFC_JKT.as_bytes());
    assert_eq!(proof.iat, at(RFC_IAT));
}

fn reason(result: Result<super::proof::VerifiedProof, ValidationError>) -> R {
    match result {
        Err(ValidationError::InvalidDpopProof { reason }) => reason,
        Err(other) => panic!("not a proof refusal: {other}"),
        Ok(_) => panic!("the proof was accepted"),
    }
}

#[test]
fn rfc_9449_proof_is_refused_for_another_request_or_time() {
    let config = DpopConfig::new();
    let now = at(RFC_IAT + 1);
    let check = |method, uri, now| verify(&config, &DpopRequest::new(RFC_PROOF, method, uri), None, now);
    assert_eq!(
        reason(check("GET", "https://server.example.com/token", now)),
        R::MethodMismatch
    );
    assert_eq!(
        reason(check("post", "https://server.example.com/token", now)),
        R::MethodMismatch
    );
    assert_eq!(
        reason(check("POST", "https://server.example.com/tokens", now)),
        R::UriMismatch
    );
    assert_eq!(
        reason(check("POST", "http://server.example.com/token", now)),
        R::UriMismatch
    );
    assert_eq!(
        reason(check("POST", "https://other.example.com/token", now)),
        R::UriMismatch
    );
    assert_eq!(
        reason(check("POST", "https://server.example.com:8443/token", now)),
        R::UriMismatch
    );
    assert_eq!(
        reason(check(
            "POST",
            "https://server.example.com/token",
            at(RFC_IAT + 61)
        )),
        R::Stale
    );
    assert_eq!(
        reason(check("POST", "https://server.example.com/token", at(RFC_IAT - 6))),
        R::IssuedInFuture
    );
    // Normalised: case of scheme and host, the default port, query, fragment.
    for same in [
        "HTTPS://Server.Example.COM/token",
        "https://server.example.com:443/token",
        "https://server.example.com/token?x=1",
        "https://server.example.com/token#f",
        "https://server.example.com/%74oken",
    ] {
        assert!(check("POST", same, now).is_ok(), "{same}");
    }
    // When a token is presented, `ath` is required.
    let with_token = verify(&config, &rfc_request(), Some("token"), now);
    assert_eq!(reason(with_token), R::MissingClaim { claim: "ath" });
}

#[test]
fn rfc_9449_proof_with_a_changed_byte_is_refused() {
    // A character in the middle of the signature.
    let mut tampered = RFC_PROOF.as_bytes().to_vec();
    let at_sig = tampered.len() - 10;
    tampered[at_sig] = if tampered[at_sig] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let request = DpopRequest::new(&tampered, "POST", "https://server.example.com/token");
    assert_eq!(
        reason(verify(&DpopConfig::new(), &request, None, at(RFC_IAT))),
        R::InvalidSignature
    );
}

#[test]
fn algorithms_outside_the_list_are_refused() {
    let config = DpopConfig::new().algorithms([crate::JwsAlgorithm::EdDsa]);
    assert_eq!(
        reason(verify(&config, &rfc_request(), None, at(RFC_IAT))),
        R::AlgorithmNotAllowed
    );
    // HMAC can never be configured.
    let only_hmac = DpopConfig::new().algorithms([crate::JwsAlgorithm::Hs256]);
    assert!(only_hmac.check_setup().is_err());
}

#[test]
fn uri_comparison() {
    use super::htu::same_resource;
    assert!(same_resource(
        "https://a.example/x/y",
        "https://A.EXAMPLE:443/x/y"
    ));
    assert!(same_resource("http://a.example:80/x", "http://a.example/x"));
    assert!(same_resource(
        "https://a.example/%7Euser",
        "https://a.example/~user"
    ));
    assert!(same_resource(
        "https://a.example/a%2fb",
        "https://a.example/a%2Fb"
    ));
    assert!(!same_resource("https://a.example/a%2Fb", "https://a.example/a/b"));
    assert!(!same_resource("https://a.example/x", "https://a.example/x/"));
    assert!(!same_resource("https://a.example/x", "https://a.example:444/x"));
    assert!(!same_resource("https://u@a.example/x", "https://a.example/x"));
    assert!(!same_resource("ftp://a.example/x", "ftp://a.example/x"));
    assert!(!same_resource("/x", "/x"));
    assert!(!same_resource("https://a.example/X", "https://a.example/x"));
}

#[test]
fn nonces_rotate_by_slot_and_agree_across_instances() {
    let secret = [7u8; 32];
    let one = DpopNonces::new(&secret, Duration::from_secs(60)).unwrap();
    let two = DpopNonces::new(&secret, Duration::from_secs(60)).unwrap();
    let other = DpopNonces::new(&[8u8; 32], Duration::from_secs(60)).unwrap();
    let t = at(1_700_000_040);
    let nonce = one.current(t);
    assert!(
        two.accepts(&nonce, t),
        "another instance with the secret accepts it"
    );
    assert!(!other.accepts(&nonce, t), "another secret does not");
    assert!(
        one.accepts(&nonce, at(1_700_000_040 + 60)),
        "still good in the next slot"
    );
    assert!(
        !one.accepts(&nonce, at(1_700_000_040 + 120)),
        "stale after two slots"
    );
    assert!(!one.accepts("", t));
    assert!(DpopNonces::new(&[1u8; 16], Duration::from_secs(60)).is_err());
    assert!(!format!("{one:?}").contains("7, 7"));
}
