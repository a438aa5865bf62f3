//! Unit tests of the row codec.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use authresult_core::{
    AccessToken, AuthResult, IdToken, LoginPrompt, Origin, PendingAuthorization, PendingSecret, RefreshToken,
    Session, SessionKey, Timestamp,
};

use super::{decode_pending, decode_session, encode_pending, encode_session};
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey};

fn cipher() -> Cipher {
    EncryptionKey::from_bytes([3; 32]).cipher(None).unwrap()
}

fn session() -> Session {
    let mut auth = AuthResult::new(AccessToken::new("ACCESS-SECRET"), 300);
    auth.refresh_token = Some(RefreshToken::new("REFRESH-SECRET"));
    auth.id_token = Some(IdToken::new("ID-SECRET"));
    auth.profile = Some(BTreeMap::from([("sub".to_owned(), "u1".to_owned())]));
    Session::new(SessionKey::new("t", "p"), auth, Timestamp::from_secs(1000))
}

fn pending() -> PendingAuthorization {
    PendingAuthorization {
        key: SessionKey::new("t", "p"),
        state: "st".into(),
        prompt: LoginPrompt::Redirect {
            authorization_url: url::Url::parse("https://idp.example/auth").unwrap(),
        },
        redirect_uri: None,
        created_at: Timestamp::from_secs(1),
        expires_at: Timestamp::from_secs(2),
        secret: PendingSecret::new("VERIFIER-SECRET"),
        origin: None,
    }
}

#[test]
fn sealed_sessions_keep_no_token_in_the_clear_body() {
    let c = cipher();
    let encoded = encode_session(&session(), Some(&c)).unwrap();
    for secret in ["ACCESS-SECRET", "REFRESH-SECRET", "ID-SECRET"] {
        assert!(!encoded.body.contains(secret), "{secret} in {}", encoded.body);
    }
    assert!(encoded.body.contains("\"sub\":\"u1\""), "metadata stays readable");
    let decoded = decode_session(
        "t",
        "",
        "p",
        7,
        &encoded.body,
        encoded.sealed.as_deref(),
        Some(&c),
    )
    .unwrap();
    assert_eq!(decoded.auth.access_token.secret(), "ACCESS-SECRET");
    assert_eq!(
        decoded.auth.refresh_token.as_ref().unwrap().secret(),
        "REFRESH-SECRET"
    );
    assert_eq!(decoded.auth.id_token.as_ref().unwrap().secret(), "ID-SECRET");
    assert_eq!(decoded.version(), 7);
    assert_eq!(decoded.expires_at, Some(Timestamp::from_secs(1300)));
}

#[test]
fn clear_sessions_round_trip() {
    let encoded = encode_session(&session(), None).unwrap();
    assert!(encoded.sealed.is_none());
    assert!(encoded.body.contains("ACCESS-SECRET"));
    let decoded = decode_session("t", "", "p", 1, &encoded.body, None, None).unwrap();
    assert_eq!(decoded.auth.access_token.secret(), "ACCESS-SECRET");
}

#[test]
fn sealed_values_are_bound_to_their_row() {
    let c = cipher();
    let encoded = encode_session(&session(), Some(&c)).unwrap();
    let sealed = encoded.sealed.as_deref();
    let moved = decode_session("t", "", "other", 1, &encoded.body, sealed, Some(&c)).unwrap_err();
    assert!(
        matches!(moved, StoreError::Tampered { what: "session" }),
        "{moved:?}"
    );
    let edited = encoded.body.replace("u1", "u2");
    let edited = decode_session("t", "", "p", 1, &edited, sealed, Some(&c)).unwrap_err();
    assert!(matches!(edited, StoreError::Tampered { .. }), "{edited:?}");
    let unsealed = decode_session("t", "", "p", 1, &encoded.body, None, Some(&c)).unwrap_err();
    assert!(matches!(unsealed, StoreError::Tampered { .. }), "{unsealed:?}");
    let keyless = decode_session("t", "", "p", 1, &encoded.body, sealed, None).unwrap_err();
    assert!(matches!(keyless, StoreError::KeyRequired), "{keyless:?}");
}

