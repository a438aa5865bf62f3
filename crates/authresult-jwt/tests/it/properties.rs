//! Property tests: random and mutated tokens never panic the validator and a
//! token whose bytes were changed is never accepted, even after the genuine
//! token was cached. Correctly signed tokens with random claims are accepted
//! only when their claims are acceptable.

use std::sync::OnceLock;

use authresult_jwt::{TokenValidator, UnverifiedJwt, ValidatedToken, ValidationError};
use authresult_test_support::{JwtAlg, JwtSigner};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::support::*;

const SECRET: [u8; 32] = [5; 32];

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
}

fn shared() -> &'static TokenValidator {
    static VALIDATOR: OnceLock<TokenValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        builder(issuer_config(&jwks()).shared_secret(SECRET))
            .build()
            .unwrap()
    })
}

fn validate(token: &str) -> Result<ValidatedToken, ValidationError> {
    RUNTIME.with(|rt| rt.block_on(shared().validate(token)))
}

/// Genuine tokens of every algorithm, each validated once (so it is cached).
fn genuine() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let mut c = claims();
        c["exp"] = json!(now() + 3600);
        let tokens = vec![
            sign(rsa_a(), header("RS256", "rsa-a"), c.clone()),
            sign(rsa_a(), header("PS256", "rsa-a"), c.clone()),
            sign(p256(), header("ES256", "ec-1"), c.clone()),
            sign(ed25519(), header("EdDSA", "ed-1"), c.clone()),
            sign_hmac(&SECRET, json!({"alg": "HS256", "typ": "at+jwt"}), c),
        ];
        for token in &tokens {
            validate(token).unwrap();
        }
        tokens
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        Just(json!(ISSUER)),
        Just(json!(AUDIENCE)),
        Just(json!(now() + 300)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Claims built from the good ones with some members replaced or removed.
fn arb_claims() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "iss",
        "aud",
        "exp",
        "nbf",
        "iat",
        "sub",
        "scope",
        "scp",
        "realm_access",
        "resource_access",
        "org_id",
        "permissions",
        "typ",
        "nonce",
    ]);
    prop::collection::vec((names, prop::option::of(arb_json())), 0..5).prop_map(|changes| {
        let mut c = claims();
        for (name, value) in changes {
            match value {
                Some(v) => c[name] = v,
                None => {
                    c.as_object_mut().unwrap().remove(name);
                }
            }
        }
        c
    })
}

fn accepted_claims_are_acceptable(token: &ValidatedToken) {
    let claims: &Map<String, Value> = token.claims();
    assert_eq!(claims.get("iss"), Some(&json!(ISSUER)));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(list)) => list.contains(&json!(AUDIENCE)),
        _ => false,
    };
    assert!(aud_ok, "accepted a token for another audience: {claims:?}");
    let exp = claims.get("exp").and_then(Value::as_f64).unwrap();
    assert!(exp + 60.0 > now() as f64, "accepted an expired token");
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_text_is_never_accepted(text in ".{0,300}") {
        prop_assert!(validate(&text).is_err());
        let _ = UnverifiedJwt::parse(&text);
    }

    #[test]
    fn random_bytes_are_never_accepted(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(validate(&text).is_err());
    }

    #[test]
    fn random_segments_are_never_accepted(
        h in "[A-Za-z0-9_-]{0,80}",
        p in "[A-Za-z0-9_-]{0,200}",
        s in "[A-Za-z0-9_=+/-]{0,400}",
    ) {
        let token = format!("{h}.{p}.{s}");
        prop_assert!(validate(&token).is_err());
    }

    #[test]
    fn random_json_headers_and_payloads_never_panic(header in arb_json(), payload in arb_json()) {
        let input = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
        let unsigned = format!("{input}.{}", b64([1u8; 64]));
        prop_assert!(validate(&unsigned).is_err());
        // Correctly signed with the shared secret, whatever the header says.
        let hs256 = JwtSigner::hmac(JwtAlg::Hs256, &SECRET).unwrap();
        let signed = hs256.sign_compact(JwtAlg::Hs256, &header.to_string(), &payload.to_string()).unwrap();
        if let Ok(token) = validate(&signed) {
            accepted_claims_are_acceptable(&token);
        }
    }

    #[test]
    fn signed_tokens_with_random_claims_are_accepted_only_when_acceptable(claims in arb_claims()) {
        let token = sign_hmac(&SECRET, json!({"alg": "HS256"}), claims);
        if let Ok(validated) = validate(&token) {
            accepted_claims_are_acceptable(&validated);
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_flipped_bit_is_never_accepted(which in 0usize..5, position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let genuine = &genuine()[which];
        let mut bytes = genuine.clone().into_bytes();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_ne!(&mutated, genuine);
        prop_assert!(validate(&mutated).is_err(), "accepted a token with bit {} of byte {} flipped", bit, i);
    }

    #[test]
    fn a_replaced_inserted_or_removed_byte_is_never_accepted(
        which in 0usize..5,
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        edit in 0u8..4,
    ) {
        let genuine = &genuine()[which];
        let mut bytes = genuine.clone().into_bytes();
        let i = position.index(bytes.len());
        match edit {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            2 => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        if &mutated != genuine {
            prop_assert!(validate(&mutated).is_err(), "accepted an edited token (edit {} at {})", edit, i);
        }
    }

    #[test]
    fn swapped_segments_are_never_accepted(a in 0usize..5, b in 0usize..5, part in 0usize..3) {
        prop_assume!(a != b);
        let first: Vec<&str> = genuine()[a].split('.').collect();
        let second: Vec<&str> = genuine()[b].split('.').collect();
        let mut mixed = first.clone();
        mixed[part] = second[part];
        let mixed = mixed.join(".");
        if mixed != genuine()[a] {
            prop_assert!(validate(&mixed).is_err());
        }
    }
}
