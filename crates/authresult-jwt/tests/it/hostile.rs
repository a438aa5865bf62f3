//! Hostile tokens: every known JWT attack and malformation is refused with
//! the expected error kind, without a panic and without the token in the
//! error.

use authresult_jwt::{
    IssuerConfig, JwsAlgorithm, TokenPart, TokenValidator, UnverifiedJwt, ValidationError,
    ValidationErrorKind as K,
};
use authresult_test_support::PublicKey;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::support::*;

async fn rejected(token: &str, kind: K) -> ValidationError {
    assert_rejected(validator().validate(token).await, kind, token)
}

fn with(mut value: Value, key: &str, v: Value) -> Value {
    value[key] = v;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

#[tokio::test]
async fn good_tokens_of_every_algorithm_validate() {
    let v = validator();
    for (key, alg, kid) in [
        (rsa_a(), "RS256", "rsa-a"),
        (rsa_a(), "PS256", "rsa-a"),
        (p256(), "ES256", "ec-1"),
        (ed25519(), "EdDSA", "ed-1"),
    ] {
        let token = sign(key, header(alg, kid), claims());
        let ok = v.validate(&token).await.unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(ok.subject(), Some("alice"));
        assert_eq!(ok.issuer(), ISSUER);
    }
}

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let input = signing_input(&json!({"alg": alg, "typ": "JWT"}), &claims());
        rejected(&format!("{input}."), K::AlgorithmNotAllowed).await;
        // With a signature copied from a real token as well.
        let real = good_token();
        let sig = real.rsplit('.').next().unwrap();
        rejected(&format!("{input}.{sig}"), K::AlgorithmNotAllowed).await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let jwk_text = rsa_a().jwk("rsa-a").to_string();
    for secret in [rsa_a().public_bytes(), jwk_text.into_bytes()] {
        let token = sign_hmac(&secret, header("HS256", "rsa-a"), claims());
        rejected(&token, K::AlgorithmNotAllowed).await;
    }
    // Even an issuer with a shared secret refuses it: the secret differs.
    let secret = [7u8; 32];
    let v = builder(
        issuer_config(&jwks())
            .shared_secret(secret)
            .algorithms([JwsAlgorithm::Rs256, JwsAlgorithm::Hs256]),
    )
    .build()
    .unwrap();
    let forged = sign_hmac(&rsa_a().public_bytes(), header("HS256", "rsa-a"), claims());
    assert_rejected(v.validate(&forged).await, K::InvalidSignature, &forged);
    let genuine = sign_hmac(&secret, json!({"alg": "HS256"}), claims());
    v.validate(&genuine).await.unwrap();
}

#[tokio::test]
async fn an_algorithm_not_allowed_for_the_issuer_is_refused() {
    let v = builder(issuer_config(&jwks()).algorithms([JwsAlgorithm::Rs256]))
        .build()
        .unwrap();
    for (key, alg, kid) in [
        (rsa_a(), "PS256", "rsa-a"),
        (p256(), "ES256", "ec-1"),
        (ed25519(), "EdDSA", "ed-1"),
    ] {
        let token = sign(key, header(alg, kid), claims());
        assert_rejected(v.validate(&token).await, K::AlgorithmNotAllowed, &token);
    }
    let unknown = format!("{}.c2ln", signing_input(&json!({"alg": "XS999"}), &claims()));
    assert_rejected(v.validate(&unknown).await, K::AlgorithmNotAllowed, &unknown);
}

#[tokio::test]
async fn wrong_or_missing_issuer_is_refused() {
    let key = rsa_a();
    let h = || header("RS256", "rsa-a");
    rejected(
        &sign(
            key,
            h(),
            with(claims(), "iss", json!("https://evil.test/realms/field")),
        ),
        K::UntrustedIssuer,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "iss", json!(format!("{ISSUER}/")))),
        K::UntrustedIssuer,
    )
    .await;
    rejected(&sign(key, h(), without(claims(), "iss")), K::MissingClaim).await;
    rejected(&sign(key, h(), with(claims(), "iss", json!(42))), K::InvalidClaim).await;
    rejected(
        &sign(key, h(), with(claims(), "iss", json!([ISSUER]))),
        K::InvalidClaim,
    )
    .await;
}

