//! The crypto backend of the JOSE code: `ring` by default, `aws-lc-rs`
//! (through its `ring`-compatible API) with the `aws-lc-rs` feature. The
//! rest of the crate names `crypto::{digest, hmac, signature}` only, so it
//! does not depend on which backend is built.

#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs::{digest, hmac, signature};
#[cfg(not(feature = "aws-lc-rs"))]
pub(crate) use ring::{digest, hmac, signature};
