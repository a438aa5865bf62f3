//! Validated claims: scopes, Keycloak roles, Auth0 organizations and
//! permissions, token kinds, required claims, and issuer configs built from
//! DataCollect `{type, fields}` provider configs.

use authresult_core::{FailureKind, ProviderConfig};
use authresult_jwt::{
    IssuerConfig, TokenPurpose, TokenValidator, ValidationError, ValidationErrorKind as K, Verification,
};
use serde_json::{Value, json};

use super::support::*;

fn with(mut value: Value, pairs: Value) -> Value {
    for (k, v) in pairs.as_object().unwrap() {
        value[k] = v.clone();
    }
    value
}

/// `scope` alone is kept as sent and split when first listed: asking for
/// one scope before or after listing them gives the same answers.
#[tokio::test]
async fn a_scope_claim_alone_gives_the_same_answers_before_and_after_listing() {
    let token = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(claims(), json!({"scope": " api:read  openid\tsync:write "})),
    );
    let ok = validator().validate(&token).await.unwrap();
    let ask = |ok: &authresult_jwt::ValidatedToken| {
        ["api:read", "openid", "sync:write", "api", "", "read"].map(|s| ok.has_scope(s))
    };
    let before = ask(&ok);
    assert_eq!(before, [true, true, true, false, false, false]);
    assert_eq!(ok.scopes(), ["api:read", "openid", "sync:write"]);
    assert_eq!(ask(&ok), before);
    let empty = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(claims(), json!({"scope": ""})),
    );
    let empty = validator().validate(&empty).await.unwrap();
    assert!(empty.scopes().is_empty() && !empty.has_scope(""));
}

#[tokio::test]
async fn scopes_roles_and_organization_claims_are_exposed() {
    let token = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(
            claims(),
            json!({
                "scope": "api:read  openid",
                "scp": ["api:write"],
                "azp": "native-app",
                "realm_access": {"roles": ["enumerator", "supervisor"]},
                "resource_access": {"native-app": {"roles": ["collect", "review"]}, "account": {"roles": []}},
                "org_id": "org_alpha",
                "permissions": ["read:forms", "write:submissions"],
                "custom": {"nested": true},
            }),
        ),
    );
    let ok = validator().validate(&token).await.unwrap();
    assert_eq!(ok.scopes(), ["api:read", "openid", "api:write"]);
    assert!(ok.has_scope("api:write") && !ok.has_scope("api"));
    assert_eq!(ok.realm_roles(), ["enumerator", "supervisor"]);
    assert!(ok.has_realm_role("supervisor"));
    assert_eq!(ok.client_roles("native-app"), ["collect", "review"]);
    assert!(ok.has_client_role("native-app", "review"));
    assert!(ok.client_roles("unknown").is_empty());
    assert_eq!(ok.org_id(), Some("org_alpha"));
    assert!(ok.has_permission("write:submissions"));
    assert_eq!(ok.client_id(), Some("native-app"));
    assert_eq!(ok.audiences(), [AUDIENCE]);
    assert_eq!(ok.token_kind(), TokenPurpose::Access);
    assert_eq!(ok.verified_by(), Verification::Signature);
    assert_eq!(ok.claim("custom"), Some(&json!({"nested": true})));
    assert!(ok.expires_at().is_some() && ok.issued_at().is_some());
    // Debug output names no claim values.
    let debug = format!("{ok:?}");
    assert!(
        !debug.contains("org_alpha") && !debug.contains("nested"),
        "{debug}"
    );
}

#[tokio::test]
async fn provider_claims_of_the_wrong_type_are_errors() {
    for bad in [
        json!({"scope": ["api:read"]}),
        json!({"scp": 5}),
        json!({"sub": 42}),
        json!({"realm_access": ["enumerator"]}),
        json!({"realm_access": {"roles": "enumerator"}}),
        json!({"resource_access": {"native-app": ["collect"]}}),
        json!({"resource_access": {"native-app": {"roles": [1]}}}),
        json!({"resource_access": "native-app"}),
        json!({"org_id": {"id": "org"}}),
        json!({"permissions": "read:forms"}),
        json!({"azp": false}),
    ] {
        let token = sign(rsa_a(), header("RS256", "rsa-a"), with(claims(), bad.clone()));
        let error = assert_rejected(validator().validate(&token).await, K::InvalidClaim, &token);
        let name = bad.as_object().unwrap().keys().next().unwrap().clone();
        assert!(error.to_string().contains(&name), "{bad}: {error}");
    }
}

