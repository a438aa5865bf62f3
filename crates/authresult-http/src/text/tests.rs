//! Unit tests of the HTTP client helpers: safe URLs, `Basic` credentials,
//! `Retry-After`.

use super::*;

#[test]
fn display_url_drops_query_and_credentials() {
    let url = Url::parse("https://user:pw@id.example.org:8443/token?code=secret#frag").unwrap_or_else(|_| {
        unreachable!("a valid URL");
    });
    assert_eq!(display_url(&url), "https://id.example.org:8443/token");
}

#[test]
fn basic_auth_form_encodes_first() {
    // RFC 6749 §2.3.1: "a:b" is form-encoded before base64.
    assert_eq!(basic_auth("a:b", "c d"), "Basic YSUzQWI6Yytk");
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let headers = |value: &str| {
        let mut map = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(value) {
            map.insert(http::header::RETRY_AFTER, value);
        }
        map
    };
    // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
    let now = Timestamp::from_secs(1_445_412_480 - 90);
    assert_eq!(retry_after(&headers("120"), now), Some(Duration::from_secs(120)));
    assert_eq!(
        retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"), now),
        Some(Duration::from_secs(90))
    );
    // A date in the past asks for no wait.
    assert_eq!(
        retry_after(
            &headers("Wed, 21 Oct 2015 07:28:00 GMT"),
            Timestamp::from_secs(1_445_412_480 + 5)
        ),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry_after(&headers("99999999999999999999999"), now),
        Some(Duration::from_secs(u64::MAX))
    );
    assert_eq!(retry_after(&headers("soon"), now), None);
    assert_eq!(retry_after(&headers("-5"), now), None);
    assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
}
