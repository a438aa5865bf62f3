//! The OpenID Foundation's relying-party test plans as an executable suite
//! (issue #26): each test is named after its plan test id, runs the login
//! client (`OidcProvider` behind an `AuthManager`) against the hostile
//! provider of `op.rs` (the real provider for the Basic plan's happy path)
//! and asserts what the plan expects. `cargo xtask conformance` runs this
//! module and writes `docs/conformance.md` from the result.

mod basic;
mod config;
mod fapi2;
mod flow;
mod further;
mod logout;
mod op;
mod refresh;
