//! Stored sessions: an `AuthResult` with who, where and an absolute expiry.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth_result::AuthResult;
use crate::jwt;
use crate::origin::Origin;
use crate::secret::SealedAuth;
use crate::time::Timestamp;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A tenant (app) whose sessions are kept together; DataCollect keeps one
    /// store per tenant/app.
    TenantId
);
id_type!(
    /// The name a provider is registered under (e.g. `keycloak`, `default`).
    ProviderId
);
id_type!(
    /// A user of a shared device, as the app names them (usually the login
    /// name). The empty name ([`UserId::default`]) is the device's single
    /// user: apps with one user per device never name one.
    UserId
);

// The shared `id_type!` macro derives no `Default`: only a user has a default.
#[allow(clippy::derivable_impls)]
impl Default for UserId {
    fn default() -> Self {
        UserId(String::new())
    }
}

impl UserId {
    /// True for the device's single (unnamed) user.
    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where a session lives: one per tenant, user and provider.
///
/// Stored keys written before users existed read back with the default user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    /// The tenant.
    pub tenant: TenantId,
    /// The user of the device ([`UserId::default`] for single-user apps).
    #[serde(default, skip_serializing_if = "UserId::is_default")]
    pub user: UserId,
    /// The provider.
    pub provider: ProviderId,
}

impl SessionKey {
    /// A key for `tenant` and `provider`, of the device's single (default) user.
    pub fn new(tenant: impl Into<TenantId>, provider: impl Into<ProviderId>) -> Self {
        Self::for_user(tenant, UserId::default(), provider)
    }

    /// A key for `user` of `tenant` at `provider`.
    pub fn for_user(
        tenant: impl Into<TenantId>,
        user: impl Into<UserId>,
        provider: impl Into<ProviderId>,
    ) -> Self {
        SessionKey {
            tenant: tenant.into(),
            user: user.into(),
            provider: provider.into(),
        }
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.user.is_default() {
            write!(f, "{}/{}", self.tenant, self.provider)
        } else {
            write!(f, "{}/{}/{}", self.tenant, self.user, self.provider)
        }
    }
}

/// A stored login: the [`AuthResult`] plus its owner and absolute times, so
/// expiry survives a restart (`expires_in` alone does not).
///
/// It does not implement `Serialize` (it holds tokens): stores write it
/// through [`Exposed`](crate::Exposed); it reads back with `Deserialize`.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// Tenant and provider.
    pub key: SessionKey,
    /// The user's subject (`sub`), when known.
    pub subject: Option<String>,
    /// The user's login name, when known.
    pub username: Option<String>,
    /// The tokens and profile.
    pub auth: AuthResult,
    /// When the current access token was issued (received).
    pub issued_at: Timestamp,
    /// When the current access token expires; `None` when unknown.
    pub expires_at: Option<Timestamp>,
    /// Store version, bumped on every write; used for compare-and-swap so a
    /// stale writer cannot overwrite a newer rotated refresh token. 0 = never
    /// stored. Read with [`version`](Self::version); only a store sets it
    /// ([`set_stored_version`](Self::set_stored_version)).
    version: u64,
    /// Which login this session comes from: a unique id made by
    /// [`Session::new`] (at login or import) and kept by
    /// [`Session::refreshed`]. A refresh result is written only over the same
    /// login ([`Session::same_login`]). Empty for rows stored before it existed.
    #[serde(default)]
    login_id: String,
    /// Where the tokens come from and may be sent back to: the origin of the
    /// provider whose login or import stored it (the manager sets it), kept
    /// by [`Session::refreshed`]. The manager uses the session only through
    /// a provider of this origin. `None` for a provider that reports none,
    /// and for rows stored before origins were recorded: the first provider
    /// with an origin that uses such a row, and whose issuer its tokens do
    /// not contradict, records its own (see [`AuthManager`](crate::AuthManager)).
    #[serde(default)]
    pub origin: Option<Origin>,
    /// The whole [`AuthResult`] sealed by a store that seals sessions itself
    /// (`authresult-store`'s `VaultedStore`), in the form it wrote it (hex);
    /// `auth` then holds no token. Only such a store reads or writes it:
    /// `None` in every session a manager sees.
    #[serde(default)]
    pub sealed_auth: Option<SealedAuth>,
}

