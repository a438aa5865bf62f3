//! DPoP (RFC 9449) on the resource server: bound tokens accepted only with
//! a fresh proof by their key, on the full path and the cached one; each
//! hostile proof refused with its own reason; replay, nonces, and the
//! layer's challenges.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authresult_core::{ManualClock, MemoryReplayCache, Timestamp};
use authresult_jwt::{
    DpopConfig, DpopNonces, DpopProofReason as R, DpopRequest, TokenValidator, ValidationError,
    ValidationErrorKind as K, jwk_thumbprint,
};
use authresult_test_support::{JwtAlg, JwtSigner};
use serde_json::{Value, json};

use super::support::*;

pub const URI: &str = "https://api.test/sync/push";

/// The client's DPoP key (ES256), generated for this run.
pub fn client() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Es256).unwrap())
}

/// Another key: the attacker's.
fn attacker() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Es256).unwrap())
}

fn ed_client() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::EdDsa).unwrap())
}

pub fn jkt(key: &JwtSigner) -> String {
    jwk_thumbprint(&key.public_jwk().to_string()).unwrap()
}

/// An access token of the test issuer bound to `key`.
pub fn bound_token(key: &JwtSigner) -> String {
    let mut c = claims();
    c["cnf"] = json!({"jkt": jkt(key)});
    sign(rsa_a(), header("RS256", "rsa-a"), c)
}

/// base64url(SHA-256(token)).
pub fn ath(token: &str) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()))
}

/// Good proof claims for `method` `uri` with `token`, issued now.
pub fn proof_claims(method: &str, uri: &str, token: &str) -> Value {
    json!({
        "jti": format!("{:x}", rand_u64()),
        "htm": method,
        "htu": uri,
        "iat": now(),
        "ath": ath(token),
    })
}

pub fn proof_header(key: &JwtSigner) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.alg().name(), "jwk": key.public_jwk()})
}

/// A proof with this header and these claims, signed by `key`.
pub fn signed(key: &JwtSigner, header: &Value, claims: &Value) -> String {
    key.sign_jwt(header, claims).unwrap()
}

/// A good proof by `key` for a `method` request to `uri` with `token`.
pub fn proof(key: &JwtSigner, method: &str, uri: &str, token: &str) -> String {
    signed(key, &proof_header(key), &proof_claims(method, uri, token))
}

fn dpop_validator(config: DpopConfig) -> TokenValidator {
    builder(issuer_config(&jwks())).dpop(config).build().unwrap()
}

#[track_caller]
fn refused_for<T: std::fmt::Debug>(result: Result<T, ValidationError>, reason: R, proof: &str) {
    let error = assert_rejected(result, K::InvalidDpopProof, proof);
    match error {
        ValidationError::InvalidDpopProof { reason: got } => assert_eq!(got, reason, "{error}"),
        other => panic!("not a proof refusal: {other}"),
    }
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_by_its_key_is_accepted_every_time() {
    let v = dpop_validator(DpopConfig::new());
    let token = bound_token(client());
    for round in 0..3 {
        let p = proof(client(), "POST", URI, &token);
        let ok = v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI)).await;
        let ok = ok.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(ok.dpop_thumbprint(), Some(jkt(client()).as_str()));
    }
    assert_eq!(v.cached_tokens(), 1, "the token's validation is cached");
    // EdDSA proofs too.
    let token = bound_token(ed_client());
    let p = proof(ed_client(), "GET", URI, &token);
    v.validate_dpop(&token, &DpopRequest::new(&p, "GET", URI))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bound_token_without_a_proof_is_refused_fresh_and_cached() {
    let v = validator();
    let token = bound_token(client());
    assert_rejected(v.validate(&token).await, K::DpopBoundToken, &token);
    // The token's validation is cached by now: still refused as bearer.
    assert_rejected(v.validate(&token).await, K::DpopBoundToken, &token);
    assert!(v.validate_cached(&token).is_none());
    // With a proof it is fine.
    let p = proof(client(), "POST", URI, &token);
    v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
    assert!(
        v.validate_cached(&token).is_none(),
        "the sync fast path never answers a bound token"
    );
}

#[tokio::test]
async fn the_proof_is_checked_on_every_request_not_cached() {
    let v = dpop_validator(DpopConfig::new());
    let token = bound_token(client());
    let good = proof(client(), "POST", URI, &token);
    v.validate_dpop(&token, &DpopRequest::new(&good, "POST", URI))
        .await
        .unwrap();
    // The token is cached now; a bad proof with it is still refused.
    let wrong_method = proof(client(), "GET", URI, &token);
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&wrong_method, "POST", URI))
            .await,
        R::MethodMismatch,
        &wrong_method,
    );
    let by_attacker = proof(attacker(), "POST", URI, &token);
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&by_attacker, "POST", URI))
            .await,
        R::KeyMismatch,
        &by_attacker,
    );
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&good, "POST", URI))
            .await,
        R::Replayed,
        &good,
    );
}

