//! Back-Channel Logout against the real provider (`oidc-provider`'s
//! `backchannelLogout`): a user logs in, two sync-server instances on one
//! Postgres accept the access token, the user logs out at the provider
//! (RP-initiated logout), the provider posts the logout token to the
//! receiver one instance serves, and both instances refuse the old token
//! within a second.
//!
//! Needs `DATABASE_URL` (`cargo xtask ci`, or `cargo xtask with-postgres`);
//! without it the test fails, never skips. It works in a schema of its own
//! (left to the throwaway server).

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_core::{LoginFlow, LoginResponse, LogoutList};
use authresult_jwt::{BackchannelLogout, IssuerConfig, RevocationList, TokenValidator, ValidationErrorKind};
use authresult_store::PostgresOptions;
use authresult_test_support::{Idp, IdpOptions};
use serde_json::json;
use url::Url;

use crate::support::{authorization_url, fast_options, provider_from, request};

const API: &str = "urn:authresult:api";

fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: this test needs a Postgres server. Run `cargo xtask ci`, or \
             `cargo xtask with-postgres cargo test -p authresult-oidc --test it backchannel`"
        ),
    }
}

struct Instance {
    list: RevocationList,
    validator: TokenValidator,
}

async fn instance(options: PostgresOptions, issuer: &Url) -> Instance {
    let store: Arc<dyn LogoutList> = Arc::new(options.connect().await.unwrap());
    let list = RevocationList::builder(store)
        .reload_interval(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let validator = TokenValidator::builder()
        .issuer(
            IssuerConfig::new(issuer.as_str())
                .audience(API)
                .allow_insecure_http(true),
        )
        .revocations(list.clone())
        .build()
        .unwrap();
    Instance { list, validator }
}

#[tokio::test]
async fn a_logout_at_the_provider_is_refused_by_both_instances_within_a_second() {
    let url = database_url();
    let schema = format!(
        "art_bcl_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let options = PostgresOptions::new(&url).schema(&schema).max_connections(2);

    // The receiver's address is the client's backchannel_logout_uri.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/backchannel-logout", listener.local_addr().unwrap());
    let idp = tokio::task::spawn_blocking(move || {
        let mut options = IdpOptions::default();
        options.backchannel_logout_uri = Some(receiver_url);
        Idp::start(options).unwrap()
    })
    .await
    .unwrap();
    let issuer = idp.issuer("plain").unwrap().clone();

    let a = instance(options.clone(), &issuer).await;
    let b = instance(options.clone(), &issuer).await;
    let receiver = BackchannelLogout::builder(
        a.validator.key_set(issuer.as_str()).unwrap(),
        "bcl-app",
        a.list.clone(),
    )
    .build();
    let app = axum::Router::new().route_service("/backchannel-logout", receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The user logs in (the browser keeps the provider's session).
    let provider = provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer.as_str(), "client_id": "bcl-app", "resource": API,
            "post_logout_redirect_uri": "http://127.0.0.1:53999/logged-out",
        }}),
        fast_options(),
    );
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = provider
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let mut browser = idp.new_browser().unwrap();
    let callback = browser
        .login(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    let auth = provider
        .complete_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap();
    let token = auth.access_token.secret().to_owned();
    let first = a.validator.validate(&token).await.unwrap();
    assert_eq!(first.subject(), Some("alice"));
    b.validator.validate(&token).await.unwrap();

    // RP-initiated logout; the provider posts the logout token meanwhile.
    let end_session = provider.end_session_url(&auth).await.unwrap().unwrap();
    browser.logout(&end_session).await.unwrap();
    let logged_out = Instant::now();
    for (name, instance) in [("receiving", &a), ("other", &b)] {
        loop {
            match instance.validator.validate(&token).await {
                Err(e) if e.kind() == ValidationErrorKind::LoggedOut => break,
                Err(e) => panic!("the {name} instance refused for another reason: {e}"),
                Ok(_) => {}
            }
            assert!(
                logged_out.elapsed() < Duration::from_secs(1),
                "the {name} instance still accepts the token a second after the logout \
                 (receiver remembers {} tokens; provider log: {})",
                receiver.remembered_tokens(),
                idp.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(receiver.remembered_tokens(), 1, "one logout token received");
    assert!(!b.list.is_empty(), "the other instance holds the logout");
    server.abort();
}
