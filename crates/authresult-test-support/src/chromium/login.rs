//! The person's steps on the providers' real login pages, in [`Chromium`]:
//! the local provider's HTML forms (`xtask/idp`) and glewlwyd's login app.
//! Each answers the URL the browser was redirected to (the client's
//! loopback `redirect_uri`, which the browser has requested: the listener
//! has answered it).

use std::time::Duration;

use anyhow::bail;
use url::Url;

use super::Chromium;

/// How long one page may take to show what the person acts on.
const STEP: Duration = Duration::from_secs(20);

impl Chromium {
    /// Opens `authorization_url`, signs in on the local provider's login
    /// page as `username`, allows on its consent page when it shows one,
    /// and waits until the browser is at `redirect_uri`.
    pub async fn log_in_at_local_idp(
        &self,
        authorization_url: &Url,
        redirect_uri: &Url,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Url> {
        self.goto(authorization_url).await?;
        let user = self.wait_for("input[name=username]", STEP).await?;
        self.type_into(&user, username).await?;
        let secret = self.wait_for("input[name=password]", STEP).await?;
        self.type_into(&secret, password).await?;
        let sign_in = self
            .wait_for("form[action$='/login'] button[type=submit]", STEP)
            .await?;
        self.click(&sign_in).await?;
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let url = self.current_url().await?;
            if url.as_str().starts_with(redirect_uri.as_str()) {
                return Ok(url);
            }
            if let Some(allow) = self.find("form[action$='/confirm'] button[type=submit]").await? {
                self.click(&allow).await?;
            } else if self.find("body[data-page=login] #error").await?.is_some() {
                bail!("the provider refused the login: {:?}", self.body_text().await);
            }
            if std::time::Instant::now() > deadline {
                return self.wait_for_url(redirect_uri.as_str(), Duration::ZERO).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Chromium {
    /// Opens `authorization_url` (glewlwyd sends the browser to its login
    /// app, `login.html`), signs in as `username`, ticks every scope on the
    /// grant screen and grants them when it asks, presses Continue, and
    /// waits until the browser is at `redirect_uri`.
    pub async fn log_in_at_glewlwyd(
        &self,
        authorization_url: &Url,
        redirect_uri: &Url,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Url> {
        self.goto(authorization_url).await?;
        let user = self.wait_for("#username", STEP).await?;
        self.type_into(&user, username).await?;
        let secret = self.wait_for("#password", STEP).await?;
        self.type_into(&secret, password).await?;
        let sign_in = self.wait_for("#loginbut", STEP).await?;
        self.click(&sign_in).await?;
        let mut granted = false;
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let url = self.current_url().await?;
            if url.as_str().starts_with(redirect_uri.as_str()) {
                return Ok(url);
            }
            let mut unticked = None;
            for scope in self.find_all("input[id^='grant-']").await? {
                if self.displayed(&scope).await? && !self.selected(&scope).await? {
                    unticked = Some(scope);
                    break;
                }
            }
            if let Some(scope) = unticked {
                self.click(&scope).await?;
            } else if let Some(grant) = self
                .find_displayed("//button[normalize-space()='Grant access']")
                .await?
                .filter(|_| !granted)
            {
                self.click(&grant).await?;
                granted = true;
            } else if let Some(next) = self.find_displayed("button.btn-success").await? {
                self.click(&next).await?;
            }
            if std::time::Instant::now() > deadline {
                return self.wait_for_url(redirect_uri.as_str(), Duration::ZERO).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
