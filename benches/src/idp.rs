//! Access tokens from the local OpenID provider, for the benches that call
//! its userinfo endpoint (DataCollect's way of checking a token).

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use authresult_core::ProviderConfig;
use authresult_core::{LoginFlow, LoginPrompt, LoginRequest, LoginResponse, SessionKey, Timestamp};
use authresult_oidc::{OidcOptions, OidcProvider};
use authresult_test_support::Idp;
use serde_json::json;
use url::Url;

/// Logs `alice` in `count` times through `native-app` without a resource
/// indicator, which gives opaque access tokens; answers the provider's
/// userinfo endpoint and the tokens.
pub async fn opaque_tokens(idp: &Idp, count: usize) -> anyhow::Result<(Url, Vec<String>)> {
    let issuer = idp.issuer("plain")?.clone();
    let config = ProviderConfig::from_json_str(
        &json!({"type": "oidc", "fields": {"issuer": issuer.as_str(), "client_id": "native-app"}})
            .to_string(),
    )?;
    let provider = OidcProvider::from_config(&config, OidcOptions::default())?;
    let endpoint = provider
        .discover()
        .await?
        .userinfo_endpoint
        .context("the provider has no userinfo endpoint")?;
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let request = LoginRequest {
            key: SessionKey::new("bench", "plain"),
            flow: LoginFlow::AuthorizationCode,
            now: Timestamp::now(),
            redirect_uri: Some(Url::parse("http://127.0.0.1:9/callback")?),
            extra_params: BTreeMap::new(),
        };
        let pending = provider.begin_login(&request).await?;
        let LoginPrompt::Redirect { authorization_url } = &pending.prompt else {
            bail!("expected a redirect login");
        };
        let callback = idp
            .login_via_form(authorization_url, "alice", "alice-password")
            .await?;
        let auth = provider
            .complete_login(&pending, &LoginResponse::Callback(callback))
            .await?;
        let token = auth.access_token.secret().to_owned();
        if token.contains('.') {
            bail!("expected an opaque access token, got a JWT");
        }
        tokens.push(token);
    }
    Ok((endpoint, tokens))
}
