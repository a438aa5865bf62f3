//! Local validation of bearer tokens for sync servers.
//!
//! [`TokenValidator`] checks JWT access tokens against each trusted issuer's
//! key set (fetched through discovery, cached, refetched once for an unknown
//! `kid`), then their claims; opaque tokens go to introspection or userinfo.
//! Validated tokens are cached by their full text until they expire. With the
//! `tower` feature, [`BearerAuthLayer`] protects a tower/axum service.

mod cache;
mod claims;
mod config;
mod error;
mod fetch;
mod jose;
mod keys;
#[cfg(feature = "tower")]
mod layer;
mod validator;

pub use claims::{ValidatedToken, Verification};
pub use config::IssuerConfig;
pub use error::{
    TokenKind, TokenPart, TokenTypeReason, UpstreamEndpoint, ValidationError, ValidationErrorKind,
};
pub use jose::{DEFAULT_MAX_TOKEN_LEN, JwsAlgorithm, UnverifiedJwt};
pub use keys::JwkSet;
#[cfg(feature = "tower")]
pub use layer::{BearerAuth, BearerAuthLayer};
pub use validator::{TokenValidator, TokenValidatorBuilder};

#[cfg(test)]
mod tests;