#[tokio::test]
async fn the_organization_must_match() {
    let v = builder(issuer_config(&jwks()).organization("org_alpha"))
        .build()
        .unwrap();
    let token = |org: Value| {
        sign(
            rsa_a(),
            header("RS256", "rsa-a"),
            with(claims(), json!({"org_id": org})),
        )
    };
    v.validate(&token(json!("org_alpha"))).await.unwrap();
    let other = token(json!("org_beta"));
    assert_rejected(v.validate(&other).await, K::WrongOrganization, &other);
    let missing = sign(rsa_a(), header("RS256", "rsa-a"), claims());
    assert_rejected(v.validate(&missing).await, K::WrongOrganization, &missing);
}

#[tokio::test]
async fn id_tokens_and_other_types_are_told_apart() {
    let v = validator();
    let id_claims = with(claims(), json!({"nonce": "n-1", "at_hash": "abc"}));
    let id = sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a", "typ": "JWT"}),
        id_claims.clone(),
    );
    let error = assert_rejected(v.validate(&id).await, K::WrongTokenType, &id);
    assert!(matches!(
        error,
        ValidationError::WrongTokenType {
            found: TokenPurpose::Id,
            ..
        }
    ));
    let accepting = builder(issuer_config(&jwks()).accept_id_tokens(true))
        .build()
        .unwrap();
    assert_eq!(
        accepting.validate(&id).await.unwrap().token_kind(),
        TokenPurpose::Id
    );

    // Keycloak's `typ` claim.
    let kc_id = sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a"}),
        with(claims(), json!({"typ": "ID"})),
    );
    assert_rejected(v.validate(&kc_id).await, K::WrongTokenType, &kc_id);
    let kc_refresh = sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a"}),
        with(claims(), json!({"typ": "Refresh"})),
    );
    assert_rejected(v.validate(&kc_refresh).await, K::WrongTokenType, &kc_refresh);
    let kc_access = sign(
        rsa_a(),
        json!({"alg": "RS256", "kid": "rsa-a", "typ": "JWT"}),
        with(claims(), json!({"typ": "Bearer"})),
    );
    assert_eq!(
        v.validate(&kc_access).await.unwrap().token_kind(),
        TokenPurpose::Access
    );

    // Other declared types.
    for typ in ["logout+jwt", "dpop+jwt", "secevent+jwt"] {
        let token = sign(
            rsa_a(),
            json!({"alg": "RS256", "kid": "rsa-a", "typ": typ}),
            claims(),
        );
        assert_rejected(v.validate(&token).await, K::WrongTokenType, &token);
    }
    // `application/at+jwt` counts as at+jwt, in any case.
    for typ in ["application/at+jwt", "Application/AT+JWT", "AT+jwt"] {
        let token = sign(
            rsa_a(),
            json!({"alg": "RS256", "kid": "rsa-a", "typ": typ}),
            claims(),
        );
        assert_eq!(
            v.validate(&token).await.unwrap().token_kind(),
            TokenPurpose::Access,
            "{typ}"
        );
    }

    // Unmarked tokens pass only when opted in, and never when RFC 9068
    // typing is required.
    let plain_claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "exp": now() + 60});
    let unmarked = sign(rsa_a(), json!({"alg": "RS256", "kid": "rsa-a"}), plain_claims);
    assert_rejected(v.validate(&unmarked).await, K::WrongTokenType, &unmarked);
    let lenient = builder(issuer_config(&jwks()).accept_unclassified_tokens(true))
        .build()
        .unwrap();
    assert_eq!(
        lenient.validate(&unmarked).await.unwrap().token_kind(),
        TokenPurpose::Unknown
    );
    let strict = builder(
        issuer_config(&jwks())
            .accept_unclassified_tokens(true)
            .require_access_token_type(true),
    )
    .build()
    .unwrap();
    assert_rejected(strict.validate(&unmarked).await, K::WrongTokenType, &unmarked);
    strict.validate(&good_token()).await.unwrap();
}

