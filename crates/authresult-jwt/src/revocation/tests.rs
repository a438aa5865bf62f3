//! Unit tests of the revocation index: which tokens a logout matches, its
//! expiry, and the generation a cached check is compared with.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{Logout, Timestamp};
use serde_json::{Map, Value, json};

use super::Index;
use crate::claims::{ClaimStore, ValidatedToken, Verification};
use crate::error::{TokenPurpose, ValidationErrorKind};
use crate::typed_claims::Typed;

const ISS: &str = "https://issuer.test";
const T: u64 = 1_700_000_000;

fn token(issuer: &str, claims: Value) -> ValidatedToken {
    let Value::Object(mut claims) = claims else {
        unreachable!()
    };
    let typed = Typed::extract(&mut claims).unwrap();
    typed.into_token(
        &Arc::from(issuer),
        TokenPurpose::Access,
        Verification::Signature,
        ClaimStore::Parsed(Map::new()),
    )
}

fn logout(sid: Option<&str>, sub: Option<&str>, at: u64) -> Logout {
    Logout::new(
        ISS,
        sid.map(str::to_owned),
        sub.map(str::to_owned),
        Timestamp::from_secs(at),
        Duration::from_secs(3600),
    )
    .unwrap()
}

fn refused(index: &Index, token: &ValidatedToken, now: u64) -> bool {
    match index.check(token, Timestamp::from_secs(now)) {
        Ok(()) => false,
        Err(e) => {
            assert_eq!(e.kind(), ValidationErrorKind::LoggedOut);
            true
        }
    }
}

#[test]
fn a_logged_out_session_refuses_its_tokens_whenever_issued() {
    let index = Index::default();
    index.apply(&logout(Some("s1"), Some("alice"), T), Timestamp::from_secs(T));
    let same = token(ISS, json!({"sub": "alice", "sid": "s1", "iat": T + 10}));
    assert!(refused(&index, &same, T + 20), "the session's token");
    let other_session = token(ISS, json!({"sub": "alice", "sid": "s2", "iat": T - 10}));
    assert!(
        !refused(&index, &other_session, T + 20),
        "another session of the user"
    );
    let other_issuer = token(
        "https://other.test",
        json!({"sub": "alice", "sid": "s1", "iat": T}),
    );
    assert!(
        !refused(&index, &other_issuer, T + 20),
        "another issuer's session"
    );
}

#[test]
fn a_logged_out_user_refuses_tokens_issued_up_to_the_logout() {
    let index = Index::default();
    index.apply(&logout(None, Some("alice"), T), Timestamp::from_secs(T));
    let before = token(ISS, json!({"sub": "alice", "iat": T - 60}));
    let at = token(ISS, json!({"sub": "alice", "iat": T}));
    let after = token(ISS, json!({"sub": "alice", "iat": T + 1}));
    let no_iat = token(ISS, json!({"sub": "alice"}));
    let with_sid = token(ISS, json!({"sub": "alice", "sid": "s9", "iat": T - 60}));
    let bob = token(ISS, json!({"sub": "bob", "iat": T - 60}));
    assert!(refused(&index, &before, T + 5));
    assert!(refused(&index, &at, T + 5));
    assert!(!refused(&index, &after, T + 5), "a new login's token");
    assert!(refused(&index, &no_iat, T + 5), "nothing shows it is newer");
    assert!(refused(&index, &with_sid, T + 5), "every session of the user");
    assert!(!refused(&index, &bob, T + 5));
}

#[test]
fn a_session_logout_naming_the_user_ends_the_users_tokens_without_sid() {
    let index = Index::default();
    index.apply(&logout(Some("s1"), Some("alice"), T), Timestamp::from_secs(T));
    let plain = token(ISS, json!({"sub": "alice", "iat": T - 60}));
    assert!(refused(&index, &plain, T + 5), "access tokens name no session");
    let newer = token(ISS, json!({"sub": "alice", "iat": T + 60}));
    assert!(!refused(&index, &newer, T + 65));
}

#[test]
fn entries_expire_with_the_longest_token_they_could_match() {
    let index = Index::default();
    index.apply(&logout(Some("s1"), Some("alice"), T), Timestamp::from_secs(T));
    let old = token(ISS, json!({"sub": "alice", "sid": "s1", "iat": T - 60}));
    assert!(refused(&index, &old, T + 3599));
    assert!(!refused(&index, &old, T + 3600), "expired with the max lifetime");
    // A reload drops what expired.
    index.replace(vec![logout(Some("s1"), None, T)], Timestamp::from_secs(T + 3600));
    assert_eq!(index.len(), 0);
    // An expired logout is not applied at all.
    index.apply(&logout(None, Some("bob"), T), Timestamp::from_secs(T + 4000));
    assert_eq!(index.len(), 0);
}

#[test]
fn every_change_moves_the_generation_on() {
    let index = Index::default();
    let start = index.generation();
    index.apply(&logout(None, Some("alice"), T), Timestamp::from_secs(T));
    let one = index.generation();
    assert!(one > start);
    index.replace(Vec::new(), Timestamp::from_secs(T));
    assert!(index.generation() > one);
    assert_eq!(index.len(), 0);
}

#[test]
fn a_later_logout_of_the_same_user_moves_the_cutoff_forward_only() {
    let index = Index::default();
    index.apply(&logout(None, Some("alice"), T), Timestamp::from_secs(T));
    index.apply(&logout(None, Some("alice"), T - 100), Timestamp::from_secs(T));
    let between = token(ISS, json!({"sub": "alice", "iat": T - 50}));
    assert!(
        refused(&index, &between, T + 1),
        "the earlier replay moved nothing back"
    );
    assert_eq!(index.len(), 1);
}
