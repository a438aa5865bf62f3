//! Issue 22 item 1 (on 1f2d0f5 sessions were keyed by tenant/user/provider
//! only): a manager whose provider has another origin, over the same store,
//! gets none of a session's tokens, sends none of them to its provider, and
//! cannot end or replace it.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use url::Url;

use crate::testing::FakeProvider;
use crate::{
    AccessToken, AuthManager, AuthResult, Clock as _, Credentials, Error, FailureKind, IdToken, LoginFlow,
    ManualClock, Origin, Password, RefreshToken, Session, SessionKey, SessionStore, Timestamp,
};
use crate::{MemoryStore, RevocationQueueExt as _};

const T0: u64 = 1_700_000_000;

fn real() -> Origin {
    Origin::sync_server(&Url::parse("https://sync.example.org").unwrap())
}

fn attacker() -> Origin {
    Origin::sync_server(&Url::parse("https://sync.attacker.test").unwrap())
}

fn keycloak() -> Origin {
    Origin::oidc(
        &Url::parse("https://idp.example.org/realms/field").unwrap(),
        "app",
    )
}

fn auth(access: &str, refresh: Option<&str>, expires_in: u64) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(access), expires_in);
    auth.refresh_token = refresh.map(RefreshToken::new);
    auth
}

fn key() -> SessionKey {
    SessionKey::new("app-1", "default")
}

/// One store and one clock, shared by the managers of several origins.
struct World {
    store: Arc<MemoryStore>,
    clock: ManualClock,
}

impl World {
    fn new() -> Self {
        World {
            store: Arc::new(MemoryStore::new()),
            clock: ManualClock::new(Timestamp::from_secs(T0)),
        }
    }

    /// A manager of tenant `app-1` with `provider` as `default`.
    fn manager(&self, provider: &Arc<FakeProvider>) -> AuthManager {
        AuthManager::builder("app-1", self.store.clone())
            .provider("default", provider.clone())
            .clock(Arc::new(self.clock.clone()))
            .sleeper(Arc::new(self.clock.clone()))
            .margin(Duration::from_secs(30))
            .build()
    }

    async fn stored(&self) -> Option<Session> {
        self.store.get(&key()).await.unwrap()
    }

    /// The real app's session (imported through its manager): `a1`/`r1`,
    /// expiring in `expires_in` seconds.
    async fn real_session(&self, expires_in: u64) -> (Arc<FakeProvider>, Session) {
        let provider = Arc::new(FakeProvider::new().with_origin(real()));
        let session = self
            .manager(&provider)
            .import("default", auth("a1", Some("r1"), expires_in))
            .await
            .unwrap();
        assert_eq!(
            session.origin,
            Some(real()),
            "a login records its provider's origin"
        );
        (provider, session)
    }
}

fn assert_mismatch(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::OriginMismatch { provider }) => assert_eq!(provider, "default"),
        other => panic!("expected OriginMismatch, got {other:?}"),
    }
}

/// The session is exactly as the real app left it.
fn assert_untouched(stored: Option<Session>, before: &Session) {
    let stored = stored.expect("the session is kept");
    assert_eq!(stored.version(), before.version());
    assert_eq!(stored.login_id(), before.login_id());
    assert_eq!(stored.origin, before.origin);
    assert_eq!(
        stored.auth.access_token.secret(),
        before.auth.access_token.secret()
    );
    assert_eq!(
        stored.auth.refresh_token.as_ref().map(RefreshToken::secret),
        before.auth.refresh_token.as_ref().map(RefreshToken::secret)
    );
}

#[tokio::test]
async fn a_fresh_token_of_another_origin_is_not_answered() {
    let world = World::new();
    let (_, before) = world.real_session(3600).await;
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    let manager = world.manager(&evil);
    assert_mismatch(manager.access_token("default").await);
    // Twice: nothing of it was cached for the fast path either.
    assert_mismatch(manager.access_token("default").await);
    assert_eq!(evil.calls().refresh, 0);
    assert!(!manager.is_authenticated_with("default").await.unwrap());
    assert_untouched(world.stored().await, &before);
}

