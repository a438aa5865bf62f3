//! The relying party's side of a conformance test: the login client
//! (`OidcProvider` behind an `AuthManager` on a memory store) runs the code
//! flow with PKCE through the loopback listener, the browser step played
//! by a plain HTTP client that follows the provider's one redirect; and the
//! checks every refusal shares (the typed error, no session kept).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{AuthManager, Error, FailureKind, LoginFlow, LoginResponse, MemoryStore, Session};
use authresult_oidc::{LoopbackListener, OidcError, OidcOptions, OidcProvider};

use super::op::HostileOp;
use crate::support::{authorization_url, fast_options, manager, oidc_error};

/// A relying party: the manager and the provider it was built with.
pub struct Rp {
    pub manager: AuthManager,
    pub provider: OidcProvider,
}

impl Rp {
    /// A relying party of `op` with the test options.
    pub fn of(op: &HostileOp) -> Rp {
        Rp::with_options(op, fast_options())
    }

    pub fn with_options(op: &HostileOp, options: OidcOptions) -> Rp {
        let store = Arc::new(MemoryStore::new());
        let provider = op.provider(options);
        Rp {
            manager: manager(store, provider.clone()),
            provider,
        }
    }

    /// One whole code login: begin (PKCE, state, nonce), the browser at
    /// the authorization endpoint, its redirect to the loopback listener,
    /// then the callback handled by the manager.
    pub async fn code_login(&self) -> Result<Session, Error> {
        let listener = LoopbackListener::bind("/callback").await.unwrap();
        let pending = self
            .manager
            .begin_login_with(
                "p",
                LoginFlow::AuthorizationCode,
                Some(listener.redirect_uri().clone()),
                BTreeMap::new(),
            )
            .await?;
        let state = pending.state.clone();
        let waiting =
            tokio::spawn(async move { listener.wait_for_callback(&state, Duration::from_secs(10)).await });
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = browser.get(authorization_url(&pending)).send().await.unwrap();
        assert_eq!(
            answer.status().as_u16(),
            302,
            "the provider redirects the browser"
        );
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let landed = browser.get(&location).send().await.unwrap();
        assert_eq!(landed.status().as_u16(), 200, "the listener takes the callback");
        let callback = waiting.await.unwrap().unwrap();
        self.manager.handle_callback(&callback).await
    }

    /// One whole device login (RFC 8628): begin, then poll until the
    /// provider answers (it approves on the second poll).
    pub async fn device_login(&self) -> Result<Session, Error> {
        let pending = self
            .manager
            .begin_login_with("p", LoginFlow::DeviceCode, None, BTreeMap::new())
            .await?;
        self.manager
            .complete_login(&pending, LoginResponse::DevicePoll)
            .await
    }

    /// The stored session, if any.
    pub async fn session(&self) -> Option<Session> {
        self.manager.session("p").await.unwrap()
    }
}

/// Asserts `result` is a refusal by the provider adapter that matches
/// `expected`, whose message names `word`, of class `kind`; answers the
/// adapter's error.
pub fn refused<'a>(
    result: &'a Result<Session, Error>,
    expected: impl Fn(&OidcError) -> bool,
    kind: FailureKind,
    word: &str,
) -> &'a OidcError {
    let error = match result {
        Ok(session) => panic!("accepted: {session:?}"),
        Err(error) => error,
    };
    let inner = oidc_error(error);
    assert!(expected(inner), "unexpected refusal: {inner:?}");
    assert_eq!(error.kind(), kind, "{inner:?}");
    let text = inner.to_string();
    assert!(text.contains(word), "`{word}` not in: {text}");
    inner
}

/// A refused login: the ID token is invalid for the reason naming `word`,
/// and no session is kept.
pub async fn id_token_refused(rp: &Rp, word: &str) {
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidIdToken { .. }),
        FailureKind::Protocol,
        word,
    );
    assert!(rp.session().await.is_none(), "no session is kept");
}
