//! Tests of `FakeProvider`: scripted answers in order, then the fallbacks.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use crate::testing::FakeProvider;
use crate::{AccessToken, AuthProvider as _, AuthResult, Credentials, RefreshToken, RevocableToken};
use crate::{Error, FailureKind, Password};

fn auth(token: &str) -> AuthResult {
    AuthResult::new(AccessToken::new(token), 60)
}

#[tokio::test]
async fn scripted_answers_come_in_order_then_the_fallbacks() {
    let fake = FakeProvider::new().refresh_with(|_| Ok(auth("fallback")));
    fake.push_refresh(Ok(auth("first")))
        .push_refresh(Err(Error::provider(FailureKind::Transient, "down")));
    assert_eq!(
        fake.refresh(&auth("a")).await.unwrap().access_token.secret(),
        "first"
    );
    assert!(fake.refresh(&auth("a")).await.unwrap_err().is_transient());
    assert_eq!(
        fake.refresh(&auth("a")).await.unwrap().access_token.secret(),
        "fallback"
    );
    assert_eq!(fake.calls().refresh, 3);
}

#[tokio::test]
async fn an_unscripted_login_fails_and_revocations_are_recorded() {
    let fake = FakeProvider::new();
    let credentials = Credentials::Password {
        username: "u".into(),
        password: Password::new("p"),
    };
    assert!(fake.login(&credentials).await.is_err());
    fake.push_revoke(Err(Error::provider(FailureKind::Transient, "down")));
    let token = RevocableToken::Refresh(RefreshToken::new("r1"));
    assert!(fake.revoke(&token).await.is_err());
    assert!(fake.revoke(&token).await.is_ok());
    let revoked = fake.revoked();
    assert_eq!(revoked.len(), 2);
    assert_eq!(revoked[0].secret(), "r1");
    assert_eq!((fake.calls().login, fake.calls().revoke), (1, 2));
}
