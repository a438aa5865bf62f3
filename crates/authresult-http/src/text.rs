//! Text forms of requests and answers: URLs fit for messages, `Basic`
//! credentials and `Retry-After`.

use std::time::Duration;

use authresult_core::Timestamp;
use url::Url;

/// A URL fit for an error message: no query, fragment or credentials.
pub fn display_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// [`display_url`] of a request URI.
pub fn display_uri(uri: &http::Uri) -> String {
    match Url::parse(&uri.to_string()) {
        Ok(url) => display_url(&url),
        Err(_) => "(invalid url)".to_owned(),
    }
}

/// `Basic` credentials as RFC 6749 §2.3.1 wants them (form-encoded first).
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let password: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delay
/// seconds, or an HTTP date measured against `now`; a date in the past is
/// no wait. `None` when absent or unreadable.
pub fn retry_after(headers: &http::HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than fit are a very long wait; callers cap it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let at = date
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Some(Timestamp::from_millis(at).duration_since(now))
}

/// A transport error as text, its causes joined, without its URL (a
/// token is never in a URL's query here).
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests;
