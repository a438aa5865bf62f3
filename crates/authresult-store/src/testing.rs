//! The test doubles of this crate (the `testing` feature, which also turns
//! on [`authresult_core::testing`], the home of the store ports' suites):
//! [`vault`] (the `VaultStore` suite), plus, with `postgres`, what the
//! Postgres tests and benchmarks need (bulk seeding and query plans).

#[cfg(feature = "postgres")]
mod postgres;
pub mod vault;

#[cfg(feature = "postgres")]
pub use postgres::{SEED_PROVIDER, explain_postgres_get, seed_postgres, seeded_key};
