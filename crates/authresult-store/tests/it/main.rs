//! Integration tests of `authresult-store`: the conformance suite on every
//! backend, and the proofs that acknowledged sessions survive crashes,
//! concurrent processes and bad files.
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
mod encryption;
mod manager;
mod two_processes;
