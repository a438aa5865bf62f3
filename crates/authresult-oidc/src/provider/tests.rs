//! Unit tests of the provider's pure helpers.

use super::code_flow::callback_params;
use super::endpoints::token_info;
use super::tokens::check_same_identity;
use super::*;
use authresult_core::AccessToken;
use serde_json::Map;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|_| unreachable!("test URLs are valid"))
}

#[test]
fn callback_must_come_back_to_the_redirect_uri() {
    let redirect = url("http://127.0.0.1:5000/callback");
    assert!(callback_params(&url("http://127.0.0.1:5000/callback?code=a&state=b"), &redirect).is_ok());
    assert!(callback_params(&url("http://127.0.0.1:5001/callback?code=a"), &redirect).is_err());
    assert!(callback_params(&url("http://127.0.0.1:5000/other?code=a"), &redirect).is_err());
    assert!(callback_params(&url("http://127.0.0.1:5000/callback?code=a&code=b"), &redirect).is_err());
}

#[test]
fn a_callback_carrying_a_token_is_an_implicit_flow_injection() {
    let redirect = url("http://127.0.0.1:5000/callback");
    for callback in [
        "http://127.0.0.1:5000/callback?code=a&state=b&access_token=x",
        "http://127.0.0.1:5000/callback?code=a&state=b&id_token=x",
        "http://127.0.0.1:5000/callback?code=a&state=b#access_token=x&token_type=bearer",
        "http://127.0.0.1:5000/callback#state=b&id_token=x",
    ] {
        let Err(error) = callback_params(&url(callback), &redirect) else {
            panic!("{callback} was accepted");
        };
        assert!(
            matches!(error, OidcError::TokenInCallback { .. }),
            "{callback}: {error:?}"
        );
        assert!(!error.to_string().contains("=x"), "{error}");
    }
    // A fragment without tokens is harmless.
    assert!(
        callback_params(
            &url("http://127.0.0.1:5000/callback?code=a&state=b#_=_"),
            &redirect
        )
        .is_ok()
    );
}

#[test]
fn transport_rules() {
    assert!(check_transport(&url("https://id.example.org"), false, "issuer").is_ok());
    assert!(check_transport(&url("http://127.0.0.1:8080"), false, "issuer").is_ok());
    assert!(check_transport(&url("http://localhost:8080"), false, "issuer").is_ok());
    assert!(check_transport(&url("http://id.example.org"), false, "issuer").is_err());
    assert!(check_transport(&url("http://id.example.org"), true, "issuer").is_ok());
    assert!(check_transport(&url("ftp://id.example.org"), true, "issuer").is_err());
}

#[test]
fn a_different_subject_on_refresh_is_refused() {
    let mut previous = AuthResult::new(AccessToken::new("a"), 0);
    previous.profile = Some([("sub".to_owned(), "alice".to_owned())].into_iter().collect());
    let fresh: Map<String, Value> = serde_json::from_str(r#"{"sub":"bob"}"#).unwrap_or_default();
    assert!(matches!(
        check_same_identity(&previous, &fresh),
        Err(OidcError::IdentityChanged { claim: "sub" })
    ));
    let same: Map<String, Value> = serde_json::from_str(r#"{"sub":"alice"}"#).unwrap_or_default();
    assert!(check_same_identity(&previous, &same).is_ok());
}

#[test]
fn introspection_claims_become_token_info() {
    let claims: Map<String, Value> =
        serde_json::from_str(r#"{"active":true,"sub":"alice","exp":1700000000,"scope":"openid email"}"#)
            .unwrap_or_default();
    let info = token_info(claims);
    assert_eq!(info.subject.as_deref(), Some("alice"));
    assert_eq!(
        info.expires_at,
        Some(authresult_core::Timestamp::from_secs(1_700_000_000))
    );
    assert_eq!(info.scopes, vec!["openid".to_owned(), "email".to_owned()]);
}
