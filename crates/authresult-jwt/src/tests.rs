//! Unit tests of the validation internals: the token cache's eviction and
//! expiry, NumericDate ranges, strict JSON objects, JWK parsing and token
//! kinds.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::sync::Arc;

use authresult_core::Timestamp;
use serde_json::{Map, Value, json};

use super::cache::TokenCache;
use super::claim_source::{ClaimSource, KnownClaims};
use super::claims::{ClaimStore, ValidatedToken, Verification};
use super::classify::classify;
use super::error::{TokenPurpose, TokenTypeReason, ValidationErrorKind, sanitize};
use super::jose::{JwsAlgorithm, TypHeader};
use super::keys::{JwkSet, Selected};
use super::typed_claims::{TimeRules, Typed, numeric_date};
use authresult_core::parse_strict_object;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Rules that never refuse a token without time claims.
const RULES: TimeRules = TimeRules {
    leeway: std::time::Duration::ZERO,
    max_age: None,
};

fn ms(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn validated(sub: &str) -> ValidatedToken {
    let mut claims = object(json!({"sub": sub}));
    Typed::extract(&mut claims).unwrap().into_token(
        &Arc::from("https://issuer.test"),
        TokenPurpose::Access,
        Verification::Signature,
        ClaimStore::Parsed(claims),
    )
}

#[test]
fn the_cache_answers_only_the_exact_token_until_it_expires() {
    let cache = TokenCache::new(100, 1 << 20);
    cache.insert("token-a", validated("a"), RULES, (2_000, 1_000), 0);
    assert_eq!(
        cache.get(b"token-a", ms(1_500), None).unwrap().unwrap().subject(),
        Some("a")
    );
    assert!(cache.get(b"token-b", ms(1_500), None).is_none());
    assert!(cache.get(b"token-", ms(1_500), None).is_none());
    assert!(
        cache.get(b"token-a", ms(2_000), None).is_none(),
        "an entry lives strictly before its expiry"
    );
    assert_eq!(cache.len(), 0, "an expired entry is dropped when seen");
    assert_eq!(cache.bytes(), 0);
    // Already expired: not stored.
    cache.insert("token-c", validated("c"), RULES, (1_000, 1_000), 0);
    assert_eq!(cache.len(), 0);
}

#[test]
fn the_cache_admits_only_b64token_text() {
    // The layer looks a header's raw bytes up before checking them: a hit
    // must prove they are text a header may carry as a token.
    let cache = TokenCache::new(100, 1 << 20);
    for bad in ["a b", "a!b", "tök", "a=b", "", "=="] {
        cache.insert(bad, validated("x"), RULES, (u64::MAX, 0), 0);
        assert!(
            cache.get(bad.as_bytes(), ms(0), None).is_none(),
            "{bad:?} was cached"
        );
    }
    assert_eq!(cache.len(), 0);
    cache.insert("abc.DEF-_~+/==", validated("x"), RULES, (u64::MAX, 0), 0);
    assert!(cache.get(b"abc.DEF-_~+/==", ms(0), None).is_some());
}

#[test]
fn tokens_with_the_same_end_are_told_apart() {
    // The map hashes a token's length and end only: tokens that share
    // them must still each find their own entry, and no other.
    // They share a shard too (picked by the end): room for all of them.
    let cache = TokenCache::new(16 * 100, 16 << 20);
    let tail = "s".repeat(64);
    for i in 0..100 {
        cache.insert(
            &format!("{i:03}{tail}"),
            validated(&i.to_string()),
            RULES,
            (u64::MAX, 0),
            0,
        );
    }
    for i in 0..100 {
        let hit = cache
            .get(format!("{i:03}{tail}").as_bytes(), ms(0), None)
            .unwrap()
            .unwrap();
        assert_eq!(hit.subject(), Some(i.to_string().as_str()));
    }
    assert!(cache.get(format!("100{tail}").as_bytes(), ms(0), None).is_none());
    assert!(cache.get(tail.as_bytes(), ms(0), None).is_none());
}

#[test]
fn the_cache_evicts_the_oldest_entries_first() {
    // 16 shards of one entry each.
    let cache = TokenCache::new(16, 1 << 20);
    for i in 0..1_000 {
        cache.insert(&format!("token-{i}"), validated("x"), RULES, (u64::MAX, 0), 0);
        assert!(cache.len() <= 16);
    }
    assert!(
        cache.get(b"token-999", ms(0), None).is_some(),
        "the newest entry was evicted"
    );
    assert!(cache.get(b"token-0", ms(0), None).is_none());
}

#[test]
fn the_cache_respects_its_byte_budget_and_its_insertion_order_stays_bounded() {
    let cache = TokenCache::new(10_000, 16 * 4096);
    let long = "t".repeat(1500);
    for i in 0..500 {
        cache.insert(&format!("{long}{i}"), validated("x"), RULES, (u64::MAX, 0), 0);
        assert!(cache.bytes() <= 16 * 4096);
    }
    // Tokens larger than a shard's budget are never stored.
    cache.insert(&"x".repeat(5000), validated("x"), RULES, (u64::MAX, 0), 0);
    assert!(cache.get("x".repeat(5000).as_bytes(), ms(0), None).is_none());
    // Entries removed on expiry do not pile up in the insertion order.
    let cache = TokenCache::new(64, 1 << 20);
    for i in 0..10_000u64 {
        let token = format!("short-lived-{i}");
        cache.insert(&token, validated("x"), RULES, (i + 1, i), 0);
        assert!(cache.get(token.as_bytes(), ms(i + 1), None).is_none());
    }
    assert_eq!(cache.len(), 0);
    // A disabled cache stores nothing.
    let cache = TokenCache::new(0, 1 << 20);
    cache.insert("token", validated("x"), RULES, (u64::MAX, 0), 0);
    assert!(cache.get(b"token", ms(0), None).is_none());
}

#[test]
fn numeric_dates_are_range_checked() {
    let date = |v: Value| numeric_date(&object(json!({"exp": v})), "exp");
    assert_eq!(date(json!(0)).unwrap(), Some(Timestamp::from_secs(0)));
    assert_eq!(date(json!(-0.0)).unwrap(), Some(Timestamp::from_secs(0)));
    assert_eq!(date(json!(1.9)).unwrap(), Some(Timestamp::from_secs(1)));
    assert_eq!(
        date(json!(253_402_300_799u64)).unwrap(),
        Some(Timestamp::from_secs(253_402_300_799))
    );
    for bad in [
        json!(253_402_300_800u64),
        json!(-1),
        json!(-0.5),
        json!(1e19),
        json!(f64::MAX),
        json!("1"),
        json!(null),
    ] {
        let error = date(bad.clone()).unwrap_err();
        assert_eq!(error.kind(), ValidationErrorKind::InvalidClaim, "{bad}");
    }
    assert_eq!(numeric_date(&Map::new(), "exp").unwrap(), None);
}

#[test]
fn json_objects_are_strict() {
    assert!(
        parse_strict_object(r#"{"a":1,"b":{"a":2,"a":3}}"#).is_ok(),
        "only top-level members are checked"
    );
    assert_eq!(
        parse_strict_object(r#"{"a":1,"a":1}"#).unwrap_err(),
        "has a duplicate member"
    );
    assert_eq!(parse_strict_object("[1]").unwrap_err(), "is not a JSON object");
    assert_eq!(parse_strict_object("").unwrap_err(), "is not a JSON object");
    assert_eq!(parse_strict_object("{").unwrap_err(), "is not valid JSON");
    assert_eq!(
        parse_strict_object(r#"{"a":1e400}"#).unwrap_err(),
        "is not valid JSON"
    );
    assert!(parse_strict_object(" \n{}").is_ok());
}

#[test]
fn jwk_sets_skip_unusable_keys() {
    let rsa = json!({"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"});
    let set = JwkSet::from_json(
        json!({"keys": [
            1, "x", null, rsa,
            {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AAAA", "y": "AAAA"},
            {"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AAAA", "y": "AAAA"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "not base64!"},
            {"kty": "oct", "kid": "h", "k": "AAAA"},
            {"kty": 5},
            {"kid": "no-kty"}
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    // The 24-bit "RSA" key is kept only to be reported as refused.
    assert_eq!(set.key_ids().collect::<Vec<_>>(), [Some("r")]);
    match set.select(Some("r"), JwsAlgorithm::Rs256) {
        Selected::Err(e) => assert_eq!(e.kind(), ValidationErrorKind::KeyRejected),
        _ => panic!("a weak key was selected"),
    }
    assert!(matches!(
        set.select(Some("zz"), JwsAlgorithm::Rs256),
        Selected::Missing
    ));
    assert!(matches!(set.select(None, JwsAlgorithm::Es256), Selected::Missing));

    for bad in [r#"{"keys": {}}"#, r#"{"other": []}"#, "[]", "\u{1}"] {
        assert_eq!(
            JwkSet::from_json(bad.as_bytes()).unwrap_err().kind(),
            ValidationErrorKind::ProviderError
        );
    }
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"kty": "oct", "kid": i.to_string()}))
        .collect();
    assert!(JwkSet::from_json(json!({"keys": many}).to_string().as_bytes()).is_err());
    assert!(JwkSet::from_json(br#"{"keys": []}"#).unwrap().is_empty());
}

#[test]
fn token_kinds_follow_typ_then_claims() {
    let kind = |typ, claims: Value| classify(typ, &object(claims), &[], false).0;
    assert_eq!(
        kind(TypHeader::AccessToken, json!({"nonce": "n"})),
        TokenPurpose::Access
    );
    assert_eq!(kind(TypHeader::Other, json!({})), TokenPurpose::Other);
    assert_eq!(
        kind(TypHeader::Plain, json!({"typ": "Bearer", "nonce": "n"})),
        TokenPurpose::Access
    );
    assert_eq!(kind(TypHeader::Plain, json!({"typ": "ID"})), TokenPurpose::Id);
    assert_eq!(
        kind(TypHeader::Plain, json!({"typ": "Offline"})),
        TokenPurpose::Other
    );
    assert_eq!(
        kind(TypHeader::Plain, json!({"at_hash": "x", "scope": "a"})),
        TokenPurpose::Id
    );
    assert_eq!(
        kind(TypHeader::Plain, json!({"scp": ["a"]})),
        TokenPurpose::Access
    );
    assert_eq!(kind(TypHeader::Plain, json!({"sub": "s"})), TokenPurpose::Unknown);
}

#[test]
fn id_token_markers_outrank_access_markers_and_name_the_reason() {
    let login = ["native-app".to_owned()];
    let class = |typ, claims: Value| classify(typ, &object(claims), &login, false);
    let id = |reason| (TokenPurpose::Id, Some(reason));
    // The hash claims only ID tokens carry, whatever the token declares.
    for claim in ["at_hash", "c_hash", "s_hash"] {
        assert_eq!(
            class(
                TypHeader::AccessToken,
                json!({claim: "h", "typ": "Bearer", "scope": "a"})
            ),
            id(TokenTypeReason::IdTokenClaim { claim }),
            "{claim}"
        );
    }
    assert_eq!(
        class(TypHeader::Plain, json!({"nonce": "n", "scope": "a"})),
        id(TokenTypeReason::IdTokenClaim { claim: "nonce" })
    );
    assert_eq!(
        class(TypHeader::Plain, json!({"typ": "ID", "scope": "a"})),
        id(TokenTypeReason::IdTokenClaim { claim: "typ" })
    );
    // Only the login client as audience: an ID token, even when marked as
    // an access token; with other audiences, not.
    for aud in [json!("native-app"), json!(["native-app"])] {
        assert_eq!(
            class(TypHeader::AccessToken, json!({"aud": aud, "scope": "a"})),
            id(TokenTypeReason::LoginClientAudience)
        );
    }
    assert_eq!(
        class(
            TypHeader::Plain,
            json!({"aud": ["native-app", "urn:api"], "scope": "a"})
        ),
        (TokenPurpose::Access, None)
    );
    // With that audience accepted, an ID token is still told by `auth_time`
    // or by the lack of any access-token claim.
    let accepting = |claims: Value| classify(TypHeader::Plain, &object(claims), &login, true);
    for claims in [
        json!({"aud": "native-app", "auth_time": 1, "scope": "openid"}),
        json!({"aud": "native-app", "sub": "s", "email": "e"}),
    ] {
        assert_eq!(accepting(claims), id(TokenTypeReason::IdTokenShape));
    }
    assert_eq!(
        accepting(json!({"aud": "native-app", "scp": "api.read"})),
        (TokenPurpose::Access, None)
    );
    // Access-token claims, and nothing at all.
    for claim in ["scope", "scp", "client_id", "gty"] {
        assert_eq!(
            class(TypHeader::Plain, json!({"aud": "urn:api", claim: "x"})),
            (TokenPurpose::Access, None),
            "{claim}"
        );
    }
    assert_eq!(
        class(TypHeader::Plain, json!({"aud": "urn:api", "scope": null})),
        (TokenPurpose::Unknown, Some(TokenTypeReason::Unclassified))
    );
    assert_eq!(
        class(TypHeader::Plain, json!({"typ": "Logout"})),
        (TokenPurpose::Other, Some(TokenTypeReason::DeclaredType))
    );
}

#[test]
fn cache_hits_apply_the_time_rules_of_a_fresh_validation() {
    use std::time::Duration;
    let mut claims = object(json!({"sub": "a", "iat": 100, "nbf": 100, "exp": 10_000}));
    let token = Typed::extract(&mut claims).unwrap().into_token(
        &Arc::from("https://issuer.test"),
        TokenPurpose::Access,
        Verification::Signature,
        ClaimStore::Parsed(claims),
    );
    let rules = TimeRules {
        leeway: Duration::from_secs(10),
        max_age: Some(Duration::from_secs(1_000)),
    };
    let cache = TokenCache::new(100, 1 << 20);
    cache.insert("t", token.clone(), rules, (u64::MAX, 0), 0);
    for secs in [0, 89, 90, 100, 1_110, 1_111, 9_999, 10_009, 10_010, 20_000] {
        let now = Timestamp::from_secs(secs);
        let fresh = token.times().check(now, rules).map_err(|e| e.kind());
        let cached = match cache.get(b"t", now, None) {
            Some(hit) => hit.map(|_| ()).map_err(|e| e.kind()),
            None => panic!("at {secs}: no entry"),
        };
        assert_eq!(cached, fresh, "at {secs}");
        cache.insert("t", token.clone(), rules, (u64::MAX, 0), 0);
    }
}

#[test]
fn values_copied_into_errors_are_sanitized() {
    assert_eq!(sanitize("abc", 10), "abc");
    assert_eq!(sanitize("a\u{0}b\nc\u{7f}é", 10), "a?b?c??");
    assert_eq!(sanitize("abcdef", 3), "abc...");
}

#[test]
fn algorithm_names_round_trip() {
    for alg in JwsAlgorithm::ALL {
        assert_eq!(JwsAlgorithm::from_name(alg.name()), Some(alg));
        assert_eq!(alg.to_string(), alg.name());
    }
    for name in ["none", "rs256", "EDDSA", "ES256K", ""] {
        assert_eq!(JwsAlgorithm::from_name(name), None);
    }
}

#[test]
fn payloads_are_read_in_one_strict_pass() {
    let dup = Some("has a duplicate member");
    // Escaped member names are compared by their value.
    assert_eq!(KnownClaims::parse(r#"{"iss":"a","\u0069ss":"b"}"#).err(), dup);
    // Duplicates of unknown members count too, also in large objects.
    let mut members: Vec<String> = (0..40).map(|i| format!("\"c{i}\":{i}")).collect();
    assert!(KnownClaims::parse(&format!("{{{}}}", members.join(","))).is_ok());
    members.push("\"c3\":[1]".into());
    assert_eq!(
        KnownClaims::parse(&format!("{{{}}}", members.join(","))).err(),
        dup
    );
    members.insert(1, "\"c0\":0".into());
    assert_eq!(
        KnownClaims::parse(&format!("{{{}}}", members.join(","))).err(),
        dup
    );
    // Interpreted claims are kept, the others skipped.
    let mut known = KnownClaims::parse(r#"{"iss":"a","x":{"deep":[1,2,{"y":null}]},"exp":5}"#).unwrap();
    assert_eq!(known.claim("iss"), Some(&json!("a")));
    assert_eq!(known.claim("x"), None);
    assert_eq!(known.take("exp"), Some(json!(5)));
    assert_eq!(known.claim("exp"), None);
    for bad in ["[]", "1", "", "{", r#"{"a":1} {}"#, r#"{"a":tru}"#] {
        assert!(KnownClaims::parse(bad).is_err(), "{bad}");
    }
}
