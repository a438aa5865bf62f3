//! Tests of the `AuthResult` wire contract and of `Session` expiry.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{
    AccessToken, AuthResult, Credentials, Error, IdToken, LoginPrompt, Password, PendingAuthorization,
    PendingSecret, ProviderConfig, RefreshToken, Session, SessionKey, Timestamp,
};

const EXAMPLE: &str = r#"{"access_token":"eyJ...","id_token":"eyJ...","refresh_token":"def502...","expires_in":3600,
"profile":{"sub":"user-123","name":"John Doe","email":"john.doe@example.com"}}"#;

fn field_of(err: Error) -> &'static str {
    match err {
        Error::InvalidAuthResult { field, .. } => field,
        other => panic!("expected InvalidAuthResult, got {other:?}"),
    }
}

fn with(field: &str, value: Value) -> String {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v[field] = value;
    v.to_string()
}

fn without(field: &str) -> String {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v.as_object_mut().unwrap().remove(field);
    v.to_string()
}

#[test]
fn documented_example_round_trips_to_an_equal_json_value() {
    let parsed = AuthResult::from_json_str(EXAMPLE).unwrap();
    let written: Value = serde_json::to_value(&parsed).unwrap();
    let original: Value = serde_json::from_str(EXAMPLE).unwrap();
    assert_eq!(written, original);
    // And through serde's Deserialize as well as the explicit reader.
    let via_serde: AuthResult = serde_json::from_str(EXAMPLE).unwrap();
    assert_eq!(serde_json::to_value(&via_serde).unwrap(), original);
}

#[test]
fn absent_optionals_are_omitted_when_written() {
    let auth = AuthResult::new(AccessToken::new("tok"), 60);
    assert_eq!(
        serde_json::to_value(&auth).unwrap(),
        json!({"access_token": "tok", "expires_in": 60})
    );
    let nulls =
        r#"{"access_token":"tok","expires_in":60,"id_token":null,"refresh_token":null,"profile":null}"#;
    let auth = AuthResult::from_json_str(nulls).unwrap();
    assert!(auth.id_token.is_none() && auth.refresh_token.is_none() && auth.profile.is_none());
}

