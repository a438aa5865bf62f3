//! A minimal browser for the local provider's pages: a cookie jar that
//! honours `Path`, redirects followed by hand, forms posted like a browser.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use url::Url;

/// Redirects and pages followed before giving up.
const MAX_STEPS: usize = 20;

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A browser session against the local provider: one cookie jar, so a
/// second login in the same `Browser` reuses the provider's session (and
/// sees the consent page instead of the login page).
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    base: Url,
    cookies: Vec<Cookie>,
}

/// One response, body read.
#[derive(Debug)]
struct Page {
    status: u16,
    location: Option<Url>,
    body: String,
}

impl Page {
    fn page_id(&self) -> Option<&str> {
        let start = self.body.find("data-page=\"")? + "data-page=\"".len();
        let end = self.body[start..].find('"')?;
        Some(&self.body[start..start + end])
    }

    fn error_text(&self) -> String {
        match self.body.find("id=\"error\">") {
            Some(start) => {
                let rest = &self.body[start + "id=\"error\">".len()..];
                unescape(rest.split('<').next().unwrap_or(""))
            }
            None => format!("HTTP {} page {:?}", self.status, self.page_id()),
        }
    }

    /// The action of the first `<form method="post">` whose action ends with `suffix`.
    fn form_action(&self, suffix: &str) -> Option<String> {
        let marker = "<form method=\"post\" action=\"";
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            let end = rest.find('"')?;
            let action = unescape(&rest[..end]);
            if action.ends_with(suffix) {
                return Some(action);
            }
        }
        None
    }

    fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("<input type=\"hidden\" name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(unescape(&self.body[start..start + end]))
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl Browser {
    /// A browser with an empty jar for the provider at `base`.
    pub fn new(base: Url) -> anyhow::Result<Self> {
        Self::build(base, None)
    }

    /// [`Browser::new`] for a provider whose certificate `ca_pem` issued.
    pub fn trusting(base: Url, ca_pem: &[u8]) -> anyhow::Result<Self> {
        Self::build(base, Some(ca_pem))
    }

    fn build(base: Url, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_pem(pem).context("the CA certificate is not PEM")?,
            );
        }
        let client = builder
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .context("could not build the browser's HTTP client")?;
        Ok(Browser {
            client,
            base,
            cookies: Vec::new(),
        })
    }

    fn cookie_header(&self, url: &Url) -> String {
        let path = url.path();
        self.cookies
            .iter()
            .filter(|c| {
                path == c.path
                    || (path.starts_with(&c.path)
                        && (c.path.ends_with('/') || path.as_bytes().get(c.path.len()) == Some(&b'/')))
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store_cookies(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            let mut parts = text.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut expired = value.is_empty();
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" if !val.is_empty() => path = val.to_owned(),
                    "max-age" if val.parse::<i64>().is_ok_and(|n| n <= 0) => expired = true,
                    "expires" if val.contains("1970") => expired = true,
                    _ => {}
                }
            }
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            if !expired {
                self.cookies.push(Cookie {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    path,
                });
            }
        }
    }

    async fn request(
        &mut self,
        method: reqwest::Method,
        url: &Url,
        form: Option<&[(&str, &str)]>,
    ) -> anyhow::Result<Page> {
        let mut builder = self.client.request(method.clone(), url.clone());
        let cookies = self.cookie_header(url);
        if !cookies.is_empty() {
            builder = builder.header(COOKIE, cookies);
        }
        if let Some(form) = form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = builder
            .send()
            .await
            .with_context(|| format!("{method} {} failed", url.path()))?;
        self.store_cookies(&response);
        let status = response.status().as_u16();
        let location = match response.headers().get(LOCATION) {
            Some(value) => Some(
                url.join(value.to_str().context("a Location header is not text")?)
                    .context("a Location header is not a URL")?,
            ),
            None => None,
        };
        let body = response.text().await.context("could not read a page")?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    fn is_provider_url(&self, url: &Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// Logs in at `authorization_url` and answers the redirect to the
    /// client's `redirect_uri` without requesting it. On a consent page it
    /// confirms; wrong credentials are an error.
    pub async fn login(
        &mut self,
        authorization_url: &Url,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Url> {
        let mut page = self
            .request(reqwest::Method::GET, authorization_url, None)
            .await?;
        let mut logged_in = false;
        for _ in 0..MAX_STEPS {
            if let Some(location) = page.location.clone()
                && (300..400).contains(&page.status)
            {
                if !self.is_provider_url(&location) {
                    return Ok(location);
                }
                page = self.request(reqwest::Method::GET, &location, None).await?;
                continue;
            }
            match page.page_id() {
                Some("login") if !logged_in => {
                    let action = page
                        .form_action("/login")
                        .context("the login page has no login form")?;
                    let url = self.base.join(&action)?;
                    logged_in = true;
                    page = self
                        .request(
                            reqwest::Method::POST,
                            &url,
                            Some(&[("username", username), ("password", password)]),
                        )
                        .await?;
                }
                Some("login") => bail!("login as `{username}` failed: {}", page.error_text()),
                Some("consent") => {
                    let action = page
                        .form_action("/confirm")
                        .context("the consent page has no confirm form")?;
                    let url = self.base.join(&action)?;
                    page = self.request(reqwest::Method::POST, &url, Some(&[])).await?;
                }
                _ => bail!("unexpected page during login: {}", page.error_text()),
            }
        }
        Err(anyhow!("login did not finish within {MAX_STEPS} steps"))
    }

    /// Ends this browser's session at the provider: opens the RP-initiated
    /// logout URL `end_session_url` and confirms the provider's sign-out
    /// form, following redirects within the provider; done on the
    /// signed-out page or a redirect away from the provider.
    pub async fn logout(&mut self, end_session_url: &Url) -> anyhow::Result<()> {
        let mut page = self.request(reqwest::Method::GET, end_session_url, None).await?;
        let mut confirmed = false;
        for _ in 0..MAX_STEPS {
            if let Some(location) = page.location.clone()
                && (300..400).contains(&page.status)
            {
                if !self.is_provider_url(&location) {
                    return Ok(());
                }
                page = self.request(reqwest::Method::GET, &location, None).await?;
                continue;
            }
            match page.page_id() {
                Some("logout") if !confirmed => {
                    let action = page
                        .form_action("/confirm")
                        .context("the sign-out page has no confirm form")?;
                    let xsrf = page.hidden("xsrf").context("the sign-out form has no xsrf")?;
                    let url = self.base.join(&action)?;
                    confirmed = true;
                    page = self
                        .request(
                            reqwest::Method::POST,
                            &url,
                            Some(&[("xsrf", xsrf.as_str()), ("logout", "yes")]),
                        )
                        .await?;
                }
                Some("logged-out") => return Ok(()),
                _ => bail!("unexpected page during logout: {}", page.error_text()),
            }
        }
        Err(anyhow!("logout did not finish within {MAX_STEPS} steps"))
    }

    /// Completes the device verification page for `user_code` (taken from a
    /// `verification_uri_complete` when `None`), then logs in as `username`
    /// and approves, or denies on the confirm page.
    pub async fn device(
        &mut self,
        verification_uri: &Url,
        user_code: Option<&str>,
        username: &str,
        password: &str,
        approve: bool,
    ) -> anyhow::Result<()> {
        let from_uri = verification_uri
            .query_pairs()
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v.into_owned());
        let user_code = user_code
            .map(str::to_owned)
            .or(from_uri)
            .context("no user code given and none in the verification URI")?;
        let mut plain = verification_uri.clone();
        plain.set_query(None);
        let input = self.request(reqwest::Method::GET, &plain, None).await?;
        if input.page_id() != Some("device-input") {
            bail!("expected the device input page: {}", input.error_text());
        }
        let xsrf = input
            .hidden("xsrf")
            .context("the device input page has no xsrf")?;
        let action = self
            .base
            .join(&input.form_action("").context("no device form")?)?;
        let confirm = self
            .request(
                reqwest::Method::POST,
                &action,
                Some(&[("xsrf", &xsrf), ("user_code", &user_code)]),
            )
            .await?;
        if confirm.page_id() != Some("device-confirm") {
            bail!("expected the device confirm page: {}", confirm.error_text());
        }
        let xsrf = confirm.hidden("xsrf").context("the confirm page has no xsrf")?;
        let code = confirm
            .hidden("user_code")
            .context("the confirm page has no user_code")?;
        let action = self
            .base
            .join(&confirm.form_action("").context("no confirm form")?)?;
        let choice = if approve { "confirm" } else { "abort" };
        let mut page = self
            .request(
                reqwest::Method::POST,
                &action,
                Some(&[("xsrf", &xsrf), ("user_code", &code), (choice, "yes")]),
            )
            .await?;
        let mut logged_in = false;
        for _ in 0..MAX_STEPS {
            if let Some(location) = page.location.clone()
                && (300..400).contains(&page.status)
            {
                page = self.request(reqwest::Method::GET, &location, None).await?;
                continue;
            }
            match page.page_id() {
                Some("device-success") if approve => return Ok(()),
                Some("device-aborted") if !approve => return Ok(()),
                Some("login") if !logged_in => {
                    let action = page
                        .form_action("/login")
                        .context("the login page has no login form")?;
                    let url = self.base.join(&action)?;
                    logged_in = true;
                    page = self
                        .request(
                            reqwest::Method::POST,
                            &url,
                            Some(&[("username", username), ("password", password)]),
                        )
                        .await?;
                }
                Some("consent") => {
                    let action = page
                        .form_action("/confirm")
                        .context("the consent page has no confirm form")?;
                    let url = self.base.join(&action)?;
                    page = self.request(reqwest::Method::POST, &url, Some(&[])).await?;
                }
                _ => bail!("unexpected page during device approval: {}", page.error_text()),
            }
        }
        Err(anyhow!("device approval did not finish within {MAX_STEPS} steps"))
    }
}

#[cfg(test)]
mod tests;
