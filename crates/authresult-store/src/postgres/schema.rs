//! The PostgreSQL schema: creating it, the versioned tables and their forward
//! migrations, and turning encryption on, all under one advisory lock so
//! instances starting together take turns.

use deadpool_postgres::{Pool, Transaction};

use super::pool::{column, pg};
use crate::codec;
use crate::error::StoreError;
use crate::key::{Cipher, EncryptionKey, SALT_LEN, fill_random};

/// Migration `i` takes a schema from version `i` to `i + 1`; `{s}` stands
/// for the quoted schema name.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes: the number of migrations.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables this crate creates; finding any of them without
/// `authresult_meta` means the schema is someone else's.
const OUR_TABLES: [&str; 11] = [
    "authresult_meta",
    "sessions",
    "usernames",
    "pending",
    "leases",
    "revocations",
    "vault",
    "vault_clock",
    "replay",
    "dpop_nonces",
    "logouts",
];

/// Version 0: just the version, in a table every version can read.
const BOOTSTRAP: &str = "
CREATE TABLE {s}.authresult_meta (
    singleton      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    schema_version BIGINT NOT NULL
);
INSERT INTO {s}.authresult_meta (schema_version) VALUES (0);
";

/// Sessions keyed by tenant + provider, with queryable metadata and the
/// serialized rest (`body`, secrets in `sealed` when encrypted); usernames;
/// pending logins; refresh leases; the encryption salt and key check.
///
/// Times are Unix milliseconds. Names compare bytewise (`COLLATE "C"`), so
/// ordering does not depend on the database's locale. `body` is `TEXT`, not
/// `JSONB`: sealed secrets are bound to its exact bytes.
const V1: &str = r#"
ALTER TABLE {s}.authresult_meta ADD COLUMN key_check BYTEA, ADD COLUMN kdf_salt BYTEA;
CREATE TABLE {s}.sessions (
    tenant     TEXT COLLATE "C" NOT NULL,
    provider   TEXT COLLATE "C" NOT NULL,
    subject    TEXT,
    expires_at BIGINT,
    issued_at  BIGINT NOT NULL,
    version    BIGINT NOT NULL CHECK (version > 0),
    updated_at BIGINT NOT NULL,
    body       TEXT NOT NULL,
    sealed     BYTEA,
    PRIMARY KEY (tenant, provider)
);
CREATE INDEX sessions_by_expiry ON {s}.sessions (expires_at);
CREATE TABLE {s}.usernames (
    tenant   TEXT COLLATE "C" PRIMARY KEY,
    username TEXT NOT NULL
);
CREATE TABLE {s}.pending (
    tenant     TEXT COLLATE "C" NOT NULL,
    state      TEXT COLLATE "C" NOT NULL,
    provider   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body       TEXT NOT NULL,
    sealed     BYTEA,
    PRIMARY KEY (tenant, state)
);
CREATE INDEX pending_by_expiry ON {s}.pending (expires_at);
CREATE TABLE {s}.leases (
    tenant     TEXT COLLATE "C" NOT NULL,
    provider   TEXT COLLATE "C" NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, provider)
);
"#;

