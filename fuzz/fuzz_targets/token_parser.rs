//! Fuzzes the compact-JWS parser and the JWK Set parser of
//! `authresult-oidc`: any input is refused or parsed, never a panic.

#![no_main]

use authresult_oidc::{JwkSet, UnverifiedJwt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jwt) = UnverifiedJwt::parse(text) {
            let _ = (jwt.algorithm(), jwt.key_id(), jwt.issuer(), jwt.signature().len());
            let _ = jwt.claims();
            assert!(text.as_bytes().starts_with(jwt.signing_input()));
        }
    }
    if let Ok(set) = JwkSet::from_json(data) {
        let _ = set.key_ids().count();
    }
});
