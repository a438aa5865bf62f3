//! `Debug` and `Display` of providers, pending logins, results and errors
//! never contain token text.

use authresult_core::{LoginFlow, LoginPrompt, LoginResponse};
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
        .begin_login(&request(LoginFlow::AuthorizationCode, Some(redirect)))
        .await
        .unwrap();
    let private: serde_json::Value = serde_json::from_str(pending.secret.secret()).unwrap();
    let verifier = private["pkce_verifier"].as_str().unwrap();
    let nonce = private["nonce"].as_str().unwrap();
    let shown = format!("{pending:?}");
    assert!(!shown.contains(verifier), "the PKCE verifier leaked: {shown}");
    assert!(!shown.contains(&pending.state), "the state leaked: {shown}");
    assert!(!shown.contains(nonce), "the nonce leaked: {shown}");

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
    // The callback as the app hands it over: neither code nor state shows.
    let response = LoginResponse::Callback(callback.clone());
    let shown = format!("{response:?}");
    assert!(!shown.contains(&code), "the code leaked: {shown}");
    assert!(!shown.contains(&pending.state), "the state leaked: {shown}");
    assert!(shown.contains("/callback"), "{shown}");
    let auth = native
        .complete_login(&pending, &LoginResponse::Callback(callback.clone()))
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
        .complete_login(&pending, &LoginResponse::Callback(callback))
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

    // A device login: the user code shows nowhere, not even in the complete URI.
    let device = plain("device-app")
        .begin_login(&request(LoginFlow::DeviceCode, None))
        .await
        .unwrap();
    let LoginPrompt::DeviceCode { user_code, .. } = &device.prompt else {
        panic!("expected a device prompt");
    };
    let shown = format!("{device:?}");
    assert!(
        !shown.contains(user_code.as_str()),
        "the user code leaked: {shown}"
    );
    assert!(!shown.contains(&device.state), "{shown}");
    let shown = format!("{:?}", device.prompt);
    assert!(
        !shown.contains(user_code.as_str()),
        "the user code leaked: {shown}"
    );

    let sync =
        SyncServerProvider::new(Url::parse("http://127.0.0.1:9").unwrap(), &Default::default()).unwrap();
    assert!(format!("{sync:?}").contains("/api/users/login"));
}
