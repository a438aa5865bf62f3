//! Fuzzes the token-endpoint answer readers of `authresult-oidc` (OIDC
//! token response with its unverified ID token claims, the sync server's
//! login answer): refused with a typed error or read, never a panic; the
//! profile read keeps no protocol claim.

#![no_main]

use authresult_oidc::fuzzing::token_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(profile) = token_response(data) {
        for claim in ["iss", "aud", "exp", "iat", "nonce"] {
            assert!(
                !profile.contains_key(claim),
                "protocol claim {claim} in the profile"
            );
        }
    }
});
