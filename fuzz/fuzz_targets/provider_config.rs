//! Fuzzes the `{type, fields}` provider-config parser of `authresult-core`
//! and the validator's issuer config built from it: refused or parsed,
//! never a panic.

#![no_main]

use authresult_core::ProviderConfig;
use authresult_oidc::jwt::IssuerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = ProviderConfig::from_json_str(text) {
        let _ = config.oidc_client().map(|c| c.issuer.as_str().len());
        let _ = IssuerConfig::from_provider_config(&config);
    }
});
