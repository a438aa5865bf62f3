//! Token requests and token responses: refresh, client credentials, and the
//! one path every token response takes to an `AuthResult` (ID token verified
//! with the shared JOSE code, organization, same identity on refresh,
//! userinfo when asked).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{AccessToken, AuthResult, Credentials, IdToken, Organization, RefreshToken};
use openidconnect::{OAuth2TokenResponse as _, Scope};
use serde_json::{Map, Value};

use super::{OidcProvider, request_error};
use crate::discovery::Discovered;
use crate::error::{Endpoint, OidcError};
use crate::id_token::{self, NonceCheck, VerifiedIdToken, constant_time_eq};
use crate::token_response::RawTokenResponse;

impl OidcProvider {
    /// Exchanges the refresh token of `previous` (the port's
    /// [`AuthProvider::refresh`](authresult_core::AuthProvider::refresh) with
    /// this crate's error). The answer is exactly what the token endpoint
    /// said: a field it omits (refresh token, ID token, profile) stays
    /// `None`; keeping the old one is `Session::refreshed`'s job.
    pub async fn refresh(&self, previous: &AuthResult) -> Result<AuthResult, OidcError> {
        let refresh_token = previous
            .refresh_token
            .as_ref()
            .ok_or_else(|| OidcError::config("the session to refresh holds no refresh token"))?;
        let key = crate::dpop::session_key(previous)?;
        // A bound session refreshes bound, with its key; a session without
        // one where DPoP is required logs in again.
        let was_bound = previous.dpop.as_ref().is_some_and(|b| b.bound);
        if key.is_none() && self.dpop_required() {
            return Err(OidcError::DpopKeyUnusable {
                reason: "dpop is required and the session holds no key",
            });
        }
        let proofs = key.map(|key| self.proofs(key));
        let d = self.inner.discovery.get().await?;
        let client = self.client(&d);
        let token = openidconnect::RefreshToken::new(refresh_token.secret().to_owned());
        let refresh = client
            .exchange_refresh_token(&token)
            .map_err(|_| OidcError::EndpointMissing {
                endpoint: Endpoint::Token,
            })?;
        let refresh = match self.resource() {
            Some(resource) => refresh.add_extra_param("resource", resource),
            None => refresh,
        };
        let response: RawTokenResponse = refresh
            .request_async(&self.inner.http.at_with(Endpoint::Token, proofs.clone()))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        let binding = self.binding_of(
            proofs.as_ref(),
            &response.token_type_name(),
            was_bound || self.dpop_required(),
        )?;
        let mut result = self
            .auth_result(&d, response, ResponseCheck::Refresh { previous })
            .await?;
        result.dpop = binding;
        Ok(result)
    }

