//! [`SyncServerTokens`]: the DataCollect sync server's own login tokens
//! (HS256 with the server's secret, `{id, email, iat}`, no `exp`, `iss`,
//! `sub` or `aud`), checked with the secret alone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{Clock, ProviderProfile, SystemClock};
use serde_json::Value;
use zeroize::Zeroizing;

use super::claims::{ClaimStore, ValidatedToken, Verification};
use super::classify::classify;
use super::config::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_AGE};
use super::error::{TokenPurpose, TokenTypeReason, ValidationError};
use super::jose::{DEFAULT_MAX_TOKEN_LEN, JwsAlgorithm, UnverifiedJwt};
use super::keys::HmacKeys;
use super::typed_claims::{TimeRules, Typed};

/// The name [`ValidatedToken::issuer`] reports for the sync server's tokens
/// unless [`SyncServerTokensBuilder::issuer`] names another: DataCollect's
/// provider type of the sync server's own login.
pub const SYNC_SERVER_ISSUER: &str = authresult_core::SYNC_SERVER_PROVIDER;

/// The sync server's HMAC secret (DataCollect's `JWT_SECRET`). `Debug`
/// prints `SyncServerSecret([redacted])`; the bytes are wiped on drop.
pub struct SyncServerSecret(Zeroizing<Vec<u8>>);

impl SyncServerSecret {
    /// The secret, as the bytes of DataCollect's `JWT_SECRET` (its UTF-8
    /// text).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        SyncServerSecret(Zeroizing::new(secret.into()))
    }
}

impl fmt::Debug for SyncServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncServerSecret([redacted])")
    }
}

/// Builds [`SyncServerTokens`]; see [`SyncServerTokens::builder`].
#[derive(Debug)]
pub struct SyncServerTokensBuilder {
    secret: SyncServerSecret,
    issuer: String,
    max_age: Duration,
    leeway: Duration,
    allow_short_secret: bool,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
}

impl SyncServerTokensBuilder {
    /// Tokens without `exp` whose `iat` is older than this are refused
    /// (default one day). DataCollect's tokens never expire otherwise; set
    /// it to how long a device may stay offline before its user must log
    /// in again. A token with `exp` follows its `exp` instead.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Allowed clock difference for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The name [`ValidatedToken::issuer`] reports (default
    /// [`SYNC_SERVER_ISSUER`]). Tokens are not checked against it: they
    /// carry no `iss`.
    pub fn issuer(mut self, name: impl Into<String>) -> Self {
        self.issuer = name.into();
        self
    }

    /// Accepts a secret shorter than 32 bytes (RFC 7518 §3.2 asks for at
    /// least 32 for HS256), for an existing DataCollect deployment whose
    /// `JWT_SECRET` is short. Such a secret can be guessed offline from one
    /// token: replace it with a long random one when you can. An empty
    /// secret is always refused.
    pub fn allow_short_secret(mut self, allow: bool) -> Self {
        self.allow_short_secret = allow;
        self
    }

    /// Longer tokens are refused before any parsing (default 16 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The clock for `exp`/`nbf`/`iat` (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the secret and builds the profile.
    pub fn build(self) -> Result<SyncServerTokens, ValidationError> {
        let secret = &self.secret.0;
        if secret.is_empty() {
            return Err(ValidationError::config("the sync server's secret is empty"));
        }
        let keys = HmacKeys::new(secret);
        if !self.allow_short_secret && !keys.long_enough_for(JwsAlgorithm::Hs256) {
            return Err(ValidationError::config(
                "the sync server's secret is shorter than 32 bytes (see allow_short_secret)",
            ));
        }
        Ok(SyncServerTokens {
            inner: Arc::new(Profile {
                keys,
                issuer: Arc::from(self.issuer.as_str()),
                rules: TimeRules {
                    leeway: self.leeway,
                    max_age: Some(self.max_age),
                },
                max_token_len: self.max_token_len,
                clock: self.clock,
            }),
        })
    }
}

