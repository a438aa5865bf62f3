//! Session rows: reading, listing, writing, and the compare-and-swap a
//! refresh writes with (one transaction holding the row lock).

use authresult_core::{CasOutcome, Session, SessionKey, TenantId, Timestamp};
use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::PostgresStore;
use super::pool::{Param, column, pg, settle};
use crate::codec::{self, Encoded, stored_version, ts, version_of, version_overflow};
use crate::error::StoreError;

impl PostgresStore {
    fn decode_session(
        &self,
        tenant: &str,
        user: &str,
        provider: &str,
        row: &Row,
        first: usize,
    ) -> Result<Session, StoreError> {
        let version: i64 = column(row, first)?;
        let body: String = column(row, first + 1)?;
        let sealed: Option<Vec<u8>> = column(row, first + 2)?;
        codec::decode_session(
            tenant,
            user,
            provider,
            version_of(version)?,
            &body,
            sealed.as_deref(),
            self.cipher.as_ref(),
        )
    }

    pub(super) async fn get_once(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let client = self.client().await?;
        let result = self.get_on(&client, key).await;
        settle(client, result)
    }

    async fn get_on(&self, client: &Object, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let statement = client.prepare_cached(&self.sql.get).await.map_err(pg)?;
        let row = client
            .query_opt(
                &statement,
                &[&key.tenant.as_str(), &key.provider.as_str(), &key.user.as_str()],
            )
            .await
            .map_err(pg)?;
        row.map(|row| {
            self.decode_session(
                key.tenant.as_str(),
                key.user.as_str(),
                key.provider.as_str(),
                &row,
                0,
            )
        })
        .transpose()
    }

    pub(super) async fn list_once(&self, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let client = self.client().await?;
        let result = self.list_on(&client, tenant).await;
        settle(client, result)
    }

    async fn list_on(&self, client: &Object, tenant: &TenantId) -> Result<Vec<Session>, StoreError> {
        let statement = client.prepare_cached(&self.sql.list).await.map_err(pg)?;
        let rows = client.query(&statement, &[&tenant.as_str()]).await.map_err(pg)?;
        rows.iter()
            .map(|row| {
                let user: String = column(row, 0)?;
                let provider: String = column(row, 1)?;
                self.decode_session(tenant.as_str(), &user, &provider, row, 2)
            })
            .collect()
    }

    pub(super) async fn put_once(&self, session: &Session, encoded: &Encoded) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let result = self.put_on(&client, session, encoded).await;
        settle(client, result)
    }

    async fn put_on(&self, client: &Object, session: &Session, encoded: &Encoded) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(&self.sql.put).await.map_err(pg)?;
        let row = client
            .query_opt(&statement, &session_params(session, encoded).as_params())
            .await
            .map_err(pg)?;
        // No row: the guard of a store without a key found the schema encrypted.
        let row = row.ok_or(StoreError::KeyRequired)?;
        version_of(column(&row, 0)?)
    }

    pub(super) async fn compare_and_swap_once(
        &self,
        session: &Session,
        encoded: &Encoded,
        expected: u64,
    ) -> Result<CasOutcome, StoreError> {
        let mut client = self.client().await?;
        let result = self
            .compare_and_swap_on(&mut client, session, encoded, expected)
            .await;
        settle(client, result)
    }

    async fn compare_and_swap_on(
        &self,
        client: &mut Object,
        session: &Session,
        encoded: &Encoded,
        expected: u64,
    ) -> Result<CasOutcome, StoreError> {
        let lock = client.prepare_cached(&self.sql.lock_version).await.map_err(pg)?;
        let key: [Param<'_>; 3] = [
            &session.key.tenant.as_str(),
            &session.key.provider.as_str(),
            &session.key.user.as_str(),
        ];
        let tx = client.transaction().await.map_err(pg)?;
        let current = tx
            .query_opt(&lock, &key)
            .await
            .map_err(pg)?
            .map(|row| {
                let version = column::<i64>(&row, 0).and_then(version_of)?;
                let login = codec::login_id_of(&column::<String>(&row, 1)?)?;
                Ok::<_, StoreError>((version, login))
            })
            .transpose()?;
        if self.cipher.is_none() {
            // Run after the row lock, so it sees an encryption that committed meanwhile.
            let sealed = tx.query_one(&self.sql.schema_is_sealed, &[]).await.map_err(pg)?;
            if column::<bool>(&sealed, 0)? {
                tx.rollback().await.map_err(pg)?;
                return Err(StoreError::KeyRequired);
            }
        }
        let same = match &current {
            None => expected == 0,
            Some((version, login)) => *version == expected && *login == session.login_id(),
        };
        if !same {
            tx.rollback().await.map_err(pg)?;
            return Ok(CasOutcome::Conflict {
                current: current.map(|(version, _)| version),
            });
        }
        let version = expected.checked_add(1).ok_or_else(version_overflow)?;
        let version_param = stored_version(version)?;
        let params = session_params(session, encoded);
        let mut values = params.as_params();
        let written = if expected == 0 {
            let insert = tx.prepare_cached(&self.sql.cas_insert).await.map_err(pg)?;
            tx.query_opt(&insert, &values).await.map_err(pg)?
        } else {
            let update = tx.prepare_cached(&self.sql.cas_update).await.map_err(pg)?;
            values.push(&version_param);
            tx.query_opt(&update, &values).await.map_err(pg)?
        };
        if written.is_none() {
            // Created meanwhile by another writer (the insert found its row).
            let current = tx
                .query_opt(&lock, &key)
                .await
                .map_err(pg)?
                .map(|row| column::<i64>(&row, 0).and_then(version_of))
                .transpose()?;
            tx.rollback().await.map_err(pg)?;
            return Ok(CasOutcome::Conflict { current });
        }
        tx.commit().await.map_err(pg)?;
        Ok(CasOutcome::Stored { version })
    }
}

/// The values of a session row, in the order of `Sql::put`'s parameters.
struct SessionParams<'a> {
    tenant: &'a str,
    user: &'a str,
    provider: &'a str,
    subject: Option<&'a str>,
    expires_at: Option<i64>,
    issued_at: i64,
    updated_at: i64,
    body: &'a str,
    sealed: Option<&'a [u8]>,
}

impl SessionParams<'_> {
    fn as_params(&self) -> Vec<Param<'_>> {
        vec![
            &self.tenant,
            &self.provider,
            &self.subject,
            &self.expires_at,
            &self.issued_at,
            &self.updated_at,
            &self.body,
            &self.sealed,
            &self.user,
        ]
    }
}

fn session_params<'a>(session: &'a Session, encoded: &'a Encoded) -> SessionParams<'a> {
    SessionParams {
        tenant: session.key.tenant.as_str(),
        user: session.key.user.as_str(),
        provider: session.key.provider.as_str(),
        subject: session.subject.as_deref(),
        expires_at: session.expires_at.map(ts),
        issued_at: ts(session.issued_at),
        updated_at: ts(Timestamp::now()),
        body: &encoded.body,
        sealed: encoded.sealed.as_deref(),
    }
}