#[tokio::test]
async fn the_refresh_token_of_another_origin_is_never_sent() {
    let world = World::new();
    let (_, before) = world.real_session(10).await;
    world.clock.advance(Duration::from_secs(60));
    let evil = Arc::new(
        FakeProvider::new()
            .with_origin(attacker())
            .refresh_with(|previous| {
                panic!(
                    "the refresh token {:?} went to another origin",
                    previous.refresh_token.as_ref().map(RefreshToken::secret)
                )
            }),
    );
    let manager = world.manager(&evil);
    assert_mismatch(manager.access_token("default").await);
    assert_mismatch(manager.refresh("default").await);
    assert_eq!(evil.calls().refresh, 0);
    assert_untouched(world.stored().await, &before);
}

#[tokio::test]
async fn a_terminal_answer_of_another_origin_cannot_end_the_session() {
    let world = World::new();
    let (real_provider, before) = world.real_session(10).await;
    world.clock.advance(Duration::from_secs(60));
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    evil.push_refresh(Err(Error::provider(FailureKind::Terminal, "invalid_grant")));
    let manager = world.manager(&evil);
    assert_mismatch(manager.refresh("default").await);
    assert_mismatch(manager.access_token("default").await);
    assert_untouched(world.stored().await, &before);
    // The real app still refreshes its session.
    real_provider.push_refresh(Ok(auth("a2", Some("r2"), 3600)));
    let token = world
        .manager(&real_provider)
        .access_token("default")
        .await
        .unwrap();
    assert_eq!(token.secret(), "a2");
}

#[tokio::test]
async fn a_logout_under_another_origin_sends_nothing_and_keeps_the_session() {
    let world = World::new();
    let (_, before) = world.real_session(3600).await;
    let evil = Arc::new(
        FakeProvider::new()
            .with_origin(attacker())
            .with_end_session_url(Url::parse("https://sync.attacker.test/logout").unwrap()),
    );
    let manager = world.manager(&evil);
    assert_mismatch(manager.logout("default").await);
    assert_eq!(evil.calls().revoke, 0);
    assert_eq!(evil.calls().end_session_url, 0);
    let pending = world
        .store
        .pending_revocations(&"app-1".into(), world.clock.now())
        .await;
    assert!(pending.unwrap().is_empty(), "no token was queued either");
    assert_untouched(world.stored().await, &before);
    // `logout_all` leaves it too.
    assert!(manager.logout_all().await.unwrap().is_empty());
    assert_eq!(evil.calls().revoke, 0);
    assert_untouched(world.stored().await, &before);
}

#[tokio::test]
async fn a_login_or_import_under_another_origin_does_not_replace_the_session() {
    let world = World::new();
    let (_, before) = world.real_session(3600).await;
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    evil.push_login(Ok(auth("evil-a", None, 3600)));
    let manager = world.manager(&evil);
    assert_mismatch(manager.import("default", auth("evil-a", None, 3600)).await);
    let password = Credentials::Password {
        username: "amina".into(),
        password: Password::new("pw"),
    };
    assert_mismatch(manager.login("default", &password).await);
    assert_eq!(
        evil.calls().login,
        0,
        "no credential is sent for a login that cannot be stored"
    );
    assert_mismatch(manager.begin_login("default", LoginFlow::AuthorizationCode).await);
    assert_eq!(evil.calls().begin_login, 0);
    assert_untouched(world.stored().await, &before);
}

#[tokio::test]
async fn discarding_another_origins_session_queues_its_revocations_for_its_own_origin() {
    let world = World::new();
    let (real_provider, before) = world.real_session(3600).await;
    let other = Arc::new(FakeProvider::new().with_origin(attacker()));
    let manager = world.manager(&other);
    assert!(manager.discard_foreign_session("default").await.unwrap());
    assert!(world.stored().await.is_none());
    assert_eq!(other.calls().revoke, 0, "nothing of it went to this origin");
    // This origin's retries leave them; the real origin's revoke them.
    let report = manager.retry_pending_revocations().await.unwrap();
    assert!(
        report.revoked.is_empty() && report.dropped.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.pending.len(), 2);
    assert_eq!(other.calls().revoke, 0);
    let report = world
        .manager(&real_provider)
        .retry_pending_revocations()
        .await
        .unwrap();
    assert_eq!(report.revoked.len(), 2, "{report:?}");
    let revoked: Vec<_> = real_provider
        .revoked()
        .iter()
        .map(|t| t.secret().to_owned())
        .collect();
    assert_eq!(revoked, ["r1", before.auth.access_token.secret()]);
    // Now a login here may store its own session.
    let session = manager.import("default", auth("b1", None, 3600)).await.unwrap();
    assert_eq!(session.origin, Some(attacker()));
    assert!(!manager.discard_foreign_session("default").await.unwrap());
}

