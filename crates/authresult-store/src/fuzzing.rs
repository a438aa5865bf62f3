//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by
//! default): the row codec every serializing backend reads stored rows
//! with, clear and sealed. Not a public API.

use crate::codec::{
    decode_pending, decode_revocation, decode_session, encode_pending, encode_revocation, encode_session,
    pending_aad, revocation_aad, session_aad,
};
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey, KEY_LEN};

/// The kind of a stored row.
#[derive(Debug, Clone, Copy)]
pub enum Row {
    /// A session, stored under tenant and provider.
    Session,
    /// A pending login, stored under tenant and state.
    Pending,
    /// A pending revocation, stored under tenant, provider and id.
    Revocation,
}

/// A row read back, written out again in clear (secrets included).
#[derive(Debug)]
pub struct Decoded {
    /// The decoded row, encoded in clear.
    pub clear: String,
    /// The decoded row sealed, decoded again and encoded in clear: equal to
    /// `clear` when sealing loses nothing.
    pub resealed: String,
}

/// Decodes a row stored under `columns` (tenant, then provider or state,
/// then the revocation id) with JSON `body`. With `secrets`, the row is
/// sealed: `secrets` is first tried as sealed bytes (a tampered row), then
/// sealed under the row's binding with a fixed key, as this crate writes
/// it, and the row decoded with that key.
pub fn decode_row(
    row: Row,
    columns: [&str; 3],
    body: &str,
    secrets: Option<&[u8]>,
) -> Result<Decoded, StoreError> {
    let cipher = EncryptionKey::from_bytes([0x5a; KEY_LEN]).cipher(None)?;
    let [tenant, second, id] = columns;
    let aad = match row {
        Row::Session => session_aad(tenant, "", second, body),
        Row::Pending => pending_aad(tenant, second, body),
        Row::Revocation => revocation_aad(tenant, second, id, body),
    };
    let sealed = match secrets {
        Some(secrets) => {
            let _ = decode(row, columns, body, Some(secrets), Some(&cipher));
            Some(cipher.seal(&aad, secrets)?)
        }
        None => None,
    };
    let key = sealed.as_ref().map(|_| &cipher);
    decode(row, columns, body, sealed.as_deref(), key)
}

fn decode(
    row: Row,
    [tenant, second, id]: [&str; 3],
    body: &str,
    sealed: Option<&[u8]>,
    cipher: Option<&Cipher>,
) -> Result<Decoded, StoreError> {
    let reseal = EncryptionKey::from_bytes([0xa5; KEY_LEN]).cipher(None)?;
    let c = Some(&reseal);
    match row {
        Row::Session => {
            let session = decode_session(tenant, "", second, 0, body, sealed, cipher)?;
            let again = encode_session(&session, c)?;
            let again = decode_session(tenant, "", second, 0, &again.body, again.sealed.as_deref(), c)?;
            Ok(Decoded {
                clear: encode_session(&session, None)?.body,
                resealed: encode_session(&again, None)?.body,
            })
        }
        Row::Pending => {
            let pending = decode_pending(tenant, second, body, sealed, cipher)?;
            let again = encode_pending(&pending, c)?;
            let again = decode_pending(tenant, second, &again.body, again.sealed.as_deref(), c)?;
            Ok(Decoded {
                clear: encode_pending(&pending, None)?.body,
                resealed: encode_pending(&again, None)?.body,
            })
        }
        Row::Revocation => {
            let revocation = decode_revocation(tenant, second, id, body, sealed, cipher)?;
            let again = encode_revocation(&revocation, c)?;
            let again = decode_revocation(tenant, second, id, &again.body, again.sealed.as_deref(), c)?;
            Ok(Decoded {
                clear: encode_revocation(&revocation, None)?.body,
                resealed: encode_revocation(&again, None)?.body,
            })
        }
    }
}
