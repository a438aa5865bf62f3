//! Test doubles beside the ports they stand in for (the `testing` feature).
//!
//! * [`MemoryStore`], a [`SessionStore`](crate::SessionStore) in process
//!   memory (also at the crate root with the `memory` feature alone, which
//!   `authresult_store::MemoryStore` re-exports);
//! * the `SessionStore` conformance suite ([`run_all`] and its single checks),
//!   so any backend, in any crate, proves it keeps the contract;
//! * [`FakeProvider`], a scriptable [`AuthProvider`](crate::AuthProvider)
//!   that answers what a test queued and counts the calls.

mod conformance;
mod fake_provider;

pub use crate::MemoryStore;
pub use conformance::*;
pub use fake_provider::{FakeCalls, FakeProvider};
