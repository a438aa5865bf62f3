//! Tests of the `Authorization` header DataCollect's server expects.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use authresult_core::AccessToken;

use super::authorization_header;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";

#[test]
fn header_scheme_is_the_provider_type_and_bearer_for_the_sync_server() {
    // DataCollect's client: `${provider === "default" ? "Bearer" : provider} ${token}`.
    let token = AccessToken::new(TOKEN);
    for (provider_type, expected) in [
        ("keycloak", format!("keycloak {TOKEN}")),
        ("auth0", format!("auth0 {TOKEN}")),
        ("default", format!("Bearer {TOKEN}")),
        ("oidc", format!("oidc {TOKEN}")),
    ] {
        let value = authorization_header(provider_type, &token).unwrap();
        assert_eq!(value.to_str().unwrap(), expected);
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains(TOKEN), "{value:?}");
    }
}

#[test]
fn header_refuses_a_token_that_cannot_be_a_header_without_quoting_it() {
    let token = AccessToken::new("abc\r\nX-Injected: yes");
    let err = authorization_header("keycloak", &token).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("X-Injected"), "{shown}");
}
