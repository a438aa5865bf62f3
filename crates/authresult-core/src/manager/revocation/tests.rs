//! Tests of revocation at logout and of pending revocations.
