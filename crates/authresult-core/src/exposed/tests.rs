//! Tests of the explicit stored form: byte-identical to the former derived
//! `Serialize`, and readable back by `Deserialize`.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use serde_json::json;

use crate::{
    AccessToken, AuthResult, Exposed, IdToken, LoginPrompt, PendingAuthorization, PendingRevocation,
    PendingSecret, RefreshToken, RevocableToken, Session, SessionKey, Timestamp,
};

fn session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("at-secret"), 300);
    auth.refresh_token = Some(RefreshToken::new("rt-secret"));
    auth.id_token = Some(IdToken::new("it-secret"));
    auth.profile = Some(BTreeMap::from([("sub".to_owned(), "u1".to_owned())]));
    let mut session = Session::new(SessionKey::new("t", "p"), auth, Timestamp::from_secs(10));
    session.username = Some("ann".into());
    session.set_stored_version(3);
    session.set_login_id_for_tests("login-1");
    session
}

/// The text the derived `Serialize` of `Session` wrote before it was removed.
const SESSION_ROW: &str = concat!(
    r#"{"key":{"tenant":"t","provider":"p"},"subject":"u1","username":"ann","#,
    r#""auth":{"access_token":"at-secret","expires_in":300,"id_token":"it-secret","#,
    r#""profile":{"sub":"u1"},"refresh_token":"rt-secret"},"#,
    r#""issued_at":10000,"expires_at":310000,"version":3,"login_id":"login-1"}"#
);

#[test]
fn a_session_is_written_exactly_as_stores_wrote_it_before_and_reads_back() {
    let text = serde_json::to_string(&Exposed(&session())).unwrap();
    assert_eq!(text, SESSION_ROW);
    let back: Session = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&Exposed(&back)).unwrap(), SESSION_ROW);
}

fn pending(prompt: LoginPrompt) -> PendingAuthorization {
    PendingAuthorization {
        key: SessionKey::new("t", "p"),
        state: "state-1".into(),
        prompt,
        redirect_uri: Some("http://127.0.0.1:7/cb".parse().unwrap()),
        created_at: Timestamp::from_secs(1),
        expires_at: Timestamp::from_secs(2),
        secret: PendingSecret::new("pkce-secret"),
        origin: None,
    }
}

#[test]
fn a_pending_login_is_written_exactly_as_before_for_both_prompts() {
    let redirect = pending(LoginPrompt::Redirect {
        authorization_url: "https://idp.example/auth?state=s".parse().unwrap(),
    });
    let device = pending(LoginPrompt::DeviceCode {
        user_code: "ABCD-EFGH".into(),
        verification_uri: "https://idp.example/device".parse().unwrap(),
        verification_uri_complete: None,
        interval_secs: 5,
    });
    let head = r#"{"key":{"tenant":"t","provider":"p"},"state":"state-1","prompt":"#;
    let tail = concat!(
        r#","redirect_uri":"http://127.0.0.1:7/cb","created_at":1000,"expires_at":2000,"#,
        r#""secret":"pkce-secret"}"#
    );
    assert_eq!(
        serde_json::to_string(&Exposed(&redirect)).unwrap(),
        format!(r#"{head}{{"Redirect":{{"authorization_url":"https://idp.example/auth?state=s"}}}}{tail}"#)
    );
    assert_eq!(
        serde_json::to_string(&Exposed(&device)).unwrap(),
        format!(
            r#"{head}{{"DeviceCode":{{"user_code":"ABCD-EFGH","verification_uri":"https://idp.example/device","verification_uri_complete":null,"interval_secs":5}}}}{tail}"#
        )
    );
    for value in [&redirect, &device] {
        let text = serde_json::to_string(&Exposed(value)).unwrap();
        let back: PendingAuthorization = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&Exposed(&back)).unwrap(), text);
    }
}

#[test]
fn a_pending_revocation_is_written_exactly_as_before() {
    for (token, kind) in [
        (RevocableToken::Refresh(RefreshToken::new("tok")), "refresh"),
        (RevocableToken::Access(AccessToken::new("tok")), "access"),
    ] {
        let revocation = PendingRevocation {
            key: SessionKey::new("t", "p"),
            id: "h-1".into(),
            token,
            created_at: Timestamp::from_secs(4),
            expires_at: Timestamp::from_secs(5),
            origin: None,
        };
        let value = serde_json::to_value(Exposed(&revocation)).unwrap();
        assert_eq!(
            value,
            json!({"key": {"tenant": "t", "provider": "p"}, "id": "h-1",
                   "token": {"kind": kind, "secret": "tok"}, "created_at": 4000, "expires_at": 5000})
        );
        let back: PendingRevocation = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(Exposed(&back)).unwrap(), value);
    }
}

/// Issue 22 item 1: the origin is stored beside the login id (rows without
/// one, written before, read back as `None`: see the tests above).
#[test]
fn a_sessions_origin_is_written_and_reads_back() {
    let mut session = session();
    let origin = crate::Origin::sync_server(&url::Url::parse("https://sync.example.org/").unwrap());
    session.origin = Some(origin.clone());
    let text = serde_json::to_string(&Exposed(&session)).unwrap();
    let expected = SESSION_ROW.replace(
        r#""login_id":"login-1"}"#,
        r#""login_id":"login-1","origin":{"kind":"sync_server","url":"https://sync.example.org"}}"#,
    );
    assert_eq!(text, expected);
    let back: Session = serde_json::from_str(&text).unwrap();
    assert_eq!(back.origin, Some(origin));
}
