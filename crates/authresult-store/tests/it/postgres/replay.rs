//! The replay port on Postgres: its conformance suite, expired values
//! purged, and a DPoP proof replayed against another instance refused.

use std::sync::Arc;

use authresult_core::{ReplayCache as _, Timestamp, testing};
use authresult_jwt::{
    DpopConfig, DpopProofReason, DpopRequest, IssuerConfig, JwkSet, TokenValidator, ValidationError,
    jwk_thumbprint,
};
use authresult_test_support::{JwtAlg, JwtSigner, b64};
use serde_json::json;

use super::{SERVER, Schemas};

#[tokio::test]
async fn postgres_replay_cache_conforms() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    testing::run_replay(|| {
        let options = schemas.options("replay_conf");
        async move { options.connect().await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn postgres_replay_values_are_shared_and_expired_ones_purged() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("replay_purge");
    let one = options.clone().connect().await.unwrap();
    let two = options.connect().await.unwrap();
    let t0 = Timestamp::from_secs(1_700_000_000);
    for i in 0..10 {
        assert!(
            one.first_use(&format!("v{i}"), t0.saturating_add_secs(5), t0)
                .await
                .unwrap()
        );
    }
    assert!(
        !two.first_use("v3", t0.saturating_add_secs(5), t0).await.unwrap(),
        "seen by the other instance"
    );
    assert_eq!(one.replay_rows().await.unwrap(), 10);
    // A minute later the next use deletes the expired values.
    let later = t0.saturating_add_secs(120);
    assert!(
        one.first_use("fresh", later.saturating_add_secs(5), later)
            .await
            .unwrap()
    );
    assert_eq!(one.replay_rows().await.unwrap(), 1);
}

const ISSUER: &str = "https://issuer.test/realms/field";

/// A validator of tokens signed by `issuer_key`, remembering proofs in `store`.
fn validator(issuer_key: &JwtSigner, store: authresult_store::PostgresStore) -> TokenValidator {
    let jwks = json!({"keys": [issuer_key.jwk("k1")]});
    TokenValidator::builder()
        .issuer(
            IssuerConfig::new(ISSUER)
                .audience("api")
                .jwks(JwkSet::from_json(jwks.to_string().as_bytes()).unwrap()),
        )
        .dpop(DpopConfig::new().replay_cache(Arc::new(store)))
        .build()
        .unwrap()
}

fn now() -> u64 {
    // not a clock reading: the tokens' and proofs' iat
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn postgres_a_dpop_proof_replayed_against_another_instance_is_refused() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("replay_dpop");
    let issuer_key = JwtSigner::generate(JwtAlg::Es256).unwrap();
    let client_key = JwtSigner::generate(JwtAlg::Es256).unwrap();
    let one = validator(&issuer_key, options.clone().connect().await.unwrap());
    let two = validator(&issuer_key, options.connect().await.unwrap());

    let jkt = jwk_thumbprint(&client_key.public_jwk().to_string()).unwrap();
    let now = now();
    let token = issuer_key
        .sign_jwt(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}),
            &json!({"iss": ISSUER, "aud": "api", "sub": "alice", "iat": now, "exp": now + 300,
                    "scope": "sync", "cnf": {"jkt": jkt}}),
        )
        .unwrap();
    let uri = "https://api.test/sync/push";
    let proof = client_key
        .sign_jwt(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": client_key.public_jwk()}),
            &json!({"jti": format!("jti-{now}"), "htm": "POST", "htu": uri, "iat": now,
                    "ath": b64(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()))}),
        )
        .unwrap();
    let request = DpopRequest::new(&proof, "POST", uri);
    one.validate_dpop(&token, &request).await.unwrap();
    for (name, instance) in [("the same instance", &one), ("another instance", &two)] {
        match instance.validate_dpop(&token, &request).await {
            Err(ValidationError::InvalidDpopProof {
                reason: DpopProofReason::Replayed,
            }) => {}
            other => panic!("{name}: expected a replay refusal, got {other:?}"),
        }
    }
}
