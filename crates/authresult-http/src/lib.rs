//! Internal to authresult: not a public API. Depend on `authresult-jwt`
//! (a server checking tokens) or `authresult-oidc` (the login client); the
//! settings a user names ([`NetworkOptions`], [`Proxy`], [`CaCertificates`],
//! [`ClientIdentity`], and [`HttpError`] that their constructors answer)
//! are re-exported by `authresult-jwt`, their one public path.
//!
//! The network toolkit both crates share, below them in the dependency
//! order (`authresult-core` <- this crate <- `authresult-jwt` <-
//! `authresult-oidc`):
//!
//! * [`HttpClient`]: the one HTTP client of the workspace (rustls,
//!   redirects never followed, connect and total timeouts, every response
//!   body capped, `Retry-After` read by the injected clock), configured by
//!   [`HttpLimits`] and [`NetworkOptions`];
//! * [`Discovery`]: one issuer's discovery document, read and checked by
//!   [`DiscoveryDocument`] and kept for a TTL (the one cache rule of the
//!   validator and the login client);
//! * [`fetch`]: a JSON `GET`, introspection and userinfo;
//! * [`HttpError`]: the crate's one error; each caller maps it once into
//!   its own.

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "authresult-http needs a TLS crypto provider: the `ring` (default) or the `aws-lc-rs` feature"
);

mod client;
mod discovery;
mod error;
pub mod fetch;
mod network;
mod text;

pub use client::{HttpClient, HttpLimits};
pub use discovery::{DEFAULT_DISCOVERY_TTL, Discovery, DiscoveryDocument, ENDPOINT_FIELDS, issuer_matches};
pub use error::HttpError;
pub use network::{CaCertificates, ClientIdentity, NetworkOptions, Proxy};
pub use text::{basic_auth, describe, display_uri, display_url, retry_after};
