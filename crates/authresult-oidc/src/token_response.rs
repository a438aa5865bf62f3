//! The token endpoint's answer with the ID token kept as its raw text, so
//! `openidconnect` builds the requests and reads the OAuth fields while the
//! ID token is parsed and checked only once, by `id_token.rs` on
//! `authresult-jwt`'s JOSE code.

use std::time::Duration;

use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreTokenType,
};
use openidconnect::{
    AccessToken, EmptyAdditionalClaims, ExtraTokenFields, IdToken, OAuth2TokenResponse, RefreshToken, Scope,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

/// The `id_token` member, unparsed.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct RawIdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for RawIdTokenField {}

/// A token response whose `id_token` is raw text.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub(crate) struct RawTokenResponse(StandardTokenResponse<RawIdTokenField, CoreTokenType>);

impl RawTokenResponse {
    /// The `token_type` as sent (`Bearer`, `DPoP`, ...).
    pub(crate) fn token_type_name(&self) -> String {
        match serde_json::to_value(self.0.token_type()) {
            Ok(serde_json::Value::String(name)) => name,
            _ => String::new(),
        }
    }

    /// The `id_token` member as sent, not yet verified.
    pub(crate) fn raw_id_token(&self) -> Option<&str> {
        self.0.extra_fields().id_token.as_deref()
    }
}

impl OAuth2TokenResponse for RawTokenResponse {
    type TokenType = CoreTokenType;

    fn access_token(&self) -> &AccessToken {
        self.0.access_token()
    }

    fn token_type(&self) -> &CoreTokenType {
        self.0.token_type()
    }

    fn expires_in(&self) -> Option<Duration> {
        self.0.expires_in()
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.0.refresh_token()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.0.scopes()
    }
}

impl
    openidconnect::TokenResponse<
        EmptyAdditionalClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    > for RawTokenResponse
{
    /// Always `None`: the ID token is read with [`RawTokenResponse::raw_id_token`]
    /// and verified by `authresult-jwt`, never by `openidconnect`.
    fn id_token(
        &self,
    ) -> Option<
        &IdToken<
            EmptyAdditionalClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
    > {
        None
    }
}
