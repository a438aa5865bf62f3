//! Test doubles beside the ports they stand in for (the `testing` feature).
//!
//! * [`MemoryStore`], a [`SessionStore`](crate::SessionStore) in process
//!   memory (`authresult_store::MemoryStore` re-exports it);
//! * the `SessionStore` conformance suite ([`run_all`] and its single checks),
//!   so any backend, in any crate, proves it keeps the contract;
//! * [`FakeProvider`], a scriptable [`AuthProvider`](crate::AuthProvider)
//!   that answers what a test queued and counts the calls.

mod conformance;
mod fake_provider;
mod memory;

pub use conformance::*;
pub use fake_provider::{FakeCalls, FakeProvider};
pub use memory::MemoryStore;
