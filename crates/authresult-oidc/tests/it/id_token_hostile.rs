//! The ID-token hostile cases, each refused both at the code exchange and
//! at refresh: a tampered signature, a missing `sub` or `iat`, `typ: at+jwt`,
//! two keys without `kid`, a 1024-bit RSA key, `alg: none` and an `iat` a
//! week old; with the provider's own key set and with the key set of a
//! `TokenValidator` shared with it. The JOSE refusals come from
//! `authresult-jwt` (the code the access-token validator runs), the OpenID
//! ones from the provider.

use authresult_core::{AuthResult, FailureKind, LoginResponse};
use authresult_oidc::jwt::{IssuerConfig, TokenValidator};
use authresult_oidc::{OidcError, OidcOptions};
use authresult_test_support::{JwtSigner, b64};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::support::{
    ClaimsExt as _, KID, MockIdp, WEAK_KID, fast_options, id_claims, now, sign_id_token, signing_jwk,
    signing_key, weak_jwk, weak_signing_key,
};

/// One hostile case: the key set the provider serves and the token it answers.
struct Case {
    name: &'static str,
    /// The words the refusal must contain.
    word: &'static str,
    /// The public JWKs the provider serves.
    keys: fn() -> Vec<Value>,
    token: fn(&str, Option<&str>) -> String,
}

/// A compact JWS of `header` and `claims` signed with `key` (RS256).
fn sign(header: &Value, claims: &Value, key: &JwtSigner) -> String {
    key.sign_jwt(header, claims).unwrap()
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": KID})
}

/// Valid claims for `issuer` and client `app`, with `nonce` when given.
fn claims(issuer: &str, nonce: Option<&str>) -> Value {
    let claims = id_claims(issuer);
    match nonce {
        Some(nonce) => claims.with("nonce", nonce),
        None => claims,
    }
}

fn one_key() -> Vec<Value> {
    vec![signing_jwk()]
}

/// The test key's public JWK without `kid`.
fn jwk_without_kid() -> Value {
    signing_jwk().without("kid")
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "tampered signature",
            word: "signature",
            keys: one_key,
            token: |iss, nonce| {
                let token = sign(&header(), &claims(iss, nonce), signing_key());
                let (input, signature) = token.rsplit_once('.').unwrap();
                let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
                signature[10] ^= 1;
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
            },
        },
        Case {
            name: "missing sub",
            word: "sub",
            keys: one_key,
            token: |iss, nonce| sign(&header(), &claims(iss, nonce).without("sub"), signing_key()),
        },
        Case {
            name: "missing iat",
            word: "iat",
            keys: one_key,
            token: |iss, nonce| sign(&header(), &claims(iss, nonce).without("iat"), signing_key()),
        },
        Case {
            name: "typ at+jwt",
            word: "at+jwt",
            keys: one_key,
            token: |iss, nonce| {
                let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": KID});
                sign(&header, &claims(iss, nonce), signing_key())
            },
        },
        Case {
            name: "two keys without kid",
            word: "several keys",
            keys: || vec![jwk_without_kid(), jwk_without_kid()],
            token: |iss, nonce| sign_id_token(signing_key(), None, &claims(iss, nonce)),
        },
        Case {
            name: "1024-bit rsa key",
            word: "under 2048 bits",
            keys: || vec![signing_jwk(), weak_jwk()],
            token: |iss, nonce| sign_id_token(weak_signing_key(), Some(WEAK_KID), &claims(iss, nonce)),
        },
        Case {
            name: "alg none",
            word: "none",
            keys: one_key,
            token: |iss, nonce| {
                let header = b64(json!({"alg": "none", "typ": "JWT"}).to_string());
                let payload = b64(claims(iss, nonce).to_string());
                format!("{header}.{payload}.")
            },
        },
        Case {
            name: "iat a week old",
            word: "too long ago",
            keys: one_key,
            token: |iss, nonce| {
                let claims = claims(iss, nonce).with("iat", now() - 7 * 24 * 3600);
                sign(&header(), &claims, signing_key())
            },
        },
    ]
}