#[tokio::test]
async fn a_pending_revocation_of_another_origin_is_not_sent_to_this_provider() {
    let world = World::new();
    let (real_provider, _) = world.real_session(3600).await;
    real_provider.push_revoke(Err(Error::provider(FailureKind::Transient, "offline")));
    real_provider.push_revoke(Err(Error::provider(FailureKind::Transient, "offline")));
    let report = world.manager(&real_provider).logout("default").await.unwrap();
    assert_eq!(report.pending_revocations.len(), 2);
    // Another origin's manager reaches its provider: the pass that follows
    // leaves the real origin's tokens alone.
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    let manager = world.manager(&evil);
    manager
        .import("default", auth("evil-a", None, 3600))
        .await
        .unwrap();
    let report = manager.retry_pending_revocations().await.unwrap();
    assert_eq!(report.pending.len(), 2, "{report:?}");
    assert!(evil.revoked().is_empty());
}

#[tokio::test]
async fn a_provider_without_an_origin_uses_no_session_that_records_one() {
    let world = World::new();
    let (_, before) = world.real_session(3600).await;
    let plain = Arc::new(FakeProvider::new());
    let manager = world.manager(&plain);
    assert_mismatch(manager.access_token("default").await);
    assert_mismatch(manager.logout("default").await);
    assert_untouched(world.stored().await, &before);
}

/// A session stored before origins were recorded (an existing install).
async fn legacy(world: &World, auth: AuthResult) -> Session {
    let mut old =
        serde_json::to_value(crate::Exposed(&Session::new(key(), auth, world.clock.now()))).unwrap();
    assert!(
        old.get("origin").is_none(),
        "a session without an origin writes none"
    );
    old.as_object_mut().unwrap().remove("origin");
    let legacy: Session = serde_json::from_value(old).unwrap();
    assert_eq!(legacy.origin, None);
    world.store.put(&legacy).await.unwrap();
    world.stored().await.unwrap()
}

#[tokio::test]
async fn a_session_stored_before_origins_is_taken_over_by_the_first_origin_that_uses_it() {
    let world = World::new();
    legacy(&world, auth("a1", Some("r1"), 3600)).await;
    let real_provider = Arc::new(FakeProvider::new().with_origin(real()));
    let token = world
        .manager(&real_provider)
        .access_token("default")
        .await
        .unwrap();
    assert_eq!(token.secret(), "a1", "an existing install keeps its session");
    let claimed = world.stored().await.unwrap();
    assert_eq!(
        claimed.origin,
        Some(real()),
        "the origin is recorded at first use"
    );
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    assert_mismatch(world.manager(&evil).access_token("default").await);
    assert_untouched(world.stored().await, &claimed);
}

#[tokio::test]
async fn a_session_stored_before_origins_with_another_issuers_tokens_is_refused() {
    use base64::Engine as _;
    let world = World::new();
    let part = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let id_token = format!(
        "{}.{}.sig",
        part(json!({"alg": "RS256"})),
        part(json!({"iss": "https://idp.attacker.test", "sub": "u"}))
    );
    let mut old = auth("a1", Some("r1"), 10);
    old.id_token = Some(IdToken::new(id_token));
    let before = legacy(&world, old).await;
    world.clock.advance(Duration::from_secs(60));
    let kc = Arc::new(FakeProvider::new().with_origin(keycloak()));
    assert_mismatch(world.manager(&kc).access_token("default").await);
    assert_eq!(kc.calls().refresh, 0);
    assert_untouched(world.stored().await, &before);
}

