//! The conformance suites for the backends of this crate (the `testing`
//! feature): [`authresult_core::testing`] re-exported (the store
//! ports' suites), [`vault`] (the `VaultStore` suite), plus, with `postgres`, what
//! the Postgres tests and benchmarks need (bulk seeding and query plans).

pub use authresult_core::testing::*;

#[cfg(feature = "postgres")]
mod postgres;
pub mod vault;

#[cfg(feature = "postgres")]
pub use postgres::{SEED_PROVIDER, explain_postgres_get, seed_postgres, seeded_key};