#[test]
fn non_string_profile_claims_are_kept_as_json_text() {
    let json = with(
        "profile",
        json!({"sub": "u1", "email_verified": true, "age": 42, "address": {"country": "KE"}, "roles": ["a"]}),
    );
    let auth = AuthResult::from_json_str(&json).unwrap();
    let profile = auth.profile.unwrap();
    assert_eq!(profile["email_verified"], "true");
    assert_eq!(profile["age"], "42");
    assert_eq!(profile["address"], r#"{"country":"KE"}"#);
    assert_eq!(profile["roles"], r#"["a"]"#);
    assert_eq!(profile["sub"], "u1");
}

#[test]
fn user_metadata_round_trips() {
    let json = with("user_metadata", json!({"team": "north", "shift": 2}));
    let auth = AuthResult::from_json_str(&json).unwrap();
    let meta = auth.user_metadata.as_ref().unwrap();
    assert_eq!(meta["team"], "north");
    assert_eq!(meta["shift"], "2");
    let written = serde_json::to_value(&auth).unwrap();
    assert_eq!(written["user_metadata"], json!({"team": "north", "shift": "2"}));
}

#[test]
fn missing_or_non_string_access_token_is_an_error_naming_the_field() {
    assert_eq!(
        field_of(AuthResult::from_json_str(&without("access_token")).unwrap_err()),
        "access_token"
    );
    for bad in [json!(42), json!(null), json!(true), json!(["x"]), json!({"a": 1})] {
        let err = AuthResult::from_json_str(&with("access_token", bad)).unwrap_err();
        assert_eq!(field_of(err), "access_token");
    }
}

#[test]
fn bad_expires_in_is_an_error_naming_the_field() {
    assert_eq!(
        field_of(AuthResult::from_json_str(&without("expires_in")).unwrap_err()),
        "expires_in"
    );
    for bad in [
        json!(-1),
        json!(1.5),
        json!("3600"),
        json!(null),
        json!(true),
        json!(-1e30),
    ] {
        let err = AuthResult::from_json_str(&with("expires_in", bad.clone())).unwrap_err();
        assert_eq!(field_of(err), "expires_in", "for {bad}");
    }
    let err = AuthResult::from_json_str(&with("expires_in", json!(-5))).unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
}

#[test]
fn expires_in_extremes_saturate_instead_of_failing() {
    let auth = AuthResult::from_json_str(&with("expires_in", json!(u64::MAX))).unwrap();
    assert_eq!(auth.expires_in, u64::MAX);
    let auth = AuthResult::from_json_str(&with("expires_in", json!(1e30))).unwrap();
    assert_eq!(auth.expires_in, u64::MAX);
    let auth = AuthResult::from_json_str(&with("expires_in", json!(3600.0))).unwrap();
    assert_eq!(auth.expires_in, 3600);
}

#[test]
fn other_wrong_types_and_documents_are_errors() {
    assert_eq!(
        field_of(AuthResult::from_json_str(&with("id_token", json!(1))).unwrap_err()),
        "id_token"
    );
    assert_eq!(
        field_of(AuthResult::from_json_str(&with("refresh_token", json!({}))).unwrap_err()),
        "refresh_token"
    );
    assert_eq!(
        field_of(AuthResult::from_json_str(&with("profile", json!("x"))).unwrap_err()),
        "profile"
    );
    assert_eq!(
        field_of(AuthResult::from_json_str("[1,2]").unwrap_err()),
        "(document)"
    );
    assert_eq!(
        field_of(AuthResult::from_json_str("{\"access_token\":").unwrap_err()),
        "(document)"
    );
    // serde's Deserialize reports the same reason.
    let err = serde_json::from_str::<AuthResult>(&without("expires_in")).unwrap_err();
    assert!(err.to_string().contains("expires_in"), "{err}");
}

#[test]
fn token_text_never_appears_in_debug_output() {
    let secrets = [
        "ACCESS-SECRET-1",
        "REFRESH-SECRET-2",
        "IDTOKEN-SECRET-3",
        "PASSWORD-SECRET-4",
    ];
    let mut auth = AuthResult::new(AccessToken::new(secrets[0]), 60);
    auth.refresh_token = Some(RefreshToken::new(secrets[1]));
    auth.id_token = Some(IdToken::new(secrets[2]));
    let session = Session::new(SessionKey::new("t", "p"), auth.clone(), Timestamp::EPOCH);
    let credentials = Credentials::Password {
        username: "alice".into(),
        password: Password::new(secrets[3]),
    };
    let token_credentials = Credentials::Token {
        token: AccessToken::new(secrets[0]),
    };
    let pending = PendingAuthorization {
        key: SessionKey::new("t", "p"),
        state: "st".into(),
        prompt: LoginPrompt::Redirect {
            authorization_url: "https://id.example.org/auth".parse().unwrap(),
        },
        redirect_uri: None,
        created_at: Timestamp::EPOCH,
        expires_at: Timestamp::MAX,
        secret: PendingSecret::new(secrets[1]),
        origin: None,
    };
    let config = ProviderConfig::from_json_str(&format!(
        r#"{{"type":"oidc","fields":{{"issuer":"https://id.example.org","client_id":"c","client_secret":"{}"}}}}"#,
        secrets[3]
    ))
    .unwrap();
    let outputs = [
        format!("{auth:?}"),
        format!("{auth:#?}"),
        format!("{session:?}"),
        format!("{credentials:?}"),
        format!("{token_credentials:?}"),
        format!("{pending:?}"),
        format!("{config:?}"),
    ];
    for out in &outputs {
        for secret in secrets {
            assert!(!out.contains(secret), "secret leaked in {out}");
        }
    }
    assert_eq!(format!("{:?}", auth.access_token), "AccessToken([redacted])");
    assert!(outputs[0].contains("[redacted]"));
}

fn jwt_with(payload: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{header}.{body}.c2ln")
}

#[test]
fn session_expiry_is_absolute_and_survives_a_restart() {
    let issued = Timestamp::from_secs(1_000_000);
    let auth = AuthResult::from_json_str(EXAMPLE).unwrap();
    let session = Session::new(SessionKey::new("tenant", "kc"), auth, issued);
    assert_eq!(session.expires_at, Some(Timestamp::from_secs(1_003_600)));
    // "Restart": serialize, read back much later; the expiry did not move.
    let stored = serde_json::to_string(&crate::Exposed(&session)).unwrap();
    let restored: Session = serde_json::from_str(&stored).unwrap();
    assert_eq!(restored.expires_at, session.expires_at);
    let later = Timestamp::from_secs(1_003_601);
    assert!(restored.is_expired(later));
    assert!(!restored.is_fresh(Timestamp::from_secs(1_003_580), Duration::from_secs(30)));
    assert!(restored.is_fresh(Timestamp::from_secs(1_003_500), Duration::from_secs(30)));
    assert_eq!(
        restored.expires_in(Timestamp::from_secs(1_003_000)),
        Some(Duration::from_secs(600))
    );
}

#[test]
fn zero_expires_in_uses_the_jwt_exp_claim() {
    let token = jwt_with(json!({"sub": "jwt-user", "exp": 2_000_000_000u64}));
    let session = Session::new(
        SessionKey::new("t", "p"),
        AuthResult::new(AccessToken::new(token), 0),
        Timestamp::from_secs(1),
    );
    assert_eq!(session.expires_at, Some(Timestamp::from_secs(2_000_000_000)));
    assert_eq!(session.subject.as_deref(), Some("jwt-user"));

    // Not a JWT, or a JWT with a nonsense exp: expiry unknown, never a panic.
    for token in [
        "opaque".to_owned(),
        jwt_with(json!({"exp": "soon"})),
        jwt_with(json!({"exp": -1})),
    ] {
        let s = Session::new(
            SessionKey::new("t", "p"),
            AuthResult::new(AccessToken::new(token), 0),
            Timestamp::EPOCH,
        );
        assert_eq!(s.expires_at, None);
        assert!(s.is_fresh(Timestamp::MAX, Duration::from_secs(30)));
    }
}

#[test]
fn huge_expires_in_saturates_to_far_future() {
    let session = Session::new(
        SessionKey::new("t", "p"),
        AuthResult::new(AccessToken::new("x"), u64::MAX),
        Timestamp::from_secs(1_700_000_000),
    );
    assert_eq!(session.expires_at, Some(Timestamp::MAX));
    assert!(session.is_fresh(
        Timestamp::from_secs(4_000_000_000),
        Duration::from_secs(365 * 24 * 3600)
    ));
    assert!(!session.is_expired(Timestamp::from_secs(u64::MAX / 1000)));
    assert_eq!(Timestamp::MAX.saturating_add(Duration::MAX), Timestamp::MAX);
    assert_eq!(
        Timestamp::EPOCH.saturating_sub(Duration::from_secs(5)),
        Timestamp::EPOCH
    );
}

#[test]
fn a_refresh_without_a_refresh_token_keeps_the_old_one() {
    let mut auth = AuthResult::new(AccessToken::new("a1"), 60);
    auth.refresh_token = Some(RefreshToken::new("r1"));
    auth.id_token = Some(IdToken::new("i1"));
    let session = Session::new(SessionKey::new("t", "p"), auth, Timestamp::EPOCH);

    let kept = session.refreshed(
        AuthResult::new(AccessToken::new("a2"), 60),
        Timestamp::from_secs(100),
    );
    assert_eq!(kept.auth.access_token.secret(), "a2");
    assert_eq!(kept.auth.refresh_token.as_ref().unwrap().secret(), "r1");
    assert_eq!(kept.auth.id_token.as_ref().unwrap().secret(), "i1");
    assert_eq!(kept.expires_at, Some(Timestamp::from_secs(160)));

    let mut rotated = AuthResult::new(AccessToken::new("a3"), 60);
    rotated.refresh_token = Some(RefreshToken::new("r2"));
    let replaced = session.refreshed(rotated, Timestamp::from_secs(100));
    assert_eq!(replaced.auth.refresh_token.as_ref().unwrap().secret(), "r2");
}

#[test]
fn a_member_given_twice_is_refused_not_read_as_the_last() {
    // A second `access_token` would otherwise replace the first unseen.
    let doubled = EXAMPLE.replacen('{', r#"{"access_token":"planted","#, 1);
    let err = AuthResult::from_json_str(&doubled).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("duplicate member") && !shown.contains("planted"),
        "{shown}"
    );
    assert_eq!(field_of(err), "(document)");
    // Nested maps are read as before: a profile is any string map.
    assert!(AuthResult::from_json_str(EXAMPLE).is_ok());
}

#[test]
fn a_sessions_sealed_box_is_not_shown_by_debug() {
    // The box stands for every token of the session: the SQLite and Postgres
    // codecs seal it with the store key like the tokens, so Debug (logs,
    // panics, error reports) must not print it either.
    let mut session = Session::new(
        SessionKey::new("t", "p"),
        AuthResult::new(AccessToken::new(""), 60),
        Timestamp::from_secs(1),
    );
    session.sealed_auth = Some(crate::SealedAuth::new("c0ffee".repeat(20)));
    let shown = format!("{session:?}");
    assert!(!shown.contains("c0ffee"), "{shown}");
}

#[test]
fn the_strict_reader_refuses_every_duplicate_however_spelled_or_placed() {
    // An escaped spelling of the same name is the same member.
    assert!(crate::parse_strict_object(r#"{"a":1,"\u0061":2}"#).is_err());
    assert!(crate::parse_strict_object(r#"{"access_token":"x","acc\u0065ss_token":"y"}"#).is_err());
    // Around the switch from the linear scan to the hash set.
    for members in [31usize, 32, 33, 34, 64] {
        let names: Vec<String> = (0..members).map(|i| format!("\"m{i}\":{i}")).collect();
        for again in [0, members / 2, members - 1] {
            let text = format!("{{{},\"m{again}\":0}}", names.join(","));
            assert!(
                crate::parse_strict_object(&text).is_err(),
                "{members} members, m{again} again"
            );
            let escaped = format!("{{{},\"\\u006d{again}\":0}}", names.join(","));
            assert!(
                crate::parse_strict_object(&escaped).is_err(),
                "{members} members, escaped m{again} again"
            );
        }
        let text = format!("{{{}}}", names.join(","));
        assert_eq!(crate::parse_strict_object(&text).unwrap().len(), members);
    }
}
