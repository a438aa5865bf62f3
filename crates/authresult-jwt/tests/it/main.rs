//! Integration tests of `authresult-jwt`: local token validation
//! (`TokenValidator`) and its tower layer: hostile
//! tokens signed in the tests, key sets and opaque tokens against `wiremock`,
//! the token cache, property tests, and the local OpenID provider's real
//! tokens, including key rotation; the DataCollect sync server's own HS256
//! tokens and the layer standing in for its middleware, and the bounded cost
//! of an unauthenticated client of a route that reads `configId` from its body.

// Tests report failures by panicking.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[cfg(feature = "tower")]
mod backchannel;
mod cache;
mod claims;
#[cfg(feature = "tower")]
mod datacollect_layer;
mod dpop;
#[cfg(feature = "tower")]
mod dpop_layer;
mod hostile;
mod hostile_types;
#[cfg(feature = "tower")]
mod json_body;
mod jwks;
#[cfg(feature = "tower")]
mod layer;
mod opaque;
mod properties;
mod provider;
mod proxy;
mod revocation;
mod support;
mod sync_server;
