//! Test doubles beside the ports they stand in for (the `testing` feature).
//!
//! * `crate::MemoryStore` (at the crate root, its one path; this feature
//!   turns on `memory`), the store in process memory;
//! * the `SessionStore` conformance suite ([`run_all`] and its single checks),
//!   so any backend, in any crate, proves it keeps the contract;
//! * [`FakeProvider`], a scriptable [`AuthProvider`](crate::AuthProvider)
//!   that answers what a test queued and counts the calls.

mod conformance;
mod fake_provider;

pub use conformance::*;
pub use fake_provider::{FakeCalls, FakeProvider};
