//! The DataCollect sync server's own tokens (`SyncServerTokens`), made
//! exactly as its `POST /api/users/login` makes them (`jsonwebtoken`'s
//! `sign({id, email}, JWT_SECRET)`: HS256, `{id, email, iat}`), and the
//! fallback chains of `AppAuth`: accepted, refused past their maximum age or
//! without `iat`, and never verified with an issuer's public key.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ManualClock, Timestamp};
use authresult_jwt::{
    AppAuth, SyncServerSecret, SyncServerTokens, TokenCheck, ValidationErrorKind as K, Verification,
};
use serde_json::{Value, json};

use super::support::*;

/// A sync server's `JWT_SECRET` (32 bytes or more).
pub const SECRET: &[u8] = b"datacollect-sync-server-jwt-secret";
/// The start of the tests' manual clock, in seconds.
pub const T0: u64 = 1_780_000_000;

/// A token as DataCollect's sync server makes it: `jsonwebtoken`'s header
/// and `{id, email, iat}` with its secret.
pub fn datacollect_token(secret: &[u8], id: Value, email: &str, iat: u64) -> String {
    sign_hmac(
        secret,
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"id": id, "email": email, "iat": iat}),
    )
}

pub fn clock_at(seconds: u64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_millis(seconds * 1000)))
}

/// The sync server's token profile with [`SECRET`], a 7-day maximum age.
pub fn sync_tokens(clock: Arc<ManualClock>) -> SyncServerTokens {
    SyncServerTokens::builder(SyncServerSecret::new(SECRET))
        .max_age(Duration::from_secs(7 * 24 * 3600))
        .clock(clock)
        .build()
        .unwrap()
}

#[test]
fn a_datacollect_token_validates_with_id_as_subject_and_email_kept() {
    let tokens = sync_tokens(clock_at(T0 + 60));
    let token = datacollect_token(SECRET, json!(7), "ana@example.org", T0);
    let ok = tokens.validate(&token).unwrap();
    assert_eq!(ok.subject(), Some("7"));
    assert_eq!(ok.claim("email"), Some(&json!("ana@example.org")));
    assert_eq!(ok.issuer(), "default");
    assert_eq!(ok.verified_by(), Verification::Signature);
    assert_eq!(ok.expires_at(), None);
    let text_id = datacollect_token(SECRET, json!("u-7"), "ana@example.org", T0);
    assert_eq!(tokens.validate(&text_id).unwrap().subject(), Some("u-7"));
}

#[test]
fn a_datacollect_token_past_its_maximum_age_is_refused() {
    let clock = clock_at(T0);
    let tokens = sync_tokens(clock.clone());
    let token = datacollect_token(SECRET, json!(7), "ana@example.org", T0);
    tokens.validate(&token).unwrap();
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 120));
    assert_rejected(tokens.validate(&token), K::TooOld, &token);
    // A token with `exp` follows its `exp`, not the maximum age.
    let with_exp = sign_hmac(
        SECRET,
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"id": 7, "iat": T0, "exp": T0 + 30 * 24 * 3600}),
    );
    tokens.validate(&with_exp).unwrap();
    clock.advance(Duration::from_secs(30 * 24 * 3600));
    assert_rejected(tokens.validate(&with_exp), K::Expired, &with_exp);
}

#[test]
fn a_token_without_iat_or_id_is_refused() {
    let tokens = sync_tokens(clock_at(T0));
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let no_iat = sign_hmac(
        SECRET,
        header.clone(),
        json!({"id": 7, "email": "ana@example.org"}),
    );
    let error = assert_rejected(tokens.validate(&no_iat), K::MissingClaim, &no_iat);
    assert!(error.to_string().contains("iat"), "{error}");
    let no_id = sign_hmac(
        SECRET,
        header.clone(),
        json!({"email": "ana@example.org", "iat": T0}),
    );
    let error = assert_rejected(tokens.validate(&no_id), K::MissingClaim, &no_id);
    assert!(error.to_string().contains("id"), "{error}");
    let bad_id = sign_hmac(SECRET, header, json!({"id": {"n": 1}, "iat": T0}));
    assert_rejected(tokens.validate(&bad_id), K::InvalidClaim, &bad_id);
}