/// Each hostile proof with the reason it is refused for; each on a fresh
/// validator so no earlier refusal (or replay) decides it.
#[tokio::test]
async fn hostile_proofs_are_each_refused_with_their_own_reason() {
    let token = bound_token(client());
    let other_token = bound_token(client());
    let key = client();
    let h = proof_header(key);
    let c = proof_claims("POST", URI, &token);
    let with = |claim: &str, value: Value| {
        let mut c = c.clone();
        c[claim] = value;
        c
    };
    let without = |claim: &str| {
        let mut c = c.clone();
        c.as_object_mut().unwrap().remove(claim);
        c
    };
    let header_with = |member: &str, value: Value| {
        let mut h = h.clone();
        h[member] = value;
        h
    };
    let mut private_jwk = key.public_jwk();
    private_jwk["d"] = json!("c2VjcmV0LXNjYWxhci1vZi10aGUta2V5LTMyYnl0ZXM");
    let mut oct_jwk = key.public_jwk();
    oct_jwk["k"] = json!("c2VjcmV0");
    let none = format!(
        "{}.{}.",
        b64(json!({"typ":"dpop+jwt","alg":"none","jwk":key.public_jwk()}).to_string()),
        b64(c.to_string())
    );
    let hs256 = JwtSigner::hmac(JwtAlg::Hs256, &[9u8; 32])
        .unwrap()
        .sign_jwt(
            &json!({"typ":"dpop+jwt","alg":"HS256","jwk":key.public_jwk()}),
            &c,
        )
        .unwrap();
    let now = now();
    let cases: Vec<(&str, String, R)> = vec![
        (
            "wrong htm",
            signed(key, &h, &with("htm", json!("GET"))),
            R::MethodMismatch,
        ),
        (
            "wrong htu",
            signed(key, &h, &with("htu", json!("https://api.test/sync/pull"))),
            R::UriMismatch,
        ),
        (
            "htu of another host",
            signed(key, &h, &with("htu", json!("https://evil.test/sync/push"))),
            R::UriMismatch,
        ),
        (
            "stale iat",
            signed(key, &h, &with("iat", json!(now - 120))),
            R::Stale,
        ),
        (
            "future iat",
            signed(key, &h, &with("iat", json!(now + 60))),
            R::IssuedInFuture,
        ),
        (
            "proof for another token",
            signed(key, &h, &with("ath", json!(ath(&other_token)))),
            R::AccessTokenHashMismatch,
        ),
        (
            "no ath",
            signed(key, &h, &without("ath")),
            R::MissingClaim { claim: "ath" },
        ),
        (
            "no jti",
            signed(key, &h, &without("jti")),
            R::MissingClaim { claim: "jti" },
        ),
        (
            "no htm",
            signed(key, &h, &without("htm")),
            R::MissingClaim { claim: "htm" },
        ),
        (
            "no iat",
            signed(key, &h, &without("iat")),
            R::MissingClaim { claim: "iat" },
        ),
        (
            "iat as text",
            signed(key, &h, &with("iat", json!(now.to_string()))),
            R::InvalidClaim { claim: "iat" },
        ),
        (
            "empty jti",
            signed(key, &h, &with("jti", json!(""))),
            R::InvalidClaim { claim: "jti" },
        ),
        (
            "thumbprint mismatch",
            proof(attacker(), "POST", URI, &token),
            R::KeyMismatch,
        ),
        ("alg none", none, R::AlgorithmNotAllowed),
        ("HS256", hs256, R::AlgorithmNotAllowed),
        (
            "private key in the header",
            signed(key, &header_with("jwk", private_jwk), &c),
            R::PrivateKey,
        ),
        (
            "symmetric member in the header",
            signed(key, &header_with("jwk", oct_jwk), &c),
            R::PrivateKey,
        ),
        (
            "no jwk",
            signed(key, &json!({"typ":"dpop+jwt","alg":"ES256"}), &c),
            R::BadKey,
        ),
        (
            "jwk of another key type",
            signed(key, &header_with("jwk", ed_client().public_jwk()), &c),
            R::BadKey,
        ),
        (
            "wrong typ",
            signed(key, &header_with("typ", json!("jwt")), &c),
            R::WrongType,
        ),
        (
            "typ differently cased",
            signed(key, &header_with("typ", json!("DPoP+JWT")), &c),
            R::WrongType,
        ),
        (
            "no typ",
            signed(key, &json!({"alg":"ES256","jwk":key.public_jwk()}), &c),
            R::WrongType,
        ),
        (
            "signed by another key",
            signed(attacker(), &h, &c),
            R::InvalidSignature,
        ),
        (
            "crit header",
            signed(key, &header_with("crit", json!(["exp"])), &c),
            R::Malformed,
        ),
        ("not a jws", "not-a-proof".to_owned(), R::Malformed),
        (
            "two members named alike",
            duplicate_htm(key, &token),
            R::Malformed,
        ),
    ];
    for (name, hostile, reason) in cases {
        let v = dpop_validator(DpopConfig::new());
        let result = v
            .validate_dpop(&token, &DpopRequest::new(&hostile, "POST", URI))
            .await;
        match result {
            Err(ValidationError::InvalidDpopProof { reason: got }) => {
                assert_eq!(got, reason, "{name}");
            }
            other => panic!("{name}: expected {reason:?}, got {other:?}"),
        }
    }
}