#[test]
fn a_clear_row_under_other_columns_is_corrupt() {
    let encoded = encode_session(&session(), None).unwrap();
    let error = decode_session("t", "", "other", 1, &encoded.body, None, None).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    let error = decode_session("t", "", "p", 1, "{not json", None, None).unwrap_err();
    assert!(
        matches!(error, StoreError::Decode { what: "session", .. }),
        "{error:?}"
    );
}

#[test]
fn pending_secrets_are_sealed_too() {
    let c = cipher();
    let encoded = encode_pending(&pending(), Some(&c)).unwrap();
    assert!(!encoded.body.contains("VERIFIER-SECRET"));
    let decoded = decode_pending("t", "st", &encoded.body, encoded.sealed.as_deref(), Some(&c)).unwrap();
    assert_eq!(decoded.secret.secret(), "VERIFIER-SECRET");
    let other_state = decode_pending("t", "xx", &encoded.body, encoded.sealed.as_deref(), Some(&c));
    assert!(matches!(
        other_state,
        Err(StoreError::Tampered {
            what: "pending login"
        })
    ));
    let clear = encode_pending(&pending(), None).unwrap();
    assert!(decode_pending("t", "st", &clear.body, None, None).is_ok());
    assert!(matches!(
        decode_pending("u", "st", &clear.body, None, None),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_pending_logins_origin_is_kept_and_bound_to_its_row() {
    let real = Origin::sync_server(&url::Url::parse("https://sync.example.org").unwrap());
    let mut with_origin = pending();
    with_origin.origin = Some(real.clone());
    let c = cipher();
    let sealed = encode_pending(&with_origin, Some(&c)).unwrap();
    let decoded = decode_pending("t", "st", &sealed.body, sealed.sealed.as_deref(), Some(&c)).unwrap();
    assert_eq!(decoded.origin, Some(real.clone()));
    let clear = encode_pending(&with_origin, None).unwrap();
    assert_eq!(
        decode_pending("t", "st", &clear.body, None, None).unwrap().origin,
        Some(real)
    );
    // A file editor cannot move a sealed pending login to another origin.
    let edited = sealed.body.replace("sync.example.org", "sync.attacker.test");
    assert_ne!(edited, sealed.body);
    assert!(matches!(
        decode_pending("t", "st", &edited, sealed.sealed.as_deref(), Some(&c)),
        Err(StoreError::Tampered { .. })
    ));
    // A row written before origins were recorded still reads, with none.
    let old = encode_pending(&pending(), None).unwrap();
    assert!(!old.body.contains("origin"));
    assert_eq!(
        decode_pending("t", "st", &old.body, None, None).unwrap().origin,
        None
    );
}

#[test]
fn a_sealed_session_moved_to_another_user_is_tampered() {
    let c = cipher();
    let mut of_amina = session();
    of_amina.key = SessionKey::for_user("t", "amina", "p");
    let encoded = encode_session(&of_amina, Some(&c)).unwrap();
    let sealed = encoded.sealed.as_deref();
    let decoded = decode_session("t", "amina", "p", 1, &encoded.body, sealed, Some(&c)).unwrap();
    assert_eq!(decoded.key, of_amina.key);
    for user in ["bob", ""] {
        let moved = decode_session("t", user, "p", 1, &encoded.body, sealed, Some(&c)).unwrap_err();
        assert!(
            matches!(moved, StoreError::Tampered { what: "session" }),
            "{user:?}: {moved:?}"
        );
    }
    // The default user's row moved to a named user fails too.
    let single = encode_session(&session(), Some(&c)).unwrap();
    let moved = decode_session(
        "t",
        "amina",
        "p",
        1,
        &single.body,
        single.sealed.as_deref(),
        Some(&c),
    )
    .unwrap_err();
    assert!(matches!(moved, StoreError::Tampered { .. }), "{moved:?}");
}
