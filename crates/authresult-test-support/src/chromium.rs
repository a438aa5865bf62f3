//! A real browser for the tests: Debian's headless Chromium driven over
//! WebDriver (`chromedriver`), through a few W3C WebDriver calls made with
//! `reqwest` (no WebDriver crate: the tests need eight commands, and the
//! crates pull in their own HTTP stacks).
//!
//! [`Chromium::start`] starts `chromedriver` on a free loopback port in a
//! process group of its own, opens a session whose browser runs with
//! `--headless --no-sandbox --disable-gpu --no-first-run
//! --disable-background-networking` and a throwaway profile, and kills the
//! whole group (driver and browser) on drop. Every wait is bounded.
//! `login.rs` fills the two providers' real login pages.

mod login;

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use url::Url;

/// Debian's browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's driver (package `chromium-driver`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the driver may take to answer `/status`.
const DRIVER_READY: Duration = Duration::from_secs(20);
/// Each WebDriver command (a page load included) must finish within this.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C identifier of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium with one WebDriver session; driver and browser are
/// killed on drop.
#[derive(Debug)]
pub struct Chromium {
    driver: Child,
    http: reqwest::Client,
    session: Url,
    _profile: tempfile::TempDir,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Chromium {
    /// The first file of Debian's `chromium` and `chromium-driver` packages
    /// that is missing, or `None` when both are installed.
    pub fn missing() -> Option<&'static str> {
        [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .find(|needed| !Path::new(needed).exists())
    }

    /// Starts the driver and a browser session. Fails, never skips, when
    /// Chromium is not installed.
    pub async fn start() -> anyhow::Result<Chromium> {
        if let Some(needed) = Chromium::missing() {
            bail!(
                "Chromium is not installed ({needed} is missing): `cargo xtask ci` installs it, \
                 or run `sudo apt-get install chromium chromium-driver`"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("no free loopback port")?
            .port();
        let profile = tempfile::Builder::new()
            .prefix("authresult-chromium-")
            .tempdir()
            .context("could not create a profile folder")?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: drop kills the driver and every browser process.
            .process_group(0)
            .spawn()
            .with_context(|| format!("could not start {CHROMEDRIVER}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .context("could not build the WebDriver client")?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        let mut chromium = Chromium {
            driver,
            http,
            session: base.clone(),
            _profile: profile,
        };
        let deadline = Instant::now() + DRIVER_READY;
        loop {
            if let Some(status) = chromium.driver.try_wait()? {
                bail!("chromedriver exited ({status}) before it answered");
            }
            let ready = chromium
                .http
                .get(base.join("status")?)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not answer within {DRIVER_READY:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile_dir = format!("--user-data-dir={}", chromium._profile.path().display());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": COMMAND_TIMEOUT.as_millis() as u64, "script": 10_000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         profile_dir],
            },
        }}});
        let answer = chromium
            .command(reqwest::Method::POST, base.join("session")?, Some(capabilities))
            .await
            .context("chromedriver could not start Chromium")?;
        let id = answer["sessionId"]
            .as_str()
            .context("the new session has no sessionId")?;
        chromium.session = base.join(&format!("session/{id}/"))?;
        Ok(chromium)
    }

    /// One WebDriver command; answers its `value`.
    async fn command(&self, method: reqwest::Method, url: Url, body: Option<Value>) -> anyhow::Result<Value> {
        let path = url.path().to_owned();
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("WebDriver {method} {path} failed"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("WebDriver {method} {path}: no answer"))?;
        let answer: Value = serde_json::from_str(&text)
            .with_context(|| format!("WebDriver {method} {path} answered no JSON"))?;
        if !status.is_success() {
            let error = answer["value"]["error"].as_str().unwrap_or("unknown error");
            let message = answer["value"]["message"].as_str().unwrap_or("");
            let first_line = message.lines().next().unwrap_or("");
            bail!("WebDriver {method} {path}: {error}: {first_line}");
        }
        Ok(answer["value"].clone())
    }

    async fn session_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.command(method, self.session.join(path)?, body).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &Url) -> anyhow::Result<()> {
        self.session_command(reqwest::Method::POST, "url", Some(json!({"url": url.as_str()})))
            .await?;
        Ok(())
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> anyhow::Result<Url> {
        let value = self.session_command(reqwest::Method::GET, "url", None).await?;
        Url::parse(value.as_str().context("the URL is not a string")?).context("the current URL is not a URL")
    }

    /// The elements matching `selector` now: a CSS selector, or an XPath
    /// expression when it starts with `/`.
    pub async fn find_all(&self, selector: &str) -> anyhow::Result<Vec<Element>> {
        let using = if selector.starts_with('/') {
            "xpath"
        } else {
            "css selector"
        };
        let found = self
            .session_command(
                reqwest::Method::POST,
                "elements",
                Some(json!({"using": using, "value": selector})),
            )
            .await?;
        Ok(found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching `selector` (see [`Chromium::find_all`]), if any, now.
    pub async fn find(&self, selector: &str) -> anyhow::Result<Option<Element>> {
        Ok(self.find_all(selector).await?.into_iter().next())
    }

    /// The first displayed element matching `selector`, if any, now.
    pub async fn find_displayed(&self, selector: &str) -> anyhow::Result<Option<Element>> {
        for element in self.find_all(selector).await? {
            if self.displayed(&element).await.unwrap_or(false) {
                return Ok(Some(element));
            }
        }
        Ok(None)
    }

    /// Whether `element` (a check box) is selected.
    pub async fn selected(&self, element: &Element) -> anyhow::Result<bool> {
        let value = self
            .session_command(
                reqwest::Method::GET,
                &format!("element/{}/selected", element.0),
                None,
            )
            .await?;
        Ok(value.as_bool().unwrap_or(false))
    }

    /// Waits up to `timeout` for an element matching `selector` that is displayed.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.find_displayed(selector).await? {
                return Ok(element);
            }
            if Instant::now() > deadline {
                let url = self
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                bail!("no visible `{selector}` within {timeout:?} (page {url})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `element` is displayed.
    pub async fn displayed(&self, element: &Element) -> anyhow::Result<bool> {
        let value = self
            .session_command(
                reqwest::Method::GET,
                &format!("element/{}/displayed", element.0),
                None,
            )
            .await?;
        Ok(value.as_bool().unwrap_or(false))
    }

    /// Types `text` into `element` (after clearing it).
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.session_command(
            reqwest::Method::POST,
            &format!("element/{}/clear", element.0),
            Some(json!({})),
        )
        .await?;
        self.session_command(
            reqwest::Method::POST,
            &format!("element/{}/value", element.0),
            Some(json!({"text": text})),
        )
        .await?;
        Ok(())
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.session_command(
            reqwest::Method::POST,
            &format!("element/{}/click", element.0),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// The page's HTML as the browser sees it now.
    pub async fn page_source(&self) -> anyhow::Result<String> {
        let value = self.session_command(reqwest::Method::GET, "source", None).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The visible text of the page's body, for error messages.
    pub async fn body_text(&self) -> String {
        let body = match self.find("body").await {
            Ok(Some(body)) => body,
            _ => return String::new(),
        };
        self.session_command(reqwest::Method::GET, &format!("element/{}/text", body.0), None)
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits up to `timeout` until the browser is at a URL starting with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str, timeout: Duration) -> anyhow::Result<Url> {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await?;
            if url.as_str().starts_with(prefix) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "the browser did not reach {prefix} within {timeout:?}: it is at {} showing {:?}",
                    url.path(),
                    self.body_text().await
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The driver leads its own group; the browser processes are in it.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
