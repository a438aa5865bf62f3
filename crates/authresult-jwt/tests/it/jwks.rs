//! Key sets fetched through discovery from a `wiremock` provider: one refetch
//! per unknown `kid`, shared by concurrent misses and rate-limited; failed
//! refetches keep the last good keys; discovery is checked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authresult_jwt::{IssuerConfig, TokenValidator, ValidationErrorKind as K};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::support::*;

/// A provider whose key set can be swapped and whose fetches are counted.
struct Provider {
    server: MockServer,
    keys: Arc<Mutex<Value>>,
    status: Arc<Mutex<u16>>,
}

struct Jwks {
    keys: Arc<Mutex<Value>>,
    status: Arc<Mutex<u16>>,
}

impl Respond for Jwks {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let status = *self.status.lock().unwrap();
        if status == 200 {
            ResponseTemplate::new(200).set_body_json(self.keys.lock().unwrap().clone())
        } else {
            ResponseTemplate::new(status)
        }
    }
}

impl Provider {
    async fn start(keys: Value) -> Provider {
        let server = MockServer::start().await;
        let issuer = format!("{}/realms/field", server.uri());
        Mock::given(method("GET"))
            .and(path("/realms/field/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/certs"),
                "introspection_endpoint": format!("{issuer}/introspect"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
            })))
            .mount(&server)
            .await;
        let keys = Arc::new(Mutex::new(keys));
        let status = Arc::new(Mutex::new(200));
        Mock::given(method("GET"))
            .and(path("/realms/field/certs"))
            .respond_with(Jwks {
                keys: keys.clone(),
                status: status.clone(),
            })
            .mount(&server)
            .await;
        Provider { server, keys, status }
    }

    fn issuer(&self) -> String {
        format!("{}/realms/field", self.server.uri())
    }

    async fn fetches(&self, suffix: &str) -> usize {
        let requests = self.server.received_requests().await.unwrap();
        requests.iter().filter(|r| r.url.path().ends_with(suffix)).count()
    }

    fn set_keys(&self, keys: Value) {
        *self.keys.lock().unwrap() = keys;
    }

    fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    fn validator(&self, cooldown: Duration) -> TokenValidator {
        TokenValidator::builder()
            .issuer(IssuerConfig::new(self.issuer()).audience(AUDIENCE))
            .jwks_cooldown(cooldown)
            .build()
            .unwrap()
    }

    fn token(&self, key: &TestKey, kid: &str) -> String {
        let mut c = claims();
        c["iss"] = json!(self.issuer());
        sign(key, header("RS256", kid), c)
    }
}

#[tokio::test]
async fn keys_are_discovered_fetched_once_and_cached() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let v = p.validator(Duration::from_secs(30));
    for _ in 0..5 {
        v.validate(&p.token(rsa_a(), "a")).await.unwrap();
    }
    assert_eq!(p.fetches("openid-configuration").await, 1);
    assert_eq!(p.fetches("/certs").await, 1);
}

