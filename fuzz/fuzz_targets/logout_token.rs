//! Fuzzes the claims check of a back-channel logout token (`iss`, `aud`,
//! `iat` window, `exp`, `jti`, the logout event, `sid`/`sub`, no `nonce`):
//! any payload text is accepted or refused with a typed error, never a
//! panic. The JWS around it is `token_parser`'s.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    authresult_jwt::fuzz_logout_claims(text);
});