    /// Client credentials grant for a service account: an access token for
    /// the client itself (needs a client secret). Auth0's `audience` is sent.
    pub async fn client_credentials(&self, scopes: &[&str]) -> Result<AuthResult, OidcError> {
        if self.inner.settings.client_secret.is_none() {
            return Err(OidcError::config("client credentials need a `client_secret`"));
        }
        let d = self.inner.discovery.get().await?;
        let proofs = self.login_key(&d)?.map(|key| self.proofs(key));
        let client = self.client(&d);
        let mut request = client
            .exchange_client_credentials()
            .map_err(|_| OidcError::EndpointMissing {
                endpoint: Endpoint::Token,
            })?
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())));
        if let Some(audience) = self.inner.profile.authorization_params().get("audience") {
            request = request.add_extra_param("audience", audience.clone());
        }
        let response: RawTokenResponse = request
            .request_async(&self.inner.http.at_with(Endpoint::Token, proofs.clone()))
            .await
            .map_err(|e| request_error(Endpoint::Token, e))?;
        let binding = self.binding_of(proofs.as_ref(), &response.token_type_name(), self.dpop_required())?;
        let mut result = self
            .auth_result(&d, response, ResponseCheck::ClientCredentials)
            .await?;
        result.dpop = binding;
        Ok(result)
    }

    /// Verifies an ID token with the provider's key set (`KeySets`).
    async fn verify_id_token(
        &self,
        d: &Arc<Discovered>,
        raw: &str,
        access: &str,
        nonce: &NonceCheck,
        max_auth_age: Option<Duration>,
    ) -> Result<VerifiedIdToken, OidcError> {
        let keys = self.inner.keys.for_provider(d)?;
        let rules = id_token::Rules {
            discovered: d,
            profile: &self.inner.profile,
            client_id: &self.inner.settings.client_id,
            options: &self.inner.options,
            nonce,
            max_auth_age,
        };
        id_token::verify(raw, access, &keys, &rules).await
    }

    /// A login without a browser (the port's
    /// [`AuthProvider::login`](authresult_core::AuthProvider::login) with
    /// this crate's error): only a token the user brought
    /// (`Credentials::Token`), accepted by userinfo and the organisation
    /// rule, its profile from userinfo. A password is `Unsupported`: an
    /// OpenID provider's logins are interactive.
    pub async fn login(&self, credentials: &Credentials) -> Result<AuthResult, OidcError> {
        let Credentials::Token { token } = credentials else {
            return Err(OidcError::Unsupported {
                provider: self.inner.profile.type_name().to_owned(),
                operation: "password login (use an interactive login)",
            });
        };
        let claims = self.userinfo(token, None).await?;
        self.check_brought_token_organization(token, &claims)?;
        let expires_in = self
            .inner
            .profile
            .expires_in_hint(token.secret(), self.inner.options.clock.now());
        let mut result = AuthResult::new(token.clone(), expires_in);
        result.profile = Some(id_token::profile_of(&claims));
        Ok(result)
    }

    /// The organisation rule for a token the user brought
    /// (`Credentials::Token`), which userinfo has just accepted: on
    /// userinfo's organisation claims, or else on the token's own (a JWT the
    /// provider accepted). Without either, a configured organisation is not
    /// met.
    fn check_brought_token_organization(
        &self,
        token: &AccessToken,
        userinfo: &Map<String, Value>,
    ) -> Result<(), OidcError> {
        if self.inner.profile.organization().is_none() {
            return Ok(());
        }
        if Organization::stated_in(userinfo) {
            return self.check_organization(userinfo);
        }
        let own = authresult_core::peek_claims(token.secret()).unwrap_or_default();
        self.check_organization(&own)
    }

    /// The profile's organisation rule (Auth0), the validator's too.
    fn check_organization(&self, claims: &Map<String, Value>) -> Result<(), OidcError> {
        match self.inner.profile.organization() {
            Some(organization) if !organization.matches_claims(claims) => {
                Err(OidcError::OrganizationMismatch {
                    claim: organization.claim(),
                    expected: organization.expected().to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Builds the `AuthResult` of a token response after every check.
    pub(super) async fn auth_result(
        &self,
        d: &Arc<Discovered>,
        response: RawTokenResponse,
        check: ResponseCheck<'_>,
    ) -> Result<AuthResult, OidcError> {
        let access = response.access_token().secret();
        if access.is_empty() {
            return Err(OidcError::malformed(Endpoint::Token, "`access_token` is empty"));
        }
        let mut raw_id_token = response.raw_id_token().map(str::to_owned);
        let mut repeated = None;
        if let ResponseCheck::Refresh { previous } = &check
            && let (Some(raw), Some(stored)) = (&raw_id_token, &previous.id_token)
            && raw == stored.secret()
        {
            // The stored ID token repeated: nothing new to verify (its `iat`
            // is as old as the login); it is answered as it came.
            repeated = raw_id_token.take();
        }
        let max_auth_age = match &check {
            ResponseCheck::Login(_) => self.inner.options.max_auth_age,
            ResponseCheck::Refresh { .. } | ResponseCheck::ClientCredentials => None,
        };
        let nonce = match &check {
            ResponseCheck::Login(nonce) => nonce.clone(),
            // Checked after the identity, below: a token for another user
            // should be reported as such, not as a nonce mismatch.
            ResponseCheck::Refresh { .. } => NonceCheck::IfPresent(None),
            ResponseCheck::ClientCredentials => NonceCheck::IfPresent(None),
        };
        let verified = match &raw_id_token {
            Some(raw) => Some(self.verify_id_token(d, raw, access, &nonce, max_auth_age).await?),
            None if matches!(check, ResponseCheck::Login(_)) => {
                return Err(OidcError::IdTokenMissing {
                    endpoint: Endpoint::Token,
                });
            }
            None => None,
        };
        if let Some(verified) = &verified {
            self.check_organization(&verified.claims)?;
            if let ResponseCheck::Refresh { previous } = &check {
                check_same_identity(previous, &verified.claims)?;
                check_same_nonce(previous, &verified.claims)?;
            }
        }
        let mut profile = verified.as_ref().map(|v| id_token::profile_of(&v.claims));
        let access_token = AccessToken::new(access.to_owned());
        if self.inner.options.fetch_userinfo
            && let Some(v) = &verified
            && d.metadata.userinfo_endpoint().is_some()
        {
            let sub = v.claims.get("sub").and_then(Value::as_str);
            let claims = self.userinfo_with(d, &access_token, sub).await?;
            let merged = profile.get_or_insert_with(BTreeMap::new);
            for (k, v) in id_token::profile_of(&claims) {
                merged.entry(k).or_insert(v);
            }
        }
        Ok(AuthResult {
            access_token,
            id_token: verified.map(|v| v.raw).or(repeated).map(IdToken::new),
            refresh_token: response
                .refresh_token()
                .map(|t| RefreshToken::new(t.secret().clone())),
            expires_in: response.expires_in().map(|e| e.as_secs()).unwrap_or(0),
            profile,
            user_metadata: None,
            dpop: None,
        })
    }
}

/// Which checks a token response gets.
pub(super) enum ResponseCheck<'a> {
    /// A login: an ID token is required.
    Login(NonceCheck),
    /// A refresh: an ID token is optional, and must be for the same user.
    Refresh { previous: &'a AuthResult },
    /// Client credentials: no user.
    ClientCredentials,
}

/// `iss`, `sub`, `aud` and `azp` of a refreshed ID token must equal the
/// original's, and its `auth_time`, when both carry one (OpenID Connect Core
/// §12.2: the time of the original authentication).
pub(super) fn check_same_identity(
    previous: &AuthResult,
    fresh: &Map<String, Value>,
) -> Result<(), OidcError> {
    let original = previous
        .id_token
        .as_ref()
        .and_then(|t| authresult_core::peek_claims(t.secret()));
    match original {
        Some(original) => {
            for claim in ["iss", "sub"] {
                if original.get(claim) != fresh.get(claim) {
                    return Err(OidcError::IdentityChanged { claim });
                }
            }
            if id_token::audiences(&original) != id_token::audiences(fresh) {
                return Err(OidcError::IdentityChanged { claim: "aud" });
            }
            if original.get("azp") != fresh.get("azp") {
                return Err(OidcError::IdentityChanged { claim: "azp" });
            }
            if let (Some(before), Some(now)) = (original.get("auth_time"), fresh.get("auth_time"))
                && before != now
            {
                return Err(OidcError::IdentityChanged { claim: "auth_time" });
            }
            Ok(())
        }
        None => match (previous.subject(), fresh.get("sub").and_then(Value::as_str)) {
            (Some(before), Some(now)) if before != now => Err(OidcError::IdentityChanged { claim: "sub" }),
            _ => Ok(()),
        },
    }
}

/// A refreshed ID token may drop `nonce` (Keycloak 25+); when both it and
/// the original carry one, they must be equal.
fn check_same_nonce(previous: &AuthResult, fresh: &Map<String, Value>) -> Result<(), OidcError> {
    let original = previous
        .id_token
        .as_ref()
        .and_then(|t| authresult_core::peek_claims(t.secret()))
        .and_then(|c| c.get("nonce").and_then(Value::as_str).map(str::to_owned));
    match (original, fresh.get("nonce").and_then(Value::as_str)) {
        (Some(before), Some(now)) if !constant_time_eq(before.as_bytes(), now.as_bytes()) => Err(
            OidcError::id_token("invalid nonce: the `nonce` claim does not match the original ID token's"),
        ),
        _ => Ok(()),
    }
}
