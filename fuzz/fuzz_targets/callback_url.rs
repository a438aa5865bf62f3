//! Fuzzes the authorization callback readers of `authresult-oidc`: the
//! loopback listener's request line and the callback URL check of
//! `finish_login`. Never a panic; an accepted callback carries no token
//! and comes back to the redirect URI.

#![no_main]

use authresult_oidc::OidcError;
use authresult_oidc::fuzzing::{callback, loopback_request};
use libfuzzer_sys::fuzz_target;
use url::Url;

const STATE: &str = "Yh3v0pXq9Lr2";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(redirect) = Url::parse("http://127.0.0.1:49152/callback") else {
        return;
    };
    if let Some(url) = loopback_request(&redirect, text, STATE) {
        assert_eq!(url.path(), redirect.path());
        assert!(!matches!(
            callback(&url, &redirect),
            Err(OidcError::TokenInCallback { .. })
        ));
    }
    if let Ok(url) = Url::parse(text) {
        if let Ok(params) = callback(&url, &redirect) {
            assert!(!params.contains_key("access_token") && !params.contains_key("id_token"));
            assert_eq!(url.path(), redirect.path());
        }
    }
});