#[tokio::test]
async fn a_refresh_keeps_the_origin() {
    let world = World::new();
    let (real_provider, _) = world.real_session(10).await;
    world.clock.advance(Duration::from_secs(60));
    real_provider.push_refresh(Ok(auth("a2", Some("r2"), 3600)));
    world
        .manager(&real_provider)
        .access_token("default")
        .await
        .unwrap();
    let stored = world.stored().await.unwrap();
    assert_eq!(stored.auth.access_token.secret(), "a2");
    assert_eq!(stored.origin, Some(real()));
}

/// A login begun by the real app's manager, its callback URL (the real
/// provider would send the browser there with a code).
async fn real_pending_login(world: &World) -> (Arc<FakeProvider>, crate::PendingAuthorization, Url) {
    let provider = Arc::new(FakeProvider::new().with_origin(real()));
    let pending = world
        .manager(&provider)
        .begin_login("default", LoginFlow::AuthorizationCode)
        .await
        .unwrap();
    assert_eq!(pending.origin, Some(real()), "a pending login records its origin");
    let callback = Url::parse(&format!(
        "https://app.example.org/callback?code=real-code&state={}",
        pending.state
    ))
    .unwrap();
    (provider, pending, callback)
}

#[tokio::test]
async fn a_callback_of_another_origins_login_sends_nothing_to_this_provider() {
    let world = World::new();
    let (_, _, callback) = real_pending_login(&world).await;
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    evil.push_complete_login(Ok(auth("evil", Some("evil-r"), 3600)));
    let manager = world.manager(&evil);
    assert_mismatch(manager.handle_callback(&callback).await);
    assert_eq!(
        evil.calls().complete_login,
        0,
        "the code went to no other token endpoint"
    );
    assert!(world.stored().await.is_none(), "no session was stored");
}

#[tokio::test]
async fn completing_another_origins_pending_login_sends_nothing_to_this_provider() {
    let world = World::new();
    let (_, pending, _) = real_pending_login(&world).await;
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    evil.push_complete_login(Ok(auth("evil", Some("evil-r"), 3600)));
    let manager = world.manager(&evil);
    assert_mismatch(
        manager
            .complete_login(&pending, crate::LoginResponse::DevicePoll)
            .await,
    );
    assert_eq!(
        evil.calls().complete_login,
        0,
        "the device code went nowhere else"
    );
    assert!(world.stored().await.is_none(), "no session was stored");
}

#[tokio::test]
async fn a_pending_login_of_an_origin_is_not_completed_without_one() {
    let world = World::new();
    let (_, _, callback) = real_pending_login(&world).await;
    let bare = Arc::new(FakeProvider::new());
    bare.push_complete_login(Ok(auth("bare", None, 3600)));
    assert_mismatch(world.manager(&bare).handle_callback(&callback).await);
    assert_eq!(bare.calls().complete_login, 0);
}

#[tokio::test]
async fn the_real_app_completes_its_own_login() {
    let world = World::new();
    let (provider, _, callback) = real_pending_login(&world).await;
    provider.push_complete_login(Ok(auth("a1", Some("r1"), 3600)));
    let session = world.manager(&provider).handle_callback(&callback).await.unwrap();
    assert_eq!(session.origin, Some(real()));
    assert_eq!(provider.calls().complete_login, 1);
}

#[tokio::test]
async fn another_origins_session_is_not_shown_to_this_app() {
    let world = World::new();
    let (provider, before) = world.real_session(3600).await;
    let evil = Arc::new(FakeProvider::new().with_origin(attacker()));
    let manager = world.manager(&evil);
    // Its tokens, subject and profile are not this app's to read.
    assert_mismatch(manager.session("default").await);
    assert_mismatch(manager.current_user("default").await);
    assert!(
        manager.sessions().await.unwrap().is_empty(),
        "no session of another origin is listed"
    );
    assert!(
        !manager.is_authenticated().await.unwrap(),
        "another origin's session does not make this app authenticated"
    );
    assert_untouched(world.stored().await, &before);
    // The real app still sees its own.
    let real = world.manager(&provider);
    assert!(real.session("default").await.unwrap().is_some());
    assert!(real.current_user("default").await.unwrap().is_some());
    assert_eq!(real.sessions().await.unwrap().len(), 1);
    assert!(real.is_authenticated().await.unwrap());
}
