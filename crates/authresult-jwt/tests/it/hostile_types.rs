//! Hostile token types (part of the hostile suite): ID tokens dressed up as
//! access tokens (nonce stripped, `typ` faked, scopes added) are refused by a
//! validator built from the login client's own provider config, with a typed
//! reason; unmarked tokens pass only when opted in.

use authresult_core::ProviderConfig;
use authresult_jwt::{
    IssuerConfig, TokenPurpose, TokenTypeReason, TokenValidator, ValidationError, ValidationErrorKind as K,
};
use serde_json::{Value, json};

use super::support::*;

const CLIENT: &str = "native-app";

/// What a sync server builds from the app's `{type, fields}` config.
fn provider_config() -> IssuerConfig {
    let config = ProviderConfig::from_json_str(
        &json!({"type": "oidc", "fields": {"issuer": ISSUER, "client_id": CLIENT, "resource": AUDIENCE}})
            .to_string(),
    )
    .unwrap();
    IssuerConfig::from_provider_config(&config)
        .unwrap()
        .jwks(key_set(&jwks()))
}

fn validator_of(config: IssuerConfig) -> TokenValidator {
    TokenValidator::builder().issuer(config).build().unwrap()
}

/// The claims of the client's ID token, as a code flow returns it.
fn id_claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "alice", "iat": now, "exp": now + 300,
        "auth_time": now - 10, "sid": "s-1", "nonce": "n-1", "at_hash": "aGFzaA",
        "name": "Alice Field", "email": "alice@example.org",
    })
}

fn edit(mut claims: Value, remove: &[&str], add: Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    for name in remove {
        map.remove(*name);
    }
    for (k, v) in add.as_object().unwrap() {
        map.insert(k.clone(), v.clone());
    }
    claims
}

#[track_caller]
fn refused_as(
    result: Result<authresult_jwt::ValidatedToken, ValidationError>,
    token: &str,
) -> TokenTypeReason {
    match assert_rejected(result, K::WrongTokenType, token) {
        ValidationError::WrongTokenType { found, reason } => {
            assert_eq!(found, TokenPurpose::Id, "{reason}");
            reason
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn id_tokens_dressed_as_access_tokens_are_refused_with_the_reason() {
    let v = validator_of(provider_config());
    let plain = json!({"alg": "RS256", "kid": "rsa-a", "typ": "JWT"});
    let at_jwt = header("RS256", "rsa-a");
    let cases = [
        // The ID token as issued.
        (
            plain.clone(),
            id_claims(),
            TokenTypeReason::IdTokenClaim { claim: "at_hash" },
        ),
        // Its hash kept, everything else claiming an access token.
        (
            at_jwt.clone(),
            edit(
                id_claims(),
                &["nonce"],
                json!({"typ": "Bearer", "scope": "api:read"}),
            ),
            TokenTypeReason::IdTokenClaim { claim: "at_hash" },
        ),
        // A device-flow or refreshed ID token: no nonce, no hash.
        (
            plain.clone(),
            edit(id_claims(), &["nonce", "at_hash"], json!({})),
            TokenTypeReason::LoginClientAudience,
        ),
        // The same with the RFC 9068 type faked in the header.
        (
            at_jwt.clone(),
            edit(id_claims(), &["nonce", "at_hash"], json!({})),
            TokenTypeReason::LoginClientAudience,
        ),
        // With Keycloak's access-token `typ` claim, scopes and a client id faked.
        (
            plain.clone(),
            edit(
                id_claims(),
                &["nonce", "at_hash", "auth_time"],
                json!({"typ": "Bearer", "scope": "api:read", "client_id": CLIENT, "aud": [CLIENT]}),
            ),
            TokenTypeReason::LoginClientAudience,
        ),
        // Keycloak's own ID-token marker.
        (
            plain.clone(),
            edit(
                id_claims(),
                &["nonce", "at_hash"],
                json!({"typ": "ID", "aud": [CLIENT, AUDIENCE]}),
            ),
            TokenTypeReason::IdTokenClaim { claim: "typ" },
        ),
        // A nonce without any access-token declaration, another audience too.
        (
            plain.clone(),
            edit(
                id_claims(),
                &["at_hash"],
                json!({"aud": [CLIENT, AUDIENCE], "scope": "a"}),
            ),
            TokenTypeReason::IdTokenClaim { claim: "nonce" },
        ),
    ];
    for (i, (header, claims, reason)) in cases.into_iter().enumerate() {
        let token = sign(rsa_a(), header, claims);
        assert_eq!(refused_as(v.validate(&token).await, &token), reason, "case {i}");
        let shown = v.validate(&token).await.unwrap_err().to_string();
        assert!(shown.contains("id token"), "case {i}: {shown}");
    }
    // The client's real access token for the API passes.
    let access = edit(
        claims(),
        &[],
        json!({"iss": ISSUER, "aud": AUDIENCE, "client_id": CLIENT}),
    );
    let ok = v.validate(&sign(rsa_a(), at_jwt, access)).await.unwrap();
    assert_eq!(ok.token_kind(), TokenPurpose::Access);
}

#[tokio::test]
async fn opting_in_accepts_only_what_the_option_names() {
    let plain = json!({"alg": "RS256", "kid": "rsa-a"});
    let device_id_token = sign(
        rsa_a(),
        plain.clone(),
        edit(id_claims(), &["nonce", "at_hash"], json!({})),
    );
    // Access tokens issued for the client itself (one app registration).
    let self_access = sign(
        rsa_a(),
        plain.clone(),
        edit(
            id_claims(),
            &["nonce", "at_hash", "auth_time", "sid"],
            json!({"scp": "api.read"}),
        ),
    );
    let unmarked = sign(
        rsa_a(),
        plain,
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "exp": now() + 60}),
    );

    let strict = validator_of(provider_config());
    for token in [&device_id_token, &self_access, &unmarked] {
        assert_rejected(strict.validate(token).await, K::WrongTokenType, token);
    }

    let client_audience = validator_of(provider_config().accept_login_client_audience(true));
    let ok = client_audience.validate(&self_access).await.unwrap();
    assert_eq!(ok.token_kind(), TokenPurpose::Access);
    assert_eq!(
        refused_as(client_audience.validate(&device_id_token).await, &device_id_token),
        TokenTypeReason::IdTokenShape
    );
    assert_rejected(
        client_audience.validate(&unmarked).await,
        K::WrongTokenType,
        &unmarked,
    );

    let unclassified = validator_of(provider_config().accept_unclassified_tokens(true));
    assert_eq!(
        unclassified.validate(&unmarked).await.unwrap().token_kind(),
        TokenPurpose::Unknown
    );
    assert_rejected(
        unclassified.validate(&device_id_token).await,
        K::WrongTokenType,
        &device_id_token,
    );

    let id_tokens = validator_of(provider_config().accept_id_tokens(true));
    assert_eq!(
        id_tokens.validate(&device_id_token).await.unwrap().token_kind(),
        TokenPurpose::Id
    );
}
