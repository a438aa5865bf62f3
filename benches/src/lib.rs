//! Shared pieces of the authresult benchmarks (`cargo xtask bench`).
//!
//! * [`tokens`]: signing keys (RS256, ES256, EdDSA), signed access tokens, the
//!   key set, and the raw `ring` check the validator is compared with;
//! * [`support`]: a trivial provider that counts refreshes, a store that
//!   counts reads, sessions of realistic size, a poll-once executor;
//! * [`routes`]: the `/api/sync` route, open and behind `BearerAuthLayer`;
//! * [`results`]: where the runs write what criterion does not record (counts,
//!   percentiles, bytes), and the criterion settings every bench uses.
//!
//! The bench targets live in `benches/` (criterion, `harness = false`); the
//! report of `cargo xtask bench` (`xtask/src/bench/report.rs`) turns their
//! results into `docs/benchmarks.md`.

pub mod idp;
pub mod results;
pub mod routes;
pub mod support;
pub mod tokens;
