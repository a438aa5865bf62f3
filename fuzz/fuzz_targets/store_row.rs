//! Fuzzes the stored-row codec of `authresult-store` (sessions, pending
//! logins and revocations; clear and sealed): a row is refused with a
//! typed error or read, and what is read is written and read back equally.
//!
//! Input: one byte (row kind, sealed or not), then `tenant`, `provider` or
//! `state`, `id`, the JSON body and, when sealed, the secrets' plaintext,
//! separated by newlines.

#![no_main]

use authresult_store::fuzzing::{Row, decode_row};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let row = match first % 3 {
        0 => Row::Session,
        1 => Row::Pending,
        _ => Row::Revocation,
    };
    let sealed = first & 0x80 != 0;
    let mut parts = text.splitn(5, '\n');
    let (tenant, second, id, body) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let secrets = sealed.then(|| parts.next().unwrap_or("").as_bytes());
    let columns = [tenant, second, id];
    if let Ok(decoded) = decode_row(row, columns, body, secrets) {
        assert_eq!(decoded.clear, decoded.resealed, "sealing lost or changed a field");
        let again = decode_row(row, columns, &decoded.clear, None).expect("a written row reads back");
        assert_eq!(again.clear, decoded.clear);
    }
});