#[tokio::test]
async fn required_claims_must_be_present() {
    let v = builder(issuer_config(&jwks()).require_claim("sub").require_claim("jti"))
        .build()
        .unwrap();
    v.validate(&good_token()).await.unwrap();
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    let token = sign(rsa_a(), header("RS256", "rsa-a"), no_sub);
    let error = assert_rejected(v.validate(&token).await, K::MissingClaim, &token);
    assert!(error.to_string().contains("sub"));
    let token = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(claims(), json!({"jti": null})),
    );
    assert_rejected(v.validate(&token).await, K::MissingClaim, &token);
}

#[tokio::test]
async fn authorized_party_passes_the_audience_check() {
    let v = builder(
        IssuerConfig::new(ISSUER)
            .authorized_party("native-app")
            .jwks(key_set(&jwks())),
    )
    .build()
    .unwrap();
    let token = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(claims(), json!({"aud": "account", "azp": "native-app"})),
    );
    v.validate(&token).await.unwrap();
    let token = sign(
        rsa_a(),
        header("RS256", "rsa-a"),
        with(claims(), json!({"aud": "account", "azp": "other"})),
    );
    assert_rejected(v.validate(&token).await, K::AudienceMismatch, &token);
}

#[tokio::test]
async fn several_issuers_are_routed_by_iss() {
    let second = "https://second.test/";
    let v = TokenValidator::builder()
        .issuer(issuer_config(&jwks()))
        .issuer(
            IssuerConfig::new(second)
                .audience("urn:second")
                .jwks(key_set(&json!({"keys": [rsa_b().jwk("b")]}))),
        )
        .build()
        .unwrap();
    let mut issuers: Vec<&str> = v.issuers().collect();
    issuers.sort();
    assert_eq!(issuers, [ISSUER, second]);
    v.validate(&good_token()).await.unwrap();
    let token = sign(
        rsa_b(),
        header("RS256", "b"),
        with(claims(), json!({"iss": second, "aud": "urn:second"})),
    );
    assert_eq!(v.validate(&token).await.unwrap().issuer(), second);
    // The second issuer's key does not sign for the first issuer.
    let token = sign(rsa_b(), header("RS256", "b"), claims());
    assert_rejected(v.validate(&token).await, K::UnknownKey, &token);
    // Nor the first issuer's audience for the second.
    let token = sign(
        rsa_b(),
        header("RS256", "b"),
        with(claims(), json!({"iss": second})),
    );
    assert_rejected(v.validate(&token).await, K::AudienceMismatch, &token);
}

#[test]
fn builder_refuses_bad_configurations() {
    let kind = |b: authresult_jwt::TokenValidatorBuilder| b.build().unwrap_err().kind();
    assert_eq!(kind(TokenValidator::builder()), K::Configuration);
    assert_eq!(
        kind(builder(IssuerConfig::new(ISSUER).jwks(key_set(&jwks())))),
        K::Configuration
    );
    assert_eq!(
        kind(builder(issuer_config(&jwks()).algorithms([]))),
        K::Configuration
    );
    assert_eq!(
        kind(builder(issuer_config(&jwks())).issuer(issuer_config(&jwks()))),
        K::Configuration
    );
    // Discovery over plain http to a remote host.
    assert_eq!(
        kind(builder(IssuerConfig::new("http://id.example.org").audience("a"))),
        K::Configuration
    );
    assert_eq!(
        kind(builder(IssuerConfig::new("not a url").audience("a"))),
        K::Configuration
    );
    builder(IssuerConfig::new("http://127.0.0.1:9/x").audience("a"))
        .build()
        .unwrap();
    builder(
        IssuerConfig::new("http://id.example.org")
            .audience("a")
            .allow_insecure_http(true),
    )
    .build()
    .unwrap();
    // Two issuers checking opaque tokens.
    let secret = || authresult_core::ClientSecret::new("s");
    let two = TokenValidator::builder()
        .issuer(
            IssuerConfig::new("https://a.test")
                .audience("a")
                .introspection("rs", secret()),
        )
        .issuer(IssuerConfig::new("https://b.test").audience("a").userinfo(None));
    assert_eq!(kind(two), K::Configuration);
}

