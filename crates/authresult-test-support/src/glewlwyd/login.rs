//! Glewlwyd's login, done like its single-page login app does it: the
//! authorization endpoint sends a browser without a session to
//! `login.html?callback_url=...`; the app posts the password to
//! `POST /api/auth/` (a session cookie), records the consent with
//! `PUT /api/auth/grant/{client_id}`, then returns to `callback_url` with
//! `g_continue` added, and the authorization endpoint redirects to the
//! client. The device page works the same way with
//! `GET {verification_uri}?code=USER_CODE&g_continue`.

use anyhow::{Context as _, bail};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use serde_json::json;
use url::Url;

use super::{Glewlwyd, SESSION_COOKIE, api_login, http_client};

/// The value of query parameter `name` in `url`.
fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Glewlwyd {
    /// Logs `username` in for `authorization_url` and answers the redirect
    /// to the client's `redirect_uri` (not requested).
    pub async fn login(
        &self,
        authorization_url: &Url,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Url> {
        let http = http_client()?;
        let first = self.redirect(&http, authorization_url, None).await?;
        if first.origin() != self.base.origin() || !first.path().ends_with("/login.html") {
            bail!("the authorization endpoint did not send the browser to the login app but to {first}");
        }
        let mut callback = query(&first, "callback_url")
            .context("the login app URL has no callback_url")
            .and_then(|c| Url::parse(&c).context("callback_url is not a URL"))?;
        let client_id = query(&first, "client_id").context("the login app URL has no client_id")?;
        let scope = query(&first, "scope").unwrap_or_default();
        let cookie = api_login(&http, &self.base, username, password).await?;
        self.grant(&http, &cookie, &client_id, &scope).await?;
        callback.query_pairs_mut().append_key_only("g_continue");
        let back = self.redirect(&http, &callback, Some(&cookie)).await?;
        if back.origin() == self.base.origin() {
            bail!("after the login the authorization endpoint redirected to {back}, not to the client");
        }
        Ok(back)
    }

    /// Enters `user_code` at `verification_uri` as `username` and approves
    /// the device login of `client_id` for [`Glewlwyd::SCOPES`].
    pub async fn approve_device(
        &self,
        verification_uri: &Url,
        user_code: &str,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        let http = http_client()?;
        let cookie = api_login(&http, &self.base, username, password).await?;
        self.grant(&http, &cookie, client_id, Glewlwyd::SCOPES).await?;
        let mut page = verification_uri.clone();
        page.query_pairs_mut()
            .append_pair("code", user_code)
            .append_key_only("g_continue");
        let done = self.redirect(&http, &page, Some(&cookie)).await?;
        if query(&done, "prompt").as_deref() != Some("deviceComplete") {
            bail!(
                "the device page did not complete: it redirected to {} with prompt {:?}",
                done.path(),
                query(&done, "prompt")
            );
        }
        Ok(())
    }

    /// `PUT /api/auth/grant/{client_id}`: the user's consent to `scope`.
    async fn grant(
        &self,
        http: &reqwest::Client,
        cookie: &str,
        client_id: &str,
        scope: &str,
    ) -> anyhow::Result<()> {
        let response = http
            .put(self.base.join(&format!("api/auth/grant/{client_id}"))?)
            .header(COOKIE, format!("{SESSION_COOKIE}={cookie}"))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"scope": scope}).to_string())
            .send()
            .await
            .context("PUT /api/auth/grant failed")?;
        if !response.status().is_success() {
            bail!("glewlwyd refused the consent (HTTP {})", response.status());
        }
        Ok(())
    }

    /// `GET url` expecting a redirect; answers its target.
    async fn redirect(&self, http: &reqwest::Client, url: &Url, cookie: Option<&str>) -> anyhow::Result<Url> {
        let mut request = http.get(url.clone());
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("{SESSION_COOKIE}={cookie}"));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("GET {} failed", url.path()))?;
        let status = response.status();
        let Some(location) = response.headers().get(LOCATION) else {
            bail!("GET {} answered HTTP {status} without a redirect", url.path());
        };
        url.join(location.to_str().context("a Location header is not text")?)
            .context("a Location header is not a URL")
    }
}