#[tokio::test]
async fn an_unknown_kid_causes_exactly_one_refetch() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let v = p.validator(Duration::from_secs(30));
    v.prefetch().await.unwrap();
    assert_eq!(p.fetches("/certs").await, 1);
    // The provider rotates: the new key is published next to the old one.
    p.set_keys(json!({"keys": [rsa_b().jwk("b"), rsa_a().jwk("a")]}));
    v.validate(&p.token(rsa_b(), "b")).await.unwrap();
    assert_eq!(p.fetches("/certs").await, 2);
    v.validate(&p.token(rsa_b(), "b")).await.unwrap();
    v.validate(&p.token(rsa_a(), "a")).await.unwrap();
    assert_eq!(p.fetches("/certs").await, 2);
    assert_eq!(p.fetches("openid-configuration").await, 1);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let v = p.validator(Duration::ZERO);
    v.prefetch().await.unwrap();
    p.set_keys(json!({"keys": [rsa_b().jwk("b"), rsa_a().jwk("a")]}));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let v = v.clone();
            let token = p.token(rsa_b(), "b");
            tokio::spawn(async move { v.validate(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        p.fetches("/certs").await,
        2,
        "100 concurrent misses made more than one fetch"
    );
}

#[tokio::test]
async fn a_flood_of_random_kids_fetches_at_most_once_per_cooldown() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let v = p.validator(Duration::from_secs(60));
    v.prefetch().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let token = p.token(rsa_a(), &format!("random-{i}-{:x}", rand_u64()));
        let v = v.clone();
        tasks.push(tokio::spawn(async move { v.validate(&token).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err().kind(), K::UnknownKey);
    }
    // The initial fetch plus at most one refetch.
    assert!(
        p.fetches("/certs").await <= 2,
        "fetches: {}",
        p.fetches("/certs").await
    );
    // Genuine tokens still validate.
    v.validate(&p.token(rsa_a(), "a")).await.unwrap();
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_last_good_keys() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let v = p.validator(Duration::ZERO);
    v.prefetch().await.unwrap();
    p.set_status(500);
    let token = p.token(rsa_b(), "b");
    let error = v.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), K::UnknownKey, "{error}");
    assert_eq!(p.fetches("/certs").await, 2);
    // The old key is still trusted.
    v.validate(&p.token(rsa_a(), "a")).await.unwrap();
    // A key set that is not JSON is a failure as well.
    p.set_status(200);
    p.set_keys(json!("not a key set"));
    let error = v.validate(&p.token(rsa_b(), "b2")).await.unwrap_err();
    assert_eq!(error.kind(), K::UnknownKey, "{error}");
    v.validate(&p.token(rsa_a(), "a")).await.unwrap();
    // Once the provider recovers, the new key is found.
    p.set_keys(json!({"keys": [rsa_b().jwk("b"), rsa_a().jwk("a")]}));
    v.validate(&p.token(rsa_b(), "b")).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transient_error() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    p.set_status(503);
    let v = p.validator(Duration::ZERO);
    let token = p.token(rsa_a(), "a");
    let error = v.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), K::Unavailable, "{error}");
    assert!(error.is_transient());
    assert!(!error.to_string().contains(&token));
    p.set_status(200);
    v.validate(&token).await.unwrap();

    // Nothing listens at all.
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new("http://127.0.0.1:9/realms/x").audience(AUDIENCE))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut c = claims();
    c["iss"] = json!("http://127.0.0.1:9/realms/x");
    let token = sign(rsa_a(), header("RS256", "a"), c);
    assert_eq!(v.validate(&token).await.unwrap_err().kind(), K::Unavailable);
    assert_eq!(v.prefetch().await.unwrap_err().kind(), K::Unavailable);
}

#[tokio::test]
async fn statuses_that_ask_to_wait_are_transient_like_the_login_client() {
    // The validator and the login client share one HTTP client, so 5xx,
    // 429 and 408 are transient for both (a request timeout is no refusal).
    for status in [408, 429, 500, 503] {
        let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
        p.set_status(status);
        let v = p.validator(Duration::ZERO);
        let error = v.validate(&p.token(rsa_a(), "a")).await.unwrap_err();
        assert_eq!(error.kind(), K::Unavailable, "status {status}: {error}");
        assert!(error.is_transient(), "status {status}");
    }
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer_exactly() {
    let server = MockServer::start().await;
    let issuer = format!("{}/realms/field", server.uri());
    Mock::given(path("/realms/field/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": format!("{issuer}/"),
            "jwks_uri": format!("{issuer}/certs"),
        })))
        .mount(&server)
        .await;
    Mock::given(path("/realms/field/certs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [rsa_a().jwk("a")]})))
        .mount(&server)
        .await;
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(&issuer).audience(AUDIENCE))
        .build()
        .unwrap();
    let error = v.prefetch().await.unwrap_err();
    assert_eq!(error.kind(), K::ProviderError, "{error}");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| !r.url.path().ends_with("/certs")));
}

#[tokio::test]
async fn redirects_are_not_followed_and_bodies_are_capped() {
    let server = MockServer::start().await;
    let issuer = format!("{}/realms/field", server.uri());
    Mock::given(path("/realms/field/certs"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [rsa_a().jwk("a")]})))
        .mount(&server)
        .await;
    let big: Vec<Value> = (0..50).map(|i| rsa_a().jwk(&format!("k{i}"))).collect();
    Mock::given(path("/big/certs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": big})))
        .mount(&server)
        .await;
    let config = |uri: &str| {
        IssuerConfig::new(&issuer)
            .audience(AUDIENCE)
            .jwks_uri(url::Url::parse(&format!("{}{uri}", server.uri())).unwrap())
    };
    let v = TokenValidator::builder()
        .issuer(config("/realms/field/certs"))
        .build()
        .unwrap();
    assert_eq!(v.prefetch().await.unwrap_err().kind(), K::ProviderError);
    let v = TokenValidator::builder()
        .issuer(config("/big/certs"))
        .max_response_bytes(4096)
        .build()
        .unwrap();
    let error = v.prefetch().await.unwrap_err();
    assert!(error.to_string().contains("larger than 4096"), "{error}");
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != "/elsewhere")
    );
}