#[test]
fn issuer_configs_come_from_provider_configs() {
    let parse = |json: Value| ProviderConfig::from_json_str(&json.to_string()).unwrap();

    let auth0 = parse(json!({"type": "auth0", "fields": {
        "domain": "tenant.eu.auth0.com", "client_id": "app", "audience": "urn:sync", "organization": "org_alpha"}}));
    let config = IssuerConfig::from_provider_config(&auth0).unwrap();
    assert_eq!(config.issuer(), "https://tenant.eu.auth0.com/");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("urn:sync") && shown.contains("org_alpha"),
        "{shown}"
    );

    let keycloak = parse(json!({"type": "keycloak", "fields": {
        "url": "https://sso.example.org", "realm": "field", "client_id": "native-app"}}));
    let config = IssuerConfig::from_provider_config(&keycloak).unwrap();
    assert_eq!(config.issuer(), "https://sso.example.org/realms/field");

    let oidc = parse(
        json!({"type": "oidc", "fields": {"issuer": "https://accounts.example.com", "client_id": "c"}}),
    );
    assert_eq!(
        IssuerConfig::from_provider_config(&oidc).unwrap().issuer(),
        "https://accounts.example.com"
    );

    let sync = parse(json!({"type": "default", "fields": {"url": "https://sync.example.org"}}));
    let error = IssuerConfig::from_provider_config(&sync).unwrap_err();
    assert_eq!(error.kind(), K::Configuration);
}

#[tokio::test]
async fn an_auth0_config_checks_audience_and_organization() {
    let auth0 = ProviderConfig::from_json_str(
        &json!({"type": "auth0", "fields": {
            "domain": "tenant.auth0.com", "client_id": "app", "audience": "urn:sync", "organization": "org_alpha"}})
        .to_string(),
    )
    .unwrap();
    let issuer = "https://tenant.auth0.com/";
    let v = builder(
        IssuerConfig::from_provider_config(&auth0)
            .unwrap()
            .jwks(key_set(&jwks())),
    )
    .build()
    .unwrap();
    let claims = |org: &str| {
        with(
            claims(),
            json!({"iss": issuer, "aud": ["urn:sync", "https://tenant.auth0.com/userinfo"], "org_id": org,
                   "permissions": ["read:forms"]}),
        )
    };
    let ok = v
        .validate(&sign(rsa_a(), header("RS256", "rsa-a"), claims("org_alpha")))
        .await
        .unwrap();
    assert_eq!(ok.permissions(), ["read:forms"]);
    let other = sign(rsa_a(), header("RS256", "rsa-a"), claims("org_beta"));
    assert_rejected(v.validate(&other).await, K::WrongOrganization, &other);
}

#[test]
fn errors_map_to_core_failure_kinds() {
    let cases = [
        (ValidationError::InvalidSignature, FailureKind::Terminal),
        (ValidationError::Expired, FailureKind::Terminal),
        (
            ValidationError::Unavailable {
                endpoint: authresult_jwt::UpstreamEndpoint::Jwks,
                reason: "timed out".into(),
            },
            FailureKind::Transient,
        ),
        (
            ValidationError::ProviderError {
                endpoint: authresult_jwt::UpstreamEndpoint::Jwks,
                reason: "http status 404".into(),
            },
            FailureKind::Protocol,
        ),
        (
            ValidationError::Configuration { reason: "x".into() },
            FailureKind::Configuration,
        ),
    ];
    for (error, kind) in cases {
        let transient = error.is_transient();
        let core: authresult_core::Error = error.into();
        assert_eq!(core.kind(), kind);
        assert_eq!(core.is_transient(), kind == FailureKind::Transient);
        assert_eq!(
            transient,
            kind == FailureKind::Transient || kind == FailureKind::Protocol
        );
    }
    assert_eq!(K::InvalidSignature.as_str(), "invalid_signature");
    assert_eq!(K::Expired.to_string(), "expired");
}