/// The DataCollect sync server's own tokens, checked with its secret: the
/// token profile of `POST /api/users/login`'s `{token}`.
///
/// * Only `HS256`, verified with the configured secret and nothing else (a
///   constant-time MAC comparison). No other key is ever used as an HMAC
///   secret: an `HS256` token signed with an OpenID issuer's public key is
///   refused like any other forgery, and an issuer's
///   [`TokenValidator`](crate::TokenValidator) never sees this secret.
/// * `iat` is required. Without `exp`, a token older than
///   [`max_age`](SyncServerTokensBuilder::max_age) is refused
///   ([`ValidationError::TooOld`]); with `exp`, `exp` rules. `nbf` is
///   honoured.
/// * `id` (a string or an integer, as DataCollect's user ids are) is the
///   [subject](ValidatedToken::subject); a token without `id` is refused.
///   `email` and every other claim stay readable with
///   [`ValidatedToken::claim`].
/// * No `iss`, `aud` or token-type marker is needed: the secret signs
///   nothing but these login tokens, so the profile needs no
///   [`accept_unclassified_tokens`](crate::IssuerConfig::accept_unclassified_tokens).
///   A token carrying an ID-token claim (`nonce`, `at_hash`) or another
///   declared type is still refused.
///
/// Cheap to clone. Use it alone ([`validate`](Self::validate)) or as the
/// last link of a scheme's fallback chain in an [`AppAuth`](crate::AppAuth).
///
/// ```
/// use std::time::Duration;
/// use authresult_jwt::{SyncServerSecret, SyncServerTokens};
///
/// let tokens = SyncServerTokens::builder(SyncServerSecret::new("a long random JWT_SECRET of the server!!"))
///     .max_age(Duration::from_secs(7 * 24 * 3600))
///     .build()?;
/// # let _ = tokens;
/// # Ok::<(), authresult_jwt::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct SyncServerTokens {
    inner: Arc<Profile>,
}

struct Profile {
    keys: HmacKeys,
    issuer: Arc<str>,
    rules: TimeRules,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SyncServerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncServerTokens")
            .field("issuer", &&*self.inner.issuer)
            .field("secret", &"[redacted]")
            .field("max_age", &self.inner.rules.max_age)
            .finish_non_exhaustive()
    }
}

impl SyncServerTokens {
    // Only the layer (feature `tower`) asks.
    #[cfg(feature = "tower")]
    /// The same secret and rules (a clone of the same `SyncServerTokens`).
    pub(crate) fn same_as(&self, other: &SyncServerTokens) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A builder with the defaults (one day's maximum age, 60 s leeway, a
    /// secret of at least 32 bytes).
    pub fn builder(secret: SyncServerSecret) -> SyncServerTokensBuilder {
        SyncServerTokensBuilder {
            secret,
            issuer: SYNC_SERVER_ISSUER.to_owned(),
            max_age: DEFAULT_MAX_TOKEN_AGE,
            leeway: DEFAULT_LEEWAY,
            allow_short_secret: false,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
        }
    }

    /// Validates one of the sync server's tokens (without the scheme).
    pub fn validate(&self, token: &str) -> Result<ValidatedToken, ValidationError> {
        let profile = &*self.inner;
        if token.len() > profile.max_token_len {
            return Err(ValidationError::TooLarge {
                max: profile.max_token_len,
            });
        }
        let jwt = UnverifiedJwt::parse_limited(token, profile.max_token_len)?;
        let alg = jwt.alg()?;
        if alg != JwsAlgorithm::Hs256 {
            return Err(ValidationError::AlgorithmNotAllowed {
                alg: alg.name().to_owned(),
            });
        }
        if !profile.keys.verify(alg, jwt.signing_input(), jwt.signature()) {
            return Err(ValidationError::InvalidSignature);
        }
        let typ = jwt.typ();
        let (mut known, payload) = jwt.into_parts();
        let (kind, reason) = classify(typ, &known, &[], false);
        if matches!(kind, TokenPurpose::Id | TokenPurpose::Other) {
            return Err(ValidationError::WrongTokenType {
                found: kind,
                reason: reason.unwrap_or(TokenTypeReason::DeclaredType),
            });
        }
        let mut typed = Typed::extract(&mut known)?;
        if typed.iat.is_none() {
            return Err(ValidationError::MissingClaim { claim: "iat".into() });
        }
        let rules = TimeRules {
            max_age: if typed.exp.is_some() {
                None
            } else {
                profile.rules.max_age
            },
            ..profile.rules
        };
        typed.times().check(profile.clock.now(), rules)?;
        let claims = ClaimStore::lazy(payload);
        // The subject is the sync server profile's (`id`), as the login
        // client and the stored-token import read it.
        let sync = ProviderProfile::sync_server();
        let subject_claim = sync.subject_claim();
        typed.subject = Some(match sync.subject(claims.map()) {
            Ok(Some(subject)) => subject,
            Ok(None) => {
                return Err(ValidationError::MissingClaim {
                    claim: subject_claim.into(),
                });
            }
            Err(reason) => return Err(ValidationError::invalid_claim(subject_claim, reason)),
        });
        if let Some(email) = claims.map().get("email")
            && !matches!(email, Value::String(_) | Value::Null)
        {
            return Err(ValidationError::invalid_claim("email", "must be a string"));
        }
        Ok(typed.into_token(
            &profile.issuer,
            TokenPurpose::Access,
            Verification::Signature,
            claims,
        ))
    }
}

#[cfg(test)]
mod tests;