/// A proof whose claims name `htm` twice (`GET`, then `POST`): parsers
/// disagree on which counts.
fn duplicate_htm(key: &JwtSigner, token: &str) -> String {
    let claims = format!(
        r#"{{"jti":"{:x}","htm":"GET","htm":"POST","htu":"{URI}","iat":{},"ath":"{}"}}"#,
        rand_u64(),
        now(),
        ath(token)
    );
    key.sign_compact(JwtAlg::Es256, &proof_header(key).to_string(), &claims)
        .unwrap()
}

#[tokio::test]
async fn a_replayed_proof_is_refused_by_the_same_instance_and_one_sharing_its_cache() {
    let shared = Arc::new(MemoryReplayCache::new(1000));
    let one = dpop_validator(DpopConfig::new().replay_cache(shared.clone()));
    let two = dpop_validator(DpopConfig::new().replay_cache(shared));
    let token = bound_token(client());
    let p = proof(client(), "POST", URI, &token);
    let request = DpopRequest::new(&p, "POST", URI);
    one.validate_dpop(&token, &request).await.unwrap();
    refused_for(one.validate_dpop(&token, &request).await, R::Replayed, &p);
    refused_for(two.validate_dpop(&token, &request).await, R::Replayed, &p);
    // Separate caches do not know each other's proofs (as separate
    // processes): what the shared (Postgres) cache is for.
    let alone = dpop_validator(DpopConfig::new().replay_cache(Arc::new(MemoryReplayCache::new(1000))));
    alone.validate_dpop(&token, &request).await.unwrap();
    // Validators with the default cache share the process's.
    let first = dpop_validator(DpopConfig::new());
    let second = dpop_validator(DpopConfig::new());
    let p = proof(client(), "POST", URI, &token);
    let request = DpopRequest::new(&p, "POST", URI);
    first.validate_dpop(&token, &request).await.unwrap();
    refused_for(second.validate_dpop(&token, &request).await, R::Replayed, &p);
}

#[tokio::test]
async fn a_refused_proof_does_not_use_up_its_jti() {
    let v = dpop_validator(DpopConfig::new());
    let token = bound_token(client());
    let other = bound_token(attacker());
    let p = proof(client(), "POST", URI, &token);
    // Presented with a token it was not made for: refused before the cache.
    refused_for(
        v.validate_dpop(&other, &DpopRequest::new(&p, "POST", URI)).await,
        R::AccessTokenHashMismatch,
        &p,
    );
    v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_replay_cache_refuses_for_now_rather_than_accept_a_replay() {
    let v = dpop_validator(DpopConfig::new().replay_cache(Arc::new(MemoryReplayCache::new(1))));
    let token = bound_token(client());
    let first = proof(client(), "POST", URI, &token);
    v.validate_dpop(&token, &DpopRequest::new(&first, "POST", URI))
        .await
        .unwrap();
    let second = proof(client(), "POST", URI, &token);
    let error = assert_rejected(
        v.validate_dpop(&token, &DpopRequest::new(&second, "POST", URI))
            .await,
        K::Unavailable,
        &second,
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn unbound_tokens_with_a_proof_follow_the_configuration() {
    let token = good_token();
    let p = proof(client(), "GET", URI, &token);
    let accepting = dpop_validator(DpopConfig::new());
    let ok = accepting
        .validate_dpop(&token, &DpopRequest::new(&p, "GET", URI))
        .await
        .unwrap();
    assert_eq!(ok.dpop_thumbprint(), None);
    // The proof is still checked in full.
    let bad = proof(client(), "GET", URI, &good_token());
    refused_for(
        accepting
            .validate_dpop(&token, &DpopRequest::new(&bad, "GET", URI))
            .await,
        R::AccessTokenHashMismatch,
        &bad,
    );
    let strict = dpop_validator(DpopConfig::new().accept_unbound_tokens(false));
    let p = proof(client(), "GET", URI, &token);
    assert_rejected(
        strict
            .validate_dpop(&token, &DpopRequest::new(&p, "GET", URI))
            .await,
        K::NotDpopBound,
        &p,
    );
}

#[tokio::test]
async fn proof_times_follow_the_validators_clock_and_window() {
    let start = now();
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(start)));
    let v = builder(issuer_config(&jwks()))
        .clock(clock.clone())
        .dpop(
            DpopConfig::new()
                .max_age(Duration::from_secs(30))
                .future_skew(Duration::from_secs(2)),
        )
        .build()
        .unwrap();
    let token = bound_token(client());
    let at = |iat: u64| {
        let mut c = proof_claims("POST", URI, &token);
        c["iat"] = json!(iat);
        signed(client(), &proof_header(client()), &c)
    };
    let p = at(start - 30);
    v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
    let p = at(start - 31);
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI)).await,
        R::Stale,
        &p,
    );
    let p = at(start + 2);
    v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
    let p = at(start + 3);
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI)).await,
        R::IssuedInFuture,
        &p,
    );
}

