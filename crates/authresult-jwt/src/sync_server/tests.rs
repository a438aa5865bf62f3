//! Unit tests of the sync server's token profile: the secret never shows,
//! short and empty secrets are refused unless allowed.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use super::*;

#[test]
fn the_secret_never_appears_in_debug_output() {
    let secret = SyncServerSecret::new("council-of-elrond-council-of-elrond");
    assert_eq!(format!("{secret:?}"), "SyncServerSecret([redacted])");
    let tokens = SyncServerTokens::builder(secret).build().unwrap();
    let debug = format!("{tokens:?}");
    assert!(!debug.contains("elrond"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[test]
fn short_and_empty_secrets_are_refused_unless_allowed() {
    let short = SyncServerTokens::builder(SyncServerSecret::new("Council of Elrond")).build();
    assert!(matches!(short, Err(ValidationError::Configuration { .. })));
    let allowed = SyncServerTokens::builder(SyncServerSecret::new("Council of Elrond"))
        .allow_short_secret(true)
        .build();
    assert!(allowed.is_ok());
    let empty = SyncServerTokens::builder(SyncServerSecret::new(""))
        .allow_short_secret(true)
        .build();
    assert!(matches!(empty, Err(ValidationError::Configuration { .. })));
}
