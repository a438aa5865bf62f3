//! Fuzzes the discovery-document reader of `authresult-oidc` (parse,
//! issuer comparison, endpoint transport checks) for an `https` issuer
//! and a loopback `http` one: refused with a typed error or accepted.

#![no_main]

use authresult_oidc::fuzzing::discovery_document;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let issuer = if first % 2 == 0 {
        "https://id.example.org/realms/field"
    } else {
        "http://127.0.0.1:8080"
    };
    let Ok(issuer) = Url::parse(issuer) else {
        return;
    };
    let _ = discovery_document(&issuer, body);
});