#[tokio::test]
async fn wrong_or_missing_audience_is_refused() {
    let key = rsa_a();
    let h = || header("RS256", "rsa-a");
    rejected(
        &sign(key, h(), with(claims(), "aud", json!("urn:other"))),
        K::AudienceMismatch,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "aud", json!(["urn:other", "urn:more"]))),
        K::AudienceMismatch,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "aud", json!([]))),
        K::AudienceMismatch,
    )
    .await;
    rejected(&sign(key, h(), without(claims(), "aud")), K::AudienceMismatch).await;
    rejected(
        &sign(key, h(), with(claims(), "aud", json!([AUDIENCE, 7]))),
        K::InvalidClaim,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "aud", json!({"aud": AUDIENCE}))),
        K::InvalidClaim,
    )
    .await;
    // An array that includes the audience (Auth0: API + userinfo) is fine.
    let token = sign(
        key,
        h(),
        with(claims(), "aud", json!([AUDIENCE, "https://issuer.test/userinfo"])),
    );
    validator().validate(&token).await.unwrap();
}

#[tokio::test]
async fn time_claims_are_enforced_with_leeway() {
    let key = rsa_a();
    let h = || header("RS256", "rsa-a");
    let now = now();
    rejected(
        &sign(key, h(), with(claims(), "exp", json!(now - 120))),
        K::Expired,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "nbf", json!(now + 600))),
        K::NotYetValid,
    )
    .await;
    rejected(
        &sign(key, h(), with(claims(), "iat", json!(now + 600))),
        K::IssuedInFuture,
    )
    .await;
    // `iat` far in the past with a valid `exp`: older than the maximum age.
    rejected(
        &sign(key, h(), with(claims(), "iat", json!(now - 10 * 86_400))),
        K::TooOld,
    )
    .await;
    rejected(&sign(key, h(), with(claims(), "iat", json!(0))), K::TooOld).await;
    rejected(&sign(key, h(), without(claims(), "exp")), K::MissingClaim).await;
    // Within the default 60 s leeway.
    validator()
        .validate(&sign(key, h(), with(claims(), "exp", json!(now - 30))))
        .await
        .unwrap();
    validator()
        .validate(&sign(key, h(), with(claims(), "nbf", json!(now + 30))))
        .await
        .unwrap();
    // No leeway.
    let strict = builder(issuer_config(&jwks()).leeway(std::time::Duration::ZERO))
        .build()
        .unwrap();
    let token = sign(key, h(), with(claims(), "exp", json!(now - 30)));
    assert_rejected(strict.validate(&token).await, K::Expired, &token);
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_or_range_are_errors() {
    let key = rsa_a();
    let h = || header("RS256", "rsa-a");
    let now = now();
    for (claim, value) in [
        ("exp", json!(format!("{}", now + 300))),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([now + 300])),
        ("exp", json!(-1)),
        ("exp", json!(i64::MIN)),
        ("exp", json!(u64::MAX)),
        ("exp", json!(1e300)),
        ("exp", json!(-1e300)),
        ("exp", json!(253_402_300_800u64)),
        ("nbf", json!("yesterday")),
        ("iat", json!({"secs": 1})),
        ("iat", json!(1.5e20)),
    ] {
        let token = sign(key, h(), with(claims(), claim, value.clone()));
        let error = rejected(&token, K::InvalidClaim).await;
        assert!(error.to_string().contains(claim), "{claim}={value}: {error}");
    }
    // Fractions are fine.
    let token = sign(key, h(), with(claims(), "exp", json!(now as f64 + 300.5)));
    validator().validate(&token).await.unwrap();
}

