//! The cache of validated tokens: hits for repeated tokens, expiry with the
//! token, bounded memory under a flood of distinct tokens.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ManualClock, Timestamp};
use authresult_jwt::ValidationErrorKind as K;
use serde_json::json;

use super::support::*;

const SECRET: [u8; 32] = [42; 32];

#[tokio::test]
async fn a_repeated_token_is_answered_from_the_cache() {
    let v = validator();
    let token = good_token();
    assert!(v.validate_cached(&token).is_none());
    let first = v.validate(&token).await.unwrap();
    let cached = v.validate_cached(&token).unwrap();
    assert_eq!(cached.subject(), first.subject());
    assert_eq!(v.cached_tokens(), 1);
    let again = v.validate(&token).await.unwrap();
    assert_eq!(again.claims(), first.claims());
    // Clones share the cache.
    assert!(v.clone().validate_cached(&token).is_some());
    // A token differing in one character is no hit.
    let mut other = token.clone().into_bytes();
    let last = other.len() - 2;
    other[last] = if other[last] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).unwrap();
    assert!(v.validate_cached(&other).is_none());
    assert!(v.validate(&other).await.is_err());
}

#[tokio::test]
async fn cache_entries_expire_with_the_token() {
    let start = now();
    let clock = ManualClock::new(Timestamp::from_secs(start));
    let v = builder(issuer_config(&jwks()).leeway(Duration::ZERO))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut c = claims();
    c["exp"] = json!(start + 100);
    let token = sign(rsa_a(), header("RS256", "rsa-a"), c);
    v.validate(&token).await.unwrap();
    clock.advance(Duration::from_secs(99));
    assert!(v.validate_cached(&token).is_some());
    clock.advance(Duration::from_secs(1));
    assert!(v.validate_cached(&token).is_none());
    assert_rejected(v.validate(&token).await, K::Expired, &token);
}

#[tokio::test]
async fn memory_stays_bounded_under_a_flood_of_distinct_tokens() {
    let v = builder(issuer_config(&jwks()).shared_secret(SECRET))
        .cache_capacity(160)
        .build()
        .unwrap();
    let mut last = String::new();
    for i in 0..3000 {
        let mut c = claims();
        c["jti"] = json!(format!("flood-{i}"));
        last = sign_hmac(&SECRET, json!({"alg": "HS256"}), c);
        v.validate(&last).await.unwrap();
        assert!(
            v.cached_tokens() <= 160,
            "{} entries after {i} tokens",
            v.cached_tokens()
        );
    }
    // The newest token is still cached: eviction drops the oldest.
    assert!(v.validate_cached(&last).is_some());

    // A byte budget bounds memory as well.
    let v = builder(issuer_config(&jwks()).shared_secret(SECRET))
        .cache_max_bytes(64 * 1024)
        .build()
        .unwrap();
    for i in 0..2000 {
        let mut c = claims();
        c["jti"] = json!(format!("bytes-{i}"));
        c["pad"] = json!("p".repeat(1000));
        v.validate(&sign_hmac(&SECRET, json!({"alg": "HS256"}), c))
            .await
            .unwrap();
    }
    assert!(v.cache_bytes() <= 64 * 1024, "{} bytes", v.cache_bytes());
    assert!(v.cached_tokens() > 0);
}

#[tokio::test]
async fn a_disabled_cache_still_validates() {
    let v = builder(issuer_config(&jwks())).cache_capacity(0).build().unwrap();
    let token = good_token();
    v.validate(&token).await.unwrap();
    v.validate(&token).await.unwrap();
    assert_eq!(v.cached_tokens(), 0);
    assert!(v.validate_cached(&token).is_none());
}

#[tokio::test]
async fn refused_tokens_are_never_cached() {
    let v = validator();
    let forged = sign(rsa_b(), header("RS256", "rsa-a"), claims());
    for _ in 0..3 {
        assert_rejected(v.validate(&forged).await, K::InvalidSignature, &forged);
    }
    assert_eq!(v.cached_tokens(), 0);
}

#[tokio::test]
async fn a_cached_token_older_than_the_maximum_age_is_refused_as_too_old() {
    let start = now();
    let clock = ManualClock::new(Timestamp::from_secs(start));
    let config = issuer_config(&jwks())
        .max_token_age(Some(Duration::from_secs(3600)))
        .leeway(Duration::from_secs(60));
    let v = builder(config.clone())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let fresh = builder(config)
        .cache_capacity(0)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut c = claims();
    c["iat"] = json!(start);
    c["exp"] = json!(start + 4 * 3600);
    let token = sign(rsa_a(), header("RS256", "rsa-a"), c);
    v.validate(&token).await.unwrap();
    assert_eq!(v.cached_tokens(), 1);
    // The last instant of the maximum age (plus leeway): still valid.
    clock.advance(Duration::from_secs(3600 + 60));
    v.validate(&token).await.unwrap();
    assert!(v.validate_cached(&token).is_some());
    // Past it, long before `exp`: refused as a fresh validation refuses it.
    clock.advance(Duration::from_secs(1));
    assert!(v.validate_cached(&token).is_none());
    assert_rejected(fresh.validate(&token).await, K::TooOld, &token);
    assert_rejected(v.validate(&token).await, K::TooOld, &token);
    assert_eq!(v.cached_tokens(), 0, "the entry is dropped");
}

#[tokio::test]
async fn cached_answers_match_a_fresh_validation_at_every_time_boundary() {
    let start = now();
    let clock = ManualClock::new(Timestamp::from_secs(start));
    let leeway = 60;
    // (max age, claims, instants relative to `start`, as seconds)
    let cases = [
        (
            Some(300),
            json!({"iat": start, "nbf": start + 30, "exp": start + 3600}),
            vec![-62, -61, -31, -30, 0, 359, 360, 361, 3659, 3660],
        ),
        (
            None,
            json!({"iat": start, "exp": start + 100}),
            vec![-61, -60, 0, 99, 100, 159, 160, 161],
        ),
    ];
    for (max_age, times, instants) in cases {
        let config = issuer_config(&jwks())
            .max_token_age(max_age.map(Duration::from_secs))
            .leeway(Duration::from_secs(leeway));
        let cached = builder(config.clone())
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let fresh = builder(config)
            .cache_capacity(0)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut c = claims();
        for (k, v) in times.as_object().unwrap() {
            c[k] = v.clone();
        }
        let token = sign(rsa_a(), header("RS256", "rsa-a"), c);
        for at in instants {
            // Cached while valid at `start`, then asked at `start + at`.
            clock.set(Timestamp::from_secs(start));
            cached.validate(&token).await.unwrap();
            assert!(cached.validate_cached(&token).is_some());
            clock.set(Timestamp::from_secs(start.saturating_add_signed(at)));
            let expected = fresh.validate(&token).await.map(|_| ()).map_err(|e| e.kind());
            let answered = cached.validate(&token).await.map(|_| ()).map_err(|e| e.kind());
            assert_eq!(answered, expected, "max age {max_age:?}, at {at:+} s");
            if expected.is_err() {
                assert!(cached.validate_cached(&token).is_none(), "at {at:+} s");
            }
        }
    }
}