/// `options`, with the key set of a validator of `mock`'s issuer when `shared`.
fn with_keys(mock: &MockIdp, mut options: OidcOptions, shared: bool) -> OidcOptions {
    if shared {
        let validator = TokenValidator::builder()
            .issuer(IssuerConfig::new(mock.issuer()).audience("urn:api"))
            .build()
            .unwrap();
        options.shared_key_set = validator.key_set(&mock.issuer());
        assert!(options.shared_key_set.is_some());
    }
    options
}

/// A code login whose token response carries `token(issuer, nonce)`.
async fn at_exchange(
    keys: Vec<Value>,
    token: impl FnOnce(&str, Option<&str>) -> String,
    shared: bool,
) -> Result<AuthResult, OidcError> {
    let mock = MockIdp::start_custom(|_| json!({}), &keys).await;
    let provider = mock.provider(with_keys(&mock, fast_options(), shared));
    let (pending, callback) = mock.code_callback(&provider).await;
    let nonce = MockIdp::nonce_of(&pending);
    let id_token = token(&mock.issuer(), Some(&nonce));
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 60, "id_token": id_token,
    })))
    .await;
    provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
}

/// A refresh (after a login with a valid ID token) whose token response
/// carries `token(issuer, None)`.
async fn at_refresh(
    keys: Vec<Value>,
    token: impl FnOnce(&str, Option<&str>) -> String,
    shared: bool,
) -> Result<AuthResult, OidcError> {
    let mock = MockIdp::start_custom(|_| json!({}), &keys).await;
    let original = sign(&header(), &claims(&mock.issuer(), Some("n1")), signing_key());
    let before = AuthResult::from_json_value(json!({
        "access_token": "old-at", "refresh_token": "old-rt", "id_token": original,
        "expires_in": 60, "profile": {"sub": "alice"},
    }))
    .unwrap();
    let id_token = token(&mock.issuer(), None);
    mock.token_response(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "new-at", "refresh_token": "new-rt", "token_type": "Bearer",
        "expires_in": 60, "id_token": id_token,
    })))
    .await;
    mock.provider(with_keys(&mock, fast_options(), shared))
        .refresh(&before)
        .await
}

fn assert_refused(result: Result<AuthResult, OidcError>, case: &Case, at: &str) {
    let error = match result {
        Ok(_) => panic!("{}: accepted at {at}", case.name),
        Err(error) => error,
    };
    assert!(
        matches!(error, OidcError::InvalidIdToken { .. }),
        "{} at {at}: {error:?}",
        case.name
    );
    assert_eq!(error.kind(), FailureKind::Protocol, "{} at {at}", case.name);
    assert!(
        error.to_string().contains(case.word),
        "{} at {at}: expected `{}` in: {error}",
        case.name,
        case.word
    );
}

#[tokio::test]
async fn hostile_id_tokens_are_refused_at_code_exchange_and_at_refresh() {
    for shared in [false, true] {
        let keys = if shared { "shared keys" } else { "own keys" };
        // The same construction, untouched, passes both ways: the refusals
        // below are the hostile part's.
        let valid = |iss: &str, nonce: Option<&str>| sign(&header(), &claims(iss, nonce), signing_key());
        let login = at_exchange(one_key(), valid, shared).await;
        assert_eq!(login.unwrap().subject(), Some("alice"), "{keys}");
        let refreshed = at_refresh(one_key(), valid, shared).await;
        assert_eq!(refreshed.unwrap().access_token.secret(), "new-at", "{keys}");

        for case in cases() {
            assert_refused(
                at_exchange((case.keys)(), case.token, shared).await,
                &case,
                &format!("code exchange ({keys})"),
            );
            assert_refused(
                at_refresh((case.keys)(), case.token, shared).await,
                &case,
                &format!("refresh ({keys})"),
            );
        }
    }
}
