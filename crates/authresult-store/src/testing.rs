//! The conformance suite for the backends of this crate (the `testing`
//! feature): [`authresult_core::testing`] re-exported, plus, with `postgres`,
//! what the Postgres tests need (bulk seeding and query plans).

pub use authresult_core::testing::*;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{SEED_PROVIDER, explain_postgres_get, seed_postgres, seeded_key};

/// The small session bulk seeding writes for `tenant` (provider
/// `SEED_PROVIDER`, an access token only).
#[cfg(feature = "postgres")]
pub(crate) fn seed_session(tenant: &str) -> authresult_core::Session {
    use authresult_core::{AccessToken, AuthResult, Session, SessionKey};
    let auth = AuthResult::new(AccessToken::new("seed-access-token"), 3600);
    Session::new(SessionKey::new(tenant, "seed"), auth, T0)
}
