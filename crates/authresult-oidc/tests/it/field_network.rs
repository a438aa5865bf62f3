//! The manager against the local provider over a field network: the
//! provider runs in a network namespace (`FieldLink`), the test outside, and
//! the veth between them is made slow, lossy, cut, or made to lose only the
//! provider's answers. The offline policy must hold (transient failures keep
//! the session, the next call after the link is back succeeds) and every
//! wait must end within the configured timeouts. What happens when a
//! refresh answer is lost after the provider rotated the refresh token is
//! recorded here and in `docs/field-network.md`.
//!
//! These tests fail, never skip, when `ip netns` is not permitted or
//! iproute2/nftables are missing (`cargo xtask ci` installs them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use authresult_core::MemoryStore;
use authresult_core::{
    AuthEvent, AuthManager, AuthResult, Error, EventStream, FailureKind, LoginFlow, LoginResponse,
};
use authresult_oidc::OidcProvider;
use authresult_test_support::{FieldLink, Idp, IdpOptions};
use serde_json::json;
use url::Url;

use crate::support::{authorization_url, key, provider_from, request};

/// The configured per-request timeout of these tests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// The configured connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A provider in a namespace of its own, behind a shaped link.
struct Field {
    idp: Idp,
    link: FieldLink,
}

impl Field {
    fn start() -> Field {
        let link = FieldLink::create().expect("no field network: `ip netns` with veth must be permitted");
        let mut options = IdpOptions::default();
        options.host = Some(link.remote_addr());
        options.netns = Some(link.namespace().to_owned());
        let idp = Idp::start(options).expect("the provider did not start in the namespace");
        Field { idp, link }
    }

    fn port(&self) -> u16 {
        self.idp.base().port().unwrap()
    }

    fn issuer(&self) -> Url {
        self.idp.issuer("plain").unwrap().clone()
    }

    /// The public client over this link: plain http is allowed (the
    /// provider is not on loopback), the timeouts are the constants above.
    fn provider(&self) -> OidcProvider {
        let mut options = crate::support::fast_options();
        options.allow_insecure_http = true;
        options.request_timeout = REQUEST_TIMEOUT;
        options.connect_timeout = CONNECT_TIMEOUT;
        provider_from(
            json!({"type": "oidc", "fields": {"issuer": self.issuer().as_str(), "client_id": "native-app"}}),
            options,
        )
    }

    /// A code login as alice over the (still perfect) link.
    async fn login(&self, provider: &OidcProvider) -> AuthResult {
        let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
        let pending = provider
            .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
            .await
            .unwrap();
        let callback = self
            .idp
            .login_via_form(&authorization_url(&pending), "alice", "alice-password")
            .await
            .unwrap();
        provider
            .complete_login(&pending, &LoginResponse::Callback(callback))
            .await
            .unwrap()
    }

    /// A manager holding alice's session. Its margin is longer than the
    /// access token's life, so every `access_token` call refreshes (and a
    /// failed refresh falls back to the still-valid token).
    async fn manager(&self) -> (AuthManager, Arc<MemoryStore>) {
        let provider = self.provider();
        let auth = self.login(&provider).await;
        let store = Arc::new(MemoryStore::new());
        let manager = AuthManager::builder("field-app", store.clone())
            .provider("p", Arc::new(provider))
            .margin(Duration::from_secs(3600))
            .build();
        manager.import("p", auth).await.unwrap();
        (manager, store)
    }

