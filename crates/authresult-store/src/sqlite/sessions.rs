//! Session rows in the SQLite file: reading, listing, writing, and the
//! compare-and-swap a refresh writes with, each write one transaction.

use std::path::Path;

use authresult_core::{CasOutcome, Session, SessionKey, TenantId, Timestamp};
use rusqlite::{OptionalExtension as _, Transaction, params};

use super::encryption::ensure_writable_in_mode;
use super::worker::{Worker, all_rows, count};
use crate::codec::{self, Encoded, stored_version, ts, version_of};
use crate::error::StoreError;

const SELECT_SESSION: &str = "SELECT user_id, provider, version, body, sealed FROM sessions";

impl Worker {
    pub(super) fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, cipher| {
            let row = conn
                .query_row(
                    "SELECT version, body, sealed FROM sessions
                     WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                    params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(&sqlite)?;
            row.map(|(version, body, sealed)| {
                codec::decode_session(
                    key.tenant.as_str(),
                    key.user.as_str(),
                    key.provider.as_str(),
                    version_of(version)?,
                    &body,
                    sealed.as_deref(),
                    cipher,
                )
            })
            .transpose()
        })
    }

    pub(super) fn list(&self, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let sqlite = self.sqlite();
        self.read(|conn, cipher| {
            let rows = all_rows(
                conn,
                &format!("{SELECT_SESSION} WHERE tenant = ?1 ORDER BY user_id, provider"),
                [tenant.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
                &sqlite,
            )?;
            rows.into_iter()
                .map(|(user, provider, version, body, sealed)| {
                    codec::decode_session(
                        tenant.as_str(),
                        &user,
                        &provider,
                        version_of(version)?,
                        &body,
                        sealed.as_deref(),
                        cipher,
                    )
                })
                .collect()
        })
    }

    pub(super) fn put(&mut self, session: &Session) -> Result<u64, StoreError> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            let current = current_version(tx, &session.key, &path)?;
            let version = current.unwrap_or(0).saturating_add(1);
            write_session(tx, session, &encoded, version, &path)?;
            Ok(version)
        })
    }

    pub(super) fn compare_and_swap(
        &mut self,
        session: &Session,
        expected: u64,
    ) -> Result<CasOutcome, StoreError> {
        let encoded = codec::encode_session(session, self.cipher.as_ref())?;
        let path = self.path.clone();
        self.write(|tx, cipher| {
            ensure_writable_in_mode(tx, cipher, &path)?;
            let current = current_login(tx, &session.key, &path)?;
            let same = match &current {
                None => expected == 0,
                Some((version, login)) => *version == expected && *login == session.login_id(),
            };
            if !same {
                return Ok(CasOutcome::Conflict {
                    current: current.map(|(version, _)| version),
                });
            }
            let version = expected.saturating_add(1);
            write_session(tx, session, &encoded, version, &path)?;
            Ok(CasOutcome::Stored { version })
        })
    }

    pub(super) fn remove(&mut self, key: &SessionKey) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    pub(super) fn remove_if_current(&mut self, session: &Session) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            let current = current_login(tx, &session.key, &path)?;
            if current
                .is_none_or(|(version, login)| version != session.version() || login != session.login_id())
            {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
                params![
                    session.key.tenant.as_str(),
                    session.key.user.as_str(),
                    session.key.provider.as_str()
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }

    pub(super) fn remove_tenant(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        let path = self.path.clone();
        self.write(|tx, _| {
            tx.execute("DELETE FROM sessions WHERE tenant = ?1", [tenant.as_str()])
                .map(count)
                .map_err(|e| StoreError::from_sqlite(e, &path))
        })
    }
}

fn current_version(tx: &Transaction<'_>, key: &SessionKey, path: &Path) -> Result<Option<u64>, StoreError> {
    tx.query_row(
        "SELECT version FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
        params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map_err(|e| StoreError::from_sqlite(e, path))?
    .map(version_of)
    .transpose()
}

/// The stored version and login id of `key`'s session, if any.
fn current_login(
    tx: &Transaction<'_>,
    key: &SessionKey,
    path: &Path,
) -> Result<Option<(u64, String)>, StoreError> {
    tx.query_row(
        "SELECT version, body FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND provider = ?3",
        params![key.tenant.as_str(), key.user.as_str(), key.provider.as_str()],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map_err(|e| StoreError::from_sqlite(e, path))?
    .map(|(version, body)| Ok((version_of(version)?, codec::login_id_of(&body)?)))
    .transpose()
}

fn write_session(
    tx: &Transaction<'_>,
    session: &Session,
    encoded: &Encoded,
    version: u64,
    path: &Path,
) -> Result<(), StoreError> {
    let version = stored_version(version)?;
    tx.execute(
        "INSERT INTO sessions
            (tenant, user_id, provider, subject, expires_at, issued_at, version, updated_at, body, sealed)
         VALUES (?1, ?10, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant, user_id, provider) DO UPDATE SET subject = excluded.subject,
            expires_at = excluded.expires_at, issued_at = excluded.issued_at,
            version = excluded.version, updated_at = excluded.updated_at,
            body = excluded.body, sealed = excluded.sealed",
        params![
            session.key.tenant.as_str(),
            session.key.provider.as_str(),
            session.subject,
            session.expires_at.map(ts),
            ts(session.issued_at),
            version,
            ts(Timestamp::now()),
            encoded.body,
            encoded.sealed,
            session.key.user.as_str(),
        ],
    )
    .map(drop)
    .map_err(|e| StoreError::from_sqlite(e, path))
}
