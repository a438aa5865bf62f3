//! [`Issuer`]: one trusted issuer at run time: its configuration, allowed
//! algorithms, discovery, signature and claim checks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use authresult_core::{Organization, Timestamp};
use serde_json::{Map, Value};

use super::key_store::KeyStore;
use crate::claims::{ClaimStore, ValidatedToken, Verification};
use crate::classify::classify;
use crate::config::{IssuerConfig, uses_key_set};
use crate::error::{TokenPurpose, TokenTypeReason, ValidationError, sanitize};
use crate::fetch::{Endpoints, Http};
use crate::jose::{JwsAlgorithm, TypHeader, UnverifiedJwt};
use crate::keys::Selected;
use crate::typed_claims::{TimeRules, Typed, string};
use authresult_http::Discovery;

/// How often an issuer's discovery and keys are read again.
#[derive(Debug, Clone, Copy)]
pub(super) struct IssuerTiming {
    pub(super) jwks_cooldown: Duration,
    pub(super) jwks_max_age: Duration,
    pub(super) discovery_ttl: Duration,
}

/// One trusted issuer at run time.
pub(super) struct Issuer {
    pub(super) config: IssuerConfig,
    /// `config.issuer`, shared with every token validated for it.
    pub(super) issuer: Arc<str>,
    /// Some allowed algorithm needs the published key set.
    pub(super) uses_key_set: bool,
    /// Bit `i` set when `JwsAlgorithm::ALL[i]` is allowed.
    pub(super) allowed: u16,
    pub(super) keys: Arc<KeyStore>,
    /// The issuer's discovery document, kept for the discovery TTL (`None`
    /// when the issuer is not a URL).
    discovery: Option<Arc<Discovery>>,
}

fn alg_bit(alg: JwsAlgorithm) -> u16 {
    JwsAlgorithm::ALL
        .iter()
        .position(|a| *a == alg)
        .map_or(0, |i| 1 << i)
}

impl Issuer {
    pub(super) fn new(
        config: IssuerConfig,
        algorithms: &[JwsAlgorithm],
        http: &Http,
        timing: IssuerTiming,
    ) -> Self {
        let allowed = algorithms.iter().fold(0, |bits, a| bits | alg_bit(*a));
        let discovery = http
            .discovery(&config.issuer, timing.discovery_ttl, config.allow_insecure_http)
            .map(Arc::new);
        let keys = Arc::new(KeyStore::new(
            config.keys.clone(),
            discovery.clone(),
            timing.jwks_cooldown,
            timing.jwks_max_age,
            http.now(),
        ));
        let _ = keys.issuer.set(Arc::from(config.issuer.as_str()));
        Issuer {
            issuer: Arc::from(config.issuer.as_str()),
            uses_key_set: uses_key_set(algorithms),
            config,
            allowed,
            keys,
            discovery,
        }
    }

    pub(super) fn allows(&self, alg: JwsAlgorithm) -> bool {
        self.allowed & alg_bit(alg) != 0
    }

    /// The discovered endpoints (the document kept for the discovery TTL).
    pub(super) async fn endpoints(&self, http: &Http) -> Result<Endpoints, ValidationError> {
        http.endpoints(self.discovery.as_deref()).await
    }

    pub(super) async fn verify_signature(
        &self,
        http: &Http,
        jwt: &UnverifiedJwt<'_>,
        alg: JwsAlgorithm,
    ) -> Result<(), ValidationError> {
        let message = jwt.signing_input();
        let sig = jwt.signature();
        if alg.is_symmetric() {
            let keys = self
                .config
                .hmac
                .as_ref()
                .ok_or_else(|| ValidationError::AlgorithmNotAllowed {
                    alg: alg.name().to_owned(),
                })?;
            return if keys.verify(alg, message, sig) {
                Ok(())
            } else {
                Err(ValidationError::InvalidSignature)
            };
        }
        let kid = jwt.key_id();
        let seen = self.keys.attempts.load(Ordering::Acquire);
        let current = self.keys.current();
        if let Some(snapshot) = &current {
            match snapshot.set.select(kid, alg) {
                Selected::Key(key) => {
                    self.keys.refresh_if_stale(http);
                    return verified(key.verify(alg, message, sig));
                }
                Selected::Err(e) => return Err(e),
                Selected::Missing => {}
            }
        }
        let snapshot = self.keys.refresh(http, seen, current.is_some()).await?;
        match snapshot.set.select(kid, alg) {
            Selected::Key(key) => verified(key.verify(alg, message, sig)),
            Selected::Err(e) => Err(e),
            Selected::Missing if kid.is_none() => Err(ValidationError::UnknownKey { kid: None }),
            Selected::Missing => Err(ValidationError::UnknownKey {
                kid: kid.map(|k| sanitize(k, 64)),
            }),
        }
    }