    /// Whether the provider still considers `access_token` active
    /// (introspection by the confidential client), over the healed link.
    async fn active(&self, access_token: &str) -> bool {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", access_token)
            .finish();
        let text = reqwest::Client::new()
            .post(format!("{}/token/introspection", self.issuer()))
            .basic_auth("confidential-app", Some("confidential-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        answer["active"] == json!(true)
    }
}

/// The bound on one refresh: discovery is cached, so at most the token
/// request and a key-set fetch, each within the request timeout.
fn refresh_bound() -> Duration {
    REQUEST_TIMEOUT * 2
}

/// Drains `events`: the kinds of the refresh failures among them.
fn refresh_failures(events: &mut EventStream) -> Vec<FailureKind> {
    let mut kinds = Vec::new();
    while let Some(event) = events.try_next_event() {
        if let AuthEvent::RefreshFailed { kind, .. } = event {
            kinds.push(kind);
        }
    }
    kinds
}

async fn refresh_token_of(store: &MemoryStore) -> String {
    use authresult_core::SessionStore as _;
    let session = store.get(&key("p")).await.unwrap().expect("the session is kept");
    session.auth.refresh_token.unwrap().secret().to_owned()
}

#[tokio::test]
async fn field_slow_link_refresh_completes_and_a_too_slow_one_is_bounded_by_the_timeout() {
    let field = Field::start();
    let (manager, store) = field.manager().await;
    let before = refresh_token_of(&store).await;

    // 64 kbit/s (EDGE): the refresh answer queues, and still arrives.
    field.link.slow(64).unwrap();
    let started = Instant::now();
    let session = manager.refresh("p").await.unwrap();
    let slow = started.elapsed();
    eprintln!("field: refresh over 64 kbit/s took {slow:?}");
    assert!(slow < refresh_bound(), "{slow:?}");
    let rotated = session.auth.refresh_token.unwrap().secret().to_owned();
    assert_ne!(rotated, before);
    assert_eq!(refresh_token_of(&store).await, rotated);

    // 1 kbit/s: the answer (a few kB) cannot arrive within the timeout.
    field.link.slow(1).unwrap();
    let started = Instant::now();
    let token = manager.access_token("p").await;
    let waited = started.elapsed();
    eprintln!("field: access_token over 1 kbit/s answered after {waited:?}");
    // The still-valid token is the answer; the wait ended at the timeout.
    assert_eq!(token.unwrap().secret(), session.auth.access_token.secret());
    assert!(waited >= REQUEST_TIMEOUT, "{waited:?}");
    assert!(waited < refresh_bound(), "{waited:?}");
}

#[tokio::test]
async fn field_lossy_link_keeps_the_session_and_refreshes_converge() {
    let field = Field::start();
    let (manager, store) = field.manager().await;
    // 10 % of the packets in each direction vanish: TCP retransmits.
    field.link.lossy(10).unwrap();
    let mut events = manager.subscribe();
    let mut refreshed = 0;
    for round in 0..5 {
        let before = refresh_token_of(&store).await;
        let started = Instant::now();
        // A transient failure answers the kept, still-valid session.
        let session = manager.refresh("p").await.unwrap();
        let took = started.elapsed();
        let failures = refresh_failures(&mut events);
        eprintln!("field: refresh {round} over 10 % loss after {took:?}, failures {failures:?}");
        assert!(took < refresh_bound(), "{took:?}");
        let now = refresh_token_of(&store).await;
        assert_eq!(now, session.auth.refresh_token.unwrap().secret());
        if failures.is_empty() {
            refreshed += 1;
            assert_ne!(now, before);
        } else {
            assert_eq!(failures, [FailureKind::Transient]);
            assert_eq!(now, before, "the session is kept");
        }
    }
    field.link.heal().unwrap();
    manager.refresh("p").await.unwrap();
    eprintln!("field: {refreshed} of 5 refreshes over 10 % loss succeeded");
}

#[tokio::test]
async fn field_link_down_keeps_the_session_and_the_next_call_after_it_is_back_succeeds() {
    let field = Field::start();
    let (manager, store) = field.manager().await;
    let before = refresh_token_of(&store).await;
    let valid = manager.session("p").await.unwrap().unwrap().auth.access_token;

    for (what, cut) in [
        (
            "everything dropped",
            FieldLink::blackhole as fn(&FieldLink) -> anyhow::Result<()>,
        ),
        ("link down", FieldLink::down),
    ] {
        cut(&field.link).unwrap();
        let mut events = manager.subscribe();
        let started = Instant::now();
        let kept = manager.refresh("p").await.unwrap();
        let waited = started.elapsed();
        eprintln!("field: refresh with {what} gave up after {waited:?}");
        assert_eq!(refresh_failures(&mut events), [FailureKind::Transient], "{what}");
        assert_eq!(kept.auth.access_token.secret(), valid.secret(), "{what}");
        assert!(waited < refresh_bound(), "{what}: {waited:?}");
        // The caller still gets the still-valid token, within the bound.
        let started = Instant::now();
        let token = manager.access_token("p").await.unwrap();
        assert!(started.elapsed() < refresh_bound());
        assert_eq!(token.secret(), valid.secret());
        assert_eq!(
            refresh_token_of(&store).await,
            before,
            "{what}: the session is kept"
        );
        field.link.heal().unwrap();
    }
    // Back in coverage: the next call refreshes.
    let fresh = manager.access_token("p").await.unwrap();
    assert_ne!(fresh.secret(), valid.secret());
    assert_ne!(refresh_token_of(&store).await, before);
}

#[tokio::test]
async fn field_lost_refresh_answer_spends_the_rotated_token_and_the_retry_ends_the_grant() {
    let field = Field::start();
    let (manager, store) = field.manager().await;
    let before = refresh_token_of(&store).await;
    let access = manager.session("p").await.unwrap().unwrap().auth.access_token;
    assert!(field.active(access.secret()).await);

    // The request reaches the provider, which rotates the refresh token;
    // its answer never arrives.
    field.link.lose_answers(field.port()).unwrap();
    let mut events = manager.subscribe();
    let started = Instant::now();
    let kept = manager.refresh("p").await.unwrap();
    let waited = started.elapsed();
    eprintln!("field: refresh with its answer lost gave up after {waited:?}");
    assert_eq!(refresh_failures(&mut events), [FailureKind::Transient]);
    assert_eq!(kept.auth.access_token.secret(), access.secret());
    assert!(
        waited >= REQUEST_TIMEOUT && waited < refresh_bound(),
        "{waited:?}"
    );
    // The library keeps what it has: the old refresh token.
    assert_eq!(refresh_token_of(&store).await, before);
    field.link.heal().unwrap();

    // The provider rotated it: the old token is spent. Presenting it again
    // is oidc-provider's reuse detection: `invalid_grant`, and the whole
    // grant is revoked (the access token too). The session ends.
    let retry = manager.refresh("p").await.unwrap_err();
    eprintln!("field: the retry after the lost answer: {retry}");
    assert!(
        matches!(retry, Error::ReauthenticationRequired { .. }),
        "{retry:?}"
    );
    let cause = std::error::Error::source(&retry)
        .map(ToString::to_string)
        .unwrap_or_default();
    let chain = format!("{cause} {:?}", std::error::Error::source(&retry));
    assert!(chain.contains("invalid_grant"), "{chain}");
    assert_eq!(refresh_failures(&mut events), [FailureKind::Terminal]);
    assert!(
        manager.session("p").await.unwrap().is_none(),
        "the session is removed"
    );
    assert!(
        !field.active(access.secret()).await,
        "oidc-provider revoked the grant on reuse"
    );
}