/// Tokens a logout could not revoke yet, keyed by tenant + id, oldest first
/// by `created_at` (the store keeps a bounded number per tenant); the token
/// is in `body`, or sealed in `sealed` when encrypted.
const V2: &str = r#"
CREATE TABLE {s}.revocations (
    tenant     TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    provider   TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body       TEXT NOT NULL,
    sealed     BYTEA,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX revocations_by_age ON {s}.revocations (tenant, created_at, id);
"#;

/// Sessions and refresh leases keyed by tenant, user and provider (several
/// users of a shared device); existing rows belong to the default user `''`.
const V3: &str = r#"
ALTER TABLE {s}.sessions ADD COLUMN user_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE {s}.sessions DROP CONSTRAINT sessions_pkey, ADD PRIMARY KEY (tenant, user_id, provider);
ALTER TABLE {s}.leases ADD COLUMN user_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE {s}.leases DROP CONSTRAINT leases_pkey, ADD PRIMARY KEY (tenant, user_id, provider);
"#;

/// The offline vault (as in the SQLite file): one record per tenant and
/// user, replaced only over the revision its writer read (`rev`), and each
/// tenant's high-water mark of the time seen (`seen`, Unix milliseconds).
/// The record is the vault's own JSON text (the data key in it is wrapped
/// under the user's secret).
const V4: &str = r#"
CREATE TABLE {s}.vault (
    tenant  TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    rev     BIGINT NOT NULL CHECK (rev > 0),
    record  TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
CREATE TABLE {s}.vault_clock (
    tenant TEXT COLLATE "C" PRIMARY KEY,
    seen   BIGINT NOT NULL
);
"#;

/// One-time values seen by a server (DPoP proofs: `ReplayCache`), each
/// until it expires (Unix milliseconds); a key is the caller's hash.
const V5: &str = r#"
CREATE TABLE {s}.replay (
    key        TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_by_expiry ON {s}.replay (expires_at);
"#;

/// The servers' DPoP nonces (RFC 9449 §8), the last one per tenant and
/// origin, shared by every instance and process of the app.
const V6: &str = r#"
CREATE TABLE {s}.dpop_nonces (
    tenant TEXT COLLATE "C" NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    nonce  TEXT NOT NULL,
    PRIMARY KEY (tenant, origin)
);
"#;

/// The logout list of a sync server's instances (`LogoutList`): `sid` and
/// `sub` are '' when absent, so the key has no NULL.
const V7: &str = r#"
CREATE TABLE {s}.logouts (
    issuer        TEXT COLLATE "C" NOT NULL,
    sid           TEXT COLLATE "C" NOT NULL,
    sub           TEXT COLLATE "C" NOT NULL,
    logged_out_at BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (issuer, sid, sub)
);
CREATE INDEX logouts_by_expiry ON {s}.logouts (expires_at);
"#;

/// Creates or migrates the schema `name` (quoted: `s`) and sets up
/// encryption, in one transaction under an advisory lock; returns the cipher
/// when a key was given.
///
/// Everything that could refuse the schema (newer version, foreign tables,
/// wrong or missing key) is checked before anything is committed, so a
/// refused schema is left as it was.
pub(super) async fn prepare(
    pool: &Pool,
    name: &str,
    s: &str,
    key: Option<&EncryptionKey>,
) -> Result<Option<Cipher>, StoreError> {
    let mut client = pool.get().await.map_err(StoreError::from_pool)?;
    let tx = client.transaction().await.map_err(pg)?;
    match prepare_in(&tx, name, s, key).await {
        Ok(cipher) => {
            tx.commit().await.map_err(pg)?;
            Ok(cipher)
        }
        Err(e) => {
            // Roll back now rather than when the connection next runs: the
            // pool is dropped with the error, and the advisory lock must not
            // outlive this call.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn prepare_in(
    tx: &Transaction<'_>,
    name: &str,
    s: &str,
    key: Option<&EncryptionKey>,
) -> Result<Option<Cipher>, StoreError> {
    // Instances starting at once take turns; the lock ends with the transaction.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))",
        &[&format!("authresult-store/schema/{name}")],
    )
    .await
    .map_err(pg)?;
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)",
            &[&name],
        )
        .await
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA {s}"))
            .await
            .map_err(pg)?;
    }
    let tables: Vec<String> = tx
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1::text",
            &[&name],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(pg)?;
    if !tables.iter().any(|t| t == "authresult_meta") {
        if tables.iter().any(|t| OUR_TABLES.contains(&t.as_str())) {
            return Err(StoreError::ForeignSchema {
                schema: name.to_owned(),
            });
        }
        tx.batch_execute(&BOOTSTRAP.replace("{s}", s)).await.map_err(pg)?;
    }
    let version = read_version(tx, s).await?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(version).map_err(|_| StoreError::Corrupt {
        reason: format!("negative schema version {version}"),
        source: None,
    })?;
    for migration in MIGRATIONS.iter().skip(from) {
        tx.batch_execute(&migration.replace("{s}", s)).await.map_err(pg)?;
    }
    if version != SCHEMA_VERSION {
        tx.execute(
            &format!("UPDATE {s}.authresult_meta SET schema_version = $1"),
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(pg)?;
    }
    setup_encryption(tx, s, key).await
}

async fn read_version(tx: &Transaction<'_>, s: &str) -> Result<i64, StoreError> {
    let rows = tx
        .query(&format!("SELECT schema_version FROM {s}.authresult_meta"), &[])
        .await
        .map_err(pg)?;
    match rows.as_slice() {
        [row] => row.try_get(0).map_err(pg),
        _ => Err(StoreError::Corrupt {
            reason: format!("authresult_meta has {} rows instead of one", rows.len()),
            source: None,
        }),
    }
}

/// Checks the key against the schema's key check; on the first connection
/// with a key, seals the rows written in clear and records the key check.
async fn setup_encryption(
    tx: &Transaction<'_>,
    s: &str,
    key: Option<&EncryptionKey>,
) -> Result<Option<Cipher>, StoreError> {
    let row = tx
        .query_one(
            &format!("SELECT key_check, kdf_salt FROM {s}.authresult_meta"),
            &[],
        )
        .await
        .map_err(pg)?;
    let check: Option<Vec<u8>> = row.try_get(0).map_err(pg)?;
    let salt: Option<Vec<u8>> = row.try_get(1).map_err(pg)?;
    let Some(key) = key else {
        return match check {
            Some(_) => Err(StoreError::KeyRequired),
            None => Ok(None),
        };
    };
    let cipher = if key.needs_salt() {
        let salt = match salt {
            Some(salt) => salt,
            None => {
                let mut salt = vec![0u8; SALT_LEN];
                fill_random(&mut salt)?;
                tx.execute(&format!("UPDATE {s}.authresult_meta SET kdf_salt = $1"), &[&salt])
                    .await
                    .map_err(pg)?;
                salt
            }
        };
        // Argon2 takes a while: keep it off the async workers.
        let key = key.clone();
        tokio::task::spawn_blocking(move || key.cipher(Some(&salt)))
            .await
            .map_err(|_| StoreError::InvalidKey {
                reason: "key derivation was interrupted".into(),
            })??
    } else {
        key.cipher(None)?
    };
    if let Some(check) = check {
        return if cipher.verify_key_check(&check) {
            Ok(Some(cipher))
        } else {
            Err(StoreError::WrongKey)
        };
    }
    // Keyless instances' writes wait here, then see the key check and refuse.
    tx.batch_execute(&format!(
        "LOCK TABLE {s}.sessions, {s}.pending, {s}.revocations, {s}.vault IN EXCLUSIVE MODE"
    ))
    .await
    .map_err(pg)?;
    seal_existing(tx, s, &cipher).await?;
    tx.execute(
        &format!("UPDATE {s}.authresult_meta SET key_check = $1"),
        &[&cipher.key_check()?],
    )
    .await
    .map_err(pg)?;
    Ok(Some(cipher))
}

/// Seals every row written in clear (first connection with a key).
async fn seal_existing(tx: &Transaction<'_>, s: &str, cipher: &Cipher) -> Result<(), StoreError> {
    let sessions = tx
        .query(
            &format!("SELECT tenant, provider, version, body, sealed, user_id FROM {s}.sessions"),
            &[],
        )
        .await
        .map_err(pg)?;
    let update = tx
        .prepare(&format!(
            "UPDATE {s}.sessions SET body = $3, sealed = $4
             WHERE tenant = $1 AND provider = $2 AND user_id = $5"
        ))
        .await
        .map_err(pg)?;
    for row in sessions {
        let tenant: String = column(&row, 0)?;
        let provider: String = column(&row, 1)?;
        let version: i64 = column(&row, 2)?;
        let body: String = column(&row, 3)?;
        let sealed: Option<Vec<u8>> = column(&row, 4)?;
        let user: String = column(&row, 5)?;
        let encoded = codec::reseal_session(
            (&tenant, &user, &provider),
            version,
            &body,
            sealed.as_deref(),
            cipher,
        )?;
        tx.execute(
            &update,
            &[&tenant, &provider, &encoded.body, &encoded.sealed, &user],
        )
        .await
        .map_err(pg)?;
    }
    let pending = tx
        .query(
            &format!("SELECT tenant, state, body, sealed FROM {s}.pending"),
            &[],
        )
        .await
        .map_err(pg)?;
    let update = tx
        .prepare(&format!(
            "UPDATE {s}.pending SET body = $3, sealed = $4 WHERE tenant = $1 AND state = $2"
        ))
        .await
        .map_err(pg)?;
    for row in pending {
        let tenant: String = column(&row, 0)?;
        let state: String = column(&row, 1)?;
        let body: String = column(&row, 2)?;
        let sealed: Option<Vec<u8>> = column(&row, 3)?;
        let pending = codec::decode_pending(&tenant, &state, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_pending(&pending, Some(cipher))?;
        tx.execute(&update, &[&tenant, &state, &encoded.body, &encoded.sealed])
            .await
            .map_err(pg)?;
    }
    let revocations = tx
        .query(
            &format!("SELECT tenant, provider, id, body, sealed FROM {s}.revocations"),
            &[],
        )
        .await
        .map_err(pg)?;
    let update = tx
        .prepare(&format!(
            "UPDATE {s}.revocations SET body = $3, sealed = $4 WHERE tenant = $1 AND id = $2"
        ))
        .await
        .map_err(pg)?;
    for row in revocations {
        let tenant: String = column(&row, 0)?;
        let provider: String = column(&row, 1)?;
        let id: String = column(&row, 2)?;
        let body: String = column(&row, 3)?;
        let sealed: Option<Vec<u8>> = column(&row, 4)?;
        let revocation = codec::decode_revocation(&tenant, &provider, &id, &body, sealed.as_deref(), None)?;
        let encoded = codec::encode_revocation(&revocation, Some(cipher))?;
        tx.execute(&update, &[&tenant, &id, &encoded.body, &encoded.sealed])
            .await
            .map_err(pg)?;
    }
    let records = tx
        .query(
            &format!("SELECT tenant, user_id, rev, record FROM {s}.vault"),
            &[],
        )
        .await
        .map_err(pg)?;
    let update = tx
        .prepare(&format!(
            "UPDATE {s}.vault SET record = $3 WHERE tenant = $1 AND user_id = $2"
        ))
        .await
        .map_err(pg)?;
    for row in records {
        let tenant: String = column(&row, 0)?;
        let user: String = column(&row, 1)?;
        let rev: i64 = column(&row, 2)?;
        let record: String = column(&row, 3)?;
        let record = codec::open_vault_record(None, &tenant, &user, rev, &record)?;
        let sealed = codec::seal_vault_record(Some(cipher), &tenant, &user, rev, &record)?;
        tx.execute(&update, &[&tenant, &user, &sealed])
            .await
            .map_err(pg)?;
    }
    Ok(())
}