    pub(super) fn time_rules(&self, max_age: bool) -> TimeRules {
        TimeRules {
            leeway: self.config.leeway,
            max_age: if max_age { self.config.max_age } else { None },
        }
    }

    /// Claims of a JWT whose signature verified.
    pub(super) fn check_claims(
        &self,
        jwt: UnverifiedJwt<'_>,
        now: Timestamp,
    ) -> Result<ValidatedToken, ValidationError> {
        let typ = jwt.typ();
        let (mut known, payload) = jwt.into_parts();
        // The kind looks at claims that extraction moves out.
        let (kind, reason) = classify(
            typ,
            &known,
            &self.config.login_clients,
            self.config.accept_login_client_audience,
        );
        let typed = Typed::extract(&mut known)?;
        if typed.exp.is_none() {
            return Err(ValidationError::MissingClaim { claim: "exp".into() });
        }
        typed.times().check(now, self.time_rules(true))?;
        let accepted = match kind {
            TokenPurpose::Access => true,
            TokenPurpose::Id => self.config.accept_id_tokens,
            TokenPurpose::Unknown => self.config.accept_unclassified_tokens,
            _ => false,
        };
        if !accepted {
            return Err(ValidationError::WrongTokenType {
                found: kind,
                reason: reason.unwrap_or(TokenTypeReason::DeclaredType),
            });
        }
        if self.config.require_access_token_type && typ != TypHeader::AccessToken {
            return Err(ValidationError::WrongTokenType {
                found: kind,
                reason: TokenTypeReason::NotAtJwt,
            });
        }
        self.check_audience(&typed, true)?;
        let claims = ClaimStore::lazy(payload);
        self.check_common(&typed, &claims)?;
        Ok(typed.into_token(&self.issuer, kind, Verification::Signature, claims))
    }

    /// Claims of an introspection or userinfo answer.
    pub(super) fn check_opaque_claims(
        &self,
        claims: Map<String, Value>,
        verified_by: Verification,
        now: Timestamp,
    ) -> Result<ValidatedToken, ValidationError> {
        let mut claims = claims;
        let typed = Typed::extract(&mut claims)?;
        if let Some(iss) = string(&claims, "iss")?
            && iss != self.config.issuer
            && !self.config.aliases.iter().any(|a| a == iss)
        {
            return Err(ValidationError::UntrustedIssuer {
                issuer: sanitize(iss, 128),
            });
        }
        typed.times().check(now, self.time_rules(false))?;
        // Introspection may name the audience; userinfo never does.
        if verified_by == Verification::Introspection && !typed.audiences.is_empty() {
            self.check_audience(&typed, false)?;
        }
        if let Some(Value::String(t)) = claims.get("token_type")
            && t.eq_ignore_ascii_case("refresh_token")
        {
            return Err(ValidationError::WrongTokenType {
                found: TokenPurpose::Other,
                reason: TokenTypeReason::DeclaredType,
            });
        }
        let claims = ClaimStore::Parsed(claims);
        self.check_common(&typed, &claims)?;
        Ok(typed.into_token(&self.issuer, TokenPurpose::Access, verified_by, claims))
    }

    fn check_audience(&self, typed: &Typed, use_azp: bool) -> Result<(), ValidationError> {
        if self.config.any_audience {
            return Ok(());
        }
        let audience_ok = typed.audiences.iter().any(|a| self.config.audiences.contains(a));
        let azp_ok = use_azp
            && typed
                .azp
                .as_ref()
                .is_some_and(|azp| self.config.authorized_parties.contains(azp));
        if audience_ok || azp_ok {
            Ok(())
        } else {
            Err(ValidationError::AudienceMismatch)
        }
    }

    /// Organization and required claims.
    fn check_common(&self, typed: &Typed, claims: &ClaimStore) -> Result<(), ValidationError> {
        if let Some(org) = &self.config.organization {
            let org_name = match org {
                Organization::Name(_) => claims.map().get("org_name").and_then(Value::as_str),
                _ => None,
            };
            if !org.matches(typed.org_id.as_deref(), org_name) {
                return Err(ValidationError::WrongOrganization);
            }
        }
        for claim in &self.config.required_claims {
            if claims.map().get(claim).is_none_or(Value::is_null) {
                return Err(ValidationError::MissingClaim { claim: claim.clone() });
            }
        }
        Ok(())
    }
}

fn verified(ok: bool) -> Result<(), ValidationError> {
    if ok {
        Ok(())
    } else {
        Err(ValidationError::InvalidSignature)
    }
}
