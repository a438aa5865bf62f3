//! Integration tests of `authresult-store`: the conformance suite on every
//! backend, and the proofs that acknowledged sessions survive crashes,
//! concurrent processes, bad files and (with feature `postgres`, against the
//! server in `DATABASE_URL`) dropped connections and server restarts.
//!
//! Some tests re-run this binary as a child process (see `common::spawn_child`);
//! the child's work is a test function that does nothing unless the child
//! environment variable is set.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod bad_files;
mod common;
mod conformance;
mod crash;
mod dpop;
mod encryption;
mod manager;
#[cfg(feature = "postgres")]
mod postgres;
mod process_races;
mod races;
mod revocation;
mod tablet_attacks;
mod tablet_review;
mod two_processes;
mod users;
mod vault;
