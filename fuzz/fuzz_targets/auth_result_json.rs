//! Fuzzes the `AuthResult` JSON reader of `authresult-core`: any input is
//! refused or read, and what is read is written back and read again equally.

#![no_main]

use authresult_core::AuthResult;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(result) = AuthResult::from_json_str(text) {
        let written = result.to_json_value();
        let again = AuthResult::from_json_value(written.clone()).expect("a written AuthResult reads back");
        assert_eq!(again.to_json_value(), written);
    }
});
