//! Fuzzes the compact JWS/JWT parser of `authresult-jwt`: any input is
//! refused with a typed error or parsed, never a panic; what is parsed
//! keeps its signing input as a prefix of the token.

#![no_main]

use authresult_jwt::UnverifiedJwt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match UnverifiedJwt::parse(text) {
        Ok(jwt) => {
            let _ = (jwt.algorithm(), jwt.key_id(), jwt.issuer(), jwt.signature().len());
            let _ = (jwt.claims(), jwt.declares_access_token());
            assert!(text.as_bytes().starts_with(jwt.signing_input()));
        }
        Err(error) => {
            // Errors describe, never quote: the token is a secret.
            // (Only token-like input counts: an input that is itself a
            // sentence of an error message is not quoted by it.)
            let token_like = text.len() >= 24 && !text.contains(char::is_whitespace);
            assert!(
                !token_like || !error.to_string().contains(text),
                "the error quotes the token"
            );
        }
    }
});