#[tokio::test]
async fn stale_key_sets_are_refreshed_in_the_background() {
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a"), rsa_b().jwk("b")]})).await;
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(p.issuer()).audience(AUDIENCE))
        .jwks_cooldown(Duration::from_millis(50))
        .jwks_max_age(Duration::from_millis(200))
        .cache_capacity(0)
        .build()
        .unwrap();
    v.validate(&p.token(rsa_b(), "b")).await.unwrap();
    // The provider drops key `b`; once the set is stale it is refetched.
    p.set_keys(json!({"keys": [rsa_a().jwk("a")]}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.validate(&p.token(rsa_a(), "a")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while p.fetches("/certs").await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no background refetch");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the refetch a moment to store the new set.
    let mut refused = false;
    for _ in 0..100 {
        match v.validate(&p.token(rsa_b(), "b")).await {
            Err(e) if e.kind() == K::UnknownKey => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(refused, "a removed key is still trusted");
}

/// The network between a field device and its provider: a plain-http
/// loopback issuer (a local provider, allowed in clear because it never
/// leaves the host) cannot send the validator's key-set fetch in clear to
/// another host. On 1f2d0f5 `from_provider_config` allowed plain http
/// everywhere for any plain-http issuer, and the fetch went out.
#[tokio::test]
async fn a_loopback_issuer_cannot_send_key_fetches_in_clear_off_the_host() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "jwks_uri": "http://198.51.100.7/jwks",
            "authorization_endpoint": format!("{issuer}/auth"),
        })))
        .mount(&server)
        .await;
    let config = authresult_core::ProviderConfig::from_json_str(
        &json!({"type": "oidc", "fields": {"issuer": issuer, "client_id": "app"}}).to_string(),
    )
    .unwrap();
    let validator = TokenValidator::builder()
        .issuer(IssuerConfig::from_provider_config(&config).unwrap())
        .build()
        .unwrap();
    let mut claims = claims();
    claims["iss"] = json!(issuer);
    claims["aud"] = json!(["app", "urn:api"]);
    let token = sign(rsa_a(), header("RS256", "rsa-a"), claims);
    let error = validator.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), K::Configuration, "{error}");
    assert!(error.to_string().contains("plain http"), "{error}");
}

#[tokio::test]
async fn the_refetch_cooldown_and_the_discovery_ttl_follow_the_injected_clock() {
    use authresult_core::{ManualClock, Timestamp};
    let p = Provider::start(json!({"keys": [rsa_a().jwk("a")]})).await;
    let clock = ManualClock::new(Timestamp::from_secs(now()));
    let v = TokenValidator::builder()
        .issuer(IssuerConfig::new(p.issuer()).audience(AUDIENCE))
        .jwks_cooldown(Duration::from_secs(30))
        .discovery_ttl(Duration::from_secs(60))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    v.prefetch().await.unwrap();
    assert!(v.validate(&p.token(rsa_b(), "b")).await.is_err());
    assert_eq!(p.fetches("/certs").await, 2, "an unknown kid refetches once");
    assert!(v.validate(&p.token(rsa_b(), "c")).await.is_err());
    assert_eq!(
        p.fetches("/certs").await,
        2,
        "the cooldown has not passed by the clock"
    );
    clock.advance(Duration::from_secs(31));
    assert!(v.validate(&p.token(rsa_b(), "d")).await.is_err());
    assert_eq!(p.fetches("/certs").await, 3, "the cooldown passed by the clock");
    assert_eq!(p.fetches("openid-configuration").await, 1, "within the ttl");
    clock.advance(Duration::from_secs(31));
    assert!(v.validate(&p.token(rsa_b(), "e")).await.is_err());
    assert_eq!(p.fetches("/certs").await, 4);
    assert_eq!(
        p.fetches("openid-configuration").await,
        2,
        "discovery is read again once the ttl passed by the clock"
    );
}
