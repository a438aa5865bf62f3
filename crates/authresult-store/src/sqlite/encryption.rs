//! Encryption at rest in the SQLite file: the key check and salt kept in
//! `meta`, sealing the rows of a clear file on the first open with a key, and
//! the guard that keeps a keyless store from writing clear rows into an
//! encrypted file.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use super::worker::{Worker, all_rows};
use crate::codec;
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey, SALT_LEN, fill_random};

const META_KEY_CHECK: &str = "key_check";
const META_SALT: &str = "kdf_salt";

impl Worker {
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn, _| meta_get(conn, name, &self.path))
    }

    pub(super) fn setup_encryption(
        &mut self,
        key: Option<&EncryptionKey>,
    ) -> Result<Option<Cipher>, StoreError> {
        let check = self.meta(META_KEY_CHECK)?;
        let Some(key) = key else {
            return match check {
                Some(_) => Err(StoreError::KeyRequired),
                None => Ok(None),
            };
        };
        let salt = if key.needs_salt() {
            Some(self.salt()?)
        } else {
            None
        };
        let cipher = key.cipher(salt.as_deref())?;
        if let Some(check) = check {
            return if cipher.verify_key_check(&check) {
                Ok(Some(cipher))
            } else {
                Err(StoreError::WrongKey)
            };
        }
        // First open with a key: seal the rows written in clear and record
        // the key check, in one transaction.
        let path = self.path.clone();
        self.write(|tx, _| {
            if let Some(check) = meta_get(tx, META_KEY_CHECK, &path)? {
                return if cipher.verify_key_check(&check) {
                    Ok(())
                } else {
                    Err(StoreError::WrongKey)
                };
            }
            seal_existing(tx, &cipher, &path)?;
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                params![META_KEY_CHECK, cipher.key_check()?],
            )
            .map_err(|e| StoreError::from_sqlite(e, &path))?;
            Ok(())
        })?;
        Ok(Some(cipher))
    }

    /// The passphrase salt kept in the database, made on first use.
    fn salt(&mut self) -> Result<Vec<u8>, StoreError> {
        if let Some(salt) = self.meta(META_SALT)? {
            return Ok(salt);
        }
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
                params![META_SALT, &salt[..]],
            )
            .map_err(|e| StoreError::from_sqlite(e, &path))?;
            Ok(())
        })?;
        // Another process may have won the race: use whatever is stored.
        self.meta(META_SALT)?.ok_or_else(|| StoreError::Corrupt {
            reason: "the key derivation salt vanished".into(),
            source: None,
        })
    }
}

fn meta_get(conn: &Connection, name: &str, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
        .optional()
        .map_err(|e| StoreError::from_sqlite(e, path))
}

/// A store opened without a key must not write clear rows into a database
/// another process has since encrypted.
pub(super) fn ensure_writable_in_mode(
    tx: &Transaction<'_>,
    cipher: Option<&Cipher>,
    path: &Path,
) -> Result<(), StoreError> {
    if cipher.is_none() && meta_get(tx, META_KEY_CHECK, path)?.is_some() {
        return Err(StoreError::KeyRequired);
    }
    Ok(())
}

/// Seals every row written in clear (first open with a key).
fn seal_existing(tx: &Transaction<'_>, cipher: &Cipher, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::from_sqlite(e, path);
    let sessions = all_rows(
        tx,
        "SELECT tenant, user_id, provider, version, body, sealed FROM sessions",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, user, provider, version, body, sealed) in sessions {
        let encoded = codec::reseal_session(
            (&tenant, &user, &provider),
            version,
            &body,
            sealed.as_deref(),
            cipher,
        )?;
        tx.execute(
            "UPDATE sessions SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND provider = ?2 AND user_id = ?5",
            params![tenant, provider, encoded.body, encoded.sealed, user],
        )
        .map_err(sqlite)?;
    }
    let pending = all_rows(
        tx,
        "SELECT tenant, state, body, sealed FROM pending",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, state, body, sealed) in pending {
        let pending = codec::decode_pending(&tenant, &state, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_pending(&pending, Some(cipher))?;
        tx.execute(
            "UPDATE pending SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND state = ?2",
            params![tenant, state, encoded.body, encoded.sealed],
        )
        .map_err(sqlite)?;
    }
    let revocations = all_rows(
        tx,
        "SELECT tenant, provider, id, body, sealed FROM revocations",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, provider, id, body, sealed) in revocations {
        let revocation = codec::decode_revocation(&tenant, &provider, &id, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_revocation(&revocation, Some(cipher))?;
        tx.execute(
            "UPDATE revocations SET body = ?3, sealed = ?4 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, encoded.body, encoded.sealed],
        )
        .map_err(sqlite)?;
    }
    let records = all_rows(
        tx,
        "SELECT tenant, user_id, rev, record FROM vault",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        },
        sqlite,
    )?;
    for (tenant, user, rev, record) in records {
        let record = codec::open_vault_record(None, &tenant, &user, rev, &record)?;
        let sealed = codec::seal_vault_record(Some(cipher), &tenant, &user, rev, &record)?;
        tx.execute(
            "UPDATE vault SET record = ?3 WHERE tenant = ?1 AND user_id = ?2",
            params![tenant, user, sealed],
        )
        .map_err(sqlite)?;
    }
    Ok(())
}