impl Session {
    /// A new, never-stored session for `auth` received at `issued_at`.
    ///
    /// The expiry is `issued_at + expires_in`, saturating; when `expires_in`
    /// is 0 and the access token is a JWT, its `exp` claim is used instead.
    /// The subject comes from `profile.sub`, else the ID token, else the
    /// access token.
    pub fn new(key: SessionKey, auth: AuthResult, issued_at: Timestamp) -> Self {
        let expires_at = expiry_of(&auth, issued_at);
        let subject = auth
            .subject()
            .map(str::to_owned)
            .or_else(|| auth.id_token.as_ref().and_then(|t| jwt::peek_sub(t.secret())))
            .or_else(|| jwt::peek_sub(auth.access_token.secret()));
        Session {
            key,
            subject,
            username: None,
            auth,
            issued_at,
            expires_at,
            version: 0,
            login_id: new_login_id(),
            origin: None,
            sealed_auth: None,
        }
    }

    /// The store version this session was read or written at (0: never
    /// stored): the compare-and-swap fence of its next write.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Which login this session comes from (see [`same_login`](Self::same_login)).
    pub fn login_id(&self) -> &str {
        &self.login_id
    }

    /// For [`SessionStore`](crate::SessionStore) implementations: the
    /// version the store just gave this session (read or written). Nothing
    /// else sets it; a caller that changes it only makes its own next
    /// compare-and-swap fail.
    pub fn set_stored_version(&mut self, version: u64) {
        self.version = version;
    }

    /// Test doubles only (feature `testing`): a chosen login id, so a
    /// conformance check can make two logins of one key on purpose.
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub fn set_login_id_for_tests(&mut self, login_id: impl Into<String>) {
        self.login_id = login_id.into();
    }

    /// True when `other` belongs to the same login as `self` (same
    /// [`login_id`](Self::login_id) and subject): a refresh of one may
    /// replace the other; a session of another login never is.
    pub fn same_login(&self, other: &Session) -> bool {
        self.key == other.key && self.login_id == other.login_id && self.subject == other.subject
    }

    /// The session after a refresh answered `refreshed` at `now`: a response
    /// without a refresh token (or ID token, or profile) keeps the old one.
    pub fn refreshed(&self, mut refreshed: AuthResult, now: Timestamp) -> Session {
        if refreshed.refresh_token.is_none() {
            refreshed.refresh_token = self.auth.refresh_token.clone();
        }
        if refreshed.id_token.is_none() {
            refreshed.id_token = self.auth.id_token.clone();
        }
        if refreshed.profile.is_none() {
            refreshed.profile = self.auth.profile.clone();
        }
        if refreshed.user_metadata.is_none() {
            refreshed.user_metadata = self.auth.user_metadata.clone();
        }
        if refreshed.dpop.is_none() {
            // The key of the login stays the session's key.
            refreshed.dpop = self.auth.dpop.clone();
        }
        Session {
            key: self.key.clone(),
            subject: self.subject.clone(),
            username: self.username.clone(),
            expires_at: expiry_of(&refreshed, now),
            auth: refreshed,
            issued_at: now,
            version: self.version,
            login_id: self.login_id.clone(),
            origin: self.origin.clone(),
            sealed_auth: None,
        }
    }

    /// True when the access token is still valid at `now + margin` (or its
    /// expiry is unknown).
    pub fn is_fresh(&self, now: Timestamp, margin: Duration) -> bool {
        match self.expires_at {
            None => true,
            Some(exp) => now.saturating_add(margin) < exp,
        }
    }

    /// True when the access token has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        matches!(self.expires_at, Some(exp) if now >= exp)
    }

    /// Time left on the access token, `None` when unknown.
    pub fn expires_in(&self, now: Timestamp) -> Option<Duration> {
        self.expires_at.map(|exp| exp.duration_since(now))
    }

    /// True when a refresh token is held.
    pub fn is_refreshable(&self) -> bool {
        self.auth.refresh_token.is_some()
    }
}

/// A unique login id: 128 bits from the standard library's per-process
/// random hash keys, mixed with the time, the process and a counter. It
/// needs to be unique, not secret.
fn new_login_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // not a clock reading: the time only mixes into a unique id.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(n);
        h.finish()
    };
    format!("{:016x}{:016x}", half(), half())
}

fn expiry_of(auth: &AuthResult, issued_at: Timestamp) -> Option<Timestamp> {
    if auth.expires_in > 0 {
        Some(issued_at.saturating_add_secs(auth.expires_in))
    } else {
        jwt::expiry_hint(auth.access_token.secret())
    }
}
