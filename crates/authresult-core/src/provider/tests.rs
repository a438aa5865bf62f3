//! Tests of the provider port's types: `Debug` shows no login secret.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn login_response_debug_hides_the_callback_values() {
    let callback =
        url("http://127.0.0.1:5000/callback?code=CODE-SECRET&state=STATE-SECRET#id_token=FRAG-SECRET");
    let shown = format!("{:?}", LoginResponse::Callback(callback));
    for secret in ["CODE-SECRET", "STATE-SECRET", "FRAG-SECRET"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("127.0.0.1:5000/callback") && shown.contains("code="),
        "{shown}"
    );
}

#[test]
fn pending_authorization_debug_hides_state_user_code_and_url_values() {
    let pending = |prompt| PendingAuthorization {
        key: SessionKey::new("app", "p"),
        state: "STATE-SECRET".into(),
        prompt,
        redirect_uri: Some(url("http://127.0.0.1:5000/callback")),
        created_at: Timestamp::EPOCH,
        expires_at: Timestamp::EPOCH,
        secret: PendingSecret::new("PRIVATE-SECRET"),
        origin: None,
    };
    let device = pending(LoginPrompt::DeviceCode {
        user_code: "USER-CODE".into(),
        verification_uri: url("https://id.example.org/device"),
        verification_uri_complete: Some(url("https://id.example.org/device?user_code=USER-CODE")),
        interval_secs: 5,
    });
    let redirect = pending(LoginPrompt::Redirect {
        authorization_url: url("https://id.example.org/auth?state=STATE-SECRET&nonce=NONCE-SECRET"),
    });
    for shown in [format!("{device:?}"), format!("{redirect:?}")] {
        for secret in ["STATE-SECRET", "PRIVATE-SECRET", "USER-CODE", "NONCE-SECRET"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("id.example.org"), "{shown}");
    }
}
