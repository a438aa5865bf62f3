//! `Debug` and `Display` of providers, pending logins, results and errors
//! never contain token text.

use authresult_core::{LoginFlow, LoginResponse};
use authresult_oidc::{OidcError, SyncServerProvider};
use url::Url;

use crate::support::{authorization_url, confidential, idp, login_as, plain, request};

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let provider = confidential();
    let shown = format!("{provider:?}");
    assert!(!shown.contains("confidential-secret"), "{shown}");
    assert!(shown.contains("confidential-app"));

    let native = plain("native-app");
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = native
        .start_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let private: serde_json::Value = serde_json::from_str(pending.secret.secret()).unwrap();
    let verifier = private["pkce_verifier"].as_str().unwrap();
    let shown = format!("{pending:?}");
    assert!(!shown.contains(verifier), "the PKCE verifier leaked: {shown}");

    let callback = idp()
        .login_via_form(&authorization_url(&pending), "alice", "alice-password")
        .await
        .unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let auth = native
        .finish_login(&pending, &LoginResponse::Callback(callback.clone()))
        .await
        .unwrap();
    let shown = format!("{auth:?}");
    for secret in [
        auth.access_token.secret(),
        auth.refresh_token.as_ref().unwrap().secret(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // A failing reuse of the code names the endpoint, not the code.
    let error = native
        .finish_login(&pending, &LoginResponse::Callback(callback))
        .await
        .unwrap_err();
    assert!(!format!("{error:?}{error}").contains(&code));

    // Errors built from a provider's description drop token-like text.
    let again = login_as(&native, "bob").await;
    let leaked = native
        .userinfo(&again.access_token, Some("someone-else"))
        .await
        .unwrap_err();
    assert!(matches!(leaked, OidcError::SubjectMismatch));
    assert!(!format!("{leaked:?}{leaked}").contains(again.access_token.secret()));

    let sync =
        SyncServerProvider::new(Url::parse("http://127.0.0.1:9").unwrap(), &Default::default()).unwrap();
    assert!(format!("{sync:?}").contains("/api/users/login"));
}
