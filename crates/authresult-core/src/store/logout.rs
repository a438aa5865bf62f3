//! The logout list port: the sessions and users an OpenID provider logged
//! out (back-channel logout), shared by every instance of a sync server so
//! each refuses their tokens.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::Error;
use crate::time::Timestamp;

/// The longest `sid` or `sub` a logout may name, in bytes: longer values
/// are refused before they reach a list (a list row, a notification).
pub const MAX_LOGOUT_ID_LEN: usize = 255;

/// The longest issuer a logout may name, in bytes.
pub const MAX_LOGOUT_ISSUER_LEN: usize = 512;

/// How long a logout is kept when not told otherwise: it can only match
/// tokens issued before it, so once the longest-lived token has expired it
/// matches nothing.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// One logout: the provider `issuer` ended the session `sid`, or every
/// session of the user `sub`, at `logged_out_at` (the logout token's `iat`,
/// the provider's clock, as the tokens it matches are stamped).
///
/// What it refuses: a token of `issuer` whose `sid` is `sid`; and, when
/// `sub` is given, a token of `sub` issued (`iat`) at or before
/// `logged_out_at` that names no session or names this one. Access tokens
/// usually carry no `sid`, so a logout naming both ends the user's tokens
/// issued before it.
#[derive(Clone, PartialEq, Eq)]
pub struct Logout {
    /// The provider, exactly as configured (the token's `iss`).
    pub issuer: String,
    /// The session ended (`sid`), if the provider named one.
    pub sid: Option<String>,
    /// The user logged out (`sub`), if the provider named one.
    pub sub: Option<String>,
    /// When the logout happened (the logout token's `iat`).
    pub logged_out_at: Timestamp,
    /// When the entry matches no token any more and may be dropped.
    pub expires_at: Timestamp,
}

impl fmt::Debug for Logout {
    /// Subjects and session ids are identifiers, not secrets, but logs see
    /// them shortened.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logout")
            .field("issuer", &self.issuer)
            .field("sid", &self.sid.is_some())
            .field("sub", &self.sub.is_some())
            .field("logged_out_at", &self.logged_out_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Logout {
    /// A logout of `issuer`'s session `sid` and/or user `sub` at
    /// `logged_out_at`, kept for `max_token_lifetime`; `None` when it names
    /// neither, or a value is empty or too long.
    pub fn new(
        issuer: impl Into<String>,
        sid: Option<String>,
        sub: Option<String>,
        logged_out_at: Timestamp,
        max_token_lifetime: Duration,
    ) -> Option<Self> {
        let logout = Logout {
            issuer: issuer.into(),
            sid,
            sub,
            logged_out_at,
            expires_at: logged_out_at.saturating_add(max_token_lifetime),
        };
        logout.is_well_formed().then_some(logout)
    }

    /// Names a session or a user, with values of allowed lengths (what a
    /// list stores, and what a reader of a list or a notice accepts).
    pub fn is_well_formed(&self) -> bool {
        let id_ok = |v: &Option<String>| {
            v.as_deref()
                .is_none_or(|v| !v.is_empty() && v.len() <= MAX_LOGOUT_ID_LEN)
        };
        (self.sid.is_some() || self.sub.is_some())
            && id_ok(&self.sid)
            && id_ok(&self.sub)
            && !self.issuer.is_empty()
            && self.issuer.len() <= MAX_LOGOUT_ISSUER_LEN
            && self.expires_at >= self.logged_out_at
    }
}

/// Notices of logouts recorded after the feed was opened, by this instance
/// or another; it ends when the notification channel is lost (the reader
/// then loads the list again and opens a new feed).
pub type LogoutFeed = BoxStream<'static, Logout>;

/// The logouts of a sync server's instances: one of the store ports,
/// written by the back-channel logout receiver and read by every instance's
/// validator.
///
/// An entry is keyed by its issuer, `sid` and `sub` together; a second
/// logout of the same key keeps the later `logged_out_at` and `expires_at`,
/// so recording a logout again (a replayed logout token) changes nothing.
#[async_trait]
pub trait LogoutList: Send + Sync {
    /// Records `logout` and notifies every open feed. A logout that is not
    /// [well formed](Logout::is_well_formed) is refused with a
    /// configuration error.
    async fn record(&self, logout: &Logout) -> Result<(), Error>;

    /// Every logout not expired at `now` (`expires_at > now`).
    async fn load(&self, now: Timestamp) -> Result<Vec<Logout>, Error>;

    /// Drops the logouts expired at `now`; how many.
    async fn purge(&self, now: Timestamp) -> Result<u64, Error>;

    /// A feed of the logouts recorded from now on.
    async fn subscribe(&self) -> Result<LogoutFeed, Error>;
}
