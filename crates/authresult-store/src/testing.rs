//! The conformance suite for the backends of this crate (the `testing`
//! feature): [`authresult_core::testing`] re-exported, plus, with `postgres`,
//! what the Postgres tests need (bulk seeding and query plans).

pub use authresult_core::testing::*;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{SEED_PROVIDER, explain_postgres_get, seed_postgres, seeded_key};