#[test]
fn only_hs256_with_the_configured_secret_is_accepted() {
    let tokens = sync_tokens(clock_at(T0));
    let other_secret = datacollect_token(b"another-servers-jwt-secret-of-32-bytes", json!(7), "a@b", T0);
    assert_rejected(tokens.validate(&other_secret), K::InvalidSignature, &other_secret);
    let hs512 = sign_hmac(
        SECRET,
        json!({"alg": "HS512", "typ": "JWT"}),
        json!({"id": 7, "iat": T0}),
    );
    assert_rejected(tokens.validate(&hs512), K::AlgorithmNotAllowed, &hs512);
    let rs256 = sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a"}),
        json!({"id": 7, "iat": T0}),
    );
    assert_rejected(tokens.validate(&rs256), K::AlgorithmNotAllowed, &rs256);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(json!({"id": 7, "iat": T0}).to_string())
    );
    assert!(tokens.validate(&none).is_err());
    // An ID-token claim is refused even under the secret.
    let id_token = sign_hmac(
        SECRET,
        json!({"alg": "HS256"}),
        json!({"id": 7, "iat": T0, "nonce": "n"}),
    );
    assert_rejected(tokens.validate(&id_token), K::WrongTokenType, &id_token);
    for hostile in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        &"A".repeat(20_000),
    ] {
        assert!(tokens.validate(hostile).is_err(), "{hostile:.20}");
    }
}

/// The issuer's RSA public key, as an attacker would turn it into an HMAC
/// secret: its DER form, its JWK text and its modulus.
fn public_key_secrets() -> Vec<Vec<u8>> {
    let jwk = rsa_a().jwk("rsa-a");
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    vec![
        rsa_a().public_bytes(),
        jwk.to_string().into_bytes(),
        jwks().to_string().into_bytes(),
        n,
    ]
}

#[tokio::test]
async fn an_hs256_token_signed_with_an_issuers_public_key_is_refused() {
    let app = AppAuth::new()
        .scheme("Bearer", [TokenCheck::from(sync_tokens(clock_at(now())))])
        .scheme(
            "keycloak",
            [validator().into(), sync_tokens(clock_at(now())).into()],
        );
    for secret in public_key_secrets() {
        let mut forged_claims = claims();
        forged_claims["id"] = json!(1);
        for (header, body) in [
            (json!({"alg": "HS256", "kid": "rsa-a"}), forged_claims.clone()),
            (
                json!({"alg": "HS256", "typ": "JWT"}),
                json!({"id": 1, "email": "x@y", "iat": now()}),
            ),
        ] {
            let forged = sign_hmac(&secret, header, body);
            for scheme in ["Bearer", "keycloak"] {
                let result = app.validate(scheme, &forged).await;
                assert!(
                    matches!(
                        result.as_ref().map_err(|e| e.kind()),
                        Err(K::AlgorithmNotAllowed | K::InvalidSignature)
                    ),
                    "{scheme}: {result:?}"
                );
            }
            // The issuer's validator alone refuses HMAC outright (or a token
            // that names no issuer).
            let alone = validator().validate(&forged).await.unwrap_err();
            assert!(
                matches!(alone.kind(), K::AlgorithmNotAllowed | K::MissingClaim),
                "{alone}"
            );
        }
    }
}

#[tokio::test]
async fn a_scheme_tries_its_chain_in_order() {
    let first = SyncServerTokens::builder(SyncServerSecret::new(SECRET))
        .issuer("first")
        .clock(clock_at(T0))
        .build()
        .unwrap();
    let second = SyncServerTokens::builder(SyncServerSecret::new(SECRET))
        .issuer("second")
        .clock(clock_at(T0))
        .build()
        .unwrap();
    let token = datacollect_token(SECRET, json!(7), "ana@example.org", T0);
    let forward = AppAuth::new().scheme("keycloak", [first.clone().into(), second.clone().into()]);
    assert_eq!(
        forward.validate("keycloak", &token).await.unwrap().issuer(),
        "first"
    );
    let backward = AppAuth::new().scheme("keycloak", [second.into(), first.into()]);
    assert_eq!(
        backward.validate("KeyCloak", &token).await.unwrap().issuer(),
        "second"
    );
    // The provider comes first and refuses; the sync server's secret then accepts.
    let fallback = AppAuth::new().scheme("keycloak", [validator().into(), sync_tokens(clock_at(T0)).into()]);
    assert_eq!(
        fallback.validate("keycloak", &token).await.unwrap().issuer(),
        "default"
    );
    let provider = fallback.validate("keycloak", &good_token()).await.unwrap();
    assert_eq!(provider.issuer(), ISSUER);
    // A scheme the app does not configure is refused without trying anything.
    assert_rejected(fallback.validate("auth0", &token).await, K::UnknownScheme, &token);
    assert_rejected(
        fallback.validate("Bearer", &token).await,
        K::UnknownScheme,
        &token,
    );
}

#[tokio::test]
async fn a_chain_reports_the_refusal_of_the_check_the_token_was_meant_for() {
    let app = AppAuth::new().scheme(
        "keycloak",
        [validator().into(), sync_tokens(clock_at(now())).into()],
    );
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let expired = sign(rsa_a(), header("RS256", "rsa-a"), expired);
    assert_rejected(app.validate("keycloak", &expired).await, K::Expired, &expired);
    let forged = datacollect_token(b"not-the-sync-servers-secret-at-all", json!(1), "a@b", now());
    assert_rejected(
        app.validate("keycloak", &forged).await,
        K::InvalidSignature,
        &forged,
    );
}
