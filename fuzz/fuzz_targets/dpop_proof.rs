//! Fuzzes the DPoP proof check of `authresult-jwt` (RFC 9449): any `DPoP`
//! header value, for any method, is refused with a typed reason or
//! accepted with a 43-character thumbprint; the thumbprint of any JWK text
//! is refused or 43 characters; never a panic.

#![no_main]

use authresult_jwt::fuzzing::check_dpop_proof;
use authresult_jwt::jwk_thumbprint;
use libfuzzer_sys::fuzz_target;

/// The methods a first byte picks.
const METHODS: [&str; 4] = ["POST", "GET", "PUT", "post"];
/// The `iat` of RFC 9449's example proof (a seed), so seeds get past the time check.
const NOW: u64 = 1_562_262_616;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let token = (selector & 0x80 != 0).then_some("an-access-token");
    for uri in ["https://server.example.com/token", "HTTPS://server.example.com:443/token?q#f"] {
        match check_dpop_proof(&text, method, uri, token, NOW) {
            Ok(thumbprint) => assert_eq!(thumbprint.len(), 43),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
    if let Ok(thumbprint) = jwk_thumbprint(&text) {
        assert_eq!(thumbprint.len(), 43);
    }
});