#[tokio::test]
async fn exp_as_1e400_is_malformed_json_and_fails_before_crypto() {
    let text = format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","exp":1e400}}"#);
    let token = sign_raw(rsa_a(), "RS256", r#"{"alg":"RS256","kid":"rsa-a"}"#, &text);
    let error = rejected(&token, K::Malformed).await;
    assert!(
        matches!(
            error,
            ValidationError::Malformed {
                part: TokenPart::Payload,
                ..
            }
        ),
        "{error:?}"
    );
    // Also with an invalid signature: still malformed, not a signature error.
    let forged = format!("{}.AAAA", token.rsplit_once('.').unwrap().0);
    rejected(&forged, K::Malformed).await;
}

#[tokio::test]
async fn hostile_kids_are_unknown_or_malformed() {
    let key = rsa_a();
    for kid in [
        json!("' OR '1'='1"),
        json!("rsa-a'; DROP TABLE keys; --"),
        json!("../../../../etc/passwd"),
        json!("/dev/null"),
        json!("rsa-a\u{0000}"),
        json!(""),
    ] {
        let token = sign(key, json!({"alg": "RS256", "kid": kid}), claims());
        let error = rejected(&token, K::UnknownKey).await;
        assert!(!error.to_string().contains('\u{0}'));
    }
    let long = "k".repeat(10 * 1024);
    let token = sign(key, json!({"alg": "RS256", "kid": long}), claims());
    let error = rejected(&token, K::Malformed).await;
    assert!(error.to_string().len() < 200);
    for kid in [
        json!(42),
        json!(null),
        json!(["rsa-a"]),
        json!({"kid": "rsa-a"}),
        json!(true),
    ] {
        let token = sign(key, json!({"alg": "RS256", "kid": kid.clone()}), claims());
        let kind = if kid.is_null() { None } else { Some(K::Malformed) };
        match kind {
            Some(kind) => {
                rejected(&token, kind).await;
            }
            // `"kid": null` is no kid: the one RS256 key is used.
            None => {
                validator().validate(&token).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn embedded_key_headers_are_ignored_and_never_fetched() {
    let attacker = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [rsa_b().jwk("evil")]})))
        .mount(&attacker)
        .await;
    let evil_jwk = rsa_b().jwk("evil");
    let jku = format!("{}/jwks.json", attacker.uri());
    let headers = [
        json!({"alg": "RS256", "kid": "evil", "jku": jku}),
        json!({"alg": "RS256", "kid": "evil", "x5u": jku}),
        json!({"alg": "RS256", "kid": "evil", "jwk": evil_jwk}),
        json!({"alg": "RS256", "kid": "evil", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for h in &headers {
        rejected(&sign(rsa_b(), h.clone(), claims()), K::UnknownKey).await;
        // Claiming the genuine kid: the genuine key is used and the signature fails.
        let mut genuine_kid = h.clone();
        genuine_kid["kid"] = json!("rsa-a");
        rejected(&sign(rsa_b(), genuine_kid, claims()), K::InvalidSignature).await;
        // No kid: the one RS256 key of the set is used.
        let no_kid = without(h.clone(), "kid");
        rejected(&sign(rsa_b(), no_kid, claims()), K::InvalidSignature).await;
    }
    assert!(
        attacker.received_requests().await.unwrap().is_empty(),
        "a key was fetched from a token"
    );
}

#[tokio::test]
async fn critical_headers_nesting_and_encryption_are_refused() {
    let key = rsa_a();
    let token = sign(
        key,
        json!({"alg": "RS256", "kid": "rsa-a", "crit": ["exp"], "exp": 1}),
        claims(),
    );
    rejected(&token, K::UnknownCritical).await;
    let token = sign(
        key,
        json!({"alg": "RS256", "kid": "rsa-a", "crit": ["b64"], "b64": false}),
        claims(),
    );
    rejected(&token, K::UnknownCritical).await;
    let token = sign(key, json!({"alg": "RS256", "kid": "rsa-a", "crit": []}), claims());
    rejected(&token, K::Malformed).await;
    let token = sign(
        key,
        json!({"alg": "RS256", "kid": "rsa-a", "crit": "exp"}),
        claims(),
    );
    rejected(&token, K::Malformed).await;
    let token = sign(
        key,
        json!({"alg": "RS256", "kid": "rsa-a", "cty": "JWT"}),
        claims(),
    );
    rejected(&token, K::Unsupported).await;
    let token = sign(
        key,
        json!({"alg": "RS256", "kid": "rsa-a", "enc": "A256GCM"}),
        claims(),
    );
    rejected(&token, K::Unsupported).await;
    // A five-segment JWE.
    let jwe = format!(
        "{}.AAAA.AAAA.AAAA.AAAA",
        b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)
    );
    rejected(&jwe, K::Unsupported).await;
}

#[tokio::test]
async fn malformed_structure_fails_before_crypto() {
    let good = good_token();
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases: Vec<(String, TokenPart)> = vec![
        (format!("{h}.{p}"), TokenPart::Token),
        (format!("{h}.{p}.{s}.{s}"), TokenPart::Token),
        (format!("{h}..{p}.{s}"), TokenPart::Token),
        (".".to_owned(), TokenPart::Token),
        ("..".to_owned(), TokenPart::Header),
        (format!("{h}+.{p}.{s}"), TokenPart::Header),
        (format!("{h}=.{p}.{s}"), TokenPart::Header),
        (format!("{h}.{p}*.{s}"), TokenPart::Payload),
        (format!("{h}.{p}/.{s}"), TokenPart::Payload),
        (format!("{h}.{p}.{s}=="), TokenPart::Signature),
        (format!("{h}.{p}.{s} "), TokenPart::Signature),
        (format!("{h}.{p}.{s}AAA"), TokenPart::Signature),
        (format!("{h}.{p}.{}", "A".repeat(3000)), TokenPart::Signature),
        (format!(" {h}.{p}.{s}"), TokenPart::Header),
        (format!("{h}.{}.{s}", b64("[1,2,3]")), TokenPart::Payload),
        (format!("{h}.{}.{s}", b64("\"a string\"")), TokenPart::Payload),
        (format!("{h}.{}.{s}", b64("42")), TokenPart::Payload),
        (format!("{h}.{}.{s}", b64("null")), TokenPart::Payload),
        (format!("{h}.{}.{s}", b64("")), TokenPart::Payload),
        (
            format!("{h}.{}.{s}", b64(r#"{"iss":"a"} trailing"#)),
            TokenPart::Payload,
        ),
        (
            format!("{h}.{}.{s}", b64(r#"{"iss":"a","iss":"b"}"#)),
            TokenPart::Payload,
        ),
        (
            format!(
                "{h}.{}.{s}",
                b64([b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'])
            ),
            TokenPart::Payload,
        ),
        (format!("{}.{p}.{s}", b64([0xc3, 0x28])), TokenPart::Header),
        (format!("{}.{p}.{s}", b64("[]")), TokenPart::Header),
        (
            format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","alg":"none"}"#)),
            TokenPart::Header,
        ),
        (format!("{}.{p}.{s}", b64(r#"{"alg":256}"#)), TokenPart::Header),
        (format!("{}.{p}.{s}", b64(r#"{"typ":"JWT"}"#)), TokenPart::Header),
    ];
    for (token, part) in cases {
        let error = rejected(&token, K::Malformed).await;
        match error {
            ValidationError::Malformed { part: found, .. } => assert_eq!(found, part, "{token:.60}: {error}"),
            other => panic!("{other:?}"),
        }
        // The public parser agrees.
        assert!(UnverifiedJwt::parse(&token).is_err());
    }
    // Not a JWT at all, and no introspection configured.
    for token in ["", "opaque-token", "a b c"] {
        rejected(token, K::Malformed).await;
    }
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_parsing() {
    let huge = "A".repeat(2 * 1024 * 1024);
    let error = rejected(&huge, K::TooLarge).await;
    assert!(matches!(error, ValidationError::TooLarge { max: 16384 }));
    let big_claims = with(claims(), "pad", json!("x".repeat(20 * 1024)));
    let token = sign(rsa_a(), header("RS256", "rsa-a"), big_claims);
    rejected(&token, K::TooLarge).await;
    assert!(matches!(
        UnverifiedJwt::parse(&huge),
        Err(ValidationError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn the_signature_is_checked_before_the_claims() {
    // A forged token with every claim wrong reports the signature.
    let bad_claims = json!({"iss": ISSUER, "aud": "urn:other", "exp": 1, "nbf": 9_999_999_999u64, "iat": 0});
    let token = sign(rsa_b(), header("RS256", "rsa-a"), bad_claims.clone());
    rejected(&token, K::InvalidSignature).await;
    let token = sign(
        rsa_b(),
        header("RS256", "rsa-a"),
        with(claims(), "exp", json!(now() - 3600)),
    );
    rejected(&token, K::InvalidSignature).await;
    // A genuine signature moved onto other claims.
    let genuine = good_token();
    let sig = genuine.rsplit('.').next().unwrap();
    let other = signing_input(
        &header("RS256", "rsa-a"),
        &with(claims(), "sub", json!("mallory")),
    );
    rejected(&format!("{other}.{sig}"), K::InvalidSignature).await;
    // An empty signature.
    rejected(&format!("{other}."), K::InvalidSignature).await;
}

#[tokio::test]
async fn key_selection_honours_kid_use_key_ops_alg_and_type() {
    let mut enc = rsa_a().jwk("rsa-enc");
    enc["use"] = json!("enc");
    let mut ops = rsa_a().jwk("rsa-ops");
    ops["key_ops"] = json!(["encrypt"]);
    let mut verify_ops = rsa_a().jwk("rsa-verify");
    verify_ops["key_ops"] = json!(["verify"]);
    verify_ops.as_object_mut().unwrap().remove("use");
    let mut alg512 = rsa_a().jwk("rsa-512");
    alg512["alg"] = json!("RS512");
    let set = json!({"keys": [enc, ops, verify_ops, alg512, weak_rsa_jwk("weak"), p256().jwk("ec-1"),
                              {"kty": "oct", "kid": "hmac", "k": b64([1u8; 32])}]});
    let v = builder(issuer_config(&set)).build().unwrap();
    let check = |kid: &'static str, alg: &'static str, key: &'static TestKey| {
        let v = v.clone();
        async move { v.validate(&sign(key, header(alg, kid), claims())).await }
    };
    check("rsa-verify", "RS256", rsa_a()).await.unwrap();
    assert_eq!(
        check("rsa-enc", "RS256", rsa_a()).await.unwrap_err().kind(),
        K::UnknownKey
    );
    assert_eq!(
        check("rsa-ops", "RS256", rsa_a()).await.unwrap_err().kind(),
        K::UnknownKey
    );
    assert_eq!(
        check("rsa-512", "RS256", rsa_a()).await.unwrap_err().kind(),
        K::UnknownKey
    );
    // ES256 naming an RSA key, and RS256 naming an EC key.
    assert_eq!(
        check("rsa-verify", "ES256", p256()).await.unwrap_err().kind(),
        K::UnknownKey
    );
    assert_eq!(
        check("ec-1", "RS256", rsa_a()).await.unwrap_err().kind(),
        K::UnknownKey
    );
    // A symmetric key published in the set is never used.
    let token = sign_hmac(&[1u8; 32], header("HS256", "hmac"), claims());
    assert_rejected(v.validate(&token).await, K::AlgorithmNotAllowed, &token);
    // RSA under 2048 bits.
    let error = check("weak", "RS256", rsa_a()).await.unwrap_err();
    assert_eq!(error.kind(), K::KeyRejected);
    assert!(error.to_string().contains("2048"), "{error}");
    // Without kid: one RS256 candidate is used (`rsa-verify`; the others are unusable).
    v.validate(&sign(rsa_a(), json!({"alg": "RS256"}), claims()))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_kid_several_matching_keys_are_an_error() {
    let set = json!({"keys": [rsa_a().jwk("one"), rsa_b().jwk("two")]});
    let v = builder(issuer_config(&set)).build().unwrap();
    let token = sign(rsa_a(), json!({"alg": "RS256"}), claims());
    assert_rejected(v.validate(&token).await, K::AmbiguousKey, &token);
    // With a kid it is fine.
    v.validate(&sign(rsa_b(), header("RS256", "two"), claims()))
        .await
        .unwrap();
    // Duplicate kids are ambiguous as well.
    let set = json!({"keys": [rsa_a().jwk("same"), rsa_b().jwk("same")]});
    let v = builder(issuer_config(&set)).build().unwrap();
    let token = sign(rsa_a(), header("RS256", "same"), claims());
    assert_rejected(v.validate(&token).await, K::AmbiguousKey, &token);
}

#[tokio::test]
async fn hmac_needs_a_long_enough_configured_secret() {
    let short = builder(issuer_config(&jwks()).shared_secret([1u8; 16])).build();
    assert_eq!(short.unwrap_err().kind(), K::Configuration);
    let no_secret = builder(issuer_config(&jwks()).algorithms([JwsAlgorithm::Hs256])).build();
    assert_eq!(no_secret.unwrap_err().kind(), K::Configuration);
    let for_512 = builder(
        issuer_config(&jwks())
            .shared_secret([1u8; 32])
            .algorithms([JwsAlgorithm::Hs512]),
    )
    .build();
    assert_eq!(for_512.unwrap_err().kind(), K::Configuration);

    let secret = [9u8; 64];
    let v = builder(
        issuer_config(&jwks())
            .shared_secret(secret)
            .algorithms([JwsAlgorithm::Hs256, JwsAlgorithm::Hs512]),
    )
    .build()
    .unwrap();
    v.validate(&sign_hmac(&secret, json!({"alg": "HS256"}), claims()))
        .await
        .unwrap();
    v.validate(&sign_hmac(&secret, json!({"alg": "HS512"}), claims()))
        .await
        .unwrap();
    let hs384 = sign_hmac(&secret, json!({"alg": "HS384"}), claims());
    assert_rejected(v.validate(&hs384).await, K::AlgorithmNotAllowed, &hs384);
    let wrong = sign_hmac(&[8u8; 64], json!({"alg": "HS256"}), claims());
    assert_rejected(v.validate(&wrong).await, K::InvalidSignature, &wrong);
    // Only the HMAC algorithms listed; RS256 is then not allowed.
    let rs = good_token();
    assert_rejected(v.validate(&rs).await, K::AlgorithmNotAllowed, &rs);
}

#[tokio::test]
async fn an_hmac_only_issuer_needs_no_url_and_fetches_nothing() {
    let secret = [3u8; 32];
    let v = TokenValidator::builder()
        .issuer(
            IssuerConfig::new("sync-server")
                .audience("sync")
                .shared_secret(secret)
                .algorithms([JwsAlgorithm::Hs256])
                // The server's own tokens carry no type marker.
                .accept_unclassified_tokens(true),
        )
        .build()
        .unwrap();
    v.prefetch().await.unwrap();
    let token = sign_hmac(
        &secret,
        json!({"alg": "HS256"}),
        json!({"iss": "sync-server", "aud": "sync", "exp": now() + 60}),
    );
    v.validate(&token).await.unwrap();
    let rs = sign(
        rsa_a(),
        json!({"alg": "RS256"}),
        json!({"iss": "sync-server", "aud": "sync", "exp": now() + 60}),
    );
    assert_rejected(v.validate(&rs).await, K::AlgorithmNotAllowed, &rs);
}

#[test]
fn the_public_parser_exposes_the_signed_bytes() {
    let token = good_token();
    let jwt = UnverifiedJwt::parse(&token).unwrap();
    assert_eq!(jwt.algorithm(), Some(JwsAlgorithm::Rs256));
    assert_eq!(jwt.key_id(), Some("rsa-a"));
    assert_eq!(jwt.issuer(), Some(ISSUER));
    assert_eq!(jwt.signing_input(), token.rsplit_once('.').unwrap().0.as_bytes());
    assert_eq!(jwt.signature().len(), 256);
    // The raw check a benchmark would run.
    let Some(PublicKey::Rsa { n, e }) = rsa_a().signer().public_key() else {
        unreachable!()
    };
    let public = ring::signature::RsaPublicKeyComponents { n, e };
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            jwt.signing_input(),
            jwt.signature(),
        )
        .unwrap();
}
