//! The way back from the browser: callbacks carrying tokens (implicit-flow
//! injection) are refused, and the loopback listener serves connections
//! concurrently and accepts only the login's `state`.

use std::time::Duration;

use authresult_core::{FailureKind, LoginResponse};
use authresult_oidc::OidcError;
use futures::future::select_all;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use url::Url;

use crate::support::{MockIdp, browser_get, fast_options, listener};

#[tokio::test]
async fn a_callback_carrying_a_token_is_refused_as_an_implicit_flow_injection() {
    let mock = MockIdp::start().await;
    let provider = mock.provider(fast_options());
    let (pending, callback) = mock.code_callback(&provider).await;
    let mut in_query = callback.clone();
    in_query.query_pairs_mut().append_pair("access_token", "injected");
    let mut in_fragment = callback.clone();
    in_fragment.set_fragment(Some("id_token=injected&token_type=Bearer"));
    for (injected, parameter) in [(in_query, "access_token"), (in_fragment, "id_token")] {
        let error = provider
            .complete_login(&pending, &LoginResponse::Callback(injected))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, OidcError::TokenInCallback { parameter: p } if *p == parameter),
            "{error:?}"
        );
        assert_eq!(error.kind(), FailureKind::Protocol);
        assert!(!error.to_string().contains("injected"), "{error}");
    }
    // Nothing was exchanged.
    let received = mock.server.received_requests().await.unwrap();
    assert!(received.iter().all(|r| r.url.path() != "/token"));
}

fn callback_url(redirect: &Url, pairs: &[(&str, &str)]) -> Url {
    let mut url = redirect.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url
}

#[tokio::test]
async fn the_loopback_listener_answers_the_callback_while_idle_connections_stay_open() {
    let listener = listener().await;
    let redirect = listener.redirect_uri().clone();
    let port = redirect.port().unwrap();
    let waiting = tokio::spawn(listener.wait_for_callback("the-state", Duration::from_secs(60)));
    // Another local process opens connections first and sends nothing.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // Then the browser arrives.
    let callback = callback_url(&redirect, &[("code", "c"), ("state", "the-state")]);
    let mut browser = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let target = format!("{}?{}", callback.path(), callback.query().unwrap());
    browser
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let idle_closed = select_all(idle.iter_mut().map(|s| {
        Box::pin(async move {
            let mut byte = [0u8; 1];
            s.read(&mut byte).await
        })
    }));
    // Whichever comes first: the browser's answer, or the listener giving up
    // on an idle connection (serving one at a time, it waits out each idle
    // connection before it reads the browser's request). The browser's
    // answer is written before anything is closed, so it wins when both are
    // ready.
    tokio::select! {
        biased;
        read = browser.read_to_end(&mut answer) => { read.unwrap(); }
        _ = idle_closed => panic!("an idle connection was dropped before the callback was answered"),
    }
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(waiting.await.unwrap().unwrap(), callback);
}

#[tokio::test]
async fn the_loopback_listener_accepts_only_the_login_state_and_no_token() {
    let listener = listener().await;
    let redirect = listener.redirect_uri().clone();
    let waiting = tokio::spawn(listener.wait_for_callback("the-state", Duration::from_secs(60)));
    for stray in [
        // Looks like a callback, but with another state or none.
        callback_url(&redirect, &[("code", "c"), ("state", "guessed")]),
        callback_url(&redirect, &[("code", "c")]),
        // The right state, with an injected token.
        callback_url(
            &redirect,
            &[("code", "c"), ("state", "the-state"), ("access_token", "x")],
        ),
        callback_url(&redirect, &[("state", "the-state"), ("id_token", "x")]),
    ] {
        assert_eq!(browser_get(&stray).await, 404, "{stray}");
    }
    let callback = callback_url(&redirect, &[("code", "c"), ("state", "the-state")]);
    assert_eq!(browser_get(&callback).await, 200);
    assert_eq!(waiting.await.unwrap().unwrap(), callback);
}
