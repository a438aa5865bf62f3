//! Fuzzes the JWK Set parser of `authresult-jwt`: any document is refused
//! or parsed, and a parsed set verifies (here: refuses) a fixed token with
//! every algorithm allowed, never a panic.

#![no_main]

use authresult_jwt::{JwkSet, JwsAlgorithm, UnverifiedJwt};
use libfuzzer_sys::fuzz_target;

/// A token whose signature is not valid under any key.
const TOKEN: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUub3JnIiwic3ViIjoiYSJ9.c2ln";

/// The asymmetric algorithms, by name.
const ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fuzz_target!(|data: &[u8]| {
    let Ok(set) = JwkSet::from_json(data) else {
        return;
    };
    assert_eq!(set.key_ids().count(), set.len());
    assert_eq!(set.is_empty(), set.len() == 0);
    let every: Vec<JwsAlgorithm> = ALGORITHMS
        .iter()
        .filter_map(|n| JwsAlgorithm::from_name(n))
        .collect();
    if let Ok(jwt) = UnverifiedJwt::parse(TOKEN) {
        assert!(set.verify(&jwt, &every).is_err());
    }
});
