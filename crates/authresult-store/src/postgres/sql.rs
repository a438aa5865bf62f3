//! The session, username, pending-login, lease and nonce statements, written once
//! per store with the schema name quoted in.

/// The statements, with the schema name quoted in.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) get: String,
    pub(super) list: String,
    pub(super) put: String,
    pub(super) lock_version: String,
    pub(super) schema_is_sealed: String,
    pub(super) cas_insert: String,
    pub(super) cas_update: String,
    pub(super) remove: String,
    pub(super) remove_if_current: String,
    pub(super) remove_tenant: String,
    pub(super) username: String,
    pub(super) set_username: String,
    pub(super) clear_username: String,
    pub(super) put_pending: String,
    pub(super) take_pending: String,
    pub(super) purge_pending: String,
    pub(super) acquire_lease: String,
    pub(super) release_lease: String,
    pub(super) first_use: String,
    pub(super) purge_replay: String,
    pub(super) dpop_nonce: String,
    pub(super) set_dpop_nonce: String,
}

impl Sql {
    /// `s` is the quoted schema name; a store without a key (`encrypted`
    /// false) guards its writes so they never put clear tokens into a schema
    /// another instance has encrypted.
    pub(super) fn new(s: &str, encrypted: bool) -> Self {
        let sealed = format!("EXISTS (SELECT 1 FROM {s}.authresult_meta WHERE key_check IS NOT NULL)");
        let guard = if encrypted {
            String::new()
        } else {
            format!("WHERE NOT {sealed}")
        };
        // The database's clock in Unix milliseconds, for lease expiry.
        let db_now = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
        let i64_max = i64::MAX;
        let session_values = "$1::text, $2::text, $3::text, $4::bigint, $5::bigint, 1, $6::bigint, $7::text, $8::bytea, $9::text";
        let session_columns =
            "tenant, provider, subject, expires_at, issued_at, version, updated_at, body, sealed, user_id";
        Sql {
            get: format!(
                "SELECT version, body, sealed FROM {s}.sessions
                 WHERE tenant = $1 AND provider = $2 AND user_id = $3"
            ),
            list: format!(
                "SELECT user_id, provider, version, body, sealed FROM {s}.sessions
                 WHERE tenant = $1 ORDER BY user_id, provider"
            ),
            put: format!(
                "INSERT INTO {s}.sessions AS cur ({session_columns})
                 SELECT {session_values} {guard}
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE SET subject = EXCLUDED.subject,
                    expires_at = EXCLUDED.expires_at, issued_at = EXCLUDED.issued_at,
                    version = cur.version + 1, updated_at = EXCLUDED.updated_at,
                    body = EXCLUDED.body, sealed = EXCLUDED.sealed
                 RETURNING version"
            ),
            lock_version: format!(
                "SELECT version, body FROM {s}.sessions
                 WHERE tenant = $1 AND provider = $2 AND user_id = $3 FOR UPDATE"
            ),
            schema_is_sealed: format!("SELECT {sealed}"),
            cas_insert: format!(
                "INSERT INTO {s}.sessions ({session_columns}) VALUES ({session_values})
                 ON CONFLICT (tenant, user_id, provider) DO NOTHING
                 RETURNING version"
            ),
            cas_update: format!(
                "UPDATE {s}.sessions SET subject = $3, expires_at = $4, issued_at = $5,
                    updated_at = $6, body = $7, sealed = $8, version = $10
                 WHERE tenant = $1 AND provider = $2 AND user_id = $9
                 RETURNING version"
            ),
            remove: format!("DELETE FROM {s}.sessions WHERE tenant = $1 AND provider = $2 AND user_id = $3"),
            remove_if_current: format!(
                "DELETE FROM {s}.sessions WHERE tenant = $1 AND provider = $2 AND user_id = $5
                    AND version = $3
                    AND COALESCE(body::json ->> 'login_id', '') = $4::text"
            ),
            remove_tenant: format!("DELETE FROM {s}.sessions WHERE tenant = $1"),
            username: format!("SELECT username FROM {s}.usernames WHERE tenant = $1"),
            set_username: format!(
                "INSERT INTO {s}.usernames (tenant, username) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET username = EXCLUDED.username"
            ),
            clear_username: format!("DELETE FROM {s}.usernames WHERE tenant = $1"),
            put_pending: format!(
                "INSERT INTO {s}.pending AS cur (tenant, state, provider, created_at, expires_at, body, sealed)
                 SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text, $7::bytea {guard}
                 ON CONFLICT (tenant, state) DO UPDATE SET provider = EXCLUDED.provider,
                    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
                    body = EXCLUDED.body, sealed = EXCLUDED.sealed"
            ),
            take_pending: format!(
                "DELETE FROM {s}.pending WHERE tenant = $1 AND state = $2 RETURNING expires_at, body, sealed"
            ),
            purge_pending: format!("DELETE FROM {s}.pending WHERE expires_at <= $1"),
            acquire_lease: format!(
                "INSERT INTO {s}.leases AS cur (tenant, provider, holder, expires_at, user_id)
                 VALUES ($1, $2, $3, LEAST({db_now}::numeric + $4::bigint, {i64_max})::bigint, $5)
                 ON CONFLICT (tenant, user_id, provider) DO UPDATE
                    SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                    WHERE cur.holder = EXCLUDED.holder OR cur.expires_at <= {db_now}"
            ),
            release_lease: format!(
                "DELETE FROM {s}.leases WHERE tenant = $1 AND provider = $2 AND holder = $3 AND user_id = $4"
            ),
            // One row changed: the first use (new, or its expired record
            // replaced); none: a live record, a replay.
            first_use: format!(
                "INSERT INTO {s}.replay AS cur (key, expires_at) VALUES ($1::text, $2::bigint)
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE cur.expires_at <= $3::bigint"
            ),
            purge_replay: format!("DELETE FROM {s}.replay WHERE expires_at <= $1::bigint"),
            dpop_nonce: format!("SELECT nonce FROM {s}.dpop_nonces WHERE tenant = $1 AND origin = $2"),
            set_dpop_nonce: format!(
                "INSERT INTO {s}.dpop_nonces (tenant, origin, nonce) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, origin) DO UPDATE SET nonce = EXCLUDED.nonce"
            ),
        }
    }
}