#[tokio::test]
async fn server_nonces_are_required_when_configured() {
    let secret = [5u8; 32];
    let nonces = || DpopNonces::new(&secret, Duration::from_secs(300)).unwrap();
    let one = dpop_validator(DpopConfig::new().nonces(nonces()));
    let two = dpop_validator(DpopConfig::new().nonces(nonces()));
    let token = bound_token(client());
    let p = proof(client(), "POST", URI, &token);
    let nonce = match one
        .validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
    {
        Err(ValidationError::UseDpopNonce { nonce }) => nonce,
        other => panic!("expected use_dpop_nonce, got {other:?}"),
    };
    let with_nonce = |nonce: &str| {
        let mut c = proof_claims("POST", URI, &token);
        c["nonce"] = json!(nonce);
        signed(client(), &proof_header(client()), &c)
    };
    let p = with_nonce(&nonce);
    one.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
    // Another instance with the same secret takes the nonce too.
    let p = with_nonce(&nonce);
    two.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
        .await
        .unwrap();
    let p = with_nonce("made-up");
    assert_rejected(
        one.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
            .await,
        K::UseDpopNonce,
        &p,
    );
}

/// A token bound by another confirmation method than `jkt` (RFC 8705's
/// certificate thumbprint `x5t#S256`) is bound to something this server
/// cannot check: accepting it as a bearer token would let a thief holding
/// it without the certificate's key through.
#[tokio::test]
async fn a_token_bound_by_a_method_this_server_cannot_check_is_not_a_bearer_token() {
    let v = validator();
    let mut c = claims();
    c["cnf"] = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"});
    let token = sign(rsa_a(), header("RS256", "rsa-a"), c);
    assert_rejected(v.validate(&token).await, K::InvalidClaim, &token);
    // Nor with a proof: the proof is by a key the token does not name.
    let p = proof(client(), "POST", URI, &token);
    assert!(
        v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI))
            .await
            .is_err()
    );
}

/// RFC 9449 §4.2: `jwk` is a JSON Web Key, a JSON object. An array read by
/// position (`kty`, `crv`, `x`, `y`) is a malformed header, not a key.
#[tokio::test]
async fn a_jwk_header_written_as_an_array_is_no_key() {
    let v = dpop_validator(DpopConfig::new());
    let token = bound_token(client());
    let jwk = client().public_jwk();
    let members: Vec<Value> = ["kty", "crv", "x", "y"].iter().map(|m| jwk[*m].clone()).collect();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": members});
    let p = signed(client(), &header, &proof_claims("POST", URI, &token));
    refused_for(
        v.validate_dpop(&token, &DpopRequest::new(&p, "POST", URI)).await,
        R::Malformed,
        &p,
    );
}

/// A scheme's chain with two links for the same issuer: the first validates
/// the token and refuses its proof (no nonce, or a replay). That refusal is
/// the answer: the next link, with other DPoP settings, must not accept the
/// proof the first refused.
#[tokio::test]
async fn a_proof_refused_by_the_link_that_took_the_token_is_not_retried_on_the_next() {
    use authresult_jwt::AppAuth;
    let nonces = DpopNonces::new(&[7u8; 32], Duration::from_secs(60)).unwrap();
    let strict = dpop_validator(DpopConfig::new().nonces(nonces));
    let lenient = dpop_validator(DpopConfig::new().replay_cache(Arc::new(MemoryReplayCache::new(100))));
    let app = AppAuth::new().scheme("Bearer", [strict.into(), lenient.into()]);
    let token = bound_token(client());
    let p = proof(client(), "POST", URI, &token);
    let answer = app
        .validate_dpop("Bearer", &token, &DpopRequest::new(&p, "POST", URI))
        .await;
    assert!(
        matches!(answer, Err(ValidationError::UseDpopNonce { .. })),
        "a proof without the required nonce got {answer:?}"
    );
}
