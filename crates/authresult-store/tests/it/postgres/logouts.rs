//! The logout list on Postgres (`LogoutList` for `PostgresStore`): the port's
//! suite, and validators of two instances on one server: a logout recorded
//! by one is refused by the other within a second; with the other's
//! notification connection killed, the fall-back (reopening the feed and
//! reloading) still brings it; a restarted instance reloads the list.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authresult_core::{LogoutList, Timestamp, testing};
use authresult_jwt::{IssuerConfig, JwkSet, RevocationList, TokenValidator, ValidationErrorKind};
use authresult_store::PostgresStore;
use authresult_test_support::{JwtAlg, JwtSigner};
use serde_json::json;

use super::{SERVER, Schemas, connect_raw, unique};

const ISSUER: &str = "https://sso.test/realms/field";
const AUDIENCE: &str = "urn:test:sync";

fn signer() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Es256).unwrap())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An access token of `sub` issued at `iat`.
fn token(sub: &str, iat: u64) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": iat, "exp": now() + 600,
        "scope": "sync", "jti": unique("jti"),
    });
    signer()
        .sign_jwt(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}), &claims)
        .unwrap()
}

/// An instance: its own store (pool and feed) on the schema, its
/// revocation list and validator.
struct Instance {
    list: RevocationList,
    validator: TokenValidator,
}

async fn instance(store: PostgresStore, reload: Duration) -> Instance {
    let port: Arc<dyn LogoutList> = Arc::new(store);
    let list = RevocationList::builder(port)
        .reload_interval(reload)
        .resubscribe_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let jwks = json!({"keys": [signer().jwk("k1")]}).to_string();
    let validator = TokenValidator::builder()
        .issuer(
            IssuerConfig::new(ISSUER)
                .audience(AUDIENCE)
                .jwks(JwkSet::from_json(jwks.as_bytes()).unwrap()),
        )
        .revocations(list.clone())
        .build()
        .unwrap();
    Instance { list, validator }
}

/// How long until `validator` refuses `token` as logged out; panics past `limit`.
async fn refused_within(validator: &TokenValidator, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match validator.validate(token).await {
            Err(e) if e.kind() == ValidationErrorKind::LoggedOut => return start.elapsed(),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => {}
        }
        assert!(start.elapsed() < limit, "not refused within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn postgres_logout_list_conforms() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    testing::run_logout_list(|| {
        let options = schemas.options("logouts");
        async move { options.connect().await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn a_logout_received_by_one_instance_is_refused_by_the_other_within_a_second() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("bcl_two");
    // The periodic reload is far off: only the notification can be in time.
    let a = instance(options.clone().connect().await.unwrap(), Duration::from_secs(600)).await;
    let b = instance(options.connect().await.unwrap(), Duration::from_secs(600)).await;
    // Let b's feed open (it is opened by the task, after the first load).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let iat = now() - 2;
    let old = token("alice", iat);
    let other = token("bob", iat);
    for v in [&a.validator, &b.validator] {
        v.validate(&old).await.unwrap();
        v.validate(&other).await.unwrap();
    }
    a.list
        .record(
            ISSUER,
            Some("sid-1".into()),
            Some("alice".into()),
            Timestamp::from_secs(iat + 1),
        )
        .await
        .unwrap();
    assert_eq!(
        a.validator.validate(&old).await.unwrap_err().kind(),
        ValidationErrorKind::LoggedOut,
        "at once on the receiving instance"
    );
    refused_within(&b.validator, &old, Duration::from_secs(1)).await;
    b.validator.validate(&other).await.unwrap();
    b.validator.validate(&token("alice", iat + 5)).await.unwrap();
}

#[tokio::test]
async fn with_the_notification_connection_killed_the_fallback_still_propagates() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let app = unique("bcl");
    let options = schemas.options("bcl_kill").application_name(app.clone());
    let a = instance(options.clone().connect().await.unwrap(), Duration::from_secs(600)).await;
    // b's feed reopens 100 ms after it is lost, and reloads then; its
    // periodic reload is one second.
    let b = instance(options.connect().await.unwrap(), Duration::from_secs(1)).await;
    let admin = connect_raw(&schemas.url).await;
    let listeners = format!("{app}/logouts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let killed = loop {
        let killed: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&listeners],
            )
            .await
            .unwrap()
            .get(0);
        if killed >= 2 || Instant::now() > deadline {
            break killed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(killed >= 2, "both feeds' connections found and killed ({killed})");
    let iat = now() - 2;
    let old = token("carol", iat);
    b.validator.validate(&old).await.unwrap();
    a.list
        .record(ISSUER, None, Some("carol".into()), Timestamp::from_secs(iat + 1))
        .await
        .unwrap();
    refused_within(&b.validator, &old, Duration::from_secs(3)).await;
    // The feed is back: a later logout arrives within a second again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = token("dave", iat);
    b.validator.validate(&later).await.unwrap();
    a.list
        .record(ISSUER, None, Some("dave".into()), Timestamp::from_secs(iat + 1))
        .await
        .unwrap();
    refused_within(&b.validator, &later, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_restarted_instance_reloads_the_list() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let options = schemas.options("bcl_restart");
    let a = instance(options.clone().connect().await.unwrap(), Duration::from_secs(600)).await;
    let iat = now() - 2;
    a.list
        .record(
            ISSUER,
            Some("sid-9".into()),
            Some("erin".into()),
            Timestamp::from_secs(iat + 1),
        )
        .await
        .unwrap();
    drop(a);
    let restarted = instance(options.connect().await.unwrap(), Duration::from_secs(600)).await;
    assert_eq!(restarted.list.len(), 2, "the session and the user");
    assert_eq!(
        restarted
            .validator
            .validate(&token("erin", iat))
            .await
            .unwrap_err()
            .kind(),
        ValidationErrorKind::LoggedOut
    );
}
